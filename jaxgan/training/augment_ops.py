"""Building blocks of the ADA augmentation pipeline (see :mod:`jaxgan.training.augment`).

Batched transformation matrices, the geometric resampler, the colour transform and the
image-space filter bank, all channels last (``[N, H, W, C]``) and static in shape, so they
``jit``/``vmap``/``grad`` cleanly.

Small matrix products are written as broadcast-multiply-and-sum instead of ``jnp.matmul``:
on GPUs XLA's default float32 ``dot`` may run in TF32, which would perturb sampling
coordinates by up to ~1e-3 relative; elementwise products stay in full float32, and products
of exact 0/+-1/integer matrices (flips, 90-degree turns, integer shifts) stay exact.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxgan.ops.upfirdn2d import downsample2d, setup_filter, upsample2d

# Low-pass filters of orthogonal wavelets (standard published coefficients, as used by the
# official AugmentPipe: 'sym6' for geometric resampling, 'sym2' for the filter bank).
SYM2 = (-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025)
SYM6 = (0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
        0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
        -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036,
        -0.007800708325034148)

# ----------------------------------------------------------------------------------------
# Batched matrices, written as ``base + sum_j coef_j[N] * basis_j`` (constant bases): few ops
# to compile, and a zero coefficient (an operation that did not fire) leaves the identity
# bit-exact. The official constructors' entries are reproduced (rotate3d in Rodrigues form).


def _unit(k: int, *entries) -> np.ndarray:
    m = np.zeros((k, k))
    for i, j, val in entries:
        m[i, j] = val
    return m


def _mat(base: np.ndarray, *terms) -> jax.Array:
    """``base + sum coef[:, None, None] * basis`` for ``terms = ((coef [N], basis), ...)``."""
    out = jnp.asarray(base, jnp.float32)
    for coef, basis in terms:
        out = out + coef[:, None, None] * jnp.asarray(basis, jnp.float32)
    return out


def compose(a: jax.Array, b: jax.Array) -> jax.Array:
    """Matrix product ``a @ b`` of ``[..., i, k] x [..., k, j]`` in exact float32 arithmetic."""
    return (a[..., :, :, None] * b[..., None, :, :]).sum(axis=-2)


def eye(n: int, k: int) -> jax.Array:
    """``[n, k, k]`` identities."""
    return jnp.broadcast_to(jnp.eye(k, dtype=jnp.float32), (n, k, k))


def translate2d(tx, ty) -> jax.Array:
    """[N, 3, 3] translation by (tx, ty) ([N] each)."""
    return _mat(np.eye(3), (tx, _unit(3, (0, 2, 1))), (ty, _unit(3, (1, 2, 1))))


def scale2d(sx, sy) -> jax.Array:
    """[N, 3, 3] scaling by (sx, sy)."""
    return _mat(_unit(3, (2, 2, 1)), (sx, _unit(3, (0, 0, 1))), (sy, _unit(3, (1, 1, 1))))


def rotate2d(cos, sin) -> jax.Array:
    """[N, 3, 3] rotation ``[[c, -s], [s, c]]`` given its cosine and sine ([N] each)."""
    return _mat(_unit(3, (2, 2, 1)), (cos, _unit(3, (0, 0, 1), (1, 1, 1))),
                (sin, _unit(3, (1, 0, 1), (0, 1, -1))))


def quarter_turn(i: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Exact (cos, sin) of ``pi / 2 * i`` for integer-valued ``i`` ([N])."""
    k = jnp.mod(i.astype(jnp.int32), 4)
    return (jnp.array([1.0, 0.0, -1.0, 0.0], jnp.float32)[k],
            jnp.array([0.0, 1.0, 0.0, -1.0], jnp.float32)[k])


def translate3d(b) -> jax.Array:
    """[N, 4, 4] colour offset ``+ b`` on r, g, b (official ``translate3d(b, b, b)``)."""
    return _mat(np.eye(4), (b, _unit(4, (0, 3, 1), (1, 3, 1), (2, 3, 1))))


def scale3d(c) -> jax.Array:
    """[N, 4, 4] colour scaling by c (official ``scale3d(c, c, c)``)."""
    return _mat(_unit(4, (3, 3, 1)), (c, np.diag([1.0, 1, 1, 0])))


def householder(v: np.ndarray, i) -> jax.Array:
    """[N, 4, 4] ``I - 2 v v^T i`` (luma flip where i = 1)."""
    return _mat(np.eye(4), (-2 * i, np.outer(v, v)))


def rotate3d(v: np.ndarray, sin, one_minus_cos) -> jax.Array:
    """[N, 4, 4] rotation about the unit axis ``v`` (4 entries, v[3] = 0), Rodrigues form
    ``I + s K + (1 - c) (v v^T - I3)``."""
    vx, vy, vz = (float(a) for a in v[:3])
    k = np.array([[0, -vz, vy, 0], [vz, 0, -vx, 0], [-vy, vx, 0, 0], [0, 0, 0, 0]])
    return _mat(np.eye(4), (sin, k), (one_minus_cos, np.outer(v, v) - np.diag([1.0, 1, 1, 0])))


