"""Export networks from any training snapshot (not only the final one).

A run directory written by :func:`jaxgan.training.loop.train` holds ``config.json`` and
orbax checkpoints under ``checkpoints/``; :func:`export_snapshot` restores one of them
(the latest by default) and writes ``G_ema``, ``G`` and ``D`` as standalone jaxgan
checkpoints, the same format as the run's final ``network/`` export, so every tool
(``jaxgan generate``, inversion, directions, ...) can use an intermediate snapshot.
"""
from __future__ import annotations

import json
from pathlib import Path

import jax
import ml_collections

from jaxgan.training.run_checkpoint import TrainCheckpointer, abstract_like
from jaxgan.training.data import build_source
from jaxgan.training.loop import _export, build_run, export_class_names


def load_run_config(run_dir) -> ml_collections.ConfigDict:
    """The ConfigDict a run was started with (``RUN/config.json``).

    Raises:
      FileNotFoundError: ``run_dir`` has no ``config.json`` (not a training run).
    """
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a training run directory: no config.json "
                                f"(it is written by `jaxgan train ... --out DIR`)")
    return ml_collections.ConfigDict(json.loads(path.read_text()))


def export_snapshot(run_dir, out_dir=None, step: int | None = None) -> dict:
    """Restore a training checkpoint and save its networks.

    Args:
      run_dir: the training run directory.
      out_dir: where ``G_ema/``, ``G/``, ``D/`` go (default ``RUN/snapshots/<step>``).
      step: checkpoint step (default the latest).

    Returns:
      ``{'step': int, 'kimg': float, 'out_dir': str}``.

    Raises:
      FileNotFoundError: no run / no checkpoints / no checkpoint at ``step``.
    """

    run = Path(run_dir)
    cfg = load_run_config(run)
    ckpt_dir = run / "checkpoints"
    if not ckpt_dir.is_dir():
        raise FileNotFoundError(f"{run} has no checkpoints/ directory")
    ckpt = TrainCheckpointer(ckpt_dir, keep=10 ** 6)
    try:
        steps = ckpt.all_steps()
        if not steps:
            raise FileNotFoundError(f"no checkpoint in {ckpt_dir}")
        step = max(steps) if step is None else int(step)
        if step not in steps:
            raise FileNotFoundError(f"no checkpoint at step {step} in {ckpt_dir}; "
                                    f"available: {sorted(steps)}")
        _, info = build_source(cfg.data, run, seed=cfg.seed)
        defs, state = build_run(cfg, info)
        cpu = jax.sharding.SingleDeviceSharding(jax.devices()[0])
        target = abstract_like(state, jax.tree.map(lambda _: cpu, state))
        state, _, meta = ckpt.restore(step, target, unsaved=state)
    finally:
        ckpt.close()
    out = Path(out_dir) if out_dir is not None else run / "snapshots" / f"{step:08d}"
    _export(out, defs, state, class_names=export_class_names(defs, info))
    return {"step": step, "kimg": float(meta.get("kimg", step * cfg.batch_size / 1000)),
            "out_dir": str(out)}
