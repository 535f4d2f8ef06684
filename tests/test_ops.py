"""jaxgan.ops against independent NumPy / SciPy references (small shapes, CPU, < 30 s).

References written here from the definitions, not from jaxgan:

* ``np_upfirdn2d``: zero insertion, pad/crop, a direct loop over the taps of the (flipped)
  2-D filter, subsampling -- the definition in ``upfirdn2d.py``'s docstring.
* ``scipy_upfirdn2d``: ``scipy.signal.upfirdn`` (up-sample, full convolution, down-sample)
  applied per axis, with the padding/cropping mapped onto its full-convolution output.
* ``np_conv_transpose2d``: the ``torch.nn.functional.conv_transpose2d`` definition as a loop.
* ``np_conv2d_resample``: the official ``conv2d_resample`` algorithm on those primitives.
"""
from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal
from jax.test_util import check_grads

from jaxgan.ops import (bias_act, conv2d_resample, downsample2d, minibatch_stddev,
                        modulated_conv2d, setup_filter, upfirdn2d, upfirdn2d_ref, upsample2d)
from jaxgan.ops import conv as conv_mod

RNG = np.random.default_rng(1234)
F4 = setup_filter([1, 3, 3, 1])


def _rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _close(a, b, rtol=1e-5, atol=1e-5):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    scale = max(1.0, float(np.abs(b).max()))
    err = float(np.abs(a - b).max())
    assert err <= atol + rtol * scale, f"max abs err {err:.3g} (scale {scale:.3g})"


# ----------------------------------------------------------------------------- references

def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _pad4(p):
    if isinstance(p, int):
        return p, p, p, p
    if len(p) == 2:
        return p[0], p[0], p[1], p[1]
    return tuple(p)


def np_upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1.0):
    """Direct definition, NHWC, float64."""
    x = np.asarray(x, np.float64)
    f = np.asarray(f, np.float64)
    upx, upy = _pair(up)
    downx, downy = _pair(down)
    px0, px1, py0, py1 = _pad4(padding)
    n, h, w, c = x.shape
    u = np.zeros((n, h * upy, w * upx, c))
    u[:, ::upy, ::upx] = x
    u = np.pad(u, ((0, 0), (max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0)), (0, 0)))
    u = u[:, max(-py0, 0):u.shape[1] - max(-py1, 0), max(-px0, 0):u.shape[2] - max(-px1, 0)]
    f2 = np.outer(f, f) * gain if f.ndim == 1 else f * gain
    if not flip_filter:
        f2 = f2[::-1, ::-1]
    fh, fw = f2.shape
    oh = (u.shape[1] - fh) // downy + 1
    ow = (u.shape[2] - fw) // downx + 1
    if oh <= 0 or ow <= 0:
        return np.zeros((n, max(oh, 0), max(ow, 0), c))
    out = np.zeros((n, oh, ow, c))
    for ky in range(fh):
        for kx in range(fw):
            out += f2[ky, kx] * u[:, ky:ky + (oh - 1) * downy + 1:downy,
                                  kx:kx + (ow - 1) * downx + 1:downx]
    return out


def _scipy_axis(x, f, up, down, p0, p1, axis):
    """One axis of upfirdn2d via scipy.signal.upfirdn (full convolution).

    Our output ``o`` is ``sum_k f[k] u[o*down + K-1 - p0 - k]`` with ``u`` the zero-inserted
    signal, i.e. the full convolution ``c = u * f`` at index ``o*down + K-1-p0`` (zero
    outside ``c``)."""
    k = len(f)
    length = x.shape[axis]
    c = scipy.signal.upfirdn(f, x, up=up, down=1, axis=axis)
    out_len = (length * up + p0 + p1 - k) // down + 1
    idx = np.arange(out_len) * down + (k - 1 - p0)
    valid = (idx >= 0) & (idx < c.shape[axis])
    out = np.take(c, np.clip(idx, 0, c.shape[axis] - 1), axis=axis)
    shape = [1] * x.ndim
    shape[axis] = out_len
    return out * valid.reshape(shape)


