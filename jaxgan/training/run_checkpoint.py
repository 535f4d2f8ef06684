"""Training checkpoints: orbax ``CheckpointManager`` over the state pytree, the data
iterator position and run metadata. Saves are atomic (orbax writes a temporary
directory and renames it once complete) and the last ``keep`` are retained.

A damaged checkpoint (truncated or zeroed files, unreadable metadata) is moved aside to
``<directory>.damaged/`` on resume and the run continues from the newest one that reads
back, saying so (:meth:`TrainCheckpointer.restore_latest_good`)."""
from __future__ import annotations

import errno
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any, Callable

import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from jaxgan.errors import CheckpointDamagedError, one_line, quiet_abandoned_reads


#: State fields never written to checkpoints: frozen networks (a classifier, LPIPS weights)
#: that the run rebuilds from its config; storing them would copy e.g. 60 MB per snapshot.
UNSAVED_FIELDS = ("frozen",)


#: The state field whose entries are stored beside the others (extension state).
FLAT_FIELD = "ext"


def saved_fields(state):
    """The part of a state NamedTuple that checkpoints hold, as a dict: fields that are
    None (features a run does not use) and :data:`UNSAVED_FIELDS` are left out, so plain
    runs keep the same checkpoint layout whatever optional fields the state grows; the
    entries of :data:`FLAT_FIELD` (extension state) are stored beside the other fields.

    Raises:
      ValueError: an extension entry named like a state field.
    """
    if not hasattr(state, "_asdict"):
        return state
    out = {k: v for k, v in state._asdict().items()
           if v is not None and k not in UNSAVED_FIELDS and k != FLAT_FIELD}
    for k, v in (getattr(state, FLAT_FIELD, None) or {}).items():
        if k in state._fields:
            raise ValueError(f"extension state entry {k!r} is named like a state field")
        if v is not None:
            out[k] = v
    return out


