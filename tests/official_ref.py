"""Independent NumPy reference of stylegan2-ada-pytorch's ``training/networks.py`` forward pass.

Written from the official semantics (``networks.py``, ``torch_utils/ops/{upfirdn2d,
conv2d_resample,bias_act}.py``), *not* from jaxgan: it imports nothing from jaxgan, works
in the official NCHW layout directly on official state dicts (``'synthesis.b8.conv0.weight'``
``[O, I, kh, kw]``, ``'mapping.fc0.weight'`` ``[out, in]``, ...) and computes in float64
with deliberately different algorithms:

* ``upfirdn2d``: explicit zero insertion, pad/crop, a true 2-D convolution written as a
  sum of shifted copies (filter taps flipped, as the official ``flip_filter=False``), then
  subsampling;
* convolutions: im2col patches + matrix products (``flip_weight=True`` = correlation, what
  ``torch.nn.functional.conv2d`` does);
* up-sampling convs: the official layers pass ``flip_weight=(up == 1)``, so for ``up=2`` the
  weight reaches ``conv_transpose2d`` *unflipped*; implemented as a scatter-add
  ``out[o, 2i+a, 2j+b] += x[c, i, j] * W[o, c, a, b]`` followed by the FIR filter
  (padding 1, gain 4);
* fused modulated conv: an explicit per-sample weight ``[N, O, I, kh, kw]``; unfused: scale
  the activations, shared weight, scale by the demodulation coefficients, add noise.

Configurations are plain keyword dicts with the official constructor names (flattened as
``mapping_layers`` for ``mapping_kwargs.num_layers``):

* generator: ``z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_layers,
  embed_features, layer_features, mapping_lr_multiplier, channel_base, channel_max,
  architecture, conv_clamp, use_noise``;
* discriminator: ``c_dim, img_resolution, img_channels, architecture, channel_base,
  channel_max, conv_clamp, cmap_dim, mbstd_group_size, mbstd_num_channels, mapping_layers,
  mapping_lr_multiplier``.

Entry points: :func:`official_init`, :func:`perturb`, :func:`mapping`, :func:`synthesis`,
:func:`generator`, :func:`discriminator`.
"""
from __future__ import annotations

import math

import numpy as np

SQRT2 = math.sqrt(2.0)
SQRT_HALF = math.sqrt(0.5)
FIR_TAPS = (1.0, 3.0, 3.0, 1.0)

G_DEFAULTS = dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=32, img_channels=3,
                  mapping_layers=8, embed_features=None, layer_features=None,
                  mapping_lr_multiplier=0.01, channel_base=32768, channel_max=512,
                  architecture="skip", conv_clamp=None, use_noise=True)
D_DEFAULTS = dict(c_dim=0, img_resolution=32, img_channels=3, architecture="resnet",
                  channel_base=32768, channel_max=512, conv_clamp=None, cmap_dim=None,
                  mbstd_group_size=4, mbstd_num_channels=1, mapping_layers=8,
                  mapping_lr_multiplier=0.01)


def _cfg(defaults, kw):
    unknown = sorted(set(kw) - set(defaults))
    if unknown:
        raise TypeError(f"unknown configuration key(s) {unknown}")
    return {**defaults, **kw}


def _fir2d(taps=FIR_TAPS):
    """``setup_filter(taps)``: outer product, normalised to sum 1 (4 taps < 8: non-separable)."""
    t = np.asarray(taps, np.float64)
    f = np.outer(t, t)
    return f / f.sum()


def _log2(r):
    return int(round(math.log2(r)))


