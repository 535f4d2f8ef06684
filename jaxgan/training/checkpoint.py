"""Training checkpoints: orbax ``CheckpointManager`` over the state pytree, the data
iterator position and run metadata. Saves are atomic (orbax writes a temporary
directory and renames it once complete) and the last ``keep`` are retained."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp


class TrainCheckpointer:
    """Save/restore ``(state, data_state, meta)`` by step.

    Args:
      directory: where step directories live.
      keep: how many recent checkpoints to retain.
    """

    def __init__(self, directory: str | Path, keep: int = 5):
        self.directory = Path(directory).absolute()
        self._mngr = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
            item_names=("state", "data", "meta"))

    def latest_step(self) -> int | None:
        return self._mngr.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._mngr.all_steps())

    def save(self, step: int, state, data_state: dict, meta: dict) -> None:
        """Write a checkpoint and wait until it is complete on disk."""
        self._mngr.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=ocp.args.JsonSave(data_state),
            meta=ocp.args.JsonSave(meta)))
        self._mngr.wait_until_finished()

    def restore(self, step: int, abstract_state) -> tuple[Any, dict, dict]:
        """Restore onto the shardings/dtypes of ``abstract_state`` (ShapeDtypeStructs)."""
        out = self._mngr.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state),
            data=ocp.args.JsonRestore(),
            meta=ocp.args.JsonRestore()))
        state = jax.tree.unflatten(jax.tree.structure(abstract_state), jax.tree.leaves(out.state))
        return state, dict(out.data), dict(out.meta)

    def close(self) -> None:
        self._mngr.close()


def abstract_like(tree, shardings=None):
    """ShapeDtypeStructs of ``tree`` (with the given shardings) as a restore target."""
    if shardings is None:
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                                           sharding=getattr(x, "sharding", None)), tree)
    return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings)