def saturate(v: np.ndarray, s) -> jax.Array:
    """[N, 4, 4] ``v v^T + (I - v v^T) s`` on r, g, b, written ``I + (s - 1)(I3 - v v^T)``."""
    return _mat(np.eye(4), (s - 1, np.diag([1.0, 1, 1, 0]) - np.outer(v, v)))


# ----------------------------------------------------------------------------------------
# Geometric resampling.


def reflect_index(idx, size: int):
    """Map integer indices (NumPy or JAX) of an infinitely reflect-padded axis (torch
    ``'reflect'``, edge not repeated: ``-1 -> 1``, ``size -> size - 2``) into ``[0, size)``."""
    period = 2 * (size - 1)
    m = idx % period
    xp = np if isinstance(m, np.ndarray) else jnp
    return xp.where(m > size - 1, period - m, m)


def _bilinear(tile: jax.Array, ky: jax.Array, kx: jax.Array, wrap_y, wrap_x) -> jax.Array:
    """Bilinear samples of ``tile`` [N, Th, Tw, C] at pixel-index coordinates ky, kx
    [N, Ho, Wo] (pixel centres at integers, like ``grid_sample(align_corners=False)`` after
    unnormalisation); ``wrap_*`` map integer indices into the tile. Returns [N, Ho, Wo, C]."""
    y0, x0 = jnp.floor(ky), jnp.floor(kx)
    wy, wx = (ky - y0)[..., None], (kx - x0)[..., None]
    y0, x0 = y0.astype(jnp.int32), x0.astype(jnp.int32)
    ys, xs = (wrap_y(y0), wrap_y(y0 + 1)), (wrap_x(x0), wrap_x(x0 + 1))
    take = jax.vmap(lambda t, yi, xi: t[yi, xi])
    v00, v01 = take(tile, ys[0], xs[0]), take(tile, ys[0], xs[1])
    v10, v11 = take(tile, ys[1], xs[0]), take(tile, ys[1], xs[1])
    return ((1 - wy) * ((1 - wx) * v00 + wx * v01) + wy * ((1 - wx) * v10 + wx * v11))


def _apply_grid(g_inv: jax.Array, yo: np.ndarray, xo: np.ndarray):
    """Input centred coordinates ``g_inv @ [xo, yo, 1]`` on the output grid; each [N, Ho, Wo]."""
    g = g_inv[:, :, :, None, None]
    yo, xo = jnp.asarray(yo, jnp.float32)[:, None], jnp.asarray(xo, jnp.float32)[None, :]
    return (g[:, 1, 0] * xo + g[:, 1, 1] * yo + g[:, 1, 2],
            g[:, 0, 0] * xo + g[:, 0, 1] * yo + g[:, 0, 2])


def resample_bilinear(images: jax.Array, g_inv: jax.Array) -> jax.Array:
    """One bilinear resampling of each image by its inverse transform.

    Args:
      images: [N, H, W, C] float32.
      g_inv: [N, 3, 3] maps output to input pixel coordinates, both centred on the image
        centre (x right, y down, one unit per pixel), as the official ``G_inv``.

    Returns:
      [N, H, W, C]; the image is extended by infinite reflection (no edge repeat).
    """
    _, h, w, _ = images.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    yi, xi = _apply_grid(g_inv, np.arange(h) - cy, np.arange(w) - cx)
    return _bilinear(images, yi + cy, xi + cx, lambda i: reflect_index(i, h),
                     lambda i: reflect_index(i, w))


def resample_wavelet(images: jax.Array, g_inv: jax.Array) -> jax.Array:
    """Alias-suppressed resampling as the official AugmentPipe, with static shapes.

    Official algorithm: reflect-pad by a data-dependent margin, 2x upsample with the
    ``sym6`` low-pass, bilinear ``grid_sample`` on a 2x output grid extended by 3 pixels
    per side, then 2x downsample with the flipped filter and crop. Here the reflect padding
    is made infinite instead: the upsampled infinitely-reflected image is periodic (period
    ``4 (size - 1)`` upsampled pixels), so one period is computed once and sampled with
    wrapped indices. This equals the official result wherever the official margin covers the
    sampled area (it clamps the margin to ``size - 1`` and reads zeros beyond it; here the
    reflection continues).

    Args / Returns: as :func:`resample_bilinear`.
    """
    _, h, w, _ = images.shape
    f = setup_filter(SYM6)
    hz_pad = f.shape[0] // 4                          # 3, as the official
    s = 4                                             # >= half the filter support
    py, px = 2 * (h - 1), 2 * (w - 1)                 # reflection periods
    iy = reflect_index(np.arange(-s, py + s), h)
    ix = reflect_index(np.arange(-s, px + s), w)
    ext = images[:, iy][:, :, ix]                     # [N, py + 2s, px + 2s, C]
    tile = upsample2d(ext, f, up=2)[:, 2 * s:2 * s + 2 * py, 2 * s:2 * s + 2 * px]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    # Upsampled output pixel m <-> output position (m - 2 hz_pad) / 2 (official convention,
    # upsampled index 2n <-> input index n on both sides).
    yo = (np.arange(2 * (h + 2 * hz_pad)) - 2 * hz_pad) / 2 - cy
    xo = (np.arange(2 * (w + 2 * hz_pad)) - 2 * hz_pad) / 2 - cx
    yi, xi = _apply_grid(g_inv, yo, xo)
    up = _bilinear(tile, 2 * (yi + cy), 2 * (xi + cx), lambda i: jnp.mod(i, 2 * py),
                   lambda i: jnp.mod(i, 2 * px))
    return downsample2d(up, f, down=2, padding=-2 * hz_pad, flip_filter=True)


