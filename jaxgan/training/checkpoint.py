"""Training checkpoints: orbax ``CheckpointManager`` over the state pytree, the data
iterator position and run metadata. Saves are atomic (orbax writes a temporary
directory and renames it once complete) and the last ``keep`` are retained."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp


#: State fields never written to checkpoints: frozen networks (a classifier, LPIPS weights)
#: that the run rebuilds from its config; storing them would copy e.g. 60 MB per snapshot.
UNSAVED_FIELDS = ("frozen",)


def saved_fields(state):
    """The part of a state NamedTuple that checkpoints hold, as a dict: fields that are
    None (features a run does not use) and :data:`UNSAVED_FIELDS` are left out, so plain
    runs keep the same checkpoint layout whatever optional fields the state grows."""
    if not hasattr(state, "_asdict"):
        return state
    return {k: v for k, v in state._asdict().items() if v is not None and k not in UNSAVED_FIELDS}


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
            state=ocp.args.StandardSave(saved_fields(state)),
            data=ocp.args.JsonSave(data_state),
            meta=ocp.args.JsonSave(meta)))
        self._mngr.wait_until_finished()

    def restore(self, step: int, abstract_state, unsaved=None) -> tuple[Any, dict, dict]:
        """Restore onto the shardings/dtypes of ``abstract_state`` (ShapeDtypeStructs).

        Args:
          step: checkpoint step.
          abstract_state: the state's structure with target shardings.
          unsaved: a state whose :data:`UNSAVED_FIELDS` (frozen networks, rebuilt from the
            config rather than stored) are put into the result.
        """
        target = saved_fields(abstract_state)
        out = self._mngr.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(target),
            data=ocp.args.JsonRestore(),
            meta=ocp.args.JsonRestore()))
        restored = jax.tree.unflatten(jax.tree.structure(target), jax.tree.leaves(out.state))
        if hasattr(abstract_state, "_replace"):
            extra = {k: getattr(unsaved, k, None) for k in UNSAVED_FIELDS
                     if k in abstract_state._fields}
            restored = type(abstract_state)(**{**{k: None for k in abstract_state._fields},
                                               **extra, **restored})
        return restored, dict(out.data), dict(out.meta)

    def close(self) -> None:
        self._mngr.close()


def abstract_like(tree, shardings=None):
    """ShapeDtypeStructs of ``tree`` (with the given shardings) as a restore target."""
    if shardings is None:
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                                           sharding=getattr(x, "sharding", None)), tree)
    return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings)