def _unflatten_state(abstract_state, restored: dict, unsaved):
    """The state NamedTuple of a restored :func:`saved_fields` dict (the structure of
    ``abstract_state``; unsaved fields from ``unsaved``)."""
    fields = {k: None for k in abstract_state._fields}
    fields.update({k: getattr(unsaved, k, None) for k in UNSAVED_FIELDS if k in fields})
    fields.update({k: v for k, v in restored.items() if k in fields})
    like = getattr(abstract_state, FLAT_FIELD, None)
    if like is not None:
        fields[FLAT_FIELD] = {k: restored.get(k) for k in like}
    return type(abstract_state)(**fields)


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
        """Write a checkpoint and wait until it is complete on disk.

        Raises:
          OSError: (before writing anything) the disk has no room for it, or the process's
            file-size limit is below its size: one clear error instead of the storage
            layer's failures from its writer threads; the checkpoints on disk stay intact.
        """
        self._check_room(step, sum(getattr(x, "nbytes", 0)
                                   for x in jax.tree.leaves(saved_fields(state))))
        self._mngr.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(saved_fields(state)),
            data=ocp.args.JsonSave(data_state),
            meta=ocp.args.JsonSave(meta)))
        self._mngr.wait_until_finished()

    def _check_room(self, step: int, nbytes: int) -> None:
        """Raise ENOSPC / EFBIG when a checkpoint of about ``nbytes`` cannot be written."""
        last = self.latest_step()
        keep = f"the checkpoint of step {last} is intact: " if last is not None else ""
        self.directory.mkdir(parents=True, exist_ok=True)
        st = os.statvfs(self.directory)
        free = st.f_bavail * st.f_frsize
        need = int(nbytes * 1.05) + (1 << 20)
        if free < need:
            raise OSError(errno.ENOSPC, f"No space left on device for checkpoint step {step} "
                          f"in {self.directory}: it needs about {need / 2**20:.1f} MiB, "
                          f"{free / 2**20:.1f} MiB free; {keep}free space and rerun the same "
                          "command to resume")
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and limit < nbytes:
            raise OSError(errno.EFBIG, f"File too large: checkpoint step {step} needs files of "
                          f"up to about {nbytes / 2**20:.1f} MiB, the process's file-size limit "
                          f"(ulimit -f) is {limit / 2**20:.1f} MiB; {keep}raise it and rerun the "
                          "same command to resume")

    def restore(self, step: int, abstract_state, unsaved=None) -> tuple[Any, dict, dict]:
        """Restore onto the shardings/dtypes of ``abstract_state`` (ShapeDtypeStructs).

        Args:
          step: checkpoint step.
          abstract_state: the state's structure with target shardings.
          unsaved: a state whose :data:`UNSAVED_FIELDS` (frozen networks, rebuilt from the
            config rather than stored) are put into the result.
        """
        target = saved_fields(abstract_state)
        quiet_abandoned_reads()     # a damaged array: the other reads finish after the loop closed
        out = self._mngr.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(target),
            data=ocp.args.JsonRestore(),
            meta=ocp.args.JsonRestore()))
        restored = jax.tree.unflatten(jax.tree.structure(target), jax.tree.leaves(out.state))
        if hasattr(abstract_state, "_replace"):
            restored = _unflatten_state(abstract_state, restored, unsaved)
        return restored, dict(out.data), dict(out.meta)

    def restore_latest_good(self, abstract_state, unsaved=None,
                            apply_data: Callable[[dict], None] | None = None,
                            log=None) -> tuple[int, Any, dict, dict] | None:
        """Restore the newest checkpoint that reads back completely, moving damaged newer
        ones to ``<directory>.damaged/<step>-<time>`` (process 0) and reporting each.

        Args:
          abstract_state, unsaved: as for :meth:`restore`.
          apply_data: ``apply_data(data_state)`` (e.g. the data iterator's ``set_state``),
            run inside the attempt so an unusable iterator state also counts as damage.
          log: ``log(message)`` for the fallback reports (default: print to stderr).

        Returns:
          ``(step, state, data_state, meta)``, or None when there is no checkpoint.

        Raises:
          CheckpointDamagedError: checkpoints exist but none reads back.
        """
        log = log or (lambda m: print(m, file=sys.stderr, flush=True))
        steps = sorted(self.all_steps(), reverse=True)
        if not steps:
            return None
        damaged = []
        for step in steps:
            try:
                state, data_state, meta = self.restore(step, abstract_state, unsaved)
                if apply_data is not None:
                    apply_data(data_state)
            except Exception as e:  # noqa: BLE001 - orbax/tensorstore/json raise many types
                damaged.append(step)
                log(f"warning: checkpoint step {step} in {self.directory} is damaged "
                    f"({type(e).__name__}: {one_line(e)[:200]}); trying the previous one")
                continue
            if damaged:
                moved = self._move_damaged(damaged)
                log(f"warning: resuming from step {step}, the newest good checkpoint; "
                    f"damaged step(s) {damaged} moved to {moved}")
            return step, state, data_state, meta
        moved = self._move_damaged(damaged)
        raise CheckpointDamagedError(f"no readable checkpoint in {self.directory}: step(s) "
                                     f"{damaged} are damaged (moved to {moved}); choose another "
                                     "--out to start over")

    def _move_damaged(self, steps: list[int]) -> Path:
        """Move step directories out of the manager's sight (process 0; others wait)."""
        dest = self.directory.with_name(self.directory.name + ".damaged")
        if jax.process_index() == 0:
            dest.mkdir(exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            for step in steps:
                src = self.directory / str(step)
                if src.exists():
                    os.replace(src, dest / f"{step}-{stamp}")
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("jaxgan:checkpoint:damaged")
        self._mngr.reload()
        return dest

    def close(self) -> None:
        self._mngr.close()


def abstract_like(tree, shardings=None):
    """ShapeDtypeStructs of ``tree`` (with the given shardings) as a restore target."""
    if shardings is None:
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                                           sharding=getattr(x, "sharding", None)), tree)
    return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings)