def scipy_upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1.0):
    """Separable (1-D ``f``) upfirdn2d from SciPy, along H then W."""
    f = np.asarray(f, np.float64) * np.sqrt(gain)
    if flip_filter:
        f = f[::-1]
    upx, upy = _pair(up)
    downx, downy = _pair(down)
    px0, px1, py0, py1 = _pad4(padding)
    y = _scipy_axis(np.asarray(x, np.float64), f, upy, downy, py0, py1, axis=1)
    return _scipy_axis(y, f, upx, downx, px0, px1, axis=2)


def np_correlate2d(x, w, stride=1, padding=(0, 0, 0, 0), groups=1):
    """Cross-correlation NHWC x HWIO (torch ``conv2d`` semantics); padding (px0, px1, py0, py1)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    px0, px1, py0, py1 = padding
    x = np.pad(x, ((0, 0), (py0, py1), (px0, px1), (0, 0)))
    kh, kw, ig, o = w.shape
    n, h, wd, _ = x.shape
    oh = (h - kh) // stride + 1
    ow = (wd - kw) // stride + 1
    og = o // groups
    out = np.zeros((n, oh, ow, o))
    for g in range(groups):
        xg = x[..., g * ig:(g + 1) * ig]
        for ky in range(kh):
            for kx in range(kw):
                sl = xg[:, ky:ky + (oh - 1) * stride + 1:stride, kx:kx + (ow - 1) * stride + 1:stride]
                out[..., g * og:(g + 1) * og] += sl @ w[ky, kx, :, g * og:(g + 1) * og]
    return out


def np_conv_transpose2d(x, wt, stride, padding=(0, 0), groups=1):
    """torch ``conv_transpose2d`` by its definition: ``out[i*s + ky - p, j*s + kx - p] +=
    x[i, j] @ wt[ky, kx]``; ``wt: [kh, kw, I, O/groups]``, padding ``(py, px)``."""
    x = np.asarray(x, np.float64)
    wt = np.asarray(wt, np.float64)
    n, h, w, cin = x.shape
    kh, kw, _, og = wt.shape
    ig = cin // groups
    full = np.zeros((n, (h - 1) * stride + kh, (w - 1) * stride + kw, og * groups))
    for i in range(h):
        for j in range(w):
            for ky in range(kh):
                for kx in range(kw):
                    for g in range(groups):
                        full[:, i * stride + ky, j * stride + kx, g * og:(g + 1) * og] += (
                            x[:, i, j, g * ig:(g + 1) * ig] @ wt[ky, kx, g * ig:(g + 1) * ig])
    py, px = padding
    return full[:, py:full.shape[1] - py, px:full.shape[2] - px]


def np_conv2d_resample(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True):
    """The official conv2d_resample algorithm; ``w: [kh, kw, I/groups, O]`` correlation."""
    w = np.asarray(w, np.float64)
    kh, kw = w.shape[:2]
    fh = fw = 1 if f is None else np.asarray(f).shape[0]
    px0, px1, py0, py1 = _pad4(padding)
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
    wc = w if flip_weight else w[::-1, ::-1]                  # official _conv2d_wrapper
    if kh == kw == 1 and down > 1 and up == 1:
        x = np_upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1])
        return np_correlate2d(x, wc, groups=groups)
    if kh == kw == 1 and up > 1 and down == 1:
        x = np_correlate2d(x, wc, groups=groups)
        return np_upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up ** 2)
    if down > 1 and up == 1:
        x = np_upfirdn2d(x, f, padding=[px0, px1, py0, py1])
        return np_correlate2d(x, wc, stride=down, groups=groups)
    if up > 1:
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        # conv_transpose2d(x, w.transpose(0, 1)) with flip_weight=(not flip_weight):
        # the kernel is flipped when the caller's flip_weight is True.
        wt = w[::-1, ::-1] if flip_weight else w
        og = wt.shape[3] // groups               # [kh, kw, I/g, O] -> [kh, kw, I, O/g]
        wt = np.concatenate([wt[..., g * og:(g + 1) * og] for g in range(groups)], axis=2)
        x = np_conv_transpose2d(x, wt, up, padding=(pyt, pxt), groups=groups)
        x = np_upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up ** 2)
        if down > 1:
            x = np_upfirdn2d(x, f, down=down)
        return x
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return np_correlate2d(x, wc, padding=(px0, px0, py0, py0), groups=groups)
    x = np_upfirdn2d(x, np.ones([1]), padding=[px0, px1, py0, py1])
    return np_correlate2d(x, wc, groups=groups)


# ------------------------------------------------------------------------------ upfirdn2d

FILTERS = {
    "1331": F4,
    "121": setup_filter([1, 2, 1]),
    "asym4": np.array([0.5, -1.0, 2.0, 0.3], np.float32),
    "sym12": setup_filter(_rand(12) + 2),            # large separable: two 1-D passes
    "2d_3x4": _rand(3, 4),                            # non-separable, non-square
    "2d_outer": setup_filter([1, 3, 3, 1], separable=False),
    "2d_5x5": _rand(5, 5),                            # large non-separable: reference path
}
RESAMPLE = [(1, 1), (2, 1), (1, 2), (2, 2), (3, 1), (1, 3), ((2, 1), (1, 2)), ((1, 3), 1)]
PADS = [0, 1, -1, (2, 3), (3, -1, 0, 2), (-2, 1, 2, -1)]


def _combos(n, seed):
    """``n`` (resample, padding, flip, gain) combinations covering every resample mode and
    padding (a deterministic subset of the product: each jit compile costs ~0.1 s)."""
    out = []
    for i in range(n):
        out.append((RESAMPLE[(i + seed) % len(RESAMPLE)], PADS[(i + 2 * seed) % len(PADS)],
                    (i // 2 + seed) % 2 == 1, (1.0, 3.0)[(i // 3 + seed) % 2]))
    return out


def _jit_upfirdn(fn, f, up, down, pad, flip, gain):
    return jax.jit(lambda v: fn(v, f, up, down, pad, flip, gain))


def test_numpy_reference_vs_scipy():
    """The NumPy definition and SciPy's upfirdn agree on the full grid (separable filters)."""
    x = _rand(2, 8, 6, 2)
    checked = 0
    for fname in ("1331", "121", "asym4", "sym12"):
        for (up, down), pad, flip, gain in itertools.product(RESAMPLE, PADS, (False, True),
                                                             (1.0, 2.0)):
            want = scipy_upfirdn2d(x, FILTERS[fname], up, down, pad, flip, gain)
            if min(want.shape[1:3]) <= 0:
                continue
            _close(np_upfirdn2d(x, FILTERS[fname], up, down, pad, flip, gain), want, 1e-12, 1e-12)
            checked += 1
    assert checked > 300


