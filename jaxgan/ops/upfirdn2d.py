"""FIR up-sampling, filtering and down-sampling (``upfirdn2d``) in pure ``lax``.

Semantics follow ``torch_utils/ops/upfirdn2d.py`` of stylegan2-ada-pytorch, but on
channels-last tensors: ``x`` is ``[N, H, W, C]``.

The filter is a *concrete* NumPy array (the official ``resample_filter`` buffers are
constants), either 1-D (separable, applied along H then W) or 2-D.

Two implementations are provided and tested to agree:

* :func:`upfirdn2d_ref` -- zero insertion, pad/crop, one depthwise ``lax.conv`` with the
  full 2-D filter (the official reference algorithm).
* :func:`upfirdn2d` -- the fast path: polyphase up-sampling (no multiplications by the
  inserted zeros), only the kept outputs of a down-sampling, and filtering as a sum of
  shifted slices, which XLA fuses into a single elementwise kernel on every backend
  (two 1-D passes for large separable filters).
"""
from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
import numpy as np
from jax import lax

Padding = int | Sequence[int]


def setup_filter(f: Sequence[float] | np.ndarray, normalize: bool = True,
                 separable: bool = True) -> np.ndarray:
    """Build a normalised FIR filter as the official ``setup_filter``.

    Args:
      f: 1-D taps (e.g. ``[1, 3, 3, 1]``) or a 2-D filter.
      normalize: divide by the sum of the (2-D) filter.
      separable: keep a 1-D filter 1-D (applied along both axes); otherwise return
        the 2-D outer product, as the official code stores it.

    Returns:
      float32 NumPy array, 1-D ``[k]`` or 2-D ``[kh, kw]``.
    """
    f = np.asarray(f, dtype=np.float64)
    if f.ndim not in (1, 2):
        raise ValueError(f"FIR filter must be 1-D or 2-D, got shape {f.shape}")
    if normalize:
        f = f / f.sum()
    if f.ndim == 1 and not separable:
        f = np.outer(f, f)
    return f.astype(np.float32)


def _parse_pair(v, name: str) -> tuple[int, int]:
    if isinstance(v, int):
        return v, v
    v = tuple(int(a) for a in v)
    if len(v) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {v}")
    return v