def g_channels(cfg, res):
    return min(cfg["channel_base"] // res, cfg["channel_max"])


def g_block_resolutions(cfg):
    return [2 ** i for i in range(2, _log2(cfg["img_resolution"]) + 1)]


def num_ws(cfg):
    cfg = _cfg(G_DEFAULTS, cfg)
    n = 0
    for res in g_block_resolutions(cfg):
        n += 1 if res == 4 else 2          # conv layers
    return n + 1                            # the last block's torgb


# ============================================================================ primitives

def bias_act(x, b=None, act="linear", gain=None, clamp=None, axis=1):
    """x + b -> activation -> × gain -> clamp(±clamp)."""
    x = np.asarray(x, np.float64)
    if b is not None:
        shape = [1] * x.ndim
        shape[axis] = -1
        x = x + np.asarray(b, np.float64).reshape(shape)
    if act == "lrelu":
        x = np.where(x >= 0, x, 0.2 * x)
        def_gain = SQRT2
    elif act == "linear":
        def_gain = 1.0
    else:
        raise ValueError(act)
    g = def_gain if gain is None else gain
    if g != 1:
        x = x * g
    if clamp is not None:
        x = np.clip(x, -clamp, clamp)
    return x


def fully_connected(x, weight, bias=None, lr_multiplier=1.0, act="linear"):
    """Official ``FullyConnectedLayer``: weight [out, in] × lr/√in, bias × lr."""
    weight = np.asarray(weight, np.float64)
    w = weight * (lr_multiplier / math.sqrt(weight.shape[1]))
    y = np.asarray(x, np.float64) @ w.T
    b = None if bias is None else np.asarray(bias, np.float64) * lr_multiplier
    return bias_act(y, b, act=act)


def normalize_2nd_moment(x, eps=1e-8):
    return x / np.sqrt(np.mean(x * x, axis=1, keepdims=True) + eps)


def _pad_crop(x, px0, px1, py0, py1):
    """Zero-pad (positive) or crop (negative) the last two axes; x-padding is width."""
    x = np.pad(x, [(0, 0), (0, 0), (max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0))])
    h, w = x.shape[2], x.shape[3]
    return x[:, :, max(-py0, 0):h - max(-py1, 0), max(-px0, 0):w - max(-px1, 0)]


def upfirdn2d(x, f, up=1, down=1, padding=(0, 0, 0, 0), gain=1.0):
    """Official ``upfirdn2d`` (flip_filter=False): zero-insert, pad, convolve, subsample.

    ``padding`` is ``(x0, x1, y0, y1)``; the 2-D filter is scaled by ``gain``.
    """
    n, c, h, w = x.shape
    if up > 1:
        z = np.zeros((n, c, h * up, w * up), np.float64)
        z[:, :, ::up, ::up] = x
        x = z
    x = _pad_crop(x, *padding)
    fh, fw = f.shape
    oh, ow = x.shape[2] - fh + 1, x.shape[3] - fw + 1
    out = np.zeros((n, c, oh, ow), np.float64)
    # True convolution: out[i, j] = sum_{p,q} f[p, q] · x[i + fh-1-p, j + fw-1-q].
    for p in range(fh):
        for q in range(fw):
            out += f[p, q] * x[:, :, fh - 1 - p:fh - 1 - p + oh, fw - 1 - q:fw - 1 - q + ow]
    out = out * gain
    return out[:, :, ::down, ::down]


def upsample2d(x, f, up=2):
    fh, fw = f.shape
    p = ((fw + up - 1) // 2, (fw - up) // 2, (fh + up - 1) // 2, (fh - up) // 2)
    return upfirdn2d(x, f, up=up, padding=p, gain=up * up)


def downsample2d(x, f, down=2):
    fh, fw = f.shape
    p = ((fw - down + 1) // 2, (fw - down) // 2, (fh - down + 1) // 2, (fh - down) // 2)
    return upfirdn2d(x, f, down=down, padding=p)


def _patches(x, kh, kw, stride):
    """im2col of an already padded x: [N, C·kh·kw, Ho·Wo] (C slowest, then kh, kw)."""
    n, c, h, w = x.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    cols = np.empty((n, c, kh, kw, oh, ow), np.float64)
    for a in range(kh):
        for b in range(kw):
            cols[:, :, a, b] = x[:, :, a:a + stride * (oh - 1) + 1:stride,
                                 b:b + stride * (ow - 1) + 1:stride]
    return cols.reshape(n, c * kh * kw, oh * ow), oh, ow


def _bmm(a, b):
    """Batched matrix product via a loop of 2-D BLAS products (NumPy's stacked matmul is slow).

    a: [M, K] (shared) or [N, M, K]; b: [N, K, P] -> [N, M, P].
    """
    return np.stack([(a if a.ndim == 2 else a[i]) @ b[i] for i in range(b.shape[0])])


def correlate2d(x, w, stride=1, padding=0):
    """``torch.nn.functional.conv2d`` (correlation). w [O, I, kh, kw] or per sample [N, O, I, kh, kw]."""
    x = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)])
    kh, kw = w.shape[-2:]
    cols, oh, ow = _patches(x, kh, kw, stride)
    w2 = w.reshape(w.shape[:-3] + (-1,))                  # [(N,) O, I·kh·kw]
    out = _bmm(w2, cols)
    return out.reshape(x.shape[0], -1, oh, ow)


