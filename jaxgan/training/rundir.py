"""Run-directory guards: validate a training config before any work, lock the directory
against a second trainer, and refuse to resume on other data or incompatible settings.

A run directory holds ``run.json``: the configuration and a fingerprint (SHA-256) of the
training data the run started with. A rerun into a directory with checkpoints compares
both; a difference is a :class:`~jaxgan.errors.ResumeMismatchError` naming what changed,
unless the caller allows it (``--allow-changed``: continue anyway, recording the new
settings). Keys of :data:`RESUMABLE_KEYS` (schedule and logging) may always change.
``run.json`` also records the software the run last started under (:func:`software`): a
resume under other library versions is allowed but warned about (:func:`software_changes`),
since bit-for-bit resumption holds only for the same builds.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import platform
import socket
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from jaxgan.errors import ResumeMismatchError, RunLockedError, UsageError

RUN_FILE = "run.json"
LOCK_FILE = ".lock"

#: Config keys a resumed run may change freely: the schedule's length and what is logged
#: or kept, none of which changes the trained numbers up to the stop point. ``data.path``
#: and ``data.data_dir`` are compared by content (the data fingerprint), not by name.
RESUMABLE_KEYS = ("run.total_kimg", "run.tick_kimg", "run.snapshot_ticks", "run.image_ticks",
                  "run.keep", "run.grid", "metrics.", "data.path", "data.data_dir")


# ----------------------------------------------------------------------------- validation

def validate_config(cfg) -> None:
    """Cheap checks of a training config, made before building data or compiling.

    Raises:
      UsageError: a value out of range or not finite (the message names the key).
    """
    def num(key: str, value, lo: float, strict: bool = True) -> None:
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and math.isfinite(value) and (value > lo if strict else value >= lo))
        if not ok:
            raise UsageError(f"{key} must be a finite number {'>' if strict else '>='} {lo}, "
                             f"got {value!r}")
    num("batch_size", cfg.batch_size, 0)
    if not isinstance(cfg.batch_size, int):
        raise UsageError(f"batch_size must be an integer, got {cfg.batch_size!r}")
    for k in ("total_kimg", "tick_kimg"):
        num(f"run.{k}", cfg.run[k], 0)
    for k in ("snapshot_ticks", "image_ticks", "keep"):
        num(f"run.{k}", cfg.run[k], 1, strict=False)
    for k in ("g_lr", "d_lr", "eps"):
        num(f"optim.{k}", cfg.optim[k], 0)
    for k in ("g_reg_interval", "d_reg_interval"):
        num(f"optim.{k}", cfg.optim[k], 1, strict=False)
    num("ema_kimg", cfg.ema_kimg, 0, strict=False)
    for k, v in cfg.loss.items():
        if isinstance(v, float):
            num(f"loss.{k}", v, 0, strict=False)
    num("data.resolution", cfg.data.resolution, 4, strict=False)
    if cfg.data.source == "folder" and cfg.data.path and not Path(cfg.data.path).is_dir():
        raise UsageError(f"data.path {cfg.data.path!r} is not a directory (data.source='folder' "
                         "reads images from a folder)")
    if cfg.data.source == "shapes":
        num("data.num_images", cfg.data.num_images, 0)


# ----------------------------------------------------------------------------- locking

class RunLock:
    """An exclusive ``flock`` on ``<run>/.lock`` while a trainer uses the directory.

    The kernel drops the lock when its process dies (kill -9 included), so no stale lock
    survives a crash; the file keeps the last holder's pid and host for the message.

    Args:
      out_dir: the run directory (created if missing).
    """

    def __init__(self, out_dir):
        self.path = Path(out_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunLockedError(f"run directory {self.path.parent} is in use by {holder} "
                                 f"(lock {self.path}); wait for it to finish, stop it, or "
                                 "choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)             # closing drops the flock
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# ----------------------------------------------------------------------------- fingerprints

def array_fingerprint(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of ``arrays`` (e.g. the training
    images and labels)."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        v = np.ascontiguousarray(arrays[k])
        h.update(f"{k}|{v.dtype.str}|{v.shape}|".encode())
        h.update(memoryview(v).cast("B"))
    return h.hexdigest()


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple) else v
    return out


def _resumable(key: str) -> bool:
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESUMABLE_KEYS)


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``['G.z_dim 16 -> 32', 'data: content changed (...)']``: what differs between two
    ``run.json`` records, leaving out :data:`RESUMABLE_KEYS`."""
    out = []
    a, b = _flatten(old.get("config", {})), _flatten(new.get("config", {}))
    for k in sorted(set(a) | set(b)):
        if _resumable(k) or a.get(k, "<unset>") == b.get(k, "<unset>"):
            continue
        out.append(f"{k} {a.get(k, '<unset>')!r} -> {b.get(k, '<unset>')!r}")
    da, db = old.get("data", {}), new.get("data", {})
    if da.get("sha256") and db.get("sha256") and da["sha256"] != db["sha256"]:
        out.append(f"data content changed ({da.get('size', '?')} -> {db.get('size', '?')} images, "
                   f"sha256 {da['sha256'][:12]} -> {db['sha256'][:12]})")
    return out