@pytest.mark.parametrize("fname", sorted(FILTERS))
def test_upfirdn2d_fast_and_ref_vs_numpy(fname):
    f = FILTERS[fname]
    x = _rand(2, 14, 11, 3)
    checked = 0
    for i, ((up, down), pad, flip, gain) in enumerate(_combos(6, seed=len(fname))):
        want = np_upfirdn2d(x, f, up, down, pad, flip, gain)
        if min(want.shape[1:3]) <= 0:
            continue
        _close(_jit_upfirdn(upfirdn2d, f, up, down, pad, flip, gain)(jnp.asarray(x)), want)
        if i % 3 == 0:
            _close(_jit_upfirdn(upfirdn2d_ref, f, up, down, pad, flip, gain)(jnp.asarray(x)), want)
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("fname", ["1331", "asym4", "sym12"])
def test_upfirdn2d_vs_scipy(fname):
    f = FILTERS[fname]
    x = _rand(2, 13, 10, 2)
    for (up, down), pad, flip, gain in _combos(4, seed=3):
        want = scipy_upfirdn2d(x, f, up, down, pad, flip, gain)
        if min(want.shape[1:3]) <= 0:
            continue
        _close(_jit_upfirdn(upfirdn2d, f, up, down, pad, flip, gain)(jnp.asarray(x)), want)


def test_upfirdn2d_fast_matches_ref_stylegan_cases():
    """The exact calls the networks make, fast vs reference path."""
    x = jnp.asarray(_rand(2, 8, 8, 5))
    for fn_kw in [dict(up=2, padding=(2, 1), gain=4.0), dict(down=2, padding=1),
                  dict(padding=(1, 1)), dict(up=2, padding=(1, 1, 1, 1), gain=4.0)]:
        a = jax.jit(lambda v: upfirdn2d(v, F4, **fn_kw))(x)
        b = jax.jit(lambda v: upfirdn2d_ref(v, F4, **fn_kw))(x)
        _close(a, b, 1e-6, 1e-6)


