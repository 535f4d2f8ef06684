"""TF-era NVIDIA network pickles (StyleGAN2 / StyleGAN2-ADA TensorFlow releases) -> official
stylegan2-ada-pytorch state dicts, without TensorFlow and without running their code.

The released ``stylegan2-*-config-f.pkl`` files (the ones InterFaceGAN, GANSpace and SeFa
use) are ``pickle.dump((G, D, Gs))`` of ``dnnlib.tflib.network.Network`` objects. Each
pickles as its ``__getstate__`` dict: ``version`` (>= 4), ``name``, ``static_kwargs`` (the
build function's keyword arguments), ``components`` (sub-networks: ``mapping``,
``synthesis``), ``build_module_src`` (Python source: never executed here),
``build_func_name`` and ``variables`` (a list of ``(name, np.ndarray)``). The restricted
unpickler of :mod:`jaxgan.convert.pickle_reader` maps the ``Network`` class to
:class:`TFNetwork` (a dict of that state); NumPy arrays unpickle as usual.

Name and layout mapping (the facts of stylegan2-ada-pytorch's ``legacy.py``): variables are
collected recursively as ``component/…/name``; TF conv weights ``[kh, kw, in, out]`` ->
``[out, in, kh, kw]`` (``Conv0_up`` and the G ``Skip`` flipped spatially first); dense
``[in, out]`` -> ``[out, in]``; ``mod_bias + 1``; ``noise{n}`` ``[1, 1, H, W]`` -> ``[H, W]``
(``b4.conv1``: n = 0, ``b{r}.conv0``: 2·log2(r) − 5, ``b{r}.conv1``: 2·log2(r) − 4);
``dlatent_avg`` -> ``mapping.w_avg``; kwargs: ``channel_base = 2 · fmap_base`` (default
16384), ``fmap_max`` (512), ``mapping_lrmul`` (0.01 G, 0.1 D), ``mbstd_group_size`` (None
when absent), ``num_fp16_res`` / ``conv_clamp`` (0 / None when absent).
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

NET_ORDER = ("G", "D", "G_ema")      # the tuple is (G, D, Gs)


class TFNetwork(dict):
    """Stand-in for ``dnnlib.tflib.network.Network``: its pickled state as a dict."""

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.update(state)


class TFPickleError(ValueError):
    """A TF-era pickle that cannot be converted (the message names the problem)."""


def is_tf_snapshot(data: Any) -> bool:
    """Whether an unpickled object is a TF-era ``(G, D, Gs)`` tuple."""
    return isinstance(data, tuple) and len(data) == 3 and all(
        isinstance(n, TFNetwork) for n in data)


def _collect(net: TFNetwork, prefix: str = "") -> dict[str, np.ndarray]:
    params = {}
    for name, value in net.get("variables") or []:
        params[prefix + str(name)] = np.asarray(value)
    for name, comp in (net.get("components") or {}).items():
        if isinstance(comp, TFNetwork):
            params.update(_collect(comp, f"{prefix}{name}/"))
    return params


class _Params(dict):
    def __init__(self, d, what):
        super().__init__(d)
        self.what = what

    def __missing__(self, key):
        raise TFPickleError(f"TF {self.what}: missing variable {key!r}")


def _conv(w, flip=False):
    w = np.asarray(w, np.float32)
    if w.ndim != 4:
        raise TFPickleError(f"TF conv weight of shape {w.shape}; expected [kh, kw, in, out]")
    if flip:
        w = w[::-1, ::-1]
    return np.ascontiguousarray(w.transpose(3, 2, 0, 1))


def _dense(w):
    w = np.asarray(w, np.float32)
    if w.ndim != 2:
        raise TFPickleError(f"TF dense weight of shape {w.shape}; expected [in, out]")
    return np.ascontiguousarray(w.T)


def _check_version(net: TFNetwork, what: str) -> None:
    if int(net.get("version", 0)) < 4:
        raise TFPickleError(f"TF {what}: network pickle version {net.get('version')} < 4 "
                            "(StyleGAN1 or older is not supported)")


def _orig_aliases(p: dict, kind: str, resolution: int) -> bool:
    """``ToRGB_lod*`` / ``FromRGB_lod*`` names -> per-resolution names; True if any."""
    layer = "ToRGB" if kind == "G" else "FromRGB"
    found = False
    for name, value in list(p.items()):
        m = re.fullmatch(rf"(.*){layer}_lod(\d+)/(.*)", name)
        if m:
            r = resolution // 2 ** int(m.group(2))
            p[f"{m.group(1)}{r}x{r}/{layer}/{m.group(3)}"] = value
            found = True
    return found


def generator_to_official(net: TFNetwork) -> tuple[dict[str, np.ndarray], dict]:
    """A TF generator -> (official state dict, official ``init_kwargs``)."""
    _check_version(net, "generator")
    kw = dict(net.get("static_kwargs") or {})
    res = int(kw.get("resolution", 1024))
    p = _Params(_collect(net), "generator")
    arch = "orig" if _orig_aliases(p, "G", res) else kw.get("architecture", "skip")
    n_map = len([k for k in p if re.fullmatch(r"mapping/Dense\d+/weight", k)])
    sd: dict[str, np.ndarray] = {"mapping.w_avg": np.asarray(p["dlatent_avg"], np.float32)}
    if "mapping/LabelEmbed/weight" in p:
        sd["mapping.embed.weight"] = _dense(p["mapping/LabelEmbed/weight"])
        sd["mapping.embed.bias"] = np.asarray(p["mapping/LabelEmbed/bias"], np.float32)
    for i in range(n_map):
        sd[f"mapping.fc{i}.weight"] = _dense(p[f"mapping/Dense{i}/weight"])
        sd[f"mapping.fc{i}.bias"] = np.asarray(p[f"mapping/Dense{i}/bias"], np.float32)
    sd["synthesis.b4.const"] = np.asarray(p["synthesis/4x4/Const/const"], np.float32)[0]

    def layer(dst, src, noise=None, flip=False, rgb=False):
        sd[f"{dst}.weight"] = _conv(p[f"{src}/weight"], flip)
        sd[f"{dst}.bias"] = np.asarray(p[f"{src}/bias"], np.float32)
        sd[f"{dst}.affine.weight"] = _dense(p[f"{src}/mod_weight"])
        sd[f"{dst}.affine.bias"] = np.asarray(p[f"{src}/mod_bias"], np.float32) + 1
        if not rgb and f"{src}/noise_strength" in p:
            sd[f"{dst}.noise_strength"] = np.asarray(p[f"{src}/noise_strength"], np.float32)
            sd[f"{dst}.noise_const"] = np.asarray(p[f"synthesis/noise{noise}"], np.float32)[0, 0]

    layer("synthesis.b4.conv1", "synthesis/4x4/Conv", 0)
    r = 8
    while r <= res:
        lg = int(np.log2(r))
        layer(f"synthesis.b{r}.conv0", f"synthesis/{r}x{r}/Conv0_up", 2 * lg - 5, flip=True)
        layer(f"synthesis.b{r}.conv1", f"synthesis/{r}x{r}/Conv1", 2 * lg - 4)
        if arch == "resnet":
            sd[f"synthesis.b{r}.skip.weight"] = _conv(p[f"synthesis/{r}x{r}/Skip/weight"], True)
        r *= 2
    for r in [4 * 2 ** i for i in range(int(np.log2(res)) - 1)]:
        if arch == "skip" or r == res:
            layer(f"synthesis.b{r}.torgb", f"synthesis/{r}x{r}/ToRGB", rgb=True)
    init = dict(
        z_dim=kw.get("latent_size", 512), c_dim=kw.get("label_size", 0),
        w_dim=kw.get("dlatent_size", 512), img_resolution=res,
        img_channels=kw.get("num_channels", 3),
        mapping_kwargs=dict(lr_multiplier=kw.get("mapping_lrmul", 0.01),
                            w_avg_beta=kw.get("w_avg_beta", 0.995) or 1),
        synthesis_kwargs=dict(num_fp16_res=kw.get("num_fp16_res", 0) or 0,
                              conv_clamp=kw.get("conv_clamp"), architecture=arch))
    return sd, init


def discriminator_to_official(net: TFNetwork) -> tuple[dict[str, np.ndarray], dict]:
    """A TF discriminator -> (official state dict, official ``init_kwargs``)."""
    _check_version(net, "discriminator")
    kw = dict(net.get("static_kwargs") or {})
    res = int(kw.get("resolution", 1024))
    p = _Params(_collect(net), "discriminator")
    arch = "orig" if _orig_aliases(p, "D", res) else kw.get("architecture", "resnet")
    sd: dict[str, np.ndarray] = {}
    r = res
    while r > 4:
        if r == res or arch == "skip":
            sd[f"b{r}.fromrgb.weight"] = _conv(p[f"{r}x{r}/FromRGB/weight"])
            sd[f"b{r}.fromrgb.bias"] = np.asarray(p[f"{r}x{r}/FromRGB/bias"], np.float32)
        for i, suffix in ((0, ""), (1, "_down")):
            sd[f"b{r}.conv{i}.weight"] = _conv(p[f"{r}x{r}/Conv{i}{suffix}/weight"])
            sd[f"b{r}.conv{i}.bias"] = np.asarray(p[f"{r}x{r}/Conv{i}{suffix}/bias"], np.float32)
        if arch == "resnet":
            sd[f"b{r}.skip.weight"] = _conv(p[f"{r}x{r}/Skip/weight"])
        r //= 2
    if arch == "skip" and "4x4/FromRGB/weight" in p:
        sd["b4.fromrgb.weight"] = _conv(p["4x4/FromRGB/weight"])
        sd["b4.fromrgb.bias"] = np.asarray(p["4x4/FromRGB/bias"], np.float32)
    if "LabelEmbed/weight" in p:
        sd["mapping.embed.weight"] = _dense(p["LabelEmbed/weight"])
        sd["mapping.embed.bias"] = np.asarray(p["LabelEmbed/bias"], np.float32)
    i = 0
    while f"Mapping{i}/weight" in p:
        sd[f"mapping.fc{i}.weight"] = _dense(p[f"Mapping{i}/weight"])
        sd[f"mapping.fc{i}.bias"] = np.asarray(p[f"Mapping{i}/bias"], np.float32)
        i += 1
    sd["b4.conv.weight"] = _conv(p["4x4/Conv/weight"])
    sd["b4.conv.bias"] = np.asarray(p["4x4/Conv/bias"], np.float32)
    sd["b4.fc.weight"] = _dense(p["4x4/Dense0/weight"])
    sd["b4.fc.bias"] = np.asarray(p["4x4/Dense0/bias"], np.float32)
    sd["b4.out.weight"] = _dense(p["Output/weight"])
    sd["b4.out.bias"] = np.asarray(p["Output/bias"], np.float32)
    init = dict(num_fp16_res=kw.get("num_fp16_res", 0) or 0, conv_clamp=kw.get("conv_clamp"),
                mapping_kwargs=dict(lr_multiplier=kw.get("mapping_lrmul", 0.1)),
                epilogue_kwargs=dict(mbstd_group_size=kw.get("mbstd_group_size")))
    return sd, init


def tf_snapshot_to_official(data: tuple) -> dict[str, tuple[str, dict, dict]]:
    """``(G, D, Gs)`` -> ``{'G'|'D'|'G_ema': (class_name, state_dict, init_kwargs)}``."""
    out = {}
    for name, net in zip(NET_ORDER, data):
        if name == "D":
            out[name] = ("Discriminator",) + discriminator_to_official(net)
        else:
            out[name] = ("Generator",) + generator_to_official(net)
    return out
