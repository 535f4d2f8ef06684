"""Official stylegan2-ada-pytorch state dicts <-> jaxgan variables.

A state dict is ``{official_name: np.ndarray}`` (``G.state_dict()`` with tensors as NumPy).
Layouts: conv ``[out, in, kh, kw]`` -> ``[kh, kw, in, out]``; fully connected ``[out, in]``
-> ``[in, out]``; synthesis ``const [C, H, W]`` -> ``[H, W, C]``; the discriminator's
``b4.fc.weight`` is re-ordered from NCHW to NHWC flattening. ``noise_const`` and ``w_avg``
go to the ``buffers`` collection; ``resample_filter`` buffers are constants (checked, then
recorded in the config).
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import jax
import numpy as np

from jaxgan.nets.configs import DiscriminatorConfig, GeneratorConfig

BUFFER_NAMES = ("noise_const", "w_avg")


class ConversionError(ValueError):
    """A state dict does not fit the expected architecture."""


# ----------------------------------------------------------------------------- inference

def _infer_base_max(channels: dict[int, int], what: str) -> tuple[int, int]:
    """Smallest ``channel_base`` (and ``channel_max``) reproducing ``{res: channels}``."""
    cmax = max(channels.values())
    lo = max(c * r if c < cmax else cmax * r for r, c in channels.items())
    for r, c in channels.items():
        if min(lo // r, cmax) != c:
            raise ConversionError(
                f"{what}: channel counts {dict(sorted(channels.items()))} do not follow "
                f"min(channel_base // res, channel_max) for any channel_base")
    return lo, cmax


def _filter_1d(state: Mapping[str, np.ndarray]) -> tuple[float, ...] | None:
    """The 1-D taps of the (shared) ``resample_filter`` buffers, or None when there are none."""
    found, first = None, None
    for k, v in state.items():
        if not k.endswith("resample_filter"):
            continue
        f2 = np.asarray(v, np.float64)
        if f2.ndim != 2 or f2.shape[0] != f2.shape[1] or f2.sum() == 0:
            raise ConversionError(f"{k}: resample_filter of shape {f2.shape} is not a "
                                  "square 2-D filter")
        if first is not None:
            if f2.shape != first[1].shape or not np.allclose(f2, first[1], atol=1e-7):
                raise ConversionError(f"{k} differs from {first[0]}: per-layer resample "
                                      "filters are not supported")
            continue
        first = (k, f2)
        f1 = f2.sum(axis=1)
        if not np.allclose(np.outer(f1, f1), f2, atol=1e-7):
            raise ConversionError(f"{k}: non-separable resample_filter {f2.shape} is not supported")
        taps = f1 / f1[np.abs(f1) > 1e-12].min()
        if np.allclose(taps, np.round(taps), atol=1e-5):
            f1 = np.round(taps)
        found = tuple(float(a) for a in f1)
    return found


class _Checked(dict):
    """A state dict whose missing keys raise :class:`ConversionError` naming the key."""

    def __init__(self, state, what: str):
        super().__init__(state)
        self.what = what

    def __missing__(self, key):
        raise ConversionError(f"{self.what} state dict: missing key {key!r}")


def _dim(state: Mapping[str, np.ndarray], key: str, axis: int, ndim: int) -> int:
    """``state[key].shape[axis]``, checking the tensor has ``ndim`` dimensions."""
    shape = tuple(np.shape(state[key]))
    if len(shape) != ndim:
        raise ConversionError(f"{key!r} has shape {shape}; expected a {ndim}-d tensor")
    return int(shape[axis])


def infer_generator_config(state: Mapping[str, np.ndarray], **overrides) -> GeneratorConfig:
    """Read a :class:`GeneratorConfig` off the tensors of an official generator state dict.

    ``conv_clamp``, ``num_fp16_res`` and other values that leave no trace in the tensors
    come from ``overrides`` (e.g. a pickle's ``init_kwargs``).
    """
    if "mapping.fc0.weight" not in state:
        raise ConversionError("not a generator state dict: missing key 'mapping.fc0.weight'")
    state = _Checked(state, "generator")
    n_map = len([k for k in state if re.fullmatch(r"mapping\.fc\d+\.weight", k)])
    c_dim = _dim(state, "mapping.embed.weight", 1, 2) if "mapping.embed.weight" in state else 0
    embed = _dim(state, "mapping.embed.weight", 0, 2) if c_dim else 0
    fc0_in = _dim(state, "mapping.fc0.weight", 1, 2)
    w_dim = _dim(state, f"mapping.fc{n_map - 1}.weight", 0, 2)
    layer_features = _dim(state, "mapping.fc0.weight", 0, 2) if n_map > 1 else None
    res_list = sorted({int(m.group(1)) for k in state
                       for m in [re.match(r"synthesis\.b(\d+)\.", k)] if m})
    if not res_list or res_list[0] != 4:
        raise ConversionError("generator state dict has no 'synthesis.b4.*' block")
    top = res_list[-1]
    channels = {4: _dim(state, "synthesis.b4.const", 0, 3)}
    for r in res_list[1:]:
        channels[r] = _dim(state, f"synthesis.b{r}.conv1.weight", 0, 4)
    base, cmax = _infer_base_max(channels, "generator")
    if any(k.startswith("synthesis.") and ".skip." in k for k in state):
        arch = "resnet"
    elif top > 4 and "synthesis.b4.torgb.weight" in state:
        arch = "skip"
    else:
        arch = "orig"
    kw: dict[str, Any] = dict(
        img_resolution=top, img_channels=_dim(state, f"synthesis.b{top}.torgb.weight", 0, 4),
        z_dim=fc0_in - embed, c_dim=c_dim, w_dim=w_dim, mapping_layers=n_map,
        embed_features=embed if c_dim and embed != w_dim else None,
        layer_features=layer_features if layer_features not in (None, w_dim) else None,
        w_avg_beta=0.995 if "mapping.w_avg" in state else None,
        channel_base=base, channel_max=cmax, architecture=arch,
        use_noise="synthesis.b4.conv1.noise_strength" in state)
    f = _filter_1d(state)
    if f is not None:
        kw["resample_filter"] = f
    kw.update(overrides)
    return GeneratorConfig.from_dict(kw)


def infer_discriminator_config(state: Mapping[str, np.ndarray], **overrides) -> DiscriminatorConfig:
    """Read a :class:`DiscriminatorConfig` off an official discriminator state dict."""
    if "b4.conv.weight" not in state:
        raise ConversionError("not a discriminator state dict: missing key 'b4.conv.weight'")
    state = _Checked(state, "discriminator")
    res_list = sorted({int(m.group(1)) for k in state for m in [re.match(r"b(\d+)\.conv0\.", k)] if m})
    if not res_list:
        raise ConversionError("discriminator state dict has no 'b*.conv0' blocks")
    top = res_list[-1]
    channels = {r: _dim(state, f"b{r}.conv0.weight", 0, 4) for r in res_list}
    channels[4] = _dim(state, "b4.conv.weight", 0, 4)
    base, cmax = _infer_base_max(channels, "discriminator")
    if f"b{top}.skip.weight" in state:
        arch = "resnet"
    elif "b4.fromrgb.weight" in state:
        arch = "skip"
    else:
        arch = "orig"
    c_dim = _dim(state, "mapping.embed.weight", 1, 2) if "mapping.embed.weight" in state else 0
    kw: dict[str, Any] = dict(
        img_resolution=top, img_channels=_dim(state, f"b{top}.fromrgb.weight", 1, 4),
        c_dim=c_dim, architecture=arch, channel_base=base, channel_max=cmax,
        mbstd_num_channels=_dim(state, "b4.conv.weight", 1, 4) - channels[4])
    if c_dim:
        kw["cmap_dim"] = _dim(state, "b4.out.weight", 0, 2)
        kw["mapping_layers"] = len([k for k in state if re.fullmatch(r"mapping\.fc\d+\.weight", k)])
    f = _filter_1d(state)
    if f is not None:
        kw["resample_filter"] = f
    kw.update(overrides)
    return DiscriminatorConfig.from_dict(kw)


def detect_kind(state: Mapping[str, Any]) -> str:
    """'G' for a generator state dict, 'D' for a discriminator one."""
    if any(k.startswith("synthesis.") for k in state):
        return "G"
    if "b4.conv.weight" in state:
        return "D"
    raise ConversionError("state dict is neither a StyleGAN2 generator (no 'synthesis.*' keys) "
                          "nor a discriminator (no 'b4.conv.weight')")


# ----------------------------------------------------------------------------- tensors

def _to_jax_layout(name: str, a: np.ndarray, kind: str) -> np.ndarray:
    leaf = name.rsplit(".", 1)[-1]
    if kind == "D" and name == "b4.fc.weight":
        out, n_in = a.shape
        c = n_in // 16
        return a.reshape(out, c, 4, 4).transpose(2, 3, 1, 0).reshape(16 * c, out)
    if leaf == "weight" and a.ndim == 4:
        return a.transpose(2, 3, 1, 0)
    if leaf == "weight" and a.ndim == 2:
        return a.T
    if leaf == "const" and a.ndim == 3:
        return a.transpose(1, 2, 0)
    return a


def _to_official_layout(name: str, a: np.ndarray, kind: str) -> np.ndarray:
    leaf = name.rsplit(".", 1)[-1]
    if kind == "D" and name == "b4.fc.weight":
        n_in, out = a.shape
        c = n_in // 16
        return a.reshape(4, 4, c, out).transpose(3, 2, 0, 1).reshape(out, 16 * c)
    if leaf == "weight" and a.ndim == 4:
        return a.transpose(3, 2, 0, 1)
    if leaf == "weight" and a.ndim == 2:
        return a.T
    if leaf == "const" and a.ndim == 3:
        return a.transpose(2, 0, 1)
    return a


def _flatten(variables) -> dict[str, tuple[str, tuple[str, ...]]]:
    """official name -> (collection, path) for every leaf of a variables tree."""
    out = {}
    for path, _ in jax.tree_util.tree_flatten_with_path(variables)[0]:
        keys = tuple(p.key for p in path)
        out[".".join(keys[1:])] = (keys[0], keys[1:])
    return out


def _set(tree: dict, path: tuple[str, ...], value) -> None:
    for k in path[:-1]:
        tree = tree.setdefault(k, {})
    tree[path[-1]] = value


def state_dict_to_variables(state: Mapping[str, np.ndarray], template) -> dict:
    """Convert an official state dict onto the structure of ``template``.

    Args:
      state: official names -> arrays.
      template: a variables pytree (arrays or ``jax.ShapeDtypeStruct``) from the jaxgan
        network the state dict should fill; its shapes are checked.

    Returns:
      ``{'params': ..., 'buffers': ...}`` of float32 NumPy arrays.

    Raises:
      ConversionError: naming every missing key, unexpected key, or shape mismatch.
    """
    kind = detect_kind(state)
    expected = _flatten(template)
    shapes = {name: tuple(leaf.shape) for name, leaf in zip(
        expected, [l for _, l in jax.tree_util.tree_flatten_with_path(template)[0]])}
    given = {k: v for k, v in state.items() if not k.endswith("resample_filter")}
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    problems = []
    if missing:
        problems.append(f"missing key(s): {missing}")
    if unexpected:
        problems.append(f"unexpected key(s): {unexpected}")
    out: dict = {}
    for name, (coll, path) in expected.items():
        if name not in given:
            continue
        a = np.asarray(given[name], dtype=np.float32)
        b = _to_jax_layout(name, a, kind)
        if tuple(b.shape) != shapes[name]:
            want = _to_official_layout(name, np.zeros(shapes[name], np.float32), kind).shape
            problems.append(f"shape mismatch for {name!r}: file has {tuple(a.shape)}, "
                            f"architecture expects {tuple(want)}")
            continue
        _set(out, (coll,) + path, b)
    if problems:
        raise ConversionError("cannot load official state dict: " + "; ".join(problems))
    return out


def variables_to_state_dict(variables, kind: str) -> dict[str, np.ndarray]:
    """Inverse of :func:`state_dict_to_variables` (without ``resample_filter`` buffers)."""
    if kind not in ("G", "D"):
        raise ValueError(f"kind must be 'G' or 'D', got {kind!r}")
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(variables)[0]:
        name = ".".join(p.key for p in path[1:])
        out[name] = _to_official_layout(name, np.asarray(leaf, np.float32), kind)
    return out