def test_upfirdn2d_errors():
    with pytest.raises(ValueError):
        upfirdn2d(jnp.zeros((1, 4, 4)), F4)
    with pytest.raises(ValueError):
        upfirdn2d(jnp.zeros((1, 4, 4, 1)), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError):
        upfirdn2d(jnp.zeros((1, 4, 4, 1)), F4, padding=-4)


@pytest.mark.parametrize("impl", ["fast", "ref"])
def test_resample_sizes_and_dc_gain(impl):
    x = jnp.full((2, 8, 6, 3), 1.7)
    for f in (F4, setup_filter([1, 2, 1], separable=False)):
        up, dn = jax.jit(lambda v: (upsample2d(v, f, impl=impl), downsample2d(v, f, impl=impl)))(x)
        assert up.shape == (2, 16, 12, 3)
        np.testing.assert_allclose(np.asarray(up)[:, 2:-2, 2:-2], 1.7, rtol=1e-6)
        assert dn.shape == (2, 4, 3, 3)
        np.testing.assert_allclose(np.asarray(dn)[:, 1:-1, 1:-1], 1.7, rtol=1e-6)
    up4, dn3 = jax.jit(lambda v: (upsample2d(v, F4, up=4, impl=impl),
                                  downsample2d(v, F4, down=3, impl=impl)))(jnp.ones((1, 12, 12, 1)))
    assert up4.shape == (1, 48, 48, 1) and dn3.shape == (1, 4, 4, 1)


# -------------------------------------------------------------------------- conv2d_resample

CONV_CASES = [  # (kernel, up, down, padding, groups, flip_weight, (H, W))
    (3, 1, 1, 1, 1, True, (7, 6)),
    (3, 1, 1, 0, 1, True, (7, 6)),
    (2, 1, 1, 1, 2, True, (7, 6)),
    (3, 1, 1, [2, 0, -1, 1], 1, True, (7, 6)),   # asymmetric / cropping padding
    (3, 2, 1, 1, 1, False, (7, 6)),   # SynthesisLayer up (small input: input-dilated conv)
    (3, 2, 1, 1, 1, False, (9, 8)),   # SynthesisLayer up (polyphase, >= 64 pixels)
    (3, 2, 1, 1, 1, True, (8, 8)),
    (3, 2, 1, 0, 2, False, (8, 9)),
    (3, 2, 1, [-2, 1, 0, -1], 1, False, (9, 8)),
    (3, 2, 1, [-2, 1, 0, -1], 1, False, (5, 4)),
    (4, 2, 1, 1, 1, False, (7, 6)),
    (2, 2, 1, 2, 1, False, (8, 8)),
    (3, 2, 2, 1, 1, False, (8, 8)),   # up then down
    (3, 1, 2, 1, 1, True, (7, 6)),    # Discriminator down
    (4, 1, 2, 0, 2, True, (7, 6)),
    (1, 2, 1, 0, 1, False, (7, 6)),   # 1x1 up fast path (resnet skip)
    (1, 1, 2, 0, 1, True, (7, 6)),    # 1x1 down fast path
    (1, 1, 1, 0, 1, True, (7, 6)),    # plain 1x1 (matrix product)
    (3, 1, 1, 1, 1, True, (16, 16)),  # Winograd (CPU)
]