def conv_transpose2d_scatter(x, w, stride=2):
    """``conv_transpose2d`` with the official [O, I, k, k] weight passed transposed and unflipped.

    out[n, o, s·i + a, s·j + b] += x[n, c, i, j] · w[o, c, a, b]; w may be per sample
    [N, O, I, k, k]. Output size (H-1)·s + k.
    """
    n, c, h, wd = x.shape
    kh, kw = w.shape[-2:]
    o = w.shape[-4]
    out = np.zeros((n, o, (h - 1) * stride + kh, (wd - 1) * stride + kw), np.float64)
    xf = x.reshape(n, c, h * wd)
    taps = np.ascontiguousarray(np.moveaxis(w, (-2, -1), (0, 1)))      # [kh, kw, (N,) O, I]
    for a in range(kh):
        for b in range(kw):
            contrib = _bmm(taps[a, b], xf)                               # [N, O, H·W]
            out[:, :, a:a + stride * (h - 1) + 1:stride, b:b + stride * (wd - 1) + 1:stride] += \
                contrib.reshape(n, o, h, wd)
    return out


def conv2d_resample(x, w, f=None, up=1, down=1, padding=0):
    """Official ``conv2d_resample`` as used by the layers (flip_weight = (up == 1)).

    Supported: plain conv (any k), up=2 (k=1 or k=3 via transposed conv), down=2 (k=1 or k=3).
    """
    kh, kw = w.shape[-2:]
    fh, fw = (f.shape if f is not None else (1, 1))
    px0 = px1 = py0 = py1 = padding
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
    if up == 1 and down == 1:
        return correlate2d(x, w, padding=padding)
    if kh == 1 and kw == 1 and down > 1:
        # 1×1 down: FIR + subsample first, then the 1×1 conv.
        x = upfirdn2d(x, f, down=down, padding=(px0, px1, py0, py1))
        return correlate2d(x, w)
    if kh == 1 and kw == 1 and up > 1:
        # 1×1 up: conv first, then zero-insert + FIR with gain up².
        x = correlate2d(x, w)
        return upfirdn2d(x, f, up=up, padding=(px0, px1, py0, py1), gain=up * up)
    if down > 1:
        # FIR (no subsampling) then strided correlation.
        x = upfirdn2d(x, f, padding=(px0, px1, py0, py1))
        return correlate2d(x, w, stride=down)
    # up > 1, k > 1: transposed conv (weight unflipped), then FIR with the remaining padding.
    px0 -= kw - 1
    px1 -= kw - up
    py0 -= kh - 1
    py1 -= kh - up
    assert min(px0, px1, py0, py1) >= 0, "negative padding after transposed conv not supported"
    x = conv_transpose2d_scatter(x, w, stride=up)
    return upfirdn2d(x, f, padding=(px0, px1, py0, py1), gain=up * up)