def is_blit(g_inv: jax.Array) -> jax.Array:
    """[N] bool: the transform only moves whole pixels (flips, 90-degree turns, integer
    translations: 0/+-1 linear part, integer translation)."""
    lin, t = g_inv[:, :2, :2], g_inv[:, :2, 2]
    return (jnp.all(lin == jnp.round(lin), axis=(1, 2)) & jnp.all(jnp.abs(lin) <= 1, axis=(1, 2))
            & jnp.all(t == jnp.round(t), axis=1)
            & jnp.all(g_inv[:, 2] == jnp.array([0, 0, 1], g_inv.dtype), axis=1))


def resample(images: jax.Array, g_inv: jax.Array, mode: str, exact_blit: bool = True):
    """Resample each image by ``g_inv`` ([N, 3, 3]) with ``mode`` 'wavelet' or 'bilinear'.

    Samples whose matrix is exactly the identity are returned unchanged; with
    ``exact_blit``, pure pixel moves (:func:`is_blit`) are done as exact gathers even in
    'wavelet' mode (bilinear sampling at integer positions). The resampling is skipped with
    ``lax.cond`` when every matrix in the batch is the identity. Returns [N, H, W, C].
    """
    ident = jnp.all(g_inv == jnp.eye(3, dtype=g_inv.dtype), axis=(1, 2))     # [N]
    exact = ident | is_blit(g_inv) if exact_blit else ident

    def run(x):
        if mode == "bilinear":
            out = resample_bilinear(x, g_inv)
        else:
            out = resample_wavelet(x, g_inv)
            if exact_blit:
                out = jnp.where(exact[:, None, None, None], resample_bilinear(x, g_inv), out)
        return jnp.where(ident[:, None, None, None], x, out)

    return lax.cond(jnp.all(ident), lambda x: x, run, images)


# ----------------------------------------------------------------------------------------
# Colour.


def apply_color(images: jax.Array, c: jax.Array) -> jax.Array:
    """Apply homogeneous colour matrices ``c`` [N, 4, 4] to ``images`` [N, H, W, C].

    RGB: ``rgb' = C[:3, :3] rgb + C[:3, 3]``. Grey (C = 1): the official averages the three
    output rows: ``l' = l * mean_r(sum_k C[r, k]) + mean_r(C[r, 3])`` (k, r < 3).
    """
    ch = images.shape[-1]
    if ch == 3:
        out = [sum(c[:, r, k, None, None] * images[..., k] for k in range(3))
               + c[:, r, 3, None, None] for r in range(3)]
        return jnp.stack(out, axis=-1)
    if ch == 1:
        gain = c[:, :3, :3].sum(axis=2).mean(axis=1)         # [N]
        bias = c[:, :3, 3].mean(axis=1)                      # [N]
        return images * gain[:, None, None, None] + bias[:, None, None, None]
    raise ValueError(f"colour augmentations need 1 or 3 image channels, got {ch}")


# ----------------------------------------------------------------------------------------
# Image-space filtering.


def filter_bank() -> np.ndarray:
    """The official 4-band filter bank built from ``sym2`` (float32 [4, 43]); the rows sum
    to a unit impulse, band 0 is the low-pass."""
    lo = np.asarray(SYM2)
    hi = lo * ((-1.0) ** np.arange(lo.size))
    lo2 = np.convolve(lo, lo[::-1]) / 2
    hi2 = np.convolve(hi, hi[::-1]) / 2
    bank = np.eye(4, 1)
    for i in range(1, bank.shape[0]):
        up = np.zeros((bank.shape[0], bank.shape[1] * 2 - 1))
        up[:, ::2] = bank                                           # zero insertion
        bank = np.stack([np.convolve(row, lo2) for row in up])
        a = (bank.shape[1] - hi2.size) // 2
        bank[i, a:a + hi2.size] += hi2
    return bank.astype(np.float32)


def apply_imgfilter(images: jax.Array, taps: jax.Array) -> jax.Array:
    """Separable per-sample symmetric FIR filter with reflection at the borders.

    Args:
      images: [N, H, W, C].
      taps: [N, K] odd-length filter per sample, applied along W then H.

    Returns:
      [N, H, W, C].
    """
    _, h, w, _ = images.shape
    k = taps.shape[1]
    r = k // 2
    x = images[:, :, reflect_index(np.arange(-r, w + r), w)]
    x = sum(taps[:, t, None, None, None] * x[:, :, t:t + w] for t in range(k))
    x = x[:, reflect_index(np.arange(-r, h + r), h)]
    return sum(taps[:, t, None, None, None] * x[:, t:t + h] for t in range(k))
