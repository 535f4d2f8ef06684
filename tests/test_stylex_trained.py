"""StylEx must-shows on the committed trained fixture (``tests/fixtures/trained/stylex_shapes``,
written by ``jaxgan explain train --config stylex_shapes`` + ``jaxgan explain report``), task
``circle_and_sun`` (label = circle AND sun: two planted factors), measured on fresh held-out
scenes with independent estimators (the segmenter's sun mask, the shape classifier's
P(circle)) — not with StylEx's own classifier."""
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


@pytest.fixture(scope="module")
def setup():
    from jaxgan.stylex import pipeline
    from jaxgan.stylex.metrics import shapes_estimators
    from jaxgan.stylex.model import load_stylex
    sx = load_stylex(FIX)
    images, labels, factors = pipeline.task_images("circle_and_sun", 200, 32, seed=1, start=START)
    enc = pipeline.encode_dataset(sx, images)
    res = pipeline.load_attfind(FIX / "attfind.npz")
    est, thr, _ = shapes_estimators(str(SEG), str(SHAPE))
    m = pipeline.attfind_model(sx, enc["layout"])
    return sx, images, labels, factors, enc, res, est, thr, m


def test_encoder_path_converged(setup):
    sx, images, labels, factors, enc, res, est, thr, m = setup
    rec = np.asarray(m.render(jnp.asarray(enc["styles"])))
    pred_rec = np.argmax(np.asarray(sx.logits(jnp.asarray(rec))), -1)
    pred = np.argmax(enc["cond_logits"], -1)
    agree = float(np.mean(pred_rec == pred))
    assert agree >= 0.9, agree                                       # C(G(E(x))) = C(x)
    # Recognisable: the independent estimators read the same planted factors off x and G(E(x)).
    for name in ("sun_area", "p_circle"):
        a = np.asarray(est[name](jnp.asarray(images))) > thr[name]
        b = np.asarray(est[name](jnp.asarray(rec))) > thr[name]
        assert np.mean(a == b) >= 0.85, (name, float(np.mean(a == b)))


def _factor_table(setup, cls: int, k: int = 4):
    from jaxgan.stylex.metrics import attribute_factor_changes
    sx, images, labels, factors, enc, res, est, thr, m = setup
    pred = np.argmax(enc["cond_logits"], -1)
    flat = enc["styles"][pred != cls]
    return attribute_factor_changes(m.render, {k_: est[k_] for k_ in ("sun_area", "p_circle")},
                                    flat, res["ranking"][cls][:k], res["smin"], res["smax"],
                                    res["shift"], thr)


def test_top4_attributes_are_the_two_planted_factors(setup):
    table = _factor_table(setup, 1)
    sun = [t["flip_frac"]["sun_area"] for t in table]
    circ = [t["flip_frac"]["p_circle"] for t in table]
    # Each planted factor is what one of the top-4 coordinates changes (in most images).
    assert max(sun) >= 0.5, table
    assert max(circ) >= 0.5, table
    # No task-unrelated coordinate ranks above the first sun- and circle-changing ones.
    first = max(int(np.argmax(np.asarray(sun) >= 0.5)), int(np.argmax(np.asarray(circ) >= 0.5)))
    for t in table[:first]:
        assert max(t["flip_frac"].values()) >= 0.25, table


def test_flip_rate_top4(setup):
    from jaxgan.stylex.metrics import flip_rate
    sx, images, labels, factors, enc, res, est, thr, m = setup
    rec_pred = np.asarray(jnp.argmax(sx.logits(m.render(jnp.asarray(enc["styles"]))), -1))
    stable = rec_pred == np.argmax(enc["cond_logits"], -1)
    r = flip_rate(m.render, sx.logits, enc["styles"][stable], rec_pred[stable], res["ranking"],
                  res["smin"], res["smax"], res["shift"], k=4)
    assert r["flip_rate"] >= 0.8, r["per_class"]
