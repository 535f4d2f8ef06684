"""rosinality/stylegan2-pytorch checkpoints (``.pt``) -> official state-dict names.

The format of pSp, e4e, HyperStyle, StyleCLIP and most inversion work: a ``torch.save`` of
``{'g_ema': state_dict, 'latent_avg': [512]}`` (``convert_weight.py``; ``g`` and ``d`` with
``--gen``/``--disc``) or a training checkpoint ``{'g', 'd', 'g_ema', 'g_optim', 'd_optim',
'args', 'ada_aug_p'}``. Read by :mod:`jaxgan.convert.torch_save` (no torch, no code run).

Name mapping (the facts of rosinality's ``model.py`` / ``convert_weight.py``; equalised
learning rate and weight layouts coincide with the official ones, so tensors only move and
reshape):

=====================================  ===============================================
rosinality                             official stylegan2-ada-pytorch
=====================================  ===============================================
``style.{i}.weight/bias`` (i >= 1)     ``mapping.fc{i-1}.weight/bias``
``latent_avg`` (top level)             ``mapping.w_avg`` (zeros when absent)
``input.input`` [1, C, 4, 4]           ``synthesis.b4.const`` [C, 4, 4]
``conv1.*``, ``to_rgb1.*``             ``synthesis.b4.conv1.*``, ``synthesis.b4.torgb.*``
``convs.{2k}.*``, ``convs.{2k+1}.*``   ``synthesis.b{8·2^k}.conv0.*`` / ``.conv1.*``
``to_rgbs.{k}.*``                      ``synthesis.b{8·2^k}.torgb.*``
``….conv.weight`` [1, O, I, k, k]      ``….weight`` [O, I, k, k]
``….conv.modulation.weight/bias``      ``….affine.weight/bias``
``….noise.weight`` [1]                 ``….noise_strength`` []
``….activate.bias``                    ``….bias``
``to_rgb*.bias`` [1, 3, 1, 1]          ``torgb.bias`` [3]
``noises.noise_0`` / ``noise_{2k+1}``  ``b4.conv1`` / ``b{8·2^k}.conv0`` ``.noise_const``
  / ``noise_{2k+2}`` [1, 1, H, W]        / ``b{8·2^k}.conv1.noise_const`` [H, W]
``convs.0.0.weight``, ``convs.0.1.bias``  D ``b{R}.fromrgb.weight/bias``
``convs.{j}.conv1.0.weight/1.bias``    D ``b{R/2^(j-1)}.conv0.weight/bias``
``convs.{j}.conv2.1.weight/2.bias``    D ``b{…}.conv1.weight/bias`` (blur then stride 2)
``convs.{j}.skip.1.weight``            D ``b{…}.skip.weight``
``final_conv.0.weight/1.bias``         D ``b4.conv.weight/bias``
``final_linear.0.*`` / ``.1.*``        D ``b4.fc.*`` / ``b4.out.*``
=====================================  ===============================================

Blur/upsample ``kernel`` buffers are the ``[1, 3, 3, 1]`` filter (checked against the
official one). rosinality networks have no ``conv_clamp`` and no fp16 blocks; the mapping
learning-rate multiplier is rosinality's default 0.01.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

from jaxgan.convert.official import ConversionError

NET_KEYS = {"g_ema": "G_ema", "g": "G", "d": "D"}
_RGB_BLUR = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0


def is_rosinality(obj: Any) -> bool:
    """Whether a loaded ``torch.save`` object looks like a rosinality checkpoint."""
    if not isinstance(obj, dict):
        return False
    g = obj.get("g_ema", obj.get("g"))
    d = obj.get("d")
    return (isinstance(g, dict) and "input.input" in g) or (
        isinstance(d, dict) and "final_linear.0.weight" in d)


def _arr(sd: Mapping[str, Any], key: str, what: str) -> np.ndarray:
    if key not in sd:
        raise ConversionError(f"rosinality {what}: missing key {key!r}")
    a = sd[key]
    if not isinstance(a, np.ndarray):
        raise ConversionError(f"rosinality {what}: {key!r} is a {type(a).__name__}, not a tensor")
    return a.astype(np.float32)


def _check_kernels(sd: Mapping[str, Any], what: str) -> None:
    for k, v in sd.items():
        if k.endswith(".kernel") and isinstance(v, np.ndarray):
            k2 = np.asarray(v, np.float64)
            if k2.ndim != 2 or k2.shape != (4, 4) or not np.allclose(
                    k2 / k2.sum(), _RGB_BLUR, atol=1e-6):
                raise ConversionError(f"rosinality {what}: {k} is not the [1, 3, 3, 1] blur "
                                      f"kernel (shape {k2.shape}); only that filter is supported")


def _modconv(sd, src: str, dst: str, what: str, noise_const=None) -> dict[str, np.ndarray]:
    w = _arr(sd, f"{src}.conv.weight", what)
    if w.ndim != 5 or w.shape[0] != 1:
        raise ConversionError(f"rosinality {what}: {src}.conv.weight has shape {w.shape}; "
                              "expected [1, out, in, k, k]")
    out = {f"{dst}.weight": w[0],
           f"{dst}.affine.weight": _arr(sd, f"{src}.conv.modulation.weight", what),
           f"{dst}.affine.bias": _arr(sd, f"{src}.conv.modulation.bias", what)}
    if noise_const is not None:          # a StyledConv (not a ToRGB)
        out[f"{dst}.bias"] = _arr(sd, f"{src}.activate.bias", what)
        if f"{src}.noise.weight" in sd:
            out[f"{dst}.noise_strength"] = _arr(sd, f"{src}.noise.weight", what).reshape(())
            nc = _arr(sd, noise_const, what)
            out[f"{dst}.noise_const"] = nc.reshape(nc.shape[-2:])
    else:
        out[f"{dst}.bias"] = _arr(sd, f"{src}.bias", what).reshape(-1)
    return out


def generator_to_official(sd: Mapping[str, Any], latent_avg=None) -> dict[str, np.ndarray]:
    """A rosinality ``Generator.state_dict()`` (+ ``latent_avg``) under official names.

    Raises:
      ConversionError: a missing key or an unexpected shape, named.
    """
    what = "generator"
    _check_kernels(sd, what)
    n_mlp = len([k for k in sd if re.fullmatch(r"style\.\d+\.weight", k)])
    if n_mlp == 0:
        raise ConversionError("rosinality generator: no mapping layers ('style.1.weight')")
    out: dict[str, np.ndarray] = {}
    for i in range(1, n_mlp + 1):
        out[f"mapping.fc{i - 1}.weight"] = _arr(sd, f"style.{i}.weight", what)
        out[f"mapping.fc{i - 1}.bias"] = _arr(sd, f"style.{i}.bias", what)
    w_dim = out[f"mapping.fc{n_mlp - 1}.weight"].shape[0]
    out["mapping.w_avg"] = (np.zeros(w_dim, np.float32) if latent_avg is None
                            else np.asarray(latent_avg, np.float32).reshape(-1))
    const = _arr(sd, "input.input", what)
    out["synthesis.b4.const"] = const.reshape(const.shape[-3:])
    out.update(_modconv(sd, "conv1", "synthesis.b4.conv1", what, "noises.noise_0"))
    out.update(_modconv(sd, "to_rgb1", "synthesis.b4.torgb", what))
    n_up = len([k for k in sd if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k)])
    for k in range(n_up):
        res = 8 * 2 ** k
        out.update(_modconv(sd, f"convs.{2 * k}", f"synthesis.b{res}.conv0", what,
                            f"noises.noise_{2 * k + 1}"))
        out.update(_modconv(sd, f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1", what,
                            f"noises.noise_{2 * k + 2}"))
        out.update(_modconv(sd, f"to_rgbs.{k}", f"synthesis.b{res}.torgb", what))
    return out


def discriminator_to_official(sd: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A rosinality ``Discriminator.state_dict()`` under official names."""
    what = "discriminator"
    _check_kernels(sd, what)
    n_blocks = len([k for k in sd if re.fullmatch(r"convs\.\d+\.conv1\.0\.weight", k)])
    top = 4 * 2 ** n_blocks
    out = {f"b{top}.fromrgb.weight": _arr(sd, "convs.0.0.weight", what),
           f"b{top}.fromrgb.bias": _arr(sd, "convs.0.1.bias", what)}
    for j in range(1, n_blocks + 1):
        res = top // 2 ** (j - 1)
        out[f"b{res}.conv0.weight"] = _arr(sd, f"convs.{j}.conv1.0.weight", what)
        out[f"b{res}.conv0.bias"] = _arr(sd, f"convs.{j}.conv1.1.bias", what)
        out[f"b{res}.conv1.weight"] = _arr(sd, f"convs.{j}.conv2.1.weight", what)
        out[f"b{res}.conv1.bias"] = _arr(sd, f"convs.{j}.conv2.2.bias", what)
        out[f"b{res}.skip.weight"] = _arr(sd, f"convs.{j}.skip.1.weight", what)
    out["b4.conv.weight"] = _arr(sd, "final_conv.0.weight", what)
    out["b4.conv.bias"] = _arr(sd, "final_conv.1.bias", what)
    for i, name in enumerate(("fc", "out")):
        out[f"b4.{name}.weight"] = _arr(sd, f"final_linear.{i}.weight", what)
        out[f"b4.{name}.bias"] = _arr(sd, f"final_linear.{i}.bias", what)
    return out


def rosinality_networks(obj: Mapping[str, Any]) -> dict[str, tuple[str, dict, dict]]:
    """``{net name: (kind, official state dict, config values)}`` of a rosinality checkpoint.

    ``g_ema`` -> ``G_ema``, ``g`` -> ``G`` (both with ``latent_avg`` as ``w_avg`` when the
    file has it), ``d`` -> ``D``. Config values: no clamp, no fp16 blocks, minibatch-stddev
    group 4 (rosinality's fixed values).
    """
    latent_avg = obj.get("latent_avg")
    nets = {}
    for key, name in NET_KEYS.items():
        sd = obj.get(key)
        if not isinstance(sd, dict):
            continue
        if key == "d":
            nets[name] = ("D", discriminator_to_official(sd),
                          {"conv_clamp": None, "num_fp16_res": 0, "mbstd_group_size": 4})
        else:
            nets[name] = ("G", generator_to_official(sd, latent_avg),
                          {"conv_clamp": None, "num_fp16_res": 0})
    return nets
