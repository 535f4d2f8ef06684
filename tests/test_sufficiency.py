"""Sufficiency curves and their bootstrap intervals (jaxgan.stylex.sufficiency), against a
second implementation (metrics.flip_rate), a closed form (a linear toy classifier) and
scipy.stats.bootstrap."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxgan.stylex import metrics, sufficiency
from jaxgan.stylex.attfind import apply_attributes

S = 12


def _toy():
    """'Render' is the identity on styles; the classifier's logit difference is
    ``w . s``, so whether an edit flips class 0 -> 1 is ``w . s' > 0`` in closed form."""
    w = jnp.asarray(np.linspace(-1.0, 1.0, S), jnp.float32)

    def classify(x):                                     # [B, S] -> logits [B, 2]
        z = x @ w
        return jnp.stack([-z, z], -1)
    return (lambda s: s), classify, np.asarray(w)


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    flat = rng.normal(size=(n, S)).astype(np.float32)
    return flat, flat.min(0), flat.max(0)


def test_flipped_by_k_matches_flip_rate_and_closed_form():
    render, classify, w = _toy()
    flat, smin, smax = _data()
    labels = (flat @ w > 0).astype(int)
    # toward class 1: push the most positive-weight coordinates to max; toward 0: to min
    ranking = {1: [(1, j, 0.0) for j in np.argsort(-w)[:5]],
               0: [(0, j, 0.0) for j in np.argsort(-w)[:5]]}
    ks = (1, 2, 3, 5)
    fl = sufficiency.flipped_by_k(render, classify, flat, labels, ranking, smin, smax, 2.0, ks)
    assert fl.shape == (len(ks), len(flat))
    for i, k in enumerate(ks):
        ref = metrics.flip_rate(render, classify, flat, labels, ranking, smin, smax, 2.0, k)
        np.testing.assert_array_equal(fl[i], ref["flipped"])
        # closed form: each image gets the other class's top-k, then sign(w . s') decides
        exp = np.zeros(len(flat), bool)
        for y in (0, 1):
            idx = labels == y
            ch = np.asarray(apply_attributes(flat[idx], ranking[1 - y][:k], smin, smax, 2.0))
            exp[idx] = (ch @ w > 0).astype(int) != y
        np.testing.assert_array_equal(fl[i], exp)
    # the curve of these sufficient attributes rises with k
    rates = fl.mean(1)
    assert np.all(np.diff(rates) >= 0) and rates[-1] > rates[0]


def test_random_attributes_nested_distinct_and_deterministic():
    key = jax.random.key(3)
    d, c = sufficiency.random_attributes(key, 20, S, 6)
    d2, c2 = sufficiency.random_attributes(key, 20, S, 6)
    np.testing.assert_array_equal(c, c2)
    np.testing.assert_array_equal(d, d2)
    assert c.shape == (20, 6) and set(np.unique(d)) <= {0, 1}
    assert all(len(set(row)) == 6 for row in c)           # distinct coordinates per image
    assert len({tuple(r) for r in c}) > 1                 # images get different draws
    d3, c3 = sufficiency.random_attributes(jax.random.key(4), 20, S, 6)
    assert not np.array_equal(c, c3)


def test_apply_per_image_equals_apply_attributes_row_by_row():
    flat, smin, smax = _data(8)
    d, c = sufficiency.random_attributes(jax.random.key(0), 8, S, 4)
    got = np.asarray(sufficiency.apply_per_image(flat, d, c, smin, smax, 2.0))
    for i in range(8):
        ref = apply_attributes(flat[i:i + 1], list(zip(d[i], c[i])), smin, smax, 2.0)
        np.testing.assert_allclose(got[i], np.asarray(ref)[0], rtol=1e-6, atol=1e-6)


