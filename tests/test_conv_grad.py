"""The fast-gradient convolutions equal lax's autodiff (first and second order)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxgan.ops.conv_grad import (dilated_conv2d, strided_conv2d, strided_conv2d_taps,
                                  value_from_fast_grad_from_ref)

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
    # Path-length-style second order (the input gradient is a strided_conv2d): d/dw and
    # d/dx of ||d/dx <f, y>||^2, and of a weighted input gradient.
    y = jax.random.normal(jax.random.key(2), ref(x, w).shape)
    pl = lambda conv: jax.grad(lambda x, w: (jax.grad(lambda xx: (conv(xx, w) * y).sum())(x) ** 2).sum() +  # noqa: E731
                               jnp.sin(jax.grad(lambda xx: jnp.sin(conv(xx, w)).sum())(x)).sum(), (0, 1))(x, w)
    for u, v in zip(pl(ref), pl(lambda x, w: dilated_conv2d(x, w, pad, dil))):
        np.testing.assert_allclose(v, u, rtol=1e-5, atol=1e-5 * float(jnp.abs(u).max()))


@pytest.mark.parametrize("impl", [strided_conv2d, strided_conv2d_taps], ids=["rule", "taps"])
@pytest.mark.parametrize("h,k,s", [(9, 3, 2), (10, 3, 2), (8, 1, 2), (11, 4, 3)])
def test_strided_conv2d_first_and_second_order(h, k, s, impl):
    x = jax.random.normal(jax.random.key(0), (2, h, h + 1, 3))
    w = jax.random.normal(jax.random.key(1), (k, k, 3, 4))
    ref = lambda x, w, s: lax.conv_general_dilated(x, w, (s, s), "VALID", dimension_numbers=DN)  # noqa: E731
    np.testing.assert_allclose(impl(x, w, s), ref(x, w, s), atol=1e-5)
    a = jax.grad(lambda x, w: jnp.sin(ref(x, w, s)).sum(), (0, 1))(x, w)
    b = jax.grad(lambda x, w: jnp.sin(impl(x, w, s)).sum(), (0, 1))(x, w)
    for u, v in zip(a, b):
        np.testing.assert_allclose(v, u, rtol=1e-5, atol=1e-4)
    # R1-style second order: d/dw ||d/dx f||^2.
    r1 = lambda conv: jax.grad(lambda w: (jax.grad(lambda x: jnp.sin(conv(x, w, s)).sum())(x) ** 2).sum())(w)  # noqa: E731
    c, d = r1(ref), r1(impl)
    np.testing.assert_allclose(d, c, rtol=1e-5, atol=1e-5 * float(jnp.abs(c).max()))


def test_value_from_fast_grad_from_ref():
    fast = lambda x, w: x * w           # noqa: E731  (same function, different formulation)
    ref = lambda x, w: w * x            # noqa: E731
    g = jax.grad(lambda x, w: value_from_fast_grad_from_ref(fast, ref, x, w), (0, 1))(3.0, 2.0)
    assert g == (2.0, 3.0)


def test_value_from_fast_grad_from_ref_second_order_uses_ref():
    """Under a second differentiation the value's outer derivative is ``ref``'s too: ``fast``
    here has the right value but zero derivative, so autodiff of it would give 2xw."""
    fast = lambda x, w: jax.lax.stop_gradient(x * w)   # noqa: E731
    ref = lambda x, w: x * w                            # noqa: E731
    F = lambda x, w: value_from_fast_grad_from_ref(fast, ref, x, w)  # noqa: E731
    x, w = 3.0, 2.0
    assert jax.grad(lambda x: F(x, w) ** 2)(x) == 2 * x * w * w
    # d/dw of d/dx F(x, w)^2 = d/dw 2 x w^2 = 4 x w
    assert jax.grad(lambda w: jax.grad(lambda x: F(x, w) ** 2)(x))(w) == 4 * x * w
    assert jax.grad(lambda x: jax.grad(lambda x: F(x, w) ** 2)(x))(x) == 2 * w * w


def test_upsampling_conv_second_order_equals_reference():
    """The CPU polyphase up-sampling convolution: path-length-style second-order gradients
    (through a style gradient, which reads the convolution's value) equal the GPU/TPU path's
    (input-dilated convolution, plain autodiff)."""
    from jaxgan.ops import conv as conv_mod
    f = np.array([1, 3, 3, 1], np.float32) / 8
    x = jax.random.normal(jax.random.key(0), (2, 8, 8, 4))
    w = jax.random.normal(jax.random.key(1), (3, 3, 4, 5))
    s = jnp.ones((2, 1, 1, 5))

    def pl(conv):
        y = jax.random.normal(jax.random.key(2), conv(x, w).shape)

        def loss(x, w):
            _, vjp = jax.vjp(lambda xx, ss: conv(xx, w) * ss, x, s)
            gx, gs = vjp(y)
            return jnp.sum(gx ** 2) + jnp.sum(jnp.sin(gs))
        return jax.grad(loss, (0, 1))(x, w)

    fast = lambda x, w: conv_mod.conv2d_resample(x, w, f, up=2, padding=1, flip_weight=False)  # noqa: E731
    assert x.shape[1] * x.shape[2] >= conv_mod._POLYPHASE_MIN_PIXELS
    # The reference: lhs-dilated convolution then the FIR, plain lax autodiff.
    ref = lambda x, w: conv_mod.upfirdn2d(lax.conv_general_dilated(   # noqa: E731
        x, w[::-1, ::-1], (1, 1), ((3, 3), (3, 3)), lhs_dilation=(2, 2), dimension_numbers=DN), f, gain=4)
    np.testing.assert_allclose(fast(x, w), ref(x, w), rtol=1e-5, atol=1e-5)
    for u, v in zip(pl(ref), pl(fast)):
        np.testing.assert_allclose(v, u, rtol=1e-4, atol=1e-5 * float(jnp.abs(u).max()))


@pytest.mark.parametrize("shape", [(2, 5, 6, 3), (3, 4, 4, 8)])
def test_conv2d_1x1_matrix_product_first_and_second_order(shape):
    """A 1x1 stride-1 conv2d is a 2-D matrix product: lax's convolution's value, gradients
    and R1-style second order; the 4-D dot it replaced: the value bit for bit, the gradients
    up to float reassociation."""
    from jaxgan.ops.conv import conv2d
    x = jax.random.normal(jax.random.key(0), shape)
    w = jax.random.normal(jax.random.key(1), (1, 1, shape[-1], 5))
    ref = lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=DN)  # noqa: E731
    dot4 = lambda x, w: lax.dot_general(x, w[0, 0], (((3,), (0,)), ((), ())))  # noqa: E731
    np.testing.assert_allclose(conv2d(x, w), ref(x, w), rtol=1e-5, atol=1e-5)
    grads = [jax.grad(lambda x, w: jnp.sin(f(x, w)).sum(), (0, 1))(x, w)
             for f in (ref, conv2d, dot4)]
    for u, v in zip(grads[0], grads[1]):
        np.testing.assert_allclose(v, u, rtol=1e-5, atol=1e-4)
    for u, v in zip(grads[2], grads[1]):
        np.testing.assert_allclose(v, u, rtol=1e-6, atol=1e-6 * float(jnp.abs(u).max()))
    np.testing.assert_array_equal(np.asarray(conv2d(x, w)), np.asarray(dot4(x, w)))
    r1 = lambda conv: jax.grad(lambda w: (jax.grad(lambda x: jnp.sin(conv(x, w)).sum())(x) ** 2).sum())(w)  # noqa: E731
    c, d = r1(ref), r1(conv2d)
    np.testing.assert_allclose(d, c, rtol=1e-5, atol=1e-5 * float(jnp.abs(c).max()))