def _parse_padding(padding: Padding) -> tuple[int, int, int, int]:
    """Return ``(px0, px1, py0, py1)`` as the official code orders them."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    padding = tuple(int(p) for p in padding)
    if len(padding) == 2:
        px, py = padding
        return px, px, py, py
    if len(padding) == 4:
        return padding  # type: ignore[return-value]
    raise ValueError(f"padding must have 1, 2 or 4 entries, got {padding}")


def filter_size(f: np.ndarray) -> tuple[int, int]:
    """``(fw, fh)`` of a 1-D or 2-D filter, as the official ``_get_filter_size``."""
    if f is None:
        return 1, 1
    f = np.asarray(f)
    if f.ndim == 1:
        return f.shape[0], f.shape[0]
    return f.shape[1], f.shape[0]


def _check(x, f):
    if x.ndim != 4:
        raise ValueError(f"upfirdn2d expects x of shape [N, H, W, C], got {x.shape}")
    f = np.asarray(f, dtype=np.float32)
    if f.ndim not in (1, 2):
        raise ValueError(f"FIR filter must be 1-D or 2-D, got shape {f.shape}")
    return f


def upfirdn2d_ref(x, f, up: int | Sequence[int] = 1, down: int | Sequence[int] = 1,
                  padding: Padding = 0, flip_filter: bool = False, gain: float = 1.0):
    """Reference upfirdn2d: zero insertion, pad, depthwise conv, subsample.

    Args:
      x: ``[N, H, W, C]``.
      f: concrete filter, 1-D (separable) or 2-D ``[fh, fw]``.
      up, down: integer factors (int or ``(x, y)``).
      padding: int, ``(px, py)`` or ``(px0, px1, py0, py1)``; negative crops.
      flip_filter: False gives true convolution (the official default).
      gain: overall gain; the filter is scaled by ``gain ** (ndim / 2)`` per official.

    Returns:
      ``[N, H', W', C]``.
    """
    f = _check(x, f)
    upx, upy = _parse_pair(up, "up")
    downx, downy = _parse_pair(down, "down")
    px0, px1, py0, py1 = _parse_padding(padding)
    n, h, w, c = x.shape
    # Upsample by inserting zeros after every pixel.
    x = x.reshape(n, h, 1, w, 1, c)
    x = jnp.pad(x, ((0, 0), (0, 0), (0, upy - 1), (0, 0), (0, upx - 1), (0, 0)))
    x = x.reshape(n, h * upy, w * upx, c)
    # Pad (positive) or crop (negative).
    zero = jnp.zeros((), x.dtype)
    x = lax.pad(x, zero, ((0, 0, 0), (py0, py1, 0), (px0, px1, 0), (0, 0, 0)))
    # Full 2-D filter.
    f2 = np.outer(f, f) if f.ndim == 1 else f
    f2 = f2 * (gain ** (f.ndim / 2)) if f.ndim == 2 else f2 * gain
    if not flip_filter:
        f2 = f2[::-1, ::-1]
    k = jnp.asarray(np.ascontiguousarray(f2), x.dtype)[:, :, None, None]
    k = jnp.tile(k, (1, 1, 1, c))  # [fh, fw, 1, C]
    return lax.conv_general_dilated(
        x, k, window_strides=(downy, downx), padding="VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=c)


def _fir_1d(x, taps: np.ndarray, up: int, down: int, p0: int, p1: int, axis: int):
    """Polyphase 1-D upfirdn along ``axis`` with concrete taps (already flipped as needed).

    Computes ``y[o] = sum_k taps[k] * e[o * down + k]`` where ``e`` is ``x`` zero-inserted
    by ``up`` and padded by ``(p0, p1)``, without materialising the zeros.
    """
    length = x.shape[axis]
    k = taps.shape[0]
    up_len = length * up + p0 + p1
    out_len = (up_len - k) // down + 1
    if out_len <= 0:
        raise ValueError("upfirdn2d: output would be empty; check padding and sizes")
    # Output index o reads e[o*down + j] for j in [0, k); e[m] = x[(m - p0) / up] when
    # (m - p0) % up == 0. Group output positions by o*down mod up phase; for simplicity and
    # generality, gather per tap with strided slices over a zero-padded x (polyphase for
    # up>1 by building each phase separately).
    if up == 1:
        xp = _pad_axis(x, p0, p1, axis)
        acc = None
        for j in range(k):
            if taps[j] == 0:
                continue
            sl = _slice_axis(xp, j, j + (out_len - 1) * down + 1, down, axis)
            term = sl * taps[j]
            acc = term if acc is None else acc + term
        return acc if acc is not None else jnp.zeros_like(_slice_axis(xp, 0, out_len, 1, axis))
    # up > 1: compute each output phase r (o = q*up' ...). Output o uses e[o*down + j];
    # nonzero only when (o*down + j - p0) % up == 0, i.e. x index (o*down + j - p0) // up.
    # Split outputs by residue of o*down mod up: handled by looping over output residues
    # modulo `up` when down == 1 (the only up>1 case StyleGAN uses); otherwise fall back.
    if down != 1:
        xu = _zero_insert(x, up, axis)
        return _fir_1d(xu, taps, 1, down, p0, p1, axis)
    phases = []
    xp_cache = {}
    for r in range(up):
        # outputs o = r, r + up, r + 2up, ...
        n_r = len(range(r, out_len, up))
        acc = None
        for j in range(k):
            if taps[j] == 0 or (r + j - p0) % up != 0:
                continue
            start = (r + j - p0) // up  # x index for the first output of this phase
            # x index for output o = r + t*up is start + t, t in [0, n_r)
            lo_pad = max(0, -start)
            hi_pad = max(0, start + n_r - length)
            key = (lo_pad, hi_pad)
            if key not in xp_cache:
                xp_cache[key] = _pad_axis(x, lo_pad, hi_pad, axis)
            sl = _slice_axis(xp_cache[key], start + lo_pad, start + lo_pad + n_r, 1, axis)
            term = sl * taps[j]
            acc = term if acc is None else acc + term
        if acc is None:
            shape = list(x.shape)
            shape[axis] = n_r
            acc = jnp.zeros(shape, x.dtype)
        phases.append((n_r, acc))
    # Interleave phases: out[r + t*up] = phases[r][t].
    n_max = phases[0][0]
    padded = []
    for n_r, a in phases:
        padded.append(_pad_axis(a, 0, n_max - n_r, axis))
    y = jnp.stack(padded, axis=axis + 1)  # [..., n_max, up, ...]
    shape = list(x.shape)
    shape[axis] = n_max * up
    y = y.reshape(shape)
    return _slice_axis(y, 0, out_len, 1, axis)


def _zero_insert(x, up: int, axis: int):
    shape = list(x.shape)
    y = jnp.expand_dims(x, axis + 1)
    pad = [(0, 0)] * y.ndim
    pad[axis + 1] = (0, up - 1)
    y = jnp.pad(y, pad)
    shape[axis] *= up
    return y.reshape(shape)


def _pad_axis(x, lo: int, hi: int, axis: int):
    if lo == 0 and hi == 0:
        return x
    cfg = [(0, 0, 0)] * x.ndim
    cfg[axis] = (lo, hi, 0)
    return lax.pad(x, jnp.zeros((), x.dtype), cfg)


def _slice_axis(x, start: int, stop: int, step: int, axis: int):
    idx = [slice(None)] * x.ndim
    idx[axis] = slice(start, stop, step)
    return x[tuple(idx)]


def _is_separable(f: np.ndarray):
    """Return 1-D factors ``(fy, fx)`` if 2-D ``f`` is rank one, else None."""
    if f.ndim == 1:
        return f, f
    u, s, vt = np.linalg.svd(f.astype(np.float64))
    if s.shape[0] > 1 and s[1] > 1e-7 * s[0]:
        return None
    fy = u[:, 0] * np.sqrt(s[0])
    fx = vt[0] * np.sqrt(s[0])
    if fy.sum() < 0:
        fy, fx = -fy, -fx
    return fy.astype(np.float32), fx.astype(np.float32)


#: Direct (un-separated) filtering is used while one output needs at most this many
#: multiply-adds; larger separable filters run as two 1-D passes.
_MAX_DIRECT_TAPS = 16


def _axis_plan(length: int, k: int, up: int, down: int, p0: int, p1: int):
    """Polyphase plan of one axis of ``upfirdn`` (``up > 1`` only with ``down == 1``).

    Output ``o = r + t * nph`` (phase ``r``, ``t < n``) is ``sum_k F[k] * x[start + t * stride]``
    over the pairs ``(k, start)`` of ``phases[r]``; ``start`` indexes ``x`` padded by
    ``(lo, hi)`` zeros. Returns ``(out_len, n, stride, phases, lo, hi)``.
    """
    out_len = (length * up + p0 + p1 - k) // down + 1
    if out_len <= 0:
        raise ValueError("upfirdn2d: output would be empty; check padding and sizes")
    if up == 1:
        n, stride = out_len, down
        phases = [[(j, j - p0) for j in range(k)]]
    else:
        n, stride = -(-out_len // up), 1
        phases = [[(j, (r + j - p0) // up) for j in range(k) if (r + j - p0) % up == 0]
                  for r in range(up)]
    starts = [s for ph in phases for _, s in ph]
    if not starts:
        return out_len, n, stride, phases, 0, 0
    lo = max(0, -min(starts))
    hi = max(0, max(starts) + (n - 1) * stride - (length - 1))
    phases = [[(j, s + lo) for j, s in ph] for ph in phases]
    return out_len, n, stride, phases, lo, hi


def _upfirdn2d_direct(x, f2: np.ndarray, upx: int, upy: int, downx: int, downy: int,
                      px0: int, px1: int, py0: int, py1: int):
    """Polyphase upfirdn with a 2-D (already flipped and scaled) filter: every output phase is a
    sum of strided slices of the zero-padded input, fused by XLA into one elementwise kernel."""
    n_, h, w, c = x.shape
    fh, fw = f2.shape
    oy, ny, sty, phy, ly, hy = _axis_plan(h, fh, upy, downy, py0, py1)
    ox, nx, stx, phx, lx, hx = _axis_plan(w, fw, upx, downx, px0, px1)
    xp = _pad_axis(_pad_axis(x, ly, hy, 1), lx, hx, 2)
    rows = []
    for ph_y in phy:
        cols = []
        for ph_x in phx:
            acc = None
            for ky, sy in ph_y:
                for kx, sx in ph_x:
                    tap = float(f2[ky, kx])
                    if tap == 0:
                        continue
                    sl = xp[:, sy:sy + (ny - 1) * sty + 1:sty, sx:sx + (nx - 1) * stx + 1:stx]
                    term = sl * jnp.asarray(tap, x.dtype)
                    acc = term if acc is None else acc + term
            if acc is None:
                acc = jnp.zeros((n_, ny, nx, c), x.dtype)
            cols.append(acc)
        rows.append(cols)
    if len(phy) == 1 and len(phx) == 1:
        y = rows[0][0]
    else:
        y = jnp.stack([jnp.stack(cols, axis=3) for cols in rows], axis=2)  # [N, ny, py, nx, px, C]
        y = y.reshape(n_, ny * len(phy), nx * len(phx), c)
    return y[:, :oy, :ox]


def upfirdn2d(x, f, up: int | Sequence[int] = 1, down: int | Sequence[int] = 1,
              padding: Padding = 0, flip_filter: bool = False, gain: float = 1.0):
    """Fast upfirdn2d (same signature and result as :func:`upfirdn2d_ref`).

    Polyphase: the zeros inserted by up-sampling are never multiplied, and only the kept
    outputs of a down-sampling are computed. Small filters (at most ``_MAX_DIRECT_TAPS``
    multiply-adds per output, e.g. ``[1, 3, 3, 1]``, separable or not) run as one fused sum of
    shifted slices; larger separable filters as two 1-D passes; larger non-separable filters
    fall back to the reference depthwise convolution.
    """
    f = _check(x, f)
    upx, upy = _parse_pair(up, "up")
    downx, downy = _parse_pair(down, "down")
    px0, px1, py0, py1 = _parse_padding(padding)
    # Up- and down-sampling along the same axis: insert the zeros explicitly.
    if upy > 1 and downy > 1:
        x = _zero_insert(x, upy, 1)
        upy = 1
    if upx > 1 and downx > 1:
        x = _zero_insert(x, upx, 2)
        upx = 1
    f2 = np.outer(f, f) * gain if f.ndim == 1 else f * gain
    if not flip_filter:
        f2 = f2[::-1, ::-1]
    fh, fw = f2.shape
    taps = -(-fh // upy) * -(-fw // upx)
    if taps <= _MAX_DIRECT_TAPS:
        return _upfirdn2d_direct(x, np.ascontiguousarray(f2, np.float32), upx, upy, downx, downy,
                                 px0, px1, py0, py1)
    sep = _is_separable(f)
    if sep is None:
        return upfirdn2d_ref(x, f, (upx, upy), (downx, downy), (px0, px1, py0, py1),
                             flip_filter, gain)
    fy, fx = sep
    g = float(np.sqrt(gain))
    fx = fx * g
    fy = fy * g
    if not flip_filter:
        fx, fy = fx[::-1], fy[::-1]
    x = _fir_1d(x, np.ascontiguousarray(fy), upy, downy, py0, py1, axis=1)
    x = _fir_1d(x, np.ascontiguousarray(fx), upx, downx, px0, px1, axis=2)
    return x


def upsample2d(x, f, up: int = 2, padding: Padding = 0, flip_filter: bool = False,
               gain: float = 1.0, impl: str = "fast"):
    """Up-sample by ``up`` with FIR filter ``f`` (official ``upsample2d``)."""
    upx, upy = _parse_pair(up, "up")
    px0, px1, py0, py1 = _parse_padding(padding)
    fw, fh = filter_size(f)
    p = [px0 + (fw + upx - 1) // 2, px1 + (fw - upx) // 2,
         py0 + (fh + upy - 1) // 2, py1 + (fh - upy) // 2]
    fn = upfirdn2d if impl == "fast" else upfirdn2d_ref
    return fn(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * upx * upy)


def downsample2d(x, f, down: int = 2, padding: Padding = 0, flip_filter: bool = False,
                 gain: float = 1.0, impl: str = "fast"):
    """Down-sample by ``down`` with FIR filter ``f`` (official ``downsample2d``)."""
    downx, downy = _parse_pair(down, "down")
    px0, px1, py0, py1 = _parse_padding(padding)
    fw, fh = filter_size(f)
    p = [px0 + (fw - downx + 1) // 2, px1 + (fw - downx) // 2,
         py0 + (fh - downy + 1) // 2, py1 + (fh - downy) // 2]
    fn = upfirdn2d if impl == "fast" else upfirdn2d_ref
    return fn(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain)