def modulated_conv2d(x, weight, styles, noise=None, up=1, padding=0, f=None, demodulate=True,
                     fused=True):
    """Official ``modulated_conv2d`` (float32 path; no fp16 pre-normalisation)."""
    weight = np.asarray(weight, np.float64)
    n = x.shape[0]
    wn = weight[None] * styles[:, None, :, None, None]          # [N, O, I, kh, kw]
    dcoefs = 1.0 / np.sqrt(np.sum(wn * wn, axis=(2, 3, 4)) + 1e-8) if demodulate else None
    if fused:
        if demodulate:
            wn = wn * dcoefs[:, :, None, None, None]
        y = conv2d_resample(x, wn, f=f, up=up, padding=padding)
        if noise is not None:
            y = y + noise
        return y
    y = conv2d_resample(x * styles[:, :, None, None], weight, f=f, up=up, padding=padding)
    if demodulate:
        y = y * dcoefs.reshape(n, -1, 1, 1)
    if noise is not None:
        y = y + noise
    return y


# ============================================================================ generator

def mapping(state, z, c=None, truncation_psi=1.0, truncation_cutoff=None, *, prefix="mapping.",
            z_dim=None, c_dim=0, num_layers=None, lr_multiplier=0.01, n_ws=None):
    """Official ``MappingNetwork.forward`` (eval: no w_avg update).

    Returns ``[N, n_ws, w_dim]`` (or ``[N, w_dim]`` when ``n_ws`` is None).
    """
    if num_layers is None:
        num_layers = len([k for k in state if k.startswith(prefix + "fc") and k.endswith(".weight")])
    x = None
    if z_dim:
        x = normalize_2nd_moment(np.asarray(z, np.float64))
    if c_dim:
        e = fully_connected(np.asarray(c, np.float64), state[prefix + "embed.weight"],
                            state[prefix + "embed.bias"])
        y = normalize_2nd_moment(e)
        x = y if x is None else np.concatenate([x, y], axis=1)
    for i in range(num_layers):
        x = fully_connected(x, state[f"{prefix}fc{i}.weight"], state[f"{prefix}fc{i}.bias"],
                            lr_multiplier=lr_multiplier, act="lrelu")
    if n_ws is None:
        return x
    x = np.repeat(x[:, None, :], n_ws, axis=1)
    if truncation_psi != 1:
        w_avg = np.asarray(state[prefix + "w_avg"], np.float64)
        cut = n_ws if truncation_cutoff is None else truncation_cutoff
        x = x.copy()
        x[:, :cut] = w_avg + truncation_psi * (x[:, :cut] - w_avg)
    return x


def _synthesis_layer(state, name, x, w, res, up, cfg, noise_mode, noise, fused, gain=1.0):
    f = _fir2d()
    styles = fully_connected(w, state[name + ".affine.weight"], state[name + ".affine.bias"])
    nz = None
    if cfg["use_noise"]:
        strength = float(state[name + ".noise_strength"])
        if noise_mode == "const":
            nz = np.asarray(state[name + ".noise_const"], np.float64)[None, None] * strength
        elif noise_mode == "random":
            key = name[len("synthesis."):]
            if noise is None or key not in noise:
                raise ValueError(f"noise_mode='random' needs an explicit noise map for {key!r}")
            m = np.asarray(noise[key], np.float64)
            nz = m.reshape(x.shape[0], 1, res, res) * strength
        elif noise_mode != "none":
            raise ValueError(noise_mode)
    y = modulated_conv2d(x, state[name + ".weight"], styles, noise=nz, up=up, padding=1, f=f,
                         demodulate=True, fused=fused)
    clamp = cfg["conv_clamp"] * gain if cfg["conv_clamp"] is not None else None
    return bias_act(y, state[name + ".bias"], act="lrelu", gain=SQRT2 * gain, clamp=clamp)


def _torgb(state, name, x, w, cfg, fused):
    weight = np.asarray(state[name + ".weight"], np.float64)
    in_ch = weight.shape[1]
    styles = fully_connected(w, state[name + ".affine.weight"], state[name + ".affine.bias"])
    styles = styles * (1.0 / math.sqrt(in_ch * weight.shape[2] * weight.shape[3]))
    y = modulated_conv2d(x, weight, styles, demodulate=False, fused=fused)
    return bias_act(y, state[name + ".bias"], act="linear", clamp=cfg["conv_clamp"])


