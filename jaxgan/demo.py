"""The README main job (``jaxgan demo``): one command from nothing to an explorer page.

On the built-in shapes data it trains a small generator (``configs/demo_shapes.py``) and a
short StylEx from it (``configs/demo_stylex.py``, conditioned on the two-factor classifier
``circle_and_sun``), then inverts a few held-out scenes, fits one latent direction
(GANalyze, object size, scored by the segmenter), explains the classifier (StylEx AttFind +
counterfactual report), dissects two layers, and writes ``OUT/explorer/index.html``.

Every stage is the existing ``jaxgan`` subcommand, run in-process through its parser
(:func:`run_command`), so the demo is exactly what those commands do and each result
folder carries the command's ``explorer.json``. A stage whose output file exists is skipped,
so rerunning the same command resumes after an interruption (training stages also resume
from their checkpoints). ``quick=True`` trains nothing: the other stages run a few steps on the
built-in networks (``builtin:G_shapes32_60k``, ``builtin:stylex_shapes``; a smoke run of every
stage and the page, a few minutes of mostly XLA compilation).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from jaxgan import assets

#: The trained classifier (two planted factors: circle AND sun) and segmenter the demo uses
#: unless told otherwise (built-in networks, 32 px; provenance in jaxgan/assets/manifest.json).
CLASSIFIER = "builtin:classifier_shapes_circle_and_sun"
SEGMENTER = "builtin:segmenter_shapes"

#: The built-in networks ``quick`` runs use instead of training (see :mod:`jaxgan.assets`).
QUICK_GENERATOR = "builtin:G_shapes32_60k"
QUICK_STYLEX = "builtin:stylex_shapes"


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


def stages(out, *, seed: int = 0, quick: bool = False, classifier: str = CLASSIFIER,
           segmenter: str = SEGMENTER) -> list[Stage]:
    """The demo's stages, in order, as ``jaxgan`` command lines.

    Args:
      out: the demo's output folder.
      seed: the one seed of every stage.
      quick: no training; a few steps of every other stage on the built-in generator and
        StylEx model (smoke run).
      classifier: two-class shapes classifier checkpoint StylEx explains (32 px, or the
        demo's resolution); not used by ``quick`` (the built-in StylEx has its own).
      segmenter: shapes segmenter checkpoint (direction assessor and dissection).

    Returns:
      ``[Stage, ...]``: generator, stylex, invert, directions, explain, dissect (``quick``:
      the last four).
    """
    o = Path(out)
    g, sx = o / "generator", o / "stylex"
    g_net = QUICK_GENERATOR if quick else str(g / "network")
    sx_net = QUICK_STYLEX if quick else str(sx / "network")
    s = str(seed)
    q = quick
    train_extra = [f"seed={seed}"]
    training = [
        Stage("train generator (configs/demo_shapes.py)", "generator/network/G_ema/arch.json",
              ("train", "--config", "demo_shapes", "--out", str(g), *train_extra)),
        Stage("train StylEx from it (configs/demo_stylex.py)", "stylex/network/stylex.json",
              ("explain", "train", "--config", "demo_stylex", "--out", str(sx),
               f"stylex.init_from={g / 'network' / 'G_ema'}",
               f"stylex.init_d_from={g / 'network' / 'D'}", f"stylex.classifier={classifier}",
               *train_extra, f"stylex.seed={seed}")),
    ]
    return ([] if quick else training) + [
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


def run_demo(out, *, seed: int = 0, quick: bool = False, classifier: str = CLASSIFIER,
             segmenter: str = SEGMENTER, redo: bool = False,
             runner: Callable[[list[str]], int] = run_command, log=None) -> dict:
    """Run (or resume) the demo into ``out`` and build ``out/explorer/index.html``.

    Args:
      out: output folder (created).
      seed, quick, classifier, segmenter: see :func:`stages`.
      redo: run every stage even when its output exists.
      runner: executes one stage's argv (default :func:`run_command`); must return 0.
      log: where progress lines go (default stderr).

    Returns:
      ``{"explorer": path, "stages": [{"name", "status": "ran"|"skipped", "seconds",
      "cpu_seconds" (ran)}], "seconds": total}``.

    Raises:
      FileNotFoundError: the classifier or segmenter checkpoint is missing.
      RuntimeError: a stage returned a non-zero exit code.
    """
    from jaxgan.viz.explorer import build_explorer  # noqa: PLC0415
    log = log or sys.stderr
    out = Path(out)
    for flag, path in (("classifier", classifier), ("segmenter", segmenter)):
        if not Path(assets.resolve(path)).is_dir():
            raise FileNotFoundError(f"demo: {flag} checkpoint {path} does not exist "
                                    f"(pass --{flag} DIR or builtin:NAME)")
    out.mkdir(parents=True, exist_ok=True)
    todo = stages(out, seed=seed, quick=quick, classifier=classifier, segmenter=segmenter)
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
