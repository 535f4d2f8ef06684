"""GAN Dissection must-shows on the trained shapes generator (skipped only if the fixture
is missing): units matching planted concepts (IoU >= 0.3), removal of a concept by
ablating its top causal units without disturbing the other concepts, and insertion of
the concept at an empty sky region. The concept masks come from the trained segmenter
fixture; every causal measurement uses latents held out from the dissection and from
the unit selection."""
from __future__ import annotations

import functools
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxgan.checkpoint import load_network
from jaxgan.classify import load_model
from jaxgan.dissect import ablation_curve, dissect, optimize_alpha
from jaxgan.dissect.study import insertion_study, ws_batches
from jaxgan.nets.segmenter import segment

FIX = Path(__file__).parent / "fixtures" / "trained"
G_DIR, SEG_DIR = FIX / "G_shapes32", FIX / "segmenter_shapes"
pytestmark = pytest.mark.skipif(not G_DIR.is_dir(), reason="trained fixture G_shapes32 missing")

LAYER = "b8.conv1"        # feeds every later block and every later ToRGB (skip architecture)
QUANTILES = (0.01, 0.02, 0.05, 0.1, 0.2)
PLANTED = ("sky", "ground", "object", "sun")
K_UNITS = 16


@pytest.fixture(scope="module")
def trained():
    G, g = load_network(G_DIR)
    sm, sv = load_model(SEG_DIR)
    seg = jax.jit(functools.partial(segment, sm, sv))
    soft = functools.partial(segment, sm, sv, threshold=None)
    return G, g, seg, soft


@pytest.fixture(scope="module")
def dissection(trained):
    G, g, seg, _ = trained
    return dissect(G, g, seg, (LAYER,), num_samples=150, batch_size=50, quantile=QUANTILES,
                   key=jax.random.key(0), progress=False)[LAYER]


@pytest.fixture(scope="module")
def object_units(trained, dissection):
    """Top-k units for 'object' by alpha* of the removal objective (optimised on latents
    from key 5; the paper ranks units by optimised alpha)."""
    G, g, _, soft = trained
    alpha, _ = optimize_alpha(G, g, LAYER, soft, "object", dissection.high_mean, steps=50,
                              batch_size=8, learning_rate=0.1, lam=0.01, objective="ablate",
                              key=jax.random.key(5), progress=False)
    return np.argsort(-alpha, kind="stable")[:K_UNITS]


def test_units_match_planted_concepts(dissection):
    best = {c: float(dissection.iou[:, dissection.concepts.index(c)].max()) for c in PLANTED}
    print("best IoU per planted concept at", LAYER, best)
    assert sum(v >= 0.3 for v in best.values()) >= 2, best
    # The thresholds are real top quantiles: each unit's mask covers ~q of all pixels.
    q_area = dissection.unit_area / (dissection.num_samples * 32 * 32)      # [Q, U]
    np.testing.assert_allclose(q_area.mean(1), QUANTILES, rtol=0.1)


def test_ablating_top_units_removes_object_only(trained, dissection, object_units):
    G, g, seg, _ = trained
    batches = ws_batches(G, g, jax.random.key(21), 64, 32)        # held out
    curve = ablation_curve(G, g, batches, LAYER, seg, PLANTED, object_units, [0, K_UNITS])
    removed = 1 - curve["remaining"]["object"][1]
    others = {c: float(curve["remaining"][c][1] - 1) for c in PLANTED
              if c != "object" and curve["area"][c][0] >= 0.01}   # concepts present (>= 1%)
    print("object removed", removed, "other concepts' relative change", others)
    assert removed >= 0.5
    assert others and all(abs(v) < 0.15 for v in others.values())


def test_inserting_units_in_empty_sky_creates_object(trained, dissection, object_units):
    G, g, seg, _ = trained
    ws = ws_batches(G, g, jax.random.key(22), 32, 32)[0]           # held out
    ins = insertion_study(G, g, seg, LAYER, object_units, dissection.high_mean, "object", ws,
                          region_size=8)
    print("object fraction in the region before", ins["before"].mean(), "after",
          ins["after"].mean(), "outside", ins["before_outside"].mean(), ins["after_outside"].mean())
    assert len(ins["used"]) >= 8
    assert ins["before"].mean() < 0.05
    assert ins["after"].mean() >= 0.3
    assert np.median(ins["after"]) >= 0.3


@pytest.mark.slow
def test_ablating_causal_artifact_units_lowers_heldout_fd(trained):
    """Artifact units of b8.conv1 ranked by their causal effect on recognisability (the shape
    classifier's confidence, an automatic stand-in for labels of bad samples) on 300
    latents; ablating the top 4 lowers the FD (shape-classifier features) of 1000 *other*
    latents against 2000 rendered scenes, and raises their recognisability."""
    from jaxgan.data import render_shapes, to_float
    from jaxgan.dissect import artifact_study, classifier_confidence, classifier_features
    G, g, _, _ = trained
    cm, cv = load_model(FIX / "classifier_shapes_shape")
    real = to_float(render_shapes(2000, 32, seed=12345)["image"])
    a = artifact_study(G, g, LAYER, realism_fn=classifier_confidence(cm, cv),
                       features_fn=classifier_features(cm, cv), real_images=real,
                       num_samples=1000, batch_size=100, num_ablate=[4], ranking="causal",
                       rank_samples=300, key=jax.random.key(0))
    print("artifact units", a["ablated_units"], "FD", a["fd_before"], "->", a["fd_after"],
          "confidence", a["realism_before"], "->", a["realism_after"])
    assert a["fd_after"] < 0.95 * a["fd_before"]
    assert a["realism_after"] > a["realism_before"]