def synthesis(state, ws, noise_mode="const", noise=None, fused=True, **cfg):
    """Official ``SynthesisNetwork.forward`` -> images ``[N, img_channels, R, R]`` (NCHW).

    ``noise``: for ``noise_mode='random'``, unscaled maps ``{'b8.conv0': [N, H, W], ...}``
    standing in for the official ``torch.randn([N, 1, H, W])``.
    """
    cfg = _cfg(G_DEFAULTS, cfg)
    ws = np.asarray(ws, np.float64)
    arch = cfg["architecture"]
    R = cfg["img_resolution"]
    f = _fir2d()
    x = img = None
    w_idx = 0
    for res in g_block_resolutions(cfg):
        p = f"synthesis.b{res}"
        is_last = res == R
        n_conv = 1 if res == 4 else 2
        n_torgb = 1 if (is_last or arch == "skip") else 0
        bws = ws[:, w_idx:w_idx + n_conv + n_torgb]
        w_idx += n_conv
        k = 0
        lk = dict(cfg=cfg, noise_mode=noise_mode, noise=noise, fused=fused)
        if res == 4:
            const = np.asarray(state[p + ".const"], np.float64)
            x = np.repeat(const[None], ws.shape[0], axis=0)
            x = _synthesis_layer(state, p + ".conv1", x, bws[:, k], res, 1, **lk)
            k += 1
        elif arch == "resnet":
            sw = np.asarray(state[p + ".skip.weight"], np.float64)
            sw = sw * (1.0 / math.sqrt(sw.shape[1] * sw.shape[2] * sw.shape[3]))
            y = conv2d_resample(x, sw, f=f, up=2, padding=0)
            y = bias_act(y, None, act="linear", gain=SQRT_HALF)
            x = _synthesis_layer(state, p + ".conv0", x, bws[:, k], res, 2, **lk)
            k += 1
            x = _synthesis_layer(state, p + ".conv1", x, bws[:, k], res, 1, gain=SQRT_HALF, **lk)
            k += 1
            x = y + x
        else:
            x = _synthesis_layer(state, p + ".conv0", x, bws[:, k], res, 2, **lk)
            k += 1
            x = _synthesis_layer(state, p + ".conv1", x, bws[:, k], res, 1, **lk)
            k += 1
        if img is not None:
            img = upsample2d(img, f)
        if n_torgb:
            y = _torgb(state, p + ".torgb", x, bws[:, k], cfg, fused)
            img = y if img is None else img + y
    return img


def generator_mapping(state, z, c=None, truncation_psi=1.0, truncation_cutoff=None, **cfg):
    cfg = _cfg(G_DEFAULTS, cfg)
    return mapping(state, z, c, truncation_psi, truncation_cutoff, z_dim=cfg["z_dim"],
                   c_dim=cfg["c_dim"], num_layers=cfg["mapping_layers"],
                   lr_multiplier=cfg["mapping_lr_multiplier"], n_ws=num_ws(cfg))


def generator(state, z, c=None, truncation_psi=1.0, truncation_cutoff=None, noise_mode="const",
              noise=None, fused=True, **cfg):
    ws = generator_mapping(state, z, c, truncation_psi, truncation_cutoff, **cfg)
    return synthesis(state, ws, noise_mode=noise_mode, noise=noise, fused=fused, **cfg)


# ============================================================================ discriminator

