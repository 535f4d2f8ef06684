"""The training runner: data, mesh, state, jitted phases, logging, checkpoints, export.

Host code only schedules phases, logs and saves; all maths lives in the jitted steps
(:mod:`jaxgan.training.step`). Outputs under ``out_dir``:

* ``metrics.jsonl`` (one JSON object per tick) and TensorBoard events in ``tb/``;
* ``samples/reals.png`` and ``samples/fakes{kimg:07.1f}.png`` from fixed latents (G_ema);
* ``checkpoints/`` (orbax; resumed automatically);
* ``network/G_ema``, ``network/G``, ``network/D``: final exports loadable by
  :func:`jaxgan.checkpoint.load_network` and ``jaxgan generate --ckpt OUT/network``.
"""
from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import model
from jaxgan import sharding as shd
from jaxgan.checkpoint import save_network
from jaxgan.progress import progress as progress_reporter
from jaxgan.sharding import to_host
from jaxgan.nets.configs import DiscriminatorConfig, GeneratorConfig
from jaxgan.metrics.training import metrics_due, tick_metrics
from jaxgan.training.augment import augment, augment_preset
from jaxgan.training.run_checkpoint import TrainCheckpointer, abstract_like
from jaxgan.training.extension import load_extensions, owner
from jaxgan.training.data import build_source, make_batches
from jaxgan.training.losses import LossConfig
from jaxgan.training.rundir import (RunLock, check_resume, previous_record, record,
                                    software_changes, validate_config, write_record)
from jaxgan.training.state import TrainState, init_state, make_optimizer
from jaxgan.training.step import TrainDefs, ema_generator, make_step_fns, train_step
from jaxgan.viz.grid import save_image_grid


class TrainingDivergedError(RuntimeError):
    """A loss became NaN/Inf; the last checkpoint on disk predates it."""


def _is_main() -> bool:
    return jax.process_index() == 0


def _truncate_log(path: Path, step: int) -> None:
    """Drop log rows past ``step`` (written after the checkpoint a run resumes from, by a
    process that was then killed), so the resumed run's rows are not duplicated."""
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    keep = [s for s in lines if s.strip() and json.loads(s).get("step", 0) <= step]
    if len(keep) != len(lines):
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(s + "\n" for s in keep))
        os.replace(tmp, path)


PRECISIONS = ("float32", "highest", "tensorfloat32", "high", "bfloat16", "default")


def _precision(name):
    """``run.matmul_precision`` checked against the names jax.default_matmul_precision takes."""
    if name not in PRECISIONS:
        raise ValueError(f"run.matmul_precision must be one of {PRECISIONS}, got {name!r}")
    return name


def build_run(cfg, data_info: dict):
    """Configs -> (TrainDefs, initial TrainState) on one host (not yet sharded)."""
    res, channels = data_info["resolution"], data_info["channels"]
    c_dim = data_info["num_classes"] if cfg.data.cond else 0
    g_kw = dict(cfg.G)
    d_kw = dict(cfg.D)
    exts = load_extensions(cfg, data_info)   # the config's other groups name extensions
    for ext in exts:
        g_kw = ext.generator_config(g_kw)
    if jax.default_backend() == "cpu" and not cfg.run.allow_low_precision_on_cpu:
        g_kw["num_fp16_res"] = d_kw["num_fp16_res"] = 0   # bf16 on CPU is slow: off by default
    g_cfg = GeneratorConfig.from_dict({**g_kw, "img_resolution": res, "img_channels": channels,
                                       "c_dim": c_dim})
    d_cfg = DiscriminatorConfig.from_dict({**d_kw, "img_resolution": res, "img_channels": channels,
                                           "c_dim": c_dim})
    o = cfg.optim
    g_tx = make_optimizer(o.g_lr, tuple(o.betas), o.eps, o.g_reg_interval)
    d_tx = make_optimizer(o.d_lr, tuple(o.betas), o.eps, o.d_reg_interval)
    a = cfg.augment
    if a.mode not in ("ada", "fixed", "noaug"):
        raise ValueError(f"augment.mode must be 'ada', 'fixed' or 'noaug', got {a.mode!r}")
    augment_fn = None
    if a.mode != "noaug":
        aug_cfg = augment_preset(a.preset)
        augment_fn = lambda img, p, key: augment(img, p, key, aug_cfg)  # noqa: E731
    G, D, state = init_state(g_cfg, d_cfg, jax.random.key(cfg.seed), g_tx, d_tx,
                             augment_p=a.p if a.mode != "noaug" else 0.0)
    defs = TrainDefs(
        G=G, D=D, g_tx=g_tx, d_tx=d_tx, batch_size=cfg.batch_size, loss=LossConfig(**cfg.loss),
        g_reg_interval=o.g_reg_interval, d_reg_interval=o.d_reg_interval,
        ema_kimg=cfg.ema_kimg, ema_rampup=cfg.ema_rampup, augment=augment_fn,
        ada_target=a.target if a.mode == "ada" else None, ada_interval=a.interval,
        ada_kimg=a.kimg, matmul_precision=_precision(cfg.run.get("matmul_precision", "float32")),
        extensions=exts)
    for ext in exts:
        defs, state = ext.attach(cfg, defs, state)
    return defs, state