@pytest.mark.parametrize("k,up,down,pad,groups,flip,hw", CONV_CASES)
def test_conv2d_resample_vs_numpy(k, up, down, pad, groups, flip, hw):
    cin, cout = 4, 6
    x = _rand(2, *hw, cin)
    w = _rand(k, k, cin // groups, cout)
    f = F4 if (up > 1 or down > 1) else None
    got = jax.jit(lambda a, b: conv2d_resample(a, b, f=f, up=up, down=down, padding=pad,
                                               groups=groups, flip_weight=flip))(x, w)
    want = np_conv2d_resample(x, w, f=f, up=up, down=down, padding=pad, groups=groups,
                              flip_weight=flip)
    _close(got, want, 1e-5, 1e-4)


@pytest.mark.parametrize("k,up,down,pad,groups,flip,hw",
                         [c for c in CONV_CASES if c[6][0] * c[6][1] >= 64])
def test_conv2d_resample_gpu_paths_vs_numpy(monkeypatch, k, up, down, pad, groups, flip, hw):
    """The paths taken on GPU/TPU (no polyphase/Winograd), exercised on CPU."""
    monkeypatch.setattr(conv_mod, "_on_cpu", lambda: False)
    test_conv2d_resample_vs_numpy(k, up, down, pad, groups, flip, hw)


@pytest.mark.parametrize("up,k", [(2, 1), (2, 2), (2, 3), (2, 4), (3, 3), (3, 5)])
def test_conv_transpose_polyphase_vs_loop(up, k):
    x = _rand(2, 5, 4, 3)
    w = _rand(k, k, 3, 2)
    pads = [(k - 1, k - 1, k - 1, k - 1), (0, 0, 0, 0), (2, 1, 3, 0), (-1, 2, 0, -2)]
    # The stride-`up` transposed convolution (torch's definition) is the full correlation
    # with the flipped kernel, with `up - 1` trailing zeros removed.
    tpad = (k - 1, k - up, k - 1, k - up)
    got = jax.jit(lambda a, b: [conv_mod.conv_transpose_polyphase(a, b, up, p) for p in pads]
                  + [conv_mod.conv_transpose_polyphase(a, b[::-1, ::-1], up, tpad)])(x, w)
    for pad, g in zip(pads, got):
        px0, px1, py0, py1 = pad
        # reference: zero-insert (after each pixel), pad/crop, correlate
        u = np.zeros((2, 5 * up, 4 * up, 3))
        u[:, ::up, ::up] = x
        u = np.pad(u, ((0, 0), (max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0)), (0, 0)))
        u = u[:, max(-py0, 0):u.shape[1] - max(-py1, 0), max(-px0, 0):u.shape[2] - max(-px1, 0)]
        _close(g, np_correlate2d(u, w), 1e-5, 1e-4)
    _close(got[-1], np_conv_transpose2d(x, w, up), 1e-5, 1e-4)


@pytest.mark.parametrize("chunk_bytes", [None, 1])
def test_conv2d_winograd_vs_numpy(monkeypatch, chunk_bytes):
    """3x3 'same' convolutions of >= 16x16 float32 maps run as Winograd F(2x2, 3x3) on CPU
    (in chunks of samples: chunk_bytes=1 forces one sample per loop step)."""
    if jax.default_backend() != "cpu":
        pytest.skip("Winograd is the CPU path; GPU/TPU keep XLA's convolution")
    if chunk_bytes is not None:
        monkeypatch.setattr(conv_mod, "_WINOGRAD_CHUNK_BYTES", chunk_bytes)
    calls = []
    orig = conv_mod._conv3x3_winograd
    monkeypatch.setattr(conv_mod, "_conv3x3_winograd", lambda *a: calls.append(1) or orig(*a))
    x, w = _rand(3, 16, 18, 5), _rand(3, 3, 5, 7)
    got = jax.jit(lambda a, b: conv_mod.conv2d(a, b, padding=((1, 1), (1, 1))))(x, w)
    assert calls, "the Winograd path was not taken"
    _close(got, np_correlate2d(x, w, padding=(1, 1, 1, 1)), 1e-5, 1e-5)
    # Gradients agree with XLA's convolution.
    ref = lambda a, b: jax.lax.conv_general_dilated(a, b, (1, 1), ((1, 1), (1, 1)),
                                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))
    ct = jnp.asarray(_rand(3, 16, 18, 7))
    loss = lambda fn: jax.jit(jax.grad(lambda a, b: jnp.sum(fn(a, b) * ct), (0, 1)))
    for ga, gb in zip(loss(lambda a, b: conv_mod.conv2d(a, b, padding=((1, 1), (1, 1))))(x, w),
                      loss(ref)(x, w)):
        _close(ga, gb, 1e-5, 1e-4)


# ------------------------------------------------------------------------ modulated_conv2d

