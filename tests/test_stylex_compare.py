"""StylEx measured as the paper measures it (``jaxgan explain compare``), on the built-in
two-factor task ``large_high_horizon``: sufficiency curves of StylEx's AttFind attributes, of
AttFind in a vanilla StyleGAN2's StyleSpace (the generator StylEx started from, trained on
for the same 40 kimg with the plain losses, with its inversion encoder) and of random style
coordinates.

The committed run (``docs/stylex_compare/``: ``compare.json``, ``compare.md``,
``sufficiency.png``) was written by the command in :data:`COMMAND`; the slow test reruns it
and checks (a) the result reproduces the committed one, (b) StylEx above random coordinates
with the 95% bootstrap interval of the difference above 0 at k = 4 and k = 10, and (c) the
positive class's top-4 attributes hold both planted factors (object size, horizon height),
measured by the independent estimators (segmenter). StylEx above the vanilla baseline is
*not* asserted: in the committed run it does not hold (docs/stylex.md).

Run with ``pytest -m slow tests/test_stylex_compare.py`` (about 15 minutes on 2 CPU cores).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "stylex_compare" / "compare.json"
COMMAND = ["explain", "compare", "--ckpt", "builtin:stylex_shapes",
           "--vanilla-g", "builtin:G_vanilla_shapes32_100k",
           "--vanilla-e", "builtin:encoder_vanilla_shapes32_100k",
           "--num-attfind", "128", "--num-eval", "250", "--prefilter", "96", "--seed", "0",
           "--no-progress"]
#: How far a rerun's rates may move from the committed ones (XLA:CPU reductions may differ
#: across machines; a flipped decision on 1 of ~230 images is 0.004).
RATE_TOL = 0.03


def check_ordering(res: dict) -> None:
    """StylEx above random coordinates at k = 4 and 10 (95% intervals of the difference above
    0), and the positive class's top-4 holding both planted factors."""
    for name in ("stylex-random",):
        by_k = {r["k"]: r for r in res["differences"][name]}
        for k in (4, 10):
            assert by_k[k]["low"] > 0, (name, k, by_k[k])
    factors = res["generators"]["stylex"]["factors"]
    positive = factors["large_high_horizon"]                 # the classifier's class 1
    moved = {f for a in positive[:4] for f, v in a["flip_frac"].items() if v >= 0.4}
    assert {"object_area", "horizon"} <= moved, positive


def test_committed_comparison_holds_what_it_claims():
    """The committed figures themselves (docs/stylex.md quotes them)."""
    check_ordering(json.loads(COMMITTED.read_text()))


@pytest.mark.slow
def test_rerun_reproduces_committed_comparison(tmp_path):
    committed = json.loads(COMMITTED.read_text())
    out = tmp_path / "cmp"
    r = subprocess.run([sys.executable, "-m", "jaxgan.cli", *COMMAND, "--out", str(out)],
                       cwd=tmp_path, capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((out / "compare.json").read_text())
    for method, c in committed["methods"].items():
        got = res["methods"][method]
        assert got["n"] == c["n"], method
        for a, b in zip(got["overall"], c["overall"]):
            assert abs(a["rate"] - b["rate"]) <= RATE_TOL, (method, a, b)
    check_ordering(res)
    assert (out / "sufficiency.png").stat().st_size > 10_000