def d_channels(cfg, res):
    return min(cfg["channel_base"] // res, cfg["channel_max"])


def d_block_resolutions(cfg):
    return [2 ** i for i in range(_log2(cfg["img_resolution"]), 2, -1)]


def d_cmap_dim(cfg):
    if cfg["c_dim"] == 0:
        return 0
    return d_channels(cfg, 4) if cfg["cmap_dim"] is None else cfg["cmap_dim"]


def conv2d_layer(state, name, x, act="linear", down=1, up=1, gain=1.0, conv_clamp=None):
    """Official ``Conv2dLayer.forward`` (weight × 1/√(in·k²), padding k//2)."""
    weight = np.asarray(state[name + ".weight"], np.float64)
    o, i, kh, kw = weight.shape
    w = weight * (1.0 / math.sqrt(i * kh * kw))
    y = conv2d_resample(x, w, f=_fir2d(), up=up, down=down, padding=kh // 2)
    b = state.get(name + ".bias")
    act_gain = (SQRT2 if act == "lrelu" else 1.0) * gain
    clamp = conv_clamp * gain if conv_clamp is not None else None
    return bias_act(y, b, act=act, gain=act_gain, clamp=clamp)


def minibatch_std(x, group_size, num_channels):
    """Official ``MinibatchStdLayer``: group g holds samples g·n + j (n = N/G groups)."""
    n, c, h, w = x.shape
    G = min(group_size, n) if group_size is not None else n
    F = num_channels
    m = n // G
    out_feat = np.empty((m, F))
    xr = x.reshape(G, m, F, c // F, h, w)
    for j in range(m):
        for ff in range(F):
            grp = xr[:, j, ff]                                   # [G, c/F, H, W]
            var = np.mean((grp - grp.mean(axis=0)) ** 2, axis=0)
            out_feat[j, ff] = np.mean(np.sqrt(var + 1e-8))
    y = np.empty((n, F, h, w))
    for s in range(n):
        y[s] = out_feat[s % m][:, None, None]
    return np.concatenate([x, y], axis=1)


def discriminator(state, img, c=None, **cfg):
    """Official ``Discriminator.forward``: images ``[N, C, R, R]`` (+ c) -> logits ``[N, 1]``."""
    cfg = _cfg(D_DEFAULTS, cfg)
    arch = cfg["architecture"]
    clamp = cfg["conv_clamp"]
    R = cfg["img_resolution"]
    f = _fir2d()
    img = np.asarray(img, np.float64)
    x = None
    for res in d_block_resolutions(cfg):
        p = f"b{res}"
        in_ch = d_channels(cfg, res) if res < R else 0
        if in_ch == 0 or arch == "skip":
            y = conv2d_layer(state, p + ".fromrgb", img, act="lrelu", conv_clamp=clamp)
            x = y if x is None else x + y
            img = downsample2d(img, f) if arch == "skip" else None
        if arch == "resnet":
            y = conv2d_layer(state, p + ".skip", x, act="linear", down=2, gain=SQRT_HALF)
            x = conv2d_layer(state, p + ".conv0", x, act="lrelu", conv_clamp=clamp)
            x = conv2d_layer(state, p + ".conv1", x, act="lrelu", down=2, gain=SQRT_HALF,
                             conv_clamp=clamp)
            x = y + x
        else:
            x = conv2d_layer(state, p + ".conv0", x, act="lrelu", conv_clamp=clamp)
            x = conv2d_layer(state, p + ".conv1", x, act="lrelu", down=2, conv_clamp=clamp)
    cmap_dim = d_cmap_dim(cfg)
    cmap = None
    if cfg["c_dim"]:
        cmap = mapping(state, None, c, prefix="mapping.", z_dim=0, c_dim=cfg["c_dim"],
                       num_layers=cfg["mapping_layers"],
                       lr_multiplier=cfg["mapping_lr_multiplier"], n_ws=None)
    # Epilogue.
    if arch == "skip":
        x = x + conv2d_layer(state, "b4.fromrgb", img, act="lrelu")      # no conv_clamp here
    if cfg["mbstd_num_channels"] > 0:
        x = minibatch_std(x, cfg["mbstd_group_size"], cfg["mbstd_num_channels"])
    x = conv2d_layer(state, "b4.conv", x, act="lrelu", conv_clamp=clamp)
    x = fully_connected(x.reshape(x.shape[0], -1), state["b4.fc.weight"], state["b4.fc.bias"],
                        act="lrelu")
    x = fully_connected(x, state["b4.out.weight"], state["b4.out.bias"])
    if cmap_dim > 0:
        x = np.sum(x * cmap, axis=1, keepdims=True) * (1.0 / math.sqrt(cmap_dim))
    return x


# ============================================================================ init

def _randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _mapping_init(sd, rng, prefix, z_dim, c_dim, w_dim, num_layers, embed_features,
                  layer_features, lr, with_w_avg):
    if embed_features is None:
        embed_features = w_dim
    if c_dim == 0:
        embed_features = 0
    if layer_features is None:
        layer_features = w_dim
    feats = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
    if c_dim:
        sd[prefix + "embed.weight"] = _randn(rng, embed_features, c_dim)
        sd[prefix + "embed.bias"] = np.zeros(embed_features, np.float32)
    for i in range(num_layers):
        sd[f"{prefix}fc{i}.weight"] = _randn(rng, feats[i + 1], feats[i]) / np.float32(lr)
        sd[f"{prefix}fc{i}.bias"] = np.zeros(feats[i + 1], np.float32)
    if with_w_avg:
        sd[prefix + "w_avg"] = np.zeros(w_dim, np.float32)


def official_init(kind, seed=0, **kwargs):
    """Random official-layout state dict (float32) with the official shapes and initialisation.

    ``kind``: 'G' (keys as :data:`G_DEFAULTS`) or 'D' (keys as :data:`D_DEFAULTS`).
    Weights N(0, 1) (fully connected: N(0, 1)/lr_multiplier), biases 0, affine biases 1,
    ``const``/``noise_const`` N(0, 1), ``noise_strength`` 0, ``w_avg`` 0, and the
    ``resample_filter`` buffers.
    """
    rng = np.random.default_rng(seed)
    filt = _fir2d().astype(np.float32)
    sd: dict[str, np.ndarray] = {}
    if kind == "G":
        cfg = _cfg(G_DEFAULTS, kwargs)
        arch, R, wd = cfg["architecture"], cfg["img_resolution"], cfg["w_dim"]
        for res in g_block_resolutions(cfg):
            p = f"synthesis.b{res}."
            out_ch = g_channels(cfg, res)
            in_ch = g_channels(cfg, res // 2) if res > 4 else 0
            if res == 4:
                sd[p + "const"] = _randn(rng, out_ch, res, res)
            sd[p + "resample_filter"] = filt.copy()
            layers = [("conv1", out_ch)] if res == 4 else [("conv0", in_ch), ("conv1", out_ch)]
            for lname, ic in layers:
                q = p + lname + "."
                sd[q + "weight"] = _randn(rng, out_ch, ic, 3, 3)
                if cfg["use_noise"]:
                    sd[q + "noise_strength"] = np.zeros((), np.float32)
                sd[q + "bias"] = np.zeros(out_ch, np.float32)
                sd[q + "resample_filter"] = filt.copy()
                if cfg["use_noise"]:
                    sd[q + "noise_const"] = _randn(rng, res, res)
                sd[q + "affine.weight"] = _randn(rng, ic, wd)
                sd[q + "affine.bias"] = np.ones(ic, np.float32)
            if res == R or arch == "skip":
                q = p + "torgb."
                sd[q + "weight"] = _randn(rng, cfg["img_channels"], out_ch, 1, 1)
                sd[q + "bias"] = np.zeros(cfg["img_channels"], np.float32)
                sd[q + "affine.weight"] = _randn(rng, out_ch, wd)
                sd[q + "affine.bias"] = np.ones(out_ch, np.float32)
            if res > 4 and arch == "resnet":
                sd[p + "skip.weight"] = _randn(rng, out_ch, in_ch, 1, 1)
                sd[p + "skip.resample_filter"] = filt.copy()
        _mapping_init(sd, rng, "mapping.", cfg["z_dim"], cfg["c_dim"], wd, cfg["mapping_layers"],
                      cfg["embed_features"], cfg["layer_features"], cfg["mapping_lr_multiplier"],
                      with_w_avg=True)
        return sd
    if kind == "D":
        cfg = _cfg(D_DEFAULTS, kwargs)
        arch, R = cfg["architecture"], cfg["img_resolution"]
        for res in d_block_resolutions(cfg):
            p = f"b{res}."
            in_ch = d_channels(cfg, res) if res < R else 0
            tmp, out_ch = d_channels(cfg, res), d_channels(cfg, res // 2)
            sd[p + "resample_filter"] = filt.copy()
            if in_ch == 0 or arch == "skip":
                sd[p + "fromrgb.weight"] = _randn(rng, tmp, cfg["img_channels"], 1, 1)
                sd[p + "fromrgb.bias"] = np.zeros(tmp, np.float32)
                sd[p + "fromrgb.resample_filter"] = filt.copy()
            sd[p + "conv0.weight"] = _randn(rng, tmp, tmp, 3, 3)
            sd[p + "conv0.bias"] = np.zeros(tmp, np.float32)
            sd[p + "conv0.resample_filter"] = filt.copy()
            sd[p + "conv1.weight"] = _randn(rng, out_ch, tmp, 3, 3)
            sd[p + "conv1.bias"] = np.zeros(out_ch, np.float32)
            sd[p + "conv1.resample_filter"] = filt.copy()
            if arch == "resnet":
                sd[p + "skip.weight"] = _randn(rng, out_ch, tmp, 1, 1)
                sd[p + "skip.resample_filter"] = filt.copy()
        cmap_dim = d_cmap_dim(cfg)
        if cfg["c_dim"]:
            _mapping_init(sd, rng, "mapping.", 0, cfg["c_dim"], cmap_dim, cfg["mapping_layers"],
                          None, None, cfg["mapping_lr_multiplier"], with_w_avg=False)
        c4 = d_channels(cfg, 4)
        if arch == "skip":
            sd["b4.fromrgb.weight"] = _randn(rng, c4, cfg["img_channels"], 1, 1)
            sd["b4.fromrgb.bias"] = np.zeros(c4, np.float32)
            sd["b4.fromrgb.resample_filter"] = filt.copy()
        sd["b4.conv.weight"] = _randn(rng, c4, c4 + cfg["mbstd_num_channels"], 3, 3)
        sd["b4.conv.bias"] = np.zeros(c4, np.float32)
        sd["b4.conv.resample_filter"] = filt.copy()
        sd["b4.fc.weight"] = _randn(rng, c4, c4 * 16)
        sd["b4.fc.bias"] = np.zeros(c4, np.float32)
        sd["b4.out.weight"] = _randn(rng, 1 if cmap_dim == 0 else cmap_dim, c4)
        sd["b4.out.bias"] = np.zeros(1 if cmap_dim == 0 else cmap_dim, np.float32)
        return sd
    raise ValueError(f"kind must be 'G' or 'D', got {kind!r}")


def perturb(state, seed=1, scale=0.2, w_avg_scale=0.5, mapping_lr_multiplier=0.01):
    """As the official fixtures: every bias and ``noise_strength`` += scale·randn/bias_gain
    (bias_gain = lr_multiplier for ``mapping.fc*``, else 1); ``w_avg`` = w_avg_scale·randn.
    Returns a new dict."""
    rng = np.random.default_rng(seed)
    out = {}
    for k, v in state.items():
        v = np.array(v, np.float32, copy=True)
        if k.endswith(".bias") or k.endswith("noise_strength"):
            bias_gain = mapping_lr_multiplier if k.startswith("mapping.fc") else 1.0
            v = v + (scale * rng.standard_normal(v.shape) / bias_gain).astype(np.float32)
        elif k.endswith("w_avg"):
            v = (w_avg_scale * rng.standard_normal(v.shape)).astype(np.float32)
        out[k] = v
    return out
