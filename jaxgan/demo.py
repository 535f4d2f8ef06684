"""The README main job (``jaxgan demo``): one command from nothing to an explorer page.

By default it starts from the built-in networks, which were trained long enough to draw the
scenes (``builtin:G_shapes32_60k``, 59.5 kimg; ``builtin:stylex_shapes``, 40 kimg more with
the two-factor classifier ``large_high_horizon``; provenance in ``jaxgan/assets/manifest.json``):
it inverts held-out scenes, fits one latent direction (GANalyze, object size, scored by the
segmenter), explains the classifier (StylEx AttFind + counterfactual report with its
sufficiency curve), dissects two layers, and writes ``OUT/explorer/index.html``. With
``classifier=`` it first trains a StylEx for that classifier from the built-in generator
(``configs/stylex_shapes.py``, 4 kimg). ``from_scratch=True`` trains everything on this
machine instead: a small generator (``configs/demo_shapes.py``, 14 kimg) and a short StylEx
from it (``configs/demo_stylex.py``, classifier ``circle_and_sun`` unless told otherwise).

Every stage is the existing ``jaxgan`` subcommand, run in-process through its parser
(:func:`run_command`), so the demo is exactly what those commands do and each result
folder carries the command's ``explorer.json``. A stage whose output file exists is skipped,
so rerunning the same command resumes after an interruption (training stages also resume
from their checkpoints). ``quick=True`` trains nothing and runs every stage for a few steps
on the built-in networks (a smoke run of the stages and the page, a few minutes of mostly
XLA compilation).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from jaxgan import assets

#: The classifier a ``from_scratch`` run's StylEx explains unless told otherwise (two planted
#: factors: circle AND sun; built-in, 32 px) and the segmenter every run uses.
CLASSIFIER = "builtin:classifier_shapes_circle_and_sun"
SEGMENTER = "builtin:segmenter_shapes"

#: The built-in networks the demo starts from (see :mod:`jaxgan.assets`): the generator, and
#: the StylEx model (G, encoder and its classifier ``large_high_horizon``) trained from it.
BUILTIN_GENERATOR = "builtin:G_shapes32_60k"
BUILTIN_STYLEX = "builtin:stylex_shapes"


@dataclass(frozen=True)
class Stage:
    """One step of the demo.

    Attributes:
      name: short name (progress lines).
      done: the file whose existence means the stage is complete (relative to OUT): the
        training export, or the ``explorer.json`` each command writes last.
      argv: ``jaxgan`` arguments of the stage (paths relative to OUT are made absolute).
    """
    name: str
    done: str
    argv: tuple[str, ...]


def stages(out, *, seed: int = 0, quick: bool = False, from_scratch: bool = False,
           classifier: str | None = None, segmenter: str = SEGMENTER) -> list[Stage]:
    """The demo's stages, in order, as ``jaxgan`` command lines.

    Args:
      out: the demo's output folder.
      seed: the one seed of every stage.
      quick: no training; a few steps of every other stage on the built-in generator and
        StylEx model (smoke run).
      from_scratch: train the generator and the StylEx here (``configs/demo_shapes.py``,
        ``configs/demo_stylex.py``) instead of starting from the built-in networks.
      classifier: two-class shapes classifier (32 px) StylEx explains. Default: the built-in
        StylEx's own (``large_high_horizon``), or :data:`CLASSIFIER` with ``from_scratch``.
        Given without ``from_scratch``, a StylEx for it is trained from the built-in
        generator (``configs/stylex_shapes.py``, 4 kimg).
      segmenter: shapes segmenter checkpoint (direction assessor and dissection).

    Returns:
      ``[Stage, ...]``: [generator,] [stylex,] invert, directions, explain, dissect.

    Raises:
      ValueError: ``quick`` with ``from_scratch`` or ``classifier`` (quick trains nothing).
    """
    if quick and (from_scratch or classifier is not None):
        raise ValueError("demo: --quick trains nothing, so it takes neither --from-scratch nor "
                         "--classifier (it explains the built-in StylEx)")
    o = Path(out)
    g, sx = o / "generator", o / "stylex"
    s = str(seed)
    q = quick
    train_extra = [f"seed={seed}"]
    if from_scratch:
        g_net, sx_net = str(g / "network"), str(sx / "network")
        training = [
            Stage("train generator (configs/demo_shapes.py)", "generator/network/G_ema/arch.json",
                  ("train", "--config", "demo_shapes", "--out", str(g), *train_extra)),
            Stage("train StylEx from it (configs/demo_stylex.py)", "stylex/network/stylex.json",
                  ("explain", "train", "--config", "demo_stylex", "--out", str(sx),
                   f"stylex.init_from={g / 'network' / 'G_ema'}",
                   f"stylex.init_d_from={g / 'network' / 'D'}",
                   f"stylex.classifier={classifier or CLASSIFIER}",
                   *train_extra, f"stylex.seed={seed}")),
        ]
    elif classifier is not None:
        g_net, sx_net = BUILTIN_GENERATOR, str(sx / "network")
        training = [
            Stage("train StylEx from the built-in generator (configs/stylex_shapes.py)",
                  "stylex/network/stylex.json",
                  ("explain", "train", "--config", "stylex_shapes", "--out", str(sx),
                   f"stylex.classifier={classifier}", "run.total_kimg=4", *train_extra,
                   f"stylex.seed={seed}")),
        ]
    else:
        g_net, sx_net, training = BUILTIN_GENERATOR, BUILTIN_STYLEX, []
    return training + [
        Stage("invert held-out scenes", "invert/explorer.json",
              ("invert", "--ckpt", g_net, "--data", "shapes", "--num", "2" if q else "8",
               "--steps", "4" if q else "150", "--lpips", "0", "--l2", "1", "--lr", "0.05",
               "--seed", s, "--out", str(o / "invert"), "--overwrite")),   # the demo's own folder
        Stage("direction: GANalyze object size", "directions/ganalyze_object_size/explorer.json",
              ("directions", "ganalyze", "--ckpt", g_net, "--assessor", "object_size",
               "--segmenter", segmenter, "--steps", "4" if q else "120",
               "--batch", "4" if q else "16", "--num-eval", "8" if q else "64",
               "--num-strip", "2" if q else "6", "--alphas=-0.3,-0.15,0,0.15,0.3",
               "--seed", s, "--out", str(o / "directions" / "ganalyze_object_size"),
               "--overwrite")),
        Stage("explain: StylEx AttFind + counterfactual report", "explain/explorer.json",
              ("explain", "report", "--ckpt", sx_net, "--out", str(o / "explain"),
               "--num-images", "12" if q else "64", "--k", "2" if q else "3",
               "--num-indices", "3" if q else "6", "--prefilter", "8" if q else "96",
               "--chunk", "64" if q else "256", "--seed", s, "--reuse", "--overwrite")),
        Stage("dissect two layers", "dissect/explorer.json",
              ("dissect", "--ckpt", g_net, "--segmenter", segmenter,
               "--layer", "b8.conv1", "--layer", "b16.conv0", "--concepts", "object,sun",
               "--samples", "16" if q else "200", "--batch", "8" if q else "50",
               "--quantile", "0.05,0.1,0.2", "--study-samples", "8" if q else "32",
               "--units", "2" if q else "4", "--max-units", "2" if q else "8",
               "--seed", s, "--out", str(o / "dissect"), "--overwrite")),
    ]


def run_command(argv) -> int:
    """Run one ``jaxgan`` subcommand in this process (its parser, then its runner).

    Raises:
      SystemExit: bad arguments (argparse). Errors of the command propagate unchanged.
    """
    from jaxgan.cli import build_parser  # noqa: PLC0415
    args = build_parser().parse_args(list(argv))
    return int(args._run(args) or 0)


def _fmt(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


def run_demo(out, *, seed: int = 0, quick: bool = False, from_scratch: bool = False,
             classifier: str | None = None, segmenter: str = SEGMENTER, redo: bool = False,
             runner: Callable[[list[str]], int] = run_command, log=None) -> dict:
    """Run (or resume) the demo into ``out`` and build ``out/explorer/index.html``.

    Args:
      out: output folder (created).
      seed, quick, from_scratch, classifier, segmenter: see :func:`stages`.
      redo: run every stage even when its output exists.
      runner: executes one stage's argv (default :func:`run_command`); must return 0.
      log: where progress lines go (default stderr).

    Returns:
      ``{"explorer": path, "stages": [{"name", "status": "ran"|"skipped", "seconds",
      "cpu_seconds" (ran)}], "seconds": total}``.

    Raises:
      FileNotFoundError: the classifier or segmenter checkpoint is missing.
      ValueError: ``quick`` with ``from_scratch`` or ``classifier``.
      RuntimeError: a stage returned a non-zero exit code.
    """
    from jaxgan.viz.explorer import build_explorer  # noqa: PLC0415
    log = log or sys.stderr
    out = Path(out)
    todo = stages(out, seed=seed, quick=quick, from_scratch=from_scratch,
                  classifier=classifier, segmenter=segmenter)
    for flag, path in (("classifier", classifier), ("segmenter", segmenter)):
        if path is not None and not Path(assets.resolve(path)).is_dir():
            raise FileNotFoundError(f"demo: {flag} checkpoint {path} does not exist "
                                    f"(pass --{flag} DIR or builtin:NAME)")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    report = []
    n = len(todo) + 1
    for i, st in enumerate(todo, 1):
        if not redo and (out / st.done).is_file():
            print(f"[{i}/{n}] {st.name}: done already ({st.done}), skipped", file=log, flush=True)
            report.append({"name": st.name, "status": "skipped", "seconds": 0.0})
            continue
        print(f"[{i}/{n}] {st.name} ... (elapsed {_fmt(time.perf_counter() - t0)})", file=log,
              flush=True)
        t, cpu = time.perf_counter(), time.process_time()
        code = runner(list(st.argv))
        if code:
            raise RuntimeError(f"demo stage {st.name!r} failed with exit code {code}: "
                               f"jaxgan {' '.join(st.argv)}")
        if not (out / st.done).is_file():
            raise RuntimeError(f"demo stage {st.name!r} finished without writing {st.done}")
        dt, dcpu = time.perf_counter() - t, time.process_time() - cpu
        report.append({"name": st.name, "status": "ran", "seconds": dt, "cpu_seconds": dcpu})
        print(f"[{i}/{n}] {st.name}: done in {_fmt(dt)}, CPU {_fmt(dcpu)} "
              f"(elapsed {_fmt(time.perf_counter() - t0)})", file=log, flush=True)
    index = build_explorer(out)
    total = time.perf_counter() - t0
    print(f"[{n}/{n}] explorer: {index} (total {_fmt(total)})", file=log, flush=True)
    return {"explorer": index, "stages": report, "seconds": total}
