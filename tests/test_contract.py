"""The model contract (jaxgan.contract): a user's plain JAX function, a Flax module factory
and a jaxgan checkpoint through one adapter, and one-line errors for broken models."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import contract
from jaxgan.errors import UsageError, WrongKindError
from jaxgan.nets.classifier import classifier_logits
from jaxgan.nets.segmenter import segment


def _images(n=3, r=8, seed=0):
    return jax.random.uniform(jax.random.key(seed), (n, r, r, 3), minval=-1.0, maxval=1.0)


def test_plain_function_range_and_resolution():
    """The adapter maps [-1, 1] onto the declared range and resizes (antialiased) to the
    declared size: checked against the function applied by hand to a reference resize."""
    module, params = contract.load_model("own_models:mean_colour_classifier", "classifier")
    assert module.cfg.class_names == ("blue", "red") and module.cfg.num_classes == 2
    x = _images(r=32)                                                    # [3, 32, 32, 3]
    got = classifier_logits(module, params, x)                           # jaxgan's entry
    ref = jax.image.resize(x, (3, 8, 8, 3), "linear", antialias=True)    # independent path
    ref = (ref + 1) * 127.5
    want = np.mean(np.asarray(ref), axis=(1, 2)) @ np.asarray(params["w"])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # range: a constant -1 image is 0 in [0, 255], a constant +1 image is 255
    m, p = contract.load_model("own_models:range_probe", "features")
    y = m.apply(p, jnp.stack([-jnp.ones((16, 16, 3)), jnp.ones((16, 16, 3))]))
    np.testing.assert_allclose(y, [[0, 0, 4], [255, 255, 4]], atol=1e-4)
    assert m.cfg.dim == 3 and m.cfg.name == "probe"


def test_flax_factory_matches_direct_apply():
    import own_models
    module, variables = contract.load_model("own_models:flax_classifier", "classifier")
    x = _images(r=16)
    got = module.apply(variables, x)
    want = own_models.TinyNet(2).apply(variables, (x + 1) / 2)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert module.cfg.img_resolution == 16 and module.cfg.class_names == ("face", "non-face")
    assert jax.jit(jax.grad(lambda v: module.apply(v, x).sum()))(variables) is not None


def test_checkpoint_is_returned_unchanged():
    module, variables = contract.load_model("builtin:classifier_shapes_shape", "classifier")
    from jaxgan.classify import load_model
    m2, v2 = load_model("builtin:classifier_shapes_shape")
    x = _images(n=2, r=m2.cfg.img_resolution)
    np.testing.assert_array_equal(module.apply(variables, x), m2.apply(v2, x))
    with pytest.raises(WrongKindError, match="not a segmenter"):
        contract.load_model("builtin:classifier_shapes_shape", "segmenter")
    with pytest.raises(UsageError, match="no such checkpoint directory"):
        contract.load_model("/nonexistent/dir", "classifier")


def test_segmenter_probabilities_and_concepts():
    module, params = contract.load_model("own_models:sky_segmenter", "segmenter")
    assert module.cfg.concepts == ("bright", "top")          # undeclared: sorted keys
    masks = segment(module, params, _images(n=2, r=8))                  # jaxgan's entry
    assert set(masks) == {"top", "bright"} and masks["top"].shape == (2, 8, 8)
    np.testing.assert_array_equal(masks["top"][:, :4], True)
    np.testing.assert_array_equal(masks["top"][:, 4:], False)
    probs = segment(module, params, jnp.ones((1, 8, 8, 3)), threshold=None)["bright"]
    np.testing.assert_allclose(probs, jax.nn.sigmoid(4.0), rtol=1e-4)


def test_assessor():
    module, params = contract.load_model("own_models:brightness_assessor", "assessor")
    x = _images()
    np.testing.assert_allclose(module.apply(params, x), np.mean(np.asarray(x), axis=(1, 2, 3)),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(WrongKindError, match="no assessor"):
        contract.load_model("builtin:classifier_shapes_shape", "assessor")


@pytest.mark.parametrize("spec,kind,match", [
    ("own_models:wrong_rank", "classifier", r"expected an output of shape \[N, K\].*got \(2,\)"),
    ("own_models:wrong_k", "classifier", r"K = 3 logits but declares 2 class names"),
    ("own_models:not_jittable", "classifier", r"not jit-able.*ConcretizationTypeError"),
    ("own_models:nan_outputs", "classifier", r"non-finite outputs"),
    ("own_models:not_a_tuple", "classifier", r"must return \(apply_fn, params\)"),
    ("own_models:missing", "classifier", r"has no callable 'missing'"),
    ("no_such_pkg.mod:f", "classifier", r"cannot import module 'no_such_pkg.mod'"),
    ("own_models:mean_colour_classifier", "segmenter", r"expected a dict \{concept"),
    ("own_models:mean_colour_classifier", "assessor", r"expected an output of shape \[N\]"),
])
def test_contract_errors_are_one_line(spec, kind, match):
    with pytest.raises(UsageError, match=match) as e:
        contract.load_model(spec, kind)
    assert "\n" not in str(e.value) and spec in str(e.value)


def test_bad_metadata():
    f = lambda p, x: jnp.zeros((x.shape[0], 2))  # noqa: E731
    with pytest.raises(UsageError, match="value_range must be one of"):
        contract.from_function(f, {}, {"value_range": "[0,2]"}, kind="classifier")
    with pytest.raises(UsageError, match="unknown metadata \\['size'\\]"):
        contract.from_function(f, {}, {"size": 3}, kind="classifier")
    seg = lambda p, x: {"a": jnp.full(x.shape[:3], 2.0)}  # noqa: E731
    with pytest.raises(UsageError, match="expected \\[0, 1\\]"):
        contract.from_function(seg, {}, {"outputs": "probabilities"}, kind="segmenter")
