"""2-D convolution with FIR resampling, and modulated convolution (channels last).

Follows ``torch_utils/ops/conv2d_resample.py`` and ``modulated_conv2d`` of
stylegan2-ada-pytorch with ``x: [N, H, W, C]`` and weights ``[kh, kw, in, out]`` (HWIO).
The official weights are cross-correlation kernels (``flip_weight=True``); so are ours.

Modulated convolution has two paths, tested to agree:

* ``fused=True``: per-sample weights ``w * s * d`` (the official eval-mode path), as one
  grouped convolution (GPU/TPU) or a loop of per-sample convolutions (CPU, where XLA runs a
  grouped convolution as a dense one, N times the work);
* ``fused=False`` (reference): scale activations by the styles, one shared-weight
  convolution, scale by the demodulation coefficients (the official training path).

Same results, computed faster (see ``benchmarks/README.md``):

* the FIR padding of an up-sampling convolution is folded into the convolution's; on CPU
  (inputs >= 8x8) it runs polyphase (:func:`conv_transpose_polyphase`: one small
  convolution per output phase, no multiplications by inserted zeros, no border waste
  of ``lhs_dilation``) and is FIR-filtered phase by phase;
* on CPU, 3x3 'same' float32 convolutions of maps >= 16x16 use Winograd F(2x2, 3x3)
  (2.25x fewer multiplications; relative error ~1e-6, like a reordered sum), in
  cache-sized chunks of samples; 1x1 convolutions are matrix products;
* the demodulation sum over the kernel taps is written as adds (XLA:CPU's reduction over
  leading axes is ~40x slower).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxgan.ops.conv_grad import (dilated_conv2d, strided_conv2d, strided_conv2d_taps,
                                  value_from_fast_grad_from_ref)
from jaxgan.ops.upfirdn2d import _parse_padding, filter_size, upfirdn2d

_DN = ("NHWC", "HWIO", "NHWC")
#: Up-sampling convolutions of inputs with fewer pixels use ``lhs_dilation`` (see below).
_POLYPHASE_MIN_PIXELS = 64


def conv2d(x, w, stride: int = 1, padding=((0, 0), (0, 0)), groups: int = 1,
           lhs_dilation=(1, 1)):
    """Plain cross-correlation ``[N,H,W,I] * [kh,kw,I/groups,O] -> [N,H',W',O]``.

    ``padding``: ``((py0, py1), (px0, px1))``; negative entries crop.
    """
    w = w.astype(x.dtype)
    if (not isinstance(padding, str) and tuple(lhs_dilation) == (1, 1)
            and any(int(p) < 0 for pair in padding for p in pair)):
        # Crop explicitly: XLA:CPU's convolution mis-computes negative padding (jax 0.10).
        (py0, py1), (px0, px1) = padding
        x = x[:, max(-py0, 0):x.shape[1] - max(-py1, 0), max(-px0, 0):x.shape[2] - max(-px1, 0)]
        padding = ((max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0)))
    if (w.shape[0] == w.shape[1] == 1 and stride == 1 and groups == 1
            and tuple(lhs_dilation) == (1, 1) and not isinstance(padding, str)
            and all(int(p) == 0 for pair in padding for p in pair)):
        # 1x1: a matrix product (XLA:CPU runs it several times faster than a 1x1 conv), on
        # the rows flattened to 2-D: the same value bit for bit, and a weight gradient that
        # contracts one axis, so XLA:CPU does not materialise [C, N*H*W] transposes for it
        # (fwd + bwd 1.3-3x faster; the gradient equal up to float reassociation).
        n, h, wd, c = x.shape
        y = lax.dot_general(x.reshape(n * h * wd, c), w[0, 0], (((1,), (0,)), ((), ())))
        return y.reshape(n, h, wd, w.shape[-1])                               # [N, H, W, O]
    if (_winograd_enabled() and x.dtype == jnp.float32 and w.shape[:2] == (3, 3)
            and stride == 1 and groups == 1 and tuple(lhs_dilation) == (1, 1)
            and not isinstance(padding, str)
            and tuple(tuple(int(p) for p in pair) for pair in padding) == ((1, 1), (1, 1))
            and x.shape[1] % 2 == 0 and x.shape[2] % 2 == 0
            and x.shape[1] * x.shape[2] >= _WINOGRAD_MIN_PIXELS):
        return _conv3x3_winograd(x, w)
    if (stride > 1 and groups == 1 and tuple(lhs_dilation) == (1, 1)
            and not isinstance(padding, str) and all(int(p) == 0 for pair in padding for p in pair)):
        if _on_cpu() and x.dtype == jnp.float32:
            return strided_conv2d_taps(x, w, int(stride))   # per-tap matrix products
        return strided_conv2d(x, w, int(stride))   # fast first- and second-order gradients
    if (tuple(lhs_dilation) != (1, 1) and groups == 1 and stride == 1
            and not isinstance(padding, str) and all(int(p) >= 0 for pair in padding for p in pair)):
        # Same value; weight gradient without XLA:CPU's slow window-dilated convolution.
        return dilated_conv2d(x, w, tuple(tuple(int(p) for p in pair) for pair in padding),
                              tuple(int(d) for d in lhs_dilation))
    return lax.conv_general_dilated(
        x, w, window_strides=(stride, stride), padding=padding,
        lhs_dilation=lhs_dilation, dimension_numbers=_DN, feature_group_count=groups)


# Winograd F(2x2, 3x3) (Lavin & Gray 2016): a 'same' 3x3 convolution with 16 instead of 36
# multiplications per 2x2 output tile and channel pair; the rest are cheap transforms.
# Float32 only (the transforms cost ~1 ulp; relative error ~1e-6, like a reordered sum).
#: Spatial size from which a 3x3 'same' convolution uses Winograd (smaller: XLA's conv).
_WINOGRAD_MIN_PIXELS = 256
#: Bytes of transformed input per chunk of samples (kept cache-sized; chunks run in a loop).
_WINOGRAD_CHUNK_BYTES = 4 << 20


def _on_cpu() -> bool:
    """Whether the default backend is the CPU (where the CPU-specific paths pay off)."""
    return jax.default_backend() == "cpu"


def _winograd_enabled() -> bool:
    """Winograd convolutions on the CPU backend (XLA:GPU/TPU convolutions are faster)."""
    return _on_cpu()


def _wino_bt(d):
    """``B^T d`` along a list of 4 arrays (rows of the input tile)."""
    d0, d1, d2, d3 = d
    return [d0 - d2, d1 + d2, d2 - d1, d1 - d3]


def _wino_g(g):
    """``G g`` along a list of 3 arrays (rows of the kernel); an einsum is far slower on CPU."""
    g0, g1, g2 = g
    return [g0, (g0 + g1 + g2) * 0.5, (g0 - g1 + g2) * 0.5, g2]


def _wino_at(m):
    """``A^T m`` along a list of 4 arrays."""
    m0, m1, m2, m3 = m
    return [m0 + m1 + m2, m1 - m2 - m3]


def _conv3x3_winograd(x, w):
    """``conv2d(x, w, padding=((1, 1), (1, 1)))`` for 3x3 ``w`` and even ``H, W``."""
    n, h, wd, c = x.shape
    o = w.shape[-1]
    th, tw = h // 2, wd // 2
    u = jnp.stack([jnp.stack(_wino_g([r[j] for j in range(3)]))
                   for r in _wino_g([w[i] for i in range(3)])]).reshape(16, c, o)  # G w G^T
    per_sample = 16 * th * tw * max(c, o) * 4
    chunk = max(1, min(n, _WINOGRAD_CHUNK_BYTES // per_sample))
    while n % chunk:
        chunk -= 1

    def run(xc):
        m = xc.shape[0]
        xp = jnp.pad(xc, ((0, 0), (1, 1), (1, 1), (0, 0)))
        rows = _wino_bt([xp[:, i:i + 2 * th - 1:2] for i in range(4)])       # [m, th, W+2, C]
        v = [t for r in rows for t in _wino_bt([r[:, :, j:j + 2 * tw - 1:2] for j in range(4)])]
        v = jnp.stack(v).reshape(16, m * th * tw, c)
        mm = lax.dot_general(v, u, (((2,), (1,)), ((0,), (0,))))             # [16, m*th*tw, O]
        mm = mm.reshape(4, 4, m, th, tw, o)
        rows = _wino_at([mm[a] for a in range(4)])                            # [4, m, th, tw, O]
        y = [_wino_at([r[b] for b in range(4)]) for r in rows]                # y[p][q]
        y = jnp.stack([jnp.stack(y[p], axis=3) for p in range(2)], axis=2)   # [m, th, 2, tw, 2, O]
        return y.reshape(m, h, wd, o)

    if chunk >= n:
        return run(x)
    y = lax.map(run, x.reshape(n // chunk, chunk, h, wd, c))
    return y.reshape(n, h, wd, o)


def _phase_taps(k: int, up: int, p0: int, r: int) -> tuple[int, int, int]:
    """Output phase ``r`` of a correlation of ``k`` taps with a zero-inserted, ``p0``-padded
    signal: taps ``k0, k0 + up, ...`` (``count`` of them) read ``x[base + j + t]``."""
    k0 = (p0 - r) % up
    count = len(range(k0, k, up))
    base = (r + k0 - p0) // up
    return k0, count, base


def _transposed_phases(x, w, up: int, padding, groups: int, ny: int, nx: int):
    """Phases ``[ry][rx] -> [N, ny, nx, O]`` of :func:`conv_transpose_polyphase` (outputs
    ``y[ry + up * t, rx + up * u]``, computed for ``t < ny``, ``u < nx``)."""
    n_, h, wd, _ = x.shape
    kh, kw, _, cout = w.shape
    px0, _, py0, _ = _parse_padding(padding)
    rows = []
    for ry in range(up):
        ky0, jy, by = _phase_taps(kh, up, py0, ry)
        cols = []
        for rx in range(up):
            kx0, jx, bx = _phase_taps(kw, up, px0, rx)
            if jy == 0 or jx == 0:
                cols.append(jnp.zeros((n_, ny, nx, cout), x.dtype))
                continue
            pad = ((-by, by + jy + ny - 1 - h), (-bx, bx + jx + nx - 1 - wd))
            cols.append(conv2d(x, w[ky0::up, kx0::up], padding=pad, groups=groups))
        rows.append(cols)
    return rows


def _interleave(rows, ly: int, lx: int):
    """``rows[ry][rx]: [N, n, m, C]`` -> ``[N, ly, lx, C]`` with ``out[ry + up*t, rx + up*u]``."""
    upy, upx = len(rows), len(rows[0])
    n_, ny, nx, c = rows[0][0].shape
    if upy == upx == 1:
        return rows[0][0][:, :ly, :lx]
    y = jnp.stack([jnp.stack(cols, axis=3) for cols in rows], axis=2)  # [N, ny, upy, nx, upx, C]
    return y.reshape(n_, ny * upy, nx * upx, c)[:, :ly, :lx]


def conv_transpose_polyphase(x, w, up: int, padding, groups: int = 1):
    """Cross-correlation of the ``up``-times zero-inserted ``x`` with ``w``, by phases.

    The signal is ``x`` with ``up - 1`` zeros inserted after every pixel (length ``H * up``,
    as :func:`upfirdn2d`), padded by ``(px0, px1, py0, py1)`` (negative crops), and correlated
    with ``w`` ``[kh, kw, I // groups, O]``. Each of the ``up * up`` output phases is a small
    convolution of ``x`` at its own resolution with the taps of ``w`` that meet non-zero
    samples, so no multiplication by an inserted zero is done (the strided transposed
    convolution, computed without the ``up**2``-fold waste of ``lhs_dilation``).

    Returns:
      ``[N, H * up + py0 + py1 - kh + 1, W * up + px0 + px1 - kw + 1, O]``.
    """
    _, h, wd, _ = x.shape
    kh, kw = int(w.shape[0]), int(w.shape[1])
    px0, px1, py0, py1 = _parse_padding(padding)
    ly = h * up + py0 + py1 - kh + 1
    lx = wd * up + px0 + px1 - kw + 1
    if ly <= 0 or lx <= 0:
        raise ValueError("conv_transpose_polyphase: output would be empty")
    rows = _transposed_phases(x, w, up, padding, groups, -(-ly // up), -(-lx // up))
    return _interleave(rows, ly, lx)


def _conv_transpose_fir(x, w, f, up: int, padding, groups: int):
    """:func:`conv_transpose_polyphase` followed by the unpadded FIR ``f`` (gain ``up**2``),
    filtered phase by phase: the phases are interleaved once, at the end."""
    _, h, wd, _ = x.shape
    kh, kw = int(w.shape[0]), int(w.shape[1])
    px0, px1, py0, py1 = _parse_padding(padding)
    f = np.asarray(f, np.float32)
    f2 = (np.outer(f, f) if f.ndim == 1 else f) * float(up ** 2)
    f2 = f2[::-1, ::-1]                                     # true convolution
    fh, fw = f2.shape
    ly = h * up + py0 + py1 - kh + 1 - fh + 1               # output size
    lx = wd * up + px0 + px1 - kw + 1 - fw + 1
    if ly <= 0 or lx <= 0:
        raise ValueError("conv2d_resample: output would be empty")
    my, mx = -(-ly // up), -(-lx // up)                     # outputs per phase
    ph = _transposed_phases(x, w, up, padding, groups,
                            my + (up + fh - 2) // up, mx + (up + fw - 2) // up)
    rows = []
    for a in range(up):
        cols = []
        for b in range(up):
            acc = None
            for ky in range(fh):
                ty = (a + ky) // up
                for kx in range(fw):
                    tap = float(f2[ky, kx])
                    if tap == 0:
                        continue
                    tx = (b + kx) // up
                    src = ph[(a + ky) % up][(b + kx) % up]
                    term = src[:, ty:ty + my, tx:tx + mx] * jnp.asarray(tap, x.dtype)
                    acc = term if acc is None else acc + term
            cols.append(acc)
        rows.append(cols)
    return _interleave(rows, ly, lx)


def conv2d_resample(x, w, f=None, up: int = 1, down: int = 1, padding: int = 0,
                    groups: int = 1, flip_weight: bool = True):
    """Convolution with optional FIR up/down-sampling, as the official ``conv2d_resample``.

    Args:
      x: ``[N, H, W, I]``.
      w: ``[kh, kw, I // groups, O]`` cross-correlation kernel.
      f: concrete FIR filter (1-D separable or 2-D), needed when up or down > 1.
      up, down: integer factors (not both > 1).
      padding: symmetric padding of the plain convolution (``kernel_size // 2``).
      groups: grouped convolution.
      flip_weight: as the official argument, it only matters for ``up > 1``: the official
        layers pass ``flip_weight=(up == 1)``, so their up-sampling convolutions use the
        spatially flipped kernel relative to a plain cross-correlation.

    Returns:
      ``[N, H', W', O]``.
    """
    kh, kw = int(w.shape[0]), int(w.shape[1])
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = _parse_padding(padding)
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2

    # 1x1 with down-sampling only: down-sample first, then convolve.
    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1])
        return conv2d(x, w, groups=groups)
    # 1x1 with up-sampling only: convolve first, then up-sample.
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = conv2d(x, w, groups=groups)
        return upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up ** 2)
    # Down-sampling only: FIR with padding, then strided convolution.
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1])
        return conv2d(x, w, stride=down, groups=groups)
    # Up-sampling: transposed strided convolution, then FIR.
    if up > 1:
        # conv_transpose2d(x, flip(w)) equals a cross-correlation of the zero-inserted input
        # with w; without the flip (flip_weight=False) it correlates with flip(w). The FIR's
        # padding is folded into the convolution's (the full correlation is zero outside its
        # support), so the FIR below runs unpadded.
        if not flip_weight:
            w = w[::-1, ::-1]
        def dilated(x, w):
            # XLA's input-dilated convolution (GPU/TPU: cuDNN-style transposed convolution).
            y = conv2d(x, w, lhs_dilation=(up, up), groups=groups,
                       padding=((py0, py1 + up - 1), (px0, px1 + up - 1)))
            return upfirdn2d(y, f, gain=up ** 2)

        def polyphase(x, w):
            return _conv_transpose_fir(x, w, f, up, [px0, px1, py0, py1], groups)

        if min(px0, px1, py0, py1) < 0:
            x = polyphase(x, w)
        elif not _on_cpu() or x.shape[1] * x.shape[2] < _POLYPHASE_MIN_PIXELS:
            x = dilated(x, w)          # CPU: faster than polyphase for tiny inputs
        elif groups == 1:
            # CPU: polyphase forward (fast), gradients from the equal dilated form (fast).
            x = value_from_fast_grad_from_ref(polyphase, dilated, x, w)
        else:
            x = polyphase(x, w)
        if down > 1:
            x = upfirdn2d(x, f, down=down)
        return x
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return conv2d(x, w, padding=((py0, py0), (px0, px0)), groups=groups)
    x = upfirdn2d(x, np.ones([1], np.float32), padding=[px0, px1, py0, py1])
    return conv2d(x, w, groups=groups)


def demod_coefficients(weight, styles):
    """``rsqrt(sum_{kh,kw,i} (w * s)^2 + 1e-8)`` without forming per-sample weights.

    Args:
      weight: ``[kh, kw, I, O]``; styles: ``[N, I]``.

    Returns:
      ``[N, O]``.
    """
    w2 = jnp.square(weight.astype(jnp.float32))
    # Sum of the kh*kw taps as adds of slices: XLA:CPU's reduction over leading axes is
    # ~40x slower here (5 ms for a 3x3x256x256 kernel).
    wsq = sum(w2[i, j] for i in range(w2.shape[0]) for j in range(w2.shape[1]))  # [I, O]
    return lax.rsqrt(jnp.square(styles.astype(jnp.float32)) @ wsq + 1e-8)


def modulated_conv2d(x, weight, styles, noise=None, up: int = 1, down: int = 1,
                     padding: int = 0, resample_filter=None, demodulate: bool = True,
                     fused: bool = True, flip_weight: bool = True):
    """Modulated (and demodulated) convolution, official ``modulated_conv2d``.

    Args:
      x: ``[N, H, W, I]``.
      weight: ``[kh, kw, I, O]``.
      styles: ``[N, I]``.
      noise: broadcastable to the output ``[N, H', W', O]`` (already scaled), or None.
      up, down, padding, resample_filter: as :func:`conv2d_resample`.
      demodulate: weight demodulation.
      fused: grouped-convolution path (True) or the activation-scaling reference (False).
      flip_weight: see :func:`conv2d_resample`.

    Returns:
      ``[N, H', W', O]``.
    """
    n, _, _, cin = x.shape
    kh, kw, wi, cout = weight.shape
    if wi != cin:
        raise ValueError(f"modulated_conv2d: x has {cin} channels, weight expects {wi}")
    if styles.shape != (n, cin):
        raise ValueError(f"modulated_conv2d: styles shape {styles.shape}, expected {(n, cin)}")
    weight = weight.astype(jnp.float32)
    styles = styles.astype(jnp.float32)
    low_precision = x.dtype in (jnp.float16, jnp.bfloat16)
    if low_precision and demodulate:
        # Pre-normalise to avoid overflow (official fp16 path); demodulation cancels it.
        weight = weight * (1 / np.sqrt(cin * kh * kw)
                           / jnp.max(jnp.abs(weight), axis=(0, 1, 2), keepdims=True))
        styles = styles / jnp.max(jnp.abs(styles), axis=1, keepdims=True)
    dcoefs = demod_coefficients(weight, styles) if demodulate else None   # [N, O]

    if not fused:
        x = x * styles.astype(x.dtype)[:, None, None, :]
        x = conv2d_resample(x, weight.astype(x.dtype), f=resample_filter, up=up, down=down,
                            padding=padding, flip_weight=flip_weight)
        if demodulate:
            x = x * dcoefs.astype(x.dtype)[:, None, None, :]
        if noise is not None:
            x = x + noise.astype(x.dtype)
        return x

    if _per_sample_loop():
        # XLA:CPU expands a grouped convolution into a dense one with block-diagonal
        # weights (N times the work); convolving one sample at a time is as fast per FLOP
        # as the shared-weight convolution. Each sample's weights are formed in the loop.
        def one(args):
            xi, si, di = args
            wi = weight * si[None, None, :, None]
            if di is not None:
                wi = wi * di[None, None, None, :]
            return conv2d_resample(xi[None], wi.astype(x.dtype), f=resample_filter, up=up,
                                   down=down, padding=padding, flip_weight=flip_weight)[0]
        y = lax.map(one, (x, styles, dcoefs))
    else:
        w = weight[None] * styles[:, None, None, :, None]                 # [N, kh, kw, I, O]
        if demodulate:
            w = w * dcoefs[:, None, None, None, :]
        w = jnp.transpose(w, (1, 2, 3, 0, 4)).reshape(kh, kw, cin, n * cout)  # [kh, kw, I, N*O]
        h, wd = x.shape[1], x.shape[2]
        xg = jnp.transpose(x, (1, 2, 0, 3)).reshape(1, h, wd, n * cin)    # [1, H, W, N*I]
        y = conv2d_resample(xg, w.astype(x.dtype), f=resample_filter, up=up, down=down,
                            padding=padding, groups=n, flip_weight=flip_weight)
        ho, wo = y.shape[1], y.shape[2]
        y = jnp.transpose(y.reshape(ho, wo, n, cout), (2, 0, 1, 3))       # [N, H', W', O]
    if noise is not None:
        y = y + noise.astype(y.dtype)
    return y


def _per_sample_loop() -> bool:
    """Fused path: loop over samples (CPU) or one grouped convolution (GPU/TPU)."""
    return _on_cpu()
