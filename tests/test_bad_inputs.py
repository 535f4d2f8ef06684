"""Bad inputs through the real command lines (``python -m jaxgan.cli``, ``python -m train``),
each in a subprocess: every case must end with exit code 2, exactly one line on stderr
naming the problem, no traceback, and every file the user had byte-for-byte unchanged
(and, where stated, no output directory left behind).

The cases run in one module fixture, as processes forked from one driver that imported
the entry points once (``tests/scripts/cli_case_runner.py``: no per-case start-up cost), a
few also through ``python -m``; each test then checks one row.
``JAXGAN_BAD_INPUTS_REPORT=path.json`` also writes the classification of every row (clean
error / traceback / silently accepted / user files lost), e.g. to compare two revisions::

    JAXGAN_BAD_INPUTS_REPORT=/tmp/after.json python -m pytest -q tests/test_bad_inputs.py
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np
import pytest

from conftest import FIXTURES
from jaxgan import model
from jaxgan.checkpoint import save_network
from jaxgan.nets.configs import GeneratorConfig
from jaxgan.nets.generator import Generator

ROOT = Path(__file__).resolve().parent.parent
CLASSIFIER = ROOT / "tests" / "fixtures" / "trained" / "classifier_shapes_shape"
SEG = str(ROOT / "tests" / "fixtures" / "trained" / "segmenter_shapes")


class Case(NamedTuple):
    """One bad input: ``argv`` after the entry point (``{name}`` fields are filled from the
    workspace), the text the one-line message must contain, user files (relative to the
    workspace) whose bytes must not change, and paths that must not be created."""
    id: str
    entry: str                 # "jaxgan" or "train"
    argv: list[str]
    message: str
    keep: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()


G = ["generate", "--ckpt", "{ck}"]
INV = ["invert", "--ckpt", "{ck}", "--data", "shapes", "--num", "2", "--steps", "1"]
TRAIN = ["--config", "tiny"]

CASES = [
    # --- wrong kind of file / missing entries
    Case("generate-classifier-ckpt", "jaxgan", ["generate", "--ckpt", str(CLASSIFIER),
         "--seeds", "0", "--outdir", "{w}/o1"], "not a generator", absent=("o1",)),
    Case("invert-classifier-ckpt", "jaxgan", ["invert", "--ckpt", str(CLASSIFIER), "--data",
         "shapes", "--out", "{w}/o2"], "not a generator", absent=("o2",)),
    Case("invert-encoder-is-generator", "jaxgan", [*INV, "--encoder", "{ck}", "--out", "{w}/o3"],
         "not an encoder", absent=("o3",)),
    Case("generate-ckpt-missing", "jaxgan", ["generate", "--ckpt", "{w}/nope", "--seeds", "0"],
         "does not exist"),
    Case("generate-ckpt-is-file", "jaxgan", ["generate", "--ckpt", "{w}/user.txt", "--seeds", "0"],
         "is a file, not a checkpoint directory", keep=("user.txt",)),
    Case("generate-arch-json-broken", "jaxgan", ["generate", "--ckpt", "{w}/badarch", "--seeds",
         "0"], "not valid JSON", keep=("badarch/arch.json",)),
    Case("generate-ckpt-damaged-data", "jaxgan", ["generate", "--ckpt", "{w}/ck_damaged",
         "--seeds", "0", "--outdir", "{w}/o10"], "cannot read variables", absent=("o10",)),
    Case("generate-z-file-no-z", "jaxgan", [*G, "--z-file", "{w}/w_ok.npz"], "no 'z' array"),
    Case("generate-z-file-not-npz", "jaxgan", [*G, "--z-file", "{w}/user.txt"],
         "not an .npz", keep=("user.txt",)),
    Case("generate-z-file-wrong-shape", "jaxgan", [*G, "--z-file", "{w}/z_shape.npz"],
         "'z' has shape (2, 7)"),
    Case("convert-missing-tensor", "jaxgan", ["convert", "{w}/g_missing.npz", "{w}/conv1"],
         "mapping.fc0.weight", absent=("conv1",)),    # converter: named key (#22 may reword)
    Case("convert-unsupported", "jaxgan", ["convert", "{w}/user.txt", "{w}/conv2"],
         "unsupported source type", absent=("conv2",)),
    Case("convert-bad-override", "jaxgan", ["convert", str(FIXTURES / "fixture_g32.npz"),
         "{w}/conv3", "--override", "bogus=1"], "bogus", absent=("conv3",)),
    Case("train-unknown-key", "train", [*TRAIN, "--out", "{w}/t1", "nope.x=1"],
         "unknown config key", absent=("t1",)),
    Case("train-unknown-preset", "train", ["--config", "nosuch", "--out", "{w}/t2"],
         "no preset 'nosuch'", absent=("t2",)),
    # --- values: non-finite, out of range, nonsense
    Case("generate-psi-nan", "jaxgan", [*G, "--seeds", "0", "--psi", "nan", "--outdir", "{w}/o4"],
         "--psi must be a finite number", absent=("o4",)),
    Case("generate-psi-inf", "jaxgan", [*G, "--seeds", "0", "--psi", "inf", "--outdir", "{w}/o5"],
         "--psi must be a finite number", absent=("o5",)),
    Case("generate-z-nan", "jaxgan", [*G, "--z-file", "{w}/z_nan.npz", "--outdir", "{w}/o6"],
         "non-finite", absent=("o6",)),
    Case("generate-w-inf", "jaxgan", [*G, "--w-file", "{w}/w_inf.npz", "--outdir", "{w}/o7"],
         "non-finite", absent=("o7",)),
    Case("generate-duplicate-seeds", "jaxgan", [*G, "--seeds", "1,1", "--outdir", "{w}/o8"],
         "more than once", absent=("o8",)),
    Case("generate-overlapping-seeds", "jaxgan", [*G, "--seeds", "0-3,2", "--outdir", "{w}/o9"],
         "more than once", absent=("o9",)),
    Case("generate-bad-seed-spec", "jaxgan", [*G, "--seeds", "0-x"], "bad seed spec"),
    Case("generate-batch-0", "jaxgan", [*G, "--seeds", "0", "--batch", "0"], "--batch must be"),
    Case("generate-cutoff-negative", "jaxgan", [*G, "--seeds", "0", "--truncation-cutoff", "-1"],
         "--truncation-cutoff must be"),
    Case("generate-class-unconditional", "jaxgan", [*G, "--seeds", "0", "--class", "1"],
         "unconditional"),
    Case("invert-lr-nan", "jaxgan", [*INV, "--lr", "nan", "--out", "{w}/o10"],
         "--lr must be a finite number", absent=("o10",)),
    Case("invert-lpips-negative", "jaxgan", [*INV, "--lpips", "-1", "--out", "{w}/o11"],
         "--lpips must be", absent=("o11",)),
    Case("invert-num-0", "jaxgan", ["invert", "--ckpt", "{ck}", "--data", "shapes", "--num", "0",
         "--out", "{w}/o12"], "--num must be >= 1", absent=("o12",)),
    Case("train-total-kimg-negative", "train", [*TRAIN, "--out", "{w}/t3", "run.total_kimg=-1"],
         "run.total_kimg must be", absent=("t3",)),
    Case("train-total-kimg-nan", "train", [*TRAIN, "--out", "{w}/t4", "run.total_kimg=float('nan')"],
         "run.total_kimg", absent=("t4",)),
    Case("train-batch-0", "train", [*TRAIN, "--out", "{w}/t5", "batch_size=0"],
         "batch_size must be", absent=("t5",)),
    Case("train-lr-negative", "train", [*TRAIN, "--out", "{w}/t6", "optim.g_lr=-0.1"],
         "optim.g_lr must be", absent=("t6",)),
    Case("train-missing-folder", "train", [*TRAIN, "--out", "{w}/t7", "data.source=folder",
         "data.path={w}/no_images"], "no_images' is not a directory", absent=("t7",)),
    # --- unwritable outputs (a path under a regular file fails for root too)
    Case("generate-outdir-under-file", "jaxgan", [*G, "--seeds", "0", "--outdir", "{w}/user.txt/o"],
         "is a file", keep=("user.txt",)),
    Case("invert-out-under-file", "jaxgan", [*INV, "--out", "{w}/user.txt/o"], "is a file",
         keep=("user.txt",)),
    Case("train-out-under-file", "train", [*TRAIN, "--out", "{w}/user.txt/run"],
         "Not a directory", keep=("user.txt",)),
    Case("convert-out-under-file", "jaxgan", ["convert", str(FIXTURES / "fixture_g32.npz"),
         "{w}/user.txt/ck"], "is a file", keep=("user.txt",)),
    # --- the user's files are never replaced unasked, --overwrite only replaces ours
    Case("generate-would-replace-png", "jaxgan", [*G, "--seeds", "0-1", "--outdir", "{w}/gen"],
         "already holds 1 file(s) this command writes: seed0000.png",
         keep=("gen/seed0000.png", "gen/notes.txt")),
    Case("generate-would-replace-npz", "jaxgan", [*G, "--seeds", "5", "--save-npz", "--outdir",
         "{w}/gen2"], "images.npz", keep=("gen2/images.npz", "gen2/seed0000.png")),
    Case("invert-would-replace-results", "jaxgan", [*INV, "--out", "{w}/inv"],
         "latents.npz, metrics.json", keep=("inv/latents.npz", "inv/metrics.json")),
    Case("convert-exists", "jaxgan", ["convert", str(FIXTURES / "fixture_g32.npz"), "{w}/mine1"],
         "already exists", keep=("mine1/arch.json", "mine1/notes.txt")),
    Case("convert-overwrite-foreign-dir", "jaxgan", ["convert", str(FIXTURES / "fixture_g32.npz"),
         "{w}/mine2", "--overwrite"], "notes.txt", keep=("mine2/arch.json", "mine2/notes.txt")),
    Case("train-encoder-exists", "jaxgan", ["train-encoder", "--ckpt", "{ck}", "--out",
         "{w}/mine3"], "exists; pass --overwrite", keep=("mine3/arch.json", "mine3/notes.txt")),
    Case("export-no-run", "jaxgan", ["export", "--run", "{w}/norun"], "norun"),
    # --- every other command that writes files: refused before any loading or computing
    Case("directions-would-replace", "jaxgan", ["directions", "sefa", "--ckpt", "{ck}", "--out",
         "{w}/dirs"], "results.json, strips_sefa0.png",
         keep=("dirs/results.json", "dirs/strips_sefa0.png", "dirs/notes.txt")),
    Case("directions-out-under-file", "jaxgan", ["directions", "sefa", "--ckpt", "{ck}", "--out",
         "{w}/user.txt/d"], "is a file", keep=("user.txt",)),
    Case("directions-psi-nan", "jaxgan", ["directions", "ganspace", "--ckpt", "{ck}", "--psi",
         "nan", "--out", "{w}/o13"], "--psi must be a finite number", absent=("o13",)),
    Case("dissect-would-replace", "jaxgan", ["dissect", "--ckpt", "{ck}", "--segmenter", SEG,
         "--layer", "b8.conv0", "--out", "{w}/dis"], "summary.json, units_b8.conv0.png",
         keep=("dis/summary.json", "dis/units_b8.conv0.png", "dis/notes.txt")),
    Case("ensemble-would-replace", "jaxgan", ["ensemble", "--ckpt", "{ck}", "--out", "{w}/ens"],
         "results.md", keep=("ens/results.md", "ens/notes.txt")),
    Case("explain-would-replace", "jaxgan", ["explain", "report", "--ckpt", "{w}/nope", "--out",
         "{w}/expl"], "attfind.json, report.json", keep=("expl/attfind.json", "expl/report.json")),
    Case("metrics-would-replace", "jaxgan", ["metrics", "--ckpt", "{ck}", "--out", "{w}/met"],
         "metrics.json", keep=("met/metrics.json", "met/metrics-log.jsonl")),
    Case("metrics-psi-inf", "jaxgan", ["metrics", "--ckpt", "{ck}", "--psi", "inf", "--out",
         "{w}/o14"], "--psi must be a finite number", absent=("o14",)),
    Case("adapt-report-would-replace", "jaxgan", ["adapt", "report", "--out", "{w}/dom"],
         "results.md", keep=("dom/results.md", "dom/notes.txt")),
    Case("adapt-morph-would-replace", "jaxgan", ["adapt", "morph", "--src", "{ck}", "--a",
         "{w}/nope", "--out", "{w}/user.png"], "already exists", keep=("user.png",)),
    Case("export-would-replace-file", "jaxgan", ["export", "--ckpt", "{ck}", "--format",
         "official-npz", "--out", "{w}/user.npz"], "already exists", keep=("user.npz",)),
    Case("export-out-under-file", "jaxgan", ["export", "--ckpt", "{ck}", "--format",
         "safetensors", "--out", "{w}/user.txt/g.safetensors"], "is a file", keep=("user.txt",)),
    Case("export-run-would-replace", "jaxgan", ["export", "--run", "{w}/norun", "--out",
         "{w}/exp"], "G_ema", keep=("exp/G_ema/arch.json",)),
    Case("train-classifier-exists", "jaxgan", ["train-classifier", "--task", "shapes:shape",
         "--out", "{w}/mine4"], "already exists; pass --overwrite",
         keep=("mine4/arch.json", "mine4/notes.txt")),
    Case("train-segmenter-overwrite-foreign-dir", "jaxgan", ["train-segmenter", "--out",
         "{w}/mine5", "--overwrite"], "notes.txt", keep=("mine5/arch.json", "mine5/notes.txt")),
]


#: Rows also run through the real ``python -m`` entry points (the rest are forked from one
#: driver that imported the same ``main`` functions; see ``_forked``).
REAL_ENTRY = ("generate-psi-nan", "invert-num-0", "train-total-kimg-negative")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _workspace(w: Path) -> Path:
    """The files the cases read and protect; returns the tiny generator checkpoint."""
    g = Generator(GeneratorConfig(img_resolution=16, channel_base=64, channel_max=16, z_dim=8,
                                  w_dim=8, mapping_layers=1))
    rng = np.random.default_rng(0)
    v = jax.tree.map(lambda s: 0.5 * rng.standard_normal(s.shape).astype(s.dtype),
                     model.variables_shape(g))
    ck = save_network(w / "ck", g, v)
    damaged = Path(shutil.copytree(ck, w / "ck_damaged"))     # array data cut in half
    data = max((damaged / "variables").rglob("d/*"), key=lambda p: p.stat().st_size)
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    (w / "user.txt").write_text("the user's notes\n")
    (w / "badarch").mkdir()
    (w / "badarch" / "arch.json").write_text("{not json")
    np.savez(w / "w_ok.npz", w=np.zeros((1, 8), np.float32))
    np.savez(w / "z_shape.npz", z=np.zeros((2, 7), np.float32))
    np.savez(w / "z_nan.npz", z=np.array([[0.0] * 8, [np.nan] + [0.0] * 7], np.float32))
    np.savez(w / "w_inf.npz", w=np.full((1, 8), np.inf, np.float32))
    sd = dict(np.load(FIXTURES / "fixture_g32.npz"))
    np.savez(w / "g_missing.npz", **{k: a for k, a in sd.items()
                                     if k != "mapping.fc0.weight"})
    (w / "user.png").write_bytes(b"the user's picture\n")
    (w / "user.npz").write_bytes(b"the user's archive\n")
    dirs = {"gen": ("seed0000.png", "notes.txt", "images.npz"),
            "gen2": ("seed0000.png", "images.npz"), "inv": ("latents.npz", "metrics.json"),
            **{f"mine{i}": ("arch.json", "notes.txt") for i in (1, 2, 3, 4, 5)},
            "dirs": ("results.json", "strips_sefa0.png", "notes.txt"),
            "dis": ("summary.json", "units_b8.conv0.png", "notes.txt"),
            "ens": ("results.md", "notes.txt"), "expl": ("attfind.json", "report.json"),
            "met": ("metrics.json", "metrics-log.jsonl"), "dom": ("results.md", "notes.txt"),
            "exp/G_ema": ("arch.json",)}
    for d, files in dirs.items():
        (w / d).mkdir(parents=True)
        for f in files:
            (w / d / f).write_bytes(f"user data in {d}/{f}\n".encode())
    return ck


def _env() -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    env.pop("JAXGAN_DEBUG", None)
    return env


def _argv(case: Case, w: Path, ck: Path) -> list[str]:
    return [a.format(w=str(w), ck=str(ck)) for a in case.argv]


def _python_m(case: Case, w: Path, ck: Path, timeout: float) -> dict:
    """The case through the real ``python -m`` entry point."""
    mod = "jaxgan.cli" if case.entry == "jaxgan" else "train"
    try:
        p = subprocess.run([sys.executable, "-m", mod, *_argv(case, w, ck)], capture_output=True,
                           text=True, env=_env(), cwd=w, timeout=timeout, check=False)
        return {"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr}
    except subprocess.TimeoutExpired:
        return {"rc": None, "stdout": "", "stderr": ""}


def _forked(cases: list[Case], w: Path, ck: Path, timeout: float) -> dict[str, dict]:
    """The cases as processes forked from one driver that imported everything once
    (tests/scripts/cli_case_runner.py): each still a process of its own."""
    spec = [{"id": c.id, "entry": c.entry, "argv": _argv(c, w, ck), "cwd": str(w)} for c in cases]
    (w / ".cases.json").write_text(json.dumps(spec))
    workers = os.environ.get("JAXGAN_TEST_WORKERS", "2")
    p = subprocess.run([sys.executable, str(ROOT / "tests" / "scripts" / "cli_case_runner.py"),
                        str(w / ".cases.json"), str(w / ".results.json"), workers, str(timeout)],
                       capture_output=True, text=True, env=_env(), timeout=3600, check=False)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads((w / ".results.json").read_text())


def _classify(case: Case, w: Path, res: dict, before: dict[str, str]) -> dict:
    lost = [k for k in case.keep if not (w / k).is_file() or _sha(w / k) != before[k]]
    left = [a for a in case.absent if (w / a).exists()]
    stderr = res["stderr"] + ("\n[timed out: still running]" if res["rc"] is None else "")
    lines = [s for s in stderr.splitlines() if s.strip() and not s.startswith("WARNING:")]
    if "Traceback" in stderr:
        kind = "traceback"
    elif res["rc"] in (0, None):                  # None: still running (e.g. real training)
        kind = "silently accepted"
    else:
        kind = "clean error"
    return {"id": case.id, "rc": res["rc"], "stderr": stderr[-3000:], "lines": lines,
            "lost": lost, "left": left, "kind": kind}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    w = tmp_path_factory.mktemp("bad_inputs")
    ck = _workspace(w)
    timeout = float(os.environ.get("JAXGAN_CASE_TIMEOUT", "300"))
    before = {k: _sha(w / k) for c in CASES for k in c.keep}
    real = [c for c in CASES if c.id in REAL_ENTRY]
    raw = _forked([c for c in CASES if c.id not in REAL_ENTRY], w, ck, timeout)
    raw.update({c.id: _python_m(c, w, ck, timeout) for c in real})
    out = {c.id: _classify(c, w, raw[c.id], before) for c in CASES}
    report = os.environ.get("JAXGAN_BAD_INPUTS_REPORT")
    if report:
        counts: dict[str, int] = {}
        for r in out.values():
            counts[r["kind"]] = counts.get(r["kind"], 0) + 1
        counts["user files lost (any kind)"] = sum(bool(r["lost"]) for r in out.values())
        counts["directory left behind"] = sum(bool(r["left"]) for r in out.values())
        Path(report).write_text(json.dumps({"counts": counts, "cases": list(out.values())},
                                           indent=1))
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clean_line(results, case):
    r = results[case.id]
    assert "Traceback" not in r["stderr"], r["stderr"]
    assert r["rc"] == 2, r["stderr"]
    assert len(r["lines"]) == 1, r["stderr"]
    assert case.message in r["lines"][0], r["lines"][0]
    assert not r["lost"], f"user files changed: {r['lost']}"
    assert not r["left"], f"left behind: {r['left']}"


def test_overwrite_replaces_only_the_commands_files(tmp_path):
    """``generate --overwrite`` (and ``directions``) into a directory with the user's files:
    the command's own files are replaced, the unrelated one is untouched."""
    w = tmp_path
    ck = _workspace(w)
    notes = _sha(w / "gen" / "notes.txt")
    p = subprocess.run([sys.executable, "-m", "jaxgan.cli", "generate", "--ckpt", str(ck),
                        "--seeds", "0", "--outdir", str(w / "gen"), "--overwrite"],
                       capture_output=True, text=True, env=_env(), timeout=300, check=False)
    assert p.returncode == 0, p.stderr
    assert _sha(w / "gen" / "notes.txt") == notes
    from PIL import Image
    assert Image.open(w / "gen" / "seed0000.png").size == (16, 16)   # now a real image
    assert (w / "gen" / "images.npz").read_bytes().startswith(b"user data")   # not ours to touch
    assert not [p for p in (w / "gen").iterdir() if p.name.startswith(".")]  # no temp files
    # A command whose file names follow what it computes (glob patterns): the same rule.
    from jaxgan.cli import main
    dirs = w / "dirs"
    notes = _sha(dirs / "notes.txt")
    assert main(["directions", "sefa", "--ckpt", str(ck), "--out", str(dirs), "--components",
                 "1", "--num-strip", "1", "--overwrite"]) == 0
    assert _sha(dirs / "notes.txt") == notes
    assert json.loads((dirs / "results.json").read_text())["method"] == "sefa"
    assert Image.open(dirs / "strips_sefa0.png").size[0] > 16