#: Distributions whose versions ``run.json`` records (numbers change with their builds).
SOFTWARE = ("jaxgan", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy")


def software() -> dict[str, str]:
    """Versions of :data:`SOFTWARE`, Python and the machine (``'-'`` when not installed)."""
    out = {}
    for name in SOFTWARE:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    out["python"] = sys.version.split()[0]
    out["machine"] = f"{platform.system()} {platform.machine()}"
    return out


def software_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``['jax 0.10.2 -> 0.11.0', ...]``: software that differs between two ``run.json``
    records (empty when either lacks the record)."""
    a, b = old.get("software") or {}, new.get("software") or {}
    if not a or not b:
        return []
    return [f"{k} {a.get(k, '-')} -> {b.get(k, '-')}" for k in sorted(set(a) | set(b))
            if a.get(k, "-") != b.get(k, "-")]


def record(cfg, data: Mapping[str, Any]) -> dict[str, Any]:
    """The ``run.json`` record of a config, its data fingerprint and the software."""
    return {"version": 1, "config": json.loads(cfg.to_json()), "data": dict(data),
            "software": software()}


def previous_record(out_dir) -> dict[str, Any]:
    """The run directory's ``run.json`` ({} when absent or unreadable)."""
    try:
        return json.loads((Path(out_dir) / RUN_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def check_resume(out_dir, rec: Mapping[str, Any], resuming: bool,
                 allow_changed: bool = False) -> list[str]:
    """Compare ``rec`` with the run directory's ``run.json``.

    Args:
      out_dir: the run directory.
      rec: :func:`record` of this invocation.
      resuming: the directory holds checkpoints this run would continue from.
      allow_changed: continue although something changed (the changes are returned).

    Returns:
      The changes found (empty when none, or when not resuming).

    Raises:
      ResumeMismatchError: resuming, something changed, and not ``allow_changed``.
    """
    path = Path(out_dir) / RUN_FILE
    if not resuming or not path.is_file():
        return []                      # a new run, or one from before run.json existed
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ResumeMismatchError(f"cannot read {path} ({e}); it records what the run was "
                                  "started with: restore it or choose another --out") from None
    diff = changes(old, rec)
    if diff and not allow_changed:
        shown = "; ".join(diff[:6]) + (f"; and {len(diff) - 6} more" if len(diff) > 6 else "")
        raise ResumeMismatchError(
            f"run directory {out_dir} was started with other data or settings: {shown}. "
            "Use another --out for a new run, or pass --allow-changed to continue this one anyway")
    return diff


def write_record(out_dir, rec: Mapping[str, Any]) -> None:
    """Write ``run.json`` atomically."""
    path = Path(out_dir) / RUN_FILE
    tmp = path.with_name(f".{RUN_FILE}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(rec, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