def _steps(kimg: float, batch: int) -> int:
    return max(1, int(round(kimg * 1000 / batch)))


def _check_finite(means: dict[str, float], step: int, last_ckpt: int | None, ckpt_dir: Path):
    bad = {k: v for k, v in means.items() if not math.isfinite(v)}
    if bad:
        where = (f"the last good checkpoint is step {last_ckpt} in {ckpt_dir}" if last_ckpt is not None
                 else "no checkpoint was written yet")
        raise TrainingDivergedError(
            f"training diverged at iteration {step}: non-finite {bad}; {where}. "
            f"Lower the learning rate or raise loss.r1_gamma, then resume.")


def train(cfg, out_dir: str | Path, *, stop_after_steps: int | None = None,
          progress: bool = True, allow_changed: bool = False) -> dict[str, Any]:
    """Train (or resume) a StyleGAN2 as configured; returns a summary dict.

    Before any data is built or anything compiled: the config is validated, the run
    directory locked (a second trainer on it fails with ``RunLockedError``) and, when it
    holds checkpoints, its ``run.json`` compared with this config and data (see
    :mod:`jaxgan.training.rundir`). A damaged latest checkpoint is skipped for the newest
    good one, with a warning.

    Args:
      cfg: a locked ConfigDict (``configs/*.py``).
      out_dir: run directory (resumes from ``out_dir/checkpoints`` when present).
      stop_after_steps: stop (without the final export) once this many iterations are
        done — for simulating preemption in tests.
      progress: show a tqdm bar (kimg, img/s, ETA).
      allow_changed: resume although the data or settings differ from the run's start.

    Raises:
      UsageError: a bad config value; ResumeMismatchError: other data or settings than
      the run started with; RunLockedError: another trainer holds the directory;
      CheckpointDamagedError: no checkpoint reads back.
    """
    validate_config(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lock = RunLock(out).acquire() if _is_main() else None
    ckpt = None
    try:
        ckpt = TrainCheckpointer(out / "checkpoints", keep=cfg.run.keep)
        return _train(cfg, out, ckpt, stop_after_steps, progress, allow_changed)
    finally:
        if ckpt is not None:
            ckpt.close()
        if lock is not None:
            lock.release()


def _train(cfg, out: Path, ckpt: TrainCheckpointer, stop_after_steps, progress,
           allow_changed) -> dict[str, Any]:
    """The body of :func:`train`, in a locked directory with an open checkpointer."""
    mesh = shd.make_mesh(cfg.mesh.fsdp)
    n_dev = mesh.devices.size
    if cfg.batch_size % n_dev or cfg.batch_size % jax.process_count():
        raise ValueError(f"batch_size {cfg.batch_size} must be divisible by the {n_dev} devices")
    resuming = bool(ckpt.all_steps())
    rec: dict = {}

    def check(fingerprint):
        rec.update(record(cfg, fingerprint))
        for change in check_resume(out, rec, resuming, allow_changed):
            print(f"warning: resuming with a change (--allow-changed): {change}", flush=True)
        soft = software_changes(previous_record(out), rec) if resuming else []
        if soft and _is_main():
            print(f"warning: resuming under other software ({', '.join(soft)}): the run "
                  "continues, but not bit for bit as an uninterrupted run would", flush=True)

    source, info = build_source(cfg.data, out, seed=cfg.seed, check=check)
    if _is_main():
        write_record(out, rec)
    defs, state = build_run(cfg, info)
    state_sh = shd.tree_shardings(state, mesh)
    batch_sh, repl = shd.batch_sharding(mesh), shd.replicated(mesh)
    state = jax.device_put(state, state_sh)
    fns = make_step_fns(defs, state_sh, batch_sh, repl)
    key = jax.random.key(cfg.seed)
    local_batch = cfg.batch_size // jax.process_count()
    batches = make_batches(source, cfg, info, local_batch, mesh, batch_sh)

    step = 0
    found = ckpt.restore_latest_good(abstract_like(state, state_sh), unsaved=state,
                                     apply_data=batches.set_state)
    if found is not None:
        step, state = found[0], found[1]
        if _is_main():
            _truncate_log(out / "metrics.jsonl", step)
    last_ckpt = ckpt.latest_step()

    tick_steps = _steps(cfg.run.tick_kimg, cfg.batch_size)
    total_steps = _steps(cfg.run.total_kimg, cfg.batch_size)
    grid_n = cfg.run.grid[0] * cfg.run.grid[1]
    grid_z = jax.random.normal(jax.random.fold_in(key, 10 ** 6), (grid_n, defs.G.cfg.z_dim))
    grid_c = None
    if defs.G.cfg.c_dim:
        grid_c = jax.nn.one_hot(jnp.arange(grid_n) % defs.G.cfg.c_dim, defs.G.cfg.c_dim)
    render = jax.jit(lambda g, z, c: model.generate(defs.G, g, z, c, noise_mode="const"))
    writer = None
    if _is_main():
        (out / "samples").mkdir(exist_ok=True)
        (out / "config.json").write_text(cfg.to_json(indent=2))
        if step == 0:
            reals = next(iter(make_batches(source, cfg, info, grid_n, None, None)))["image"]
            save_image_grid(np.asarray(reals), out / "samples" / "reals.png", ncols=cfg.run.grid[0])
        try:
            from tensorboardX import SummaryWriter  # noqa: PLC0415
            writer = SummaryWriter(str(out / "tb"))
        except ImportError:  # pragma: no cover - optional
            writer = None

    bar = progress_reporter(total=total_steps * cfg.batch_size, initial=step * cfg.batch_size,
                            unit="img", desc="train", disable=not (progress and _is_main()),
                            dynamic_ncols=True,   # the rate starts once every phase compiled:
                            warmup=(max(cfg.optim.g_reg_interval or 1,
                                        cfg.optim.d_reg_interval or 1) + 1) * cfg.batch_size)
    pending: list[dict] = []
    t_tick, n_tick, history = time.time(), 0, []
    first = step
    while step < total_steps:
        if step == first:
            bar.compiling("the training step")
        batch = next(batches)
        state, metrics = train_step(fns, defs, state, batch, key, step)
        pending.append(metrics)
        step += 1
        n_tick += 1
        bar.update(cfg.batch_size)
        if step % tick_steps == 0 or step == total_steps or step == stop_after_steps:
            host = jax.device_get(pending)
            pending = []
            means = {k: float(np.mean([m[k] for m in host if k in m]))
                     for k in sorted({k for m in host for k in m})}
            _check_finite(means, step, last_ckpt, ckpt.directory)
            dt = time.time() - t_tick
            rec = {"step": step, "kimg": step * cfg.batch_size / 1000, "sec": round(dt, 3),
                   "img_per_s": n_tick * cfg.batch_size / max(dt, 1e-9), **means}
            tick = step // tick_steps
            if metrics_due(cfg, tick, step == total_steps):   # cfg.metrics: FD/KD/PR/PPL of G_ema
                g_host = to_host(ema_generator(defs, state))   # collective: every process
                if _is_main():
                    rec.update(tick_metrics(cfg, defs.G, g_host, out, step))
            history.append(rec)
            if _is_main():
                with open(out / "metrics.jsonl", "a") as f:
                    f.write(json.dumps(rec) + "\n")
                if writer is not None:
                    for k, v in rec.items():
                        writer.add_scalar(k, v, step)
                    writer.flush()
                bar.set_postfix(kimg=f"{rec['kimg']:.1f}", img_s=f"{rec['img_per_s']:.1f}")
            if tick % cfg.run.image_ticks == 0 or step == total_steps:
                imgs = to_host(render(ema_generator(defs, state), grid_z, grid_c))   # every process
                if _is_main():
                    save_image_grid(imgs, out / "samples" / f"fakes{rec['kimg']:07.1f}.png",
                                    ncols=cfg.run.grid[0])
            if tick % cfg.run.snapshot_ticks == 0 or step == total_steps or step == stop_after_steps:
                ckpt.save(step, state, batches.get_state(),
                          {"step": step, "kimg": rec["kimg"], "seed": cfg.seed})
                last_ckpt = step
            t_tick, n_tick = time.time(), 0
        if stop_after_steps is not None and step >= stop_after_steps:
            break
    bar.close()
    if step >= total_steps:
        _export(out / "network", defs, state,    # every process gathers, process 0 writes
                class_names=export_class_names(defs, info))
    if writer is not None:
        writer.close()
    return {"step": step, "history": history, "out_dir": str(out)}


def last_checkpoint(out_dir) -> tuple[int, Path] | None:
    """``(step, directory)`` of the newest complete checkpoint of run ``out_dir``, or None
    (reads the directory names only: safe after an interruption)."""
    root = Path(out_dir) / "checkpoints"
    steps = [int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit()] \
        if root.is_dir() else []
    return (max(steps), root / str(max(steps))) if steps else None


def interrupted_message(out_dir) -> str:
    """The one line printed when training is interrupted (Ctrl-C): the checkpoint a rerun
    of the same command resumes from."""
    last = last_checkpoint(out_dir)
    if last is None:
        return (f"interrupted before the first checkpoint: nothing saved in {out_dir} "
                f"(checkpoints every run.snapshot_ticks ticks)")
    step, path = last
    return (f"interrupted; last checkpoint: step {step} in {path} (rerun the same command to "
            f"resume from it)")


def export_class_names(defs: TrainDefs, info: dict) -> list[str]:
    """The dataset's class names when the run is conditional (one per class), else []."""
    names = list(info.get("class_names") or [])
    return names if defs.G.cfg.c_dim and len(names) == defs.G.cfg.c_dim else []


def _export(path: Path, defs: TrainDefs, state: TrainState, class_names=()) -> None:
    """Final G_ema / G / D as standalone jaxgan checkpoints (overwriting), with the
    dataset's ``class_names`` for a conditional run (``classes.json``).

    Called by every process (arrays may be sharded across processes); process 0 writes.
    """
    state = to_host(state)
    if not _is_main():
        return
    own = owner(defs)                      # an extension may bake its parameters into G
    g_ema = ema_generator(defs, state)
    g = {**state.g, "params": own.g_params(own.g_tree(state))}
    save_network(path / "G_ema", defs.G, g_ema, overwrite=True, class_names=class_names)
    save_network(path / "G", defs.G, g, overwrite=True, class_names=class_names)
    save_network(path / "D", defs.D, state.d, overwrite=True, class_names=class_names)
    for ext in defs.extensions:
        ext.export(path, defs, state)


def sanitize_name(s: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", s.lower()).strip("_")