def test_random_baseline_flip_matrix_closed_form():
    render, classify, w = _toy()
    flat, smin, smax = _data()
    labels = (flat @ w > 0).astype(int)
    key = jax.random.key(1)
    ks = (1, 4)
    fl = sufficiency.flipped_by_k_random(render, classify, flat, labels, key, smin, smax, 2.0, ks)
    d, c = sufficiency.random_attributes(key, len(flat), S, max(ks))
    for i, k in enumerate(ks):
        ch = np.asarray(sufficiency.apply_per_image(flat, d[:, :k], c[:, :k], smin, smax, 2.0))
        np.testing.assert_array_equal(fl[i], (ch @ w > 0).astype(int) != labels)


@pytest.mark.parametrize("p", [0.2, 0.55])
def test_bootstrap_ci_agrees_with_scipy(p):
    x = (np.random.default_rng(0).random(300) < p).astype(float)
    m, lo, hi = sufficiency.bootstrap_ci(x, seed=1, n_boot=4000)
    ref = stats.bootstrap((x,), np.mean, n_resamples=4000, method="percentile",
                          random_state=np.random.default_rng(2)).confidence_interval
    assert m == pytest.approx(x.mean())
    assert lo == pytest.approx(ref.low, abs=0.012) and hi == pytest.approx(ref.high, abs=0.012)
    # and the normal approximation of a proportion's interval
    se = np.sqrt(m * (1 - m) / len(x))
    assert lo == pytest.approx(m - 1.96 * se, abs=0.015)
    assert hi == pytest.approx(m + 1.96 * se, abs=0.015)


def test_bootstrap_diff_ci_agrees_with_scipy():
    rng = np.random.default_rng(5)
    a = (rng.random(200) < 0.6).astype(float)
    b = (rng.random(150) < 0.4).astype(float)
    d, lo, hi = sufficiency.bootstrap_diff_ci(a, b, seed=0, n_boot=4000)
    ref = stats.bootstrap((a, b), lambda u, v, axis=-1: u.mean(axis) - v.mean(axis),
                          n_resamples=4000, method="percentile", vectorized=True,
                          random_state=np.random.default_rng(9)).confidence_interval
    assert d == pytest.approx(a.mean() - b.mean())
    assert lo == pytest.approx(ref.low, abs=0.015) and hi == pytest.approx(ref.high, abs=0.015)
    assert lo > 0                                          # 0.6 vs 0.4 on these sizes


def test_curve_per_class_and_plot(tmp_path):
    fl = np.array([[1, 0, 0, 1], [1, 1, 0, 1]], bool)
    labels = np.array([0, 0, 1, 1])
    c = sufficiency.curve(fl, labels, ks=(1, 2), class_names=("neg", "pos"))
    assert c["k"] == [1, 2] and c["n"] == 4
    assert [r["rate"] for r in c["overall"]] == [0.5, 0.75]
    assert [r["rate"] for r in c["per_class"]["neg"]] == [0.5, 1.0]
    assert [r["rate"] for r in c["per_class"]["pos"]] == [0.5, 0.5]
    assert all(r["low"] <= r["rate"] <= r["high"] for r in c["overall"])
    sufficiency.save_plot(tmp_path / "s.png", {"a": c, "b": c})
    from PIL import Image
    assert Image.open(tmp_path / "s.png").size[0] > 300


def test_explain_report_writes_the_sufficiency_curve(tmp_path):
    """``jaxgan explain report`` on the built-in StylEx: report.json's sufficiency curve at
    k = --k equals the flip rate the report computes separately (metrics.flip_rate), and
    the plot is written."""
    import json

    from jaxgan.cli import main
    out = tmp_path / "r"
    rc = main(["explain", "report", "--ckpt", "builtin:stylex_shapes", "--num-images", "16",
               "--layers", "b4.conv1", "--num-indices", "3", "--k", "2", "--out", str(out),
               "--no-progress"])
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    suf = rep["sufficiency"]
    assert suf["k"] == [1, 2, 3] and suf["n"] == rep["num_images"]
    assert suf["overall"][1]["rate"] == pytest.approx(rep["flip_rate_top_k"])
    for name, rate in rep["flip_rate_per_class"].items():
        assert suf["per_class"][name][1]["rate"] == pytest.approx(rate)
    assert (out / "sufficiency.png").stat().st_size > 5000