def np_modulated_conv2d(x, weight, styles, noise=None, up=1, padding=0, f=None,
                        demodulate=True, flip_weight=True):
    """Per-sample weights ``w * s``, demodulated by ``rsqrt(sum (w*s)^2 + 1e-8)``."""
    x = np.asarray(x, np.float64)
    outs = []
    for i in range(x.shape[0]):
        wi = np.asarray(weight, np.float64) * np.asarray(styles[i], np.float64)[None, None, :, None]
        if demodulate:
            wi = wi / np.sqrt(np.sum(wi ** 2, axis=(0, 1, 2), keepdims=True) + 1e-8)
        outs.append(np_conv2d_resample(x[i:i + 1], wi, f=f, up=up, padding=padding,
                                       flip_weight=flip_weight))
    y = np.concatenate(outs)
    return y if noise is None else y + noise


@pytest.fixture(params=["per_sample_loop", "grouped_conv"])
def fused_impl(request, monkeypatch):
    """Run the fused path both as the CPU per-sample loop and as the grouped convolution."""
    monkeypatch.setattr(conv_mod, "_per_sample_loop", lambda: request.param == "per_sample_loop")
    return request.param


@pytest.mark.parametrize("k,up,demod,with_noise,h", [
    (3, 1, True, False, 6), (3, 1, False, True, 6), (3, 2, True, True, 6), (1, 1, False, False, 6),
    (3, 2, False, False, 5), (3, 2, True, False, 8),      # 8x8 up: polyphase
    (3, 1, True, True, 16)])                               # 16x16: Winograd on CPU
def test_modulated_conv2d_fused_ref_numpy(fused_impl, k, up, demod, with_noise, h):
    n, cin, cout = 3, 5, 4
    x, w, s = _rand(n, h, h, cin), _rand(k, k, cin, cout), _rand(n, cin) + 1.0
    f = F4 if up > 1 else None
    pad = k // 2
    ho = h * up
    noise = 0.3 * _rand(n, ho, ho, 1) if with_noise else None
    kw = dict(noise=None if noise is None else jnp.asarray(noise), up=up, padding=pad,
              resample_filter=f, demodulate=demod, flip_weight=up == 1)
    fused, unfused = jax.jit(lambda a, b, c: [modulated_conv2d(a, b, c, fused=fz, **kw)
                                              for fz in (True, False)])(x, w, s)
    want = np_modulated_conv2d(x, w, s, noise, up=up, padding=pad, f=f, demodulate=demod,
                               flip_weight=up == 1)
    assert fused.shape == unfused.shape == want.shape == (n, ho, ho, cout)
    _close(fused, unfused, 1e-5, 1e-5)
    _close(fused, want, 1e-5, 1e-4)
    _close(unfused, want, 1e-5, 1e-4)


def test_modulated_conv2d_low_precision_paths_agree():
    x, w, s = _rand(2, 8, 8, 8), _rand(3, 3, 8, 8), _rand(2, 8) + 1.0
    outs = jax.jit(lambda a, b, c: [modulated_conv2d(a, b, c, padding=1, fused=fused)
                                    for fused in (True, False)])(
        jnp.asarray(x, jnp.bfloat16), w, s)
    want = np_modulated_conv2d(x, w, s, padding=1)
    for o in outs:
        assert o.dtype == jnp.bfloat16
        _close(o.astype(jnp.float32), want, 3e-2, 3e-2)


def test_modulated_conv2d_errors():
    with pytest.raises(ValueError):
        modulated_conv2d(jnp.zeros((2, 4, 4, 3)), jnp.zeros((3, 3, 4, 5)), jnp.zeros((2, 3)))
    with pytest.raises(ValueError):
        modulated_conv2d(jnp.zeros((2, 4, 4, 3)), jnp.zeros((3, 3, 3, 5)), jnp.zeros((1, 3)))


# ------------------------------------------------------------------------- bias_act, mbstd

@pytest.mark.parametrize("act,alpha,gain,clamp", [
    ("linear", 0.2, None, None), ("lrelu", 0.2, None, None), ("lrelu", 0.1, 3.0, 1.5),
    ("linear", 0.2, 2.0, 0.5), ("lrelu", 0.2, 1.0, -1)])
def test_bias_act_vs_numpy(act, alpha, gain, clamp):
    x, b = _rand(2, 3, 4, 5) * 3, _rand(5)
    y = x + b
    if act == "lrelu":
        y = np.where(y >= 0, y, y * alpha)
    g = (np.sqrt(2) if act == "lrelu" else 1.0) if gain is None else gain
    y = y * g
    if clamp is not None and clamp >= 0:
        y = np.clip(y, -clamp, clamp)
    got = bias_act(jnp.asarray(x), jnp.asarray(b), act=act, alpha=alpha, gain=gain, clamp=clamp)
    _close(got, y, 1e-6, 1e-6)


