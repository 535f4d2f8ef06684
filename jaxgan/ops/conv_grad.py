"""Convolution over a zero-dilated input with a fast weight gradient.

XLA:CPU lowers the weight gradient of an ``lhs_dilation`` convolution (the transposed,
up-sampling convolution of the synthesis network) to a window-dilated convolution that
runs 20-50x slower than the forward pass; it dominated the generator's backward pass.
:func:`dilated_conv2d` computes the same forward value but defines its weight gradient
directly: for every kernel tap, one matrix product between the output gradient at the
positions that meet a *non-zero* input sample and the matching input slice, so no work is
spent on the inserted zeros. The input gradient is XLA's own (already fast).
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

_DN = ("NHWC", "HWIO", "NHWC")


def _conv(x, w, padding, dilation):
    return lax.conv_general_dilated(x, w, (1, 1), padding, lhs_dilation=dilation,
                                    dimension_numbers=_DN)


def _taps(k: int, lo: int, d: int, n_in: int, n_out: int):
    """For tap ``k`` along one axis: ``(out_start, in_start, count)`` of the output positions
    ``o = out_start + d·t`` that read input sample ``in_start + t`` (non-zero samples only)."""
    o0 = (lo - k) % d
    s = (o0 + k - lo) // d
    t0 = max(0, -s)
    t1 = min(-(-(n_out - o0) // d), n_in - s)
    return o0 + d * t0, s + t0, max(t1 - t0, 0)


@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def dilated_conv2d(x, w, padding, dilation):
    """Cross-correlation of ``x`` dilated by ``dilation`` (zeros between samples, as
    ``lax`` ``lhs_dilation``) and padded by ``padding`` with ``w``.

    Args:
      x: ``[N, H, W, I]``; w: ``[kh, kw, I, O]``.
      padding: ``((py0, py1), (px0, px1))``, non-negative; dilation: ``(dy, dx)``.

    Returns:
      ``[N, H', W', O]``, identical to ``lax.conv_general_dilated(..., lhs_dilation=dilation)``.
    """
    return _conv(x, w, padding, dilation)


def _fwd(x, w, padding, dilation):
    return _conv(x, w, padding, dilation), (x, w)


def _bwd(padding, dilation, res, g):
    x, w = res
    _, vjp_x = jax.vjp(lambda xx: _conv(xx, w, padding, dilation), x)
    (gx,) = vjp_x(g)
    kh, kw = w.shape[0], w.shape[1]
    (py0, _), (px0, _) = padding
    dy, dx = dilation
    h, wd = x.shape[1], x.shape[2]
    ho, wo = g.shape[1], g.shape[2]
    rows = []
    for i in range(kh):
        oy, iy, ny = _taps(i, py0, dy, h, ho)
        cols = []
        for j in range(kw):
            ox, ix, nx = _taps(j, px0, dx, wd, wo)
            if ny == 0 or nx == 0:
                cols.append(jnp.zeros(w.shape[2:], w.dtype))
                continue
            gs = g[:, oy:oy + dy * (ny - 1) + 1:dy, ox:ox + dx * (nx - 1) + 1:dx]   # [N, ny, nx, O]
            xs = x[:, iy:iy + ny, ix:ix + nx]                                        # [N, ny, nx, I]
            cols.append(jnp.einsum("nhwi,nhwo->io", xs, gs).astype(w.dtype))
        rows.append(jnp.stack(cols))
    return gx, jnp.stack(rows)


dilated_conv2d.defvjp(_fwd, _bwd)


def value_from_fast_grad_from_ref(fast, ref, x, w):
    """``fast(x, w)``'s value with ``ref(x, w)``'s gradients (the two must be equal functions).

    Used where a forward formulation that is fast on a backend (polyphase transposed
    convolution on CPU) differentiates slowly, while an equal formulation built on
    :func:`dilated_conv2d` differentiates fast.

    ``f_fwd`` computes its value by calling ``f`` again rather than ``fast``: under a second
    differentiation (the path-length regulariser differentiates a VJP of the generator) the
    outer derivative of that value then takes this same rule, i.e. ``ref``'s gradients,
    instead of autodiff of ``fast``. Differentiating ``fast`` (the polyphase phases'
    convolutions) gave XLA:CPU weight-gradient convolutions with a 16x16 window at
    ~0.5 GFLOP/s: 68% of Greg's time at R=32 (``benchmarks/README.md``).
    """
    @jax.custom_vjp
    def f(x, w):
        return fast(x, w)

    def f_fwd(x, w):
        return f(x, w), (x, w)

    def f_bwd(res, g):
        _, vjp = jax.vjp(ref, *res)
        return vjp(g)

    f.defvjp(f_fwd, f_bwd)
    return f(x, w)


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def strided_conv2d(x, w, stride):
    """Unpadded cross-correlation with ``stride`` (the discriminator's down-sampling convs).

    Its input gradient is a :func:`dilated_conv2d` of the output gradient with the flipped,
    transposed kernel, so second-order gradients (R1) also avoid XLA:CPU's slow
    window-dilated convolution; its weight gradient is one matrix product per tap.

    Args:
      x: ``[N, H, W, I]``; w: ``[kh, kw, I, O]``; stride: int.

    Returns:
      ``[N, (H - kh) // stride + 1, (W - kw) // stride + 1, O]``.
    """
    return lax.conv_general_dilated(x, w, (stride, stride), "VALID", dimension_numbers=_DN)


def _s_fwd(x, w, stride):
    return strided_conv2d(x, w, stride), (x, w)


def _s_bwd(stride, res, g):
    x, w = res
    kh, kw = w.shape[0], w.shape[1]
    h, wd = x.shape[1], x.shape[2]
    ho, wo = g.shape[1], g.shape[2]
    w_t = jnp.transpose(w[::-1, ::-1], (0, 1, 3, 2))                    # [kh, kw, O, I]
    pad = ((kh - 1, h - (ho - 1) * stride - 1), (kw - 1, wd - (wo - 1) * stride - 1))
    gx = dilated_conv2d(g, w_t.astype(g.dtype), pad, (stride, stride)).astype(x.dtype)
    rows = []
    for i in range(kh):
        cols = []
        for j in range(kw):
            xs = _tap_slice(x, i, j, stride, ho, wo)                          # [N, ho, wo, I]
            cols.append(jnp.einsum("nhwi,nhwo->io", xs, g).astype(w.dtype))
        rows.append(jnp.stack(cols))
    return gx, jnp.stack(rows)


strided_conv2d.defvjp(_s_fwd, _s_bwd)


def _tap_slice(x, i: int, j: int, stride: int, ho: int, wo: int):
    """The input samples kernel tap ``(i, j)`` of a VALID strided correlation reads:
    ``x[:, i + stride*t, j + stride*u]`` for ``t < ho``, ``u < wo`` (``[N, ho, wo, I]``)."""
    return x[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]


def strided_conv2d_taps(x, w, stride: int):
    """:func:`strided_conv2d`'s value as one matrix product per kernel tap (XLA:CPU).

    XLA:CPU runs a strided convolution at about half its matrix-product speed (the
    discriminator's 3x3 down-sampling convolution on ``[16, 33, 33, 256]``: 79 ms against
    40 ms for these nine products on 2 cores). Each tap reads the strided slice of ``x``
    it meets and multiplies it by its ``[I, O]`` matrix. Plain autodiff of the slices and
    products gives first- and second-order (R1) gradients made of the same cheap
    operations; at R=32 it made Dmain 15% and Gmain and Dreg 8% faster than
    :func:`strided_conv2d` (XLA's strided forward with a custom rule), and faster than these
    products under that custom rule (``benchmarks/README.md``). Same value up to float
    reassociation.

    Args:
      x: ``[N, H, W, I]``; w: ``[kh, kw, I, O]``; stride: int.

    Returns:
      ``[N, (H - kh) // stride + 1, (W - kw) // stride + 1, O]``.
    """
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    ho, wo = (h - kh) // stride + 1, (wd - kw) // stride + 1
    acc = None
    for i in range(kh):
        for j in range(kw):
            xs = _tap_slice(x, i, j, stride, ho, wo)                          # [N, ho, wo, I]
            t = lax.dot_general(xs.reshape(n * ho * wo, c), w[i, j],          # [N*ho*wo, O]
                                (((1,), (0,)), ((), ())))
            acc = t if acc is None else acc + t
    return acc.reshape(n, ho, wo, o)                                           # [N, ho, wo, O]
