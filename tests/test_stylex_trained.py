"""StylEx on the committed trained fixture (``tests/fixtures/trained/stylex_shapes``, written
by ``jaxgan explain train --config stylex_shapes`` (40 kimg) + ``jaxgan explain report``), task
``large_high_horizon`` (label = large object AND high horizon: two planted factors), measured on
fresh held-out scenes with independent estimators (the segmenter's object mask and per-row
horizon) — not with StylEx's own classifier.

What the fixture meets is asserted at the issue's thresholds: classifier agreement >= 90%,
both planted factors among the positive class's top-4 attributes, flip rate >= 80% for the
positive class. Not met yet (README, StylEx): the overall top-4 flip rate (0.72 here; the
negative class's images need both factors changed) and both factors in the negative class's
top-4.
"""
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
TASK = "large_high_horizon"
# The planted factors and the side of each estimator's threshold that class 1 needs.
FACTORS = {"object_area": +1, "horizon": +1}


@pytest.fixture(scope="module")
def setup():
    from jaxgan.stylex import pipeline
    from jaxgan.stylex.metrics import shapes_estimators
    from jaxgan.stylex.explainer import load_stylex
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
    # Recognisable: the independent estimators read the same planted factors off x and G(E(x))
    # (fixture: horizon r 0.97 / 98% same side of the task threshold; object size 0.77 / 82%).
    for name in FACTORS:
        a = np.asarray(s["est"][name](jnp.asarray(s["images"])))
        b = np.asarray(s["est"][name](jnp.asarray(s["rec"])))
        same_side = float(np.mean((a > s["thr"][name]) == (b > s["thr"][name])))
        assert np.corrcoef(a, b)[0, 1] >= 0.7 and same_side >= 0.8, (name, same_side)


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


def test_top4_attributes_are_the_two_planted_factors(setup):
    table = _factor_table(setup, 1)
    flips = {name: [t["flip_frac"][name] for t in table] for name in FACTORS}
    # Each planted factor is what one of the top-4 coordinates changes (in most images).
    for name, f in flips.items():
        assert max(f) >= 0.5, (name, table)
    # No task-unrelated coordinate ranks above the first coordinate of each factor.
    first = max(int(np.argmax(np.asarray(f) >= 0.5)) for f in flips.values())
    for t in table[:first]:
        assert max(t["flip_frac"].values()) >= 0.25, table


def test_flip_rate_top4_positive_class(setup):
    from jaxgan.stylex.metrics import flip_rate
    s = setup
    rec_pred = np.asarray(jnp.argmax(s["sx"].logits(jnp.asarray(s["rec"])), -1))
    stable = rec_pred == np.argmax(s["enc"]["cond_logits"], -1)
    res = s["res"]
    r = flip_rate(s["m"].render, s["sx"].logits, s["enc"]["styles"][stable], rec_pred[stable],
                  res["ranking"], res["smin"], res["smax"], res["shift"], k=4)
    # Positive images flip when the negative class's top-4 change together (fixture: 0.875).
    assert r["per_class"][1] >= 0.8, r["per_class"]
    # Chance check: as many random coordinates, same directions, flip far fewer.
    rng = np.random.default_rng(0)
    rand = {c: [(int(a[0]), int(j)) for a, j in zip(res["ranking"][c][:4],
                                                    rng.choice(len(res["smin"]), 4, False))]
            for c in res["ranking"]}
    r0 = flip_rate(s["m"].render, s["sx"].logits, s["enc"]["styles"][stable], rec_pred[stable],
                   rand, res["smin"], res["smax"], res["shift"], k=4)
    assert r0["per_class"][1] < r["per_class"][1] - 0.3, (r0["per_class"], r["per_class"])
