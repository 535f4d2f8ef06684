"""The fast-gradient convolutions equal lax's autodiff (first and second order)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxgan.ops.conv_grad import dilated_conv2d, strided_conv2d, value_from_fast_grad_from_ref

DN = ("NHWC", "HWIO", "NHWC")


@pytest.mark.parametrize("h,pad,dil,k", [(5, ((2, 2), (2, 2)), (2, 2), 3), (4, ((1, 0), (0, 2)), (2, 2), 3),
                                         (3, ((0, 0), (0, 0)), (1, 1), 3), (4, ((2, 1), (2, 1)), (3, 2), 2)])
def test_dilated_conv2d_grads(h, pad, dil, k):
    x = jax.random.normal(jax.random.key(0), (2, h, h + 1, 3))
    w = jax.random.normal(jax.random.key(1), (k, k, 3, 4))
    ref = lambda x, w: lax.conv_general_dilated(x, w, (1, 1), pad, lhs_dilation=dil, dimension_numbers=DN)  # noqa: E731
    np.testing.assert_allclose(dilated_conv2d(x, w, pad, dil), ref(x, w), atol=1e-5)
    a = jax.grad(lambda x, w: jnp.sin(ref(x, w)).sum(), (0, 1))(x, w)
    b = jax.grad(lambda x, w: jnp.sin(dilated_conv2d(x, w, pad, dil)).sum(), (0, 1))(x, w)
    for u, v in zip(a, b):
        np.testing.assert_allclose(v, u, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("h,k,s", [(9, 3, 2), (10, 3, 2), (8, 1, 2), (11, 4, 3)])
def test_strided_conv2d_first_and_second_order(h, k, s):
    x = jax.random.normal(jax.random.key(0), (2, h, h + 1, 3))
    w = jax.random.normal(jax.random.key(1), (k, k, 3, 4))
    ref = lambda x, w, s: lax.conv_general_dilated(x, w, (s, s), "VALID", dimension_numbers=DN)  # noqa: E731
    np.testing.assert_allclose(strided_conv2d(x, w, s), ref(x, w, s), atol=1e-5)
    a = jax.grad(lambda x, w: jnp.sin(ref(x, w, s)).sum(), (0, 1))(x, w)
    b = jax.grad(lambda x, w: jnp.sin(strided_conv2d(x, w, s)).sum(), (0, 1))(x, w)
    for u, v in zip(a, b):
        np.testing.assert_allclose(v, u, rtol=1e-5, atol=1e-4)
    # R1-style second order: d/dw ||d/dx f||^2.
    r1 = lambda conv: jax.grad(lambda w: (jax.grad(lambda x: jnp.sin(conv(x, w, s)).sum())(x) ** 2).sum())(w)  # noqa: E731
    c, d = r1(ref), r1(strided_conv2d)
    np.testing.assert_allclose(d, c, rtol=1e-5, atol=1e-5 * float(jnp.abs(c).max()))


def test_value_from_fast_grad_from_ref():
    fast = lambda x, w: x * w           # noqa: E731  (same function, different formulation)
    ref = lambda x, w: w * x            # noqa: E731
    g = jax.grad(lambda x, w: value_from_fast_grad_from_ref(fast, ref, x, w), (0, 1))(3.0, 2.0)
    assert g == (2.0, 3.0)