def test_bias_act_errors():
    with pytest.raises(ValueError):
        bias_act(jnp.zeros((2, 3)), jnp.zeros(4))
    with pytest.raises(ValueError):
        bias_act(jnp.zeros((2, 3)), act="nope")


@pytest.mark.parametrize("n,g,f", [(8, 4, 1), (8, 2, 2), (6, None, 1), (4, 8, 1), (6, 3, 4)])
def test_minibatch_stddev_vs_numpy(n, g, f):
    x = _rand(n, 3, 2, 8)
    got = np.asarray(jax.jit(lambda v: minibatch_stddev(v, group_size=g, num_channels=f))(x))
    gs = n if g is None else min(g, n)
    m = n // gs
    want = np.empty((n, 3, 2, f))
    for i in range(n):
        members = x[[j for j in range(n) if j % m == i % m]].astype(np.float64)  # group i % m
        std = np.sqrt(members.var(axis=0) + 1e-8)                                 # [3, 2, 8]
        want[i] = std.reshape(3, 2, f, 8 // f).mean(axis=(0, 1, 3))
    assert got.shape == (n, 3, 2, 8 + f)
    np.testing.assert_array_equal(got[..., :8], x)
    _close(got[..., 8:], want, 1e-5, 1e-6)


def test_minibatch_stddev_errors():
    with pytest.raises(ValueError, match="divisible"):
        minibatch_stddev(jnp.zeros((6, 2, 2, 4)), group_size=4)
    with pytest.raises(ValueError):
        minibatch_stddev(jnp.zeros((4, 2, 2, 3)), group_size=2, num_channels=2)


# ---------------------------------------------------------------------------------- grads

def test_upfirdn2d_grads():
    x = jnp.asarray(_rand(1, 6, 5, 2))
    for i, (f, up, down, pad) in enumerate([(F4, 2, 1, (2, 1)), (F4, 1, 2, 1),
                                            (FILTERS["2d_3x4"], 1, 1, 1),
                                            (FILTERS["asym4"], 2, 1, (0, 3, 1, -1))]):
        fn = jax.jit(lambda v, f=f, up=up, down=down, pad=pad: upfirdn2d(v, f, up, down, pad,
                                                                         gain=2.0))
        if i < 2:   # finite differences; the others: gradients equal the reference path's
            check_grads(fn, (x,), order=1, modes=["rev"], atol=2e-2, rtol=2e-2, eps=1e-2)
        ct = jnp.asarray(_rand(*fn(x).shape))
        ref = lambda v, f=f, up=up, down=down, pad=pad: upfirdn2d_ref(v, f, up, down, pad,
                                                                      gain=2.0)
        g_fast, g_ref = jax.jit(lambda v, c: [jax.vjp(g, v)[1](c)[0] for g in (fn, ref)])(x, ct)
        _close(g_fast, g_ref)


@pytest.mark.parametrize("fused,up", [(True, 2), (False, 1)])
def test_modulated_conv2d_grads(fused, up):
    h = 8 if up > 1 else 4          # 8x8 up-sampling: the polyphase path on CPU
    x, w, s = _rand(2, h, h, 3), _rand(3, 3, 3, 2), _rand(2, 3) + 1.5
    f = F4 if up > 1 else None

    def make(fz):
        return jax.jit(lambda x_, w_, s_: modulated_conv2d(
            x_, w_, s_, up=up, padding=1, resample_filter=f, fused=fz, flip_weight=up == 1))
    fn, other = make(fused), make(not fused)
    args = (jnp.asarray(x), jnp.asarray(w), jnp.asarray(s))
    check_grads(fn, args, order=1, modes=["rev"], atol=3e-2, rtol=3e-2, eps=1e-2)
    # Both paths have the same gradients.
    loss = lambda g: jax.jit(jax.grad(lambda *a: jnp.sum(jnp.sin(g(*a))), (0, 1, 2)))
    for ga, gb in zip(loss(fn)(*args), loss(other)(*args)):
        _close(ga, gb, 1e-4, 1e-4)
