"""StylEx must-shows on the committed trained fixture (``tests/fixtures/trained/stylex_shapes``,
written by ``jaxgan explain train --config stylex_shapes`` + ``jaxgan explain report``), task
``large_low_horizon`` (label = large object AND low horizon: two planted factors), measured on
fresh held-out scenes with independent estimators (the segmenter's object mask and per-row
horizon) — not with StylEx's own classifier."""
from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

FIX = Path(__file__).parent / "fixtures" / "trained" / "stylex_shapes"
SEG = Path(__file__).parent / "fixtures" / "trained" / "segmenter_shapes"
SHAPE = Path(__file__).parent / "fixtures" / "trained" / "classifier_shapes_shape"
pytestmark = pytest.mark.skipif(not FIX.is_dir(), reason="StylEx fixture not present")
START = 3 * 10 ** 6          # scene indices unused by training (0..20k) and the report (10**6..)
TASK = "large_low_horizon"
# The planted factors and the side of each estimator's threshold that class 1 needs.
FACTORS = {"object_area": +1, "horizon": -1}


@pytest.fixture(scope="module")
def setup():
    from jaxgan.stylex import pipeline
    from jaxgan.stylex.metrics import shapes_estimators
    from jaxgan.stylex.model import load_stylex
    sx = load_stylex(FIX)
    images, labels, factors = pipeline.task_images(TASK, 200, 32, seed=1, start=START)
    enc = pipeline.encode_dataset(sx, images)
    res = pipeline.load_attfind(FIX / "attfind.npz")
    est, thr, _ = shapes_estimators(str(SEG), str(SHAPE))
    m = pipeline.attfind_model(sx, enc["layout"])
    rec = np.asarray(m.render(jnp.asarray(enc["styles"])))
    return dict(sx=sx, images=images, enc=enc, res=res, est=est, thr=thr, m=m, rec=rec)


def test_encoder_path_converged(setup):
    s = setup
    pred_rec = np.argmax(np.asarray(s["sx"].logits(jnp.asarray(s["rec"]))), -1)
    pred = np.argmax(s["enc"]["cond_logits"], -1)
    agree = float(np.mean(pred_rec == pred))
    assert agree >= 0.9, agree                                       # C(G(E(x))) = C(x)
    # Recognisable: the independent estimators read the same planted factors off x and G(E(x)).
    for name in FACTORS:
        a = np.asarray(s["est"][name](jnp.asarray(s["images"]))) > s["thr"][name]
        b = np.asarray(s["est"][name](jnp.asarray(s["rec"]))) > s["thr"][name]
        assert np.mean(a == b) >= 0.85, (name, float(np.mean(a == b)))


def _factor_table(s, cls: int, k: int = 4) -> list[dict]:
    """For each of class ``cls``'s top-``k`` attributes and each planted factor: the fraction
    of the images that the attribute could move (predicted class != ``cls`` and the factor on
    the other side of its threshold) whose binarised factor it does move."""
    from jaxgan.stylex.metrics import attribute_factor_changes
    res, thr = s["res"], s["thr"]
    pred = np.argmax(s["enc"]["cond_logits"], -1)
    x = jnp.asarray(s["images"])
    table = [{"attr": tuple(int(v) for v in a[:2]), "flip_frac": {}}
             for a in res["ranking"][cls][:k]]
    for name, side in FACTORS.items():
        want = side if cls == 1 else -side
        value = np.asarray(s["est"][name](x))
        sel = (pred != cls) & (np.sign(value - thr[name]) != want)
        assert sel.sum() >= 20, (name, int(sel.sum()))
        rows = attribute_factor_changes(s["m"].render, {name: s["est"][name]},
                                        s["enc"]["styles"][sel], res["ranking"][cls][:k],
                                        res["smin"], res["smax"], res["shift"], thr)
        for t, r in zip(table, rows):
            t["flip_frac"][name] = r["flip_frac"][name]
    return table


@pytest.mark.parametrize("cls", [1, 0])
def test_top4_attributes_are_the_two_planted_factors(setup, cls):
    table = _factor_table(setup, cls)
    flips = {name: [t["flip_frac"][name] for t in table] for name in FACTORS}
    # Each planted factor is what one of the top-4 coordinates changes (in most images).
    for name, f in flips.items():
        assert max(f) >= 0.5, (name, table)
    # No task-unrelated coordinate ranks above the first coordinate of each factor.
    first = max(int(np.argmax(np.asarray(f) >= 0.5)) for f in flips.values())
    for t in table[:first]:
        assert max(t["flip_frac"].values()) >= 0.25, table


def test_flip_rate_top4(setup):
    from jaxgan.stylex.metrics import flip_rate
    s = setup
    rec_pred = np.asarray(jnp.argmax(s["sx"].logits(jnp.asarray(s["rec"])), -1))
    stable = rec_pred == np.argmax(s["enc"]["cond_logits"], -1)
    res = s["res"]
    r = flip_rate(s["m"].render, s["sx"].logits, s["enc"]["styles"][stable], rec_pred[stable],
                  res["ranking"], res["smin"], res["smax"], res["shift"], k=4)
    assert r["flip_rate"] >= 0.8, r["per_class"]
