"""Convert official stylegan2-ada-pytorch networks into jaxgan checkpoints.

Sources:

* ``.npz`` of official state-dict names (``mapping.fc0.weight``, ``b4.conv.weight``, ...).
  Without prefixes the file is one network whose kind (G or D) is detected from its keys.
  With prefixes ``G.``, ``D.``, ``G_ema.`` it may hold several networks. Keys without a
  dot (``z``, ``img``, ...) are not state-dict entries and are ignored, except ``meta``:
  a JSON object whose ``conv_clamp``, ``num_fp16_res`` and (for D) ``mbstd_group_size``
  fields are taken as the constructor values the tensors cannot tell.
* ``.safetensors`` with the same names (as ``jaxgan export --format safetensors`` writes).
* ``.pt`` / ``.pth`` ``torch.save`` files: rosinality/stylegan2-pytorch checkpoints
  (:mod:`jaxgan.convert.rosinality`) or an official ``state_dict()``; read without torch by
  :mod:`jaxgan.convert.torch_save`.
* ``.pkl`` network pickles, read by :mod:`jaxgan.convert.pickle_reader`; each network's
  ``init_kwargs`` supply those values.

Precedence of config values: inferred from tensors < from the file (``init_kwargs`` /
``meta``) < ``overrides``.

Output layout: when ``net`` is given, or the source is an unprefixed ``.npz`` (a single
network), the checkpoint is written to ``out``; otherwise each network goes to
``out/<name>`` (``G``, ``D``, ``G_ema``). See :mod:`jaxgan.checkpoint` for the format.
"""
from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np

from jaxgan.convert.official import (ConversionError, detect_kind, infer_discriminator_config,
                                     infer_generator_config, state_dict_to_variables)
from jaxgan.nets.configs import DiscriminatorConfig, GeneratorConfig
from jaxgan.convert.pickle_reader import PickleNotAllowedError, read_network_pkl
from jaxgan.convert.rosinality import is_rosinality, rosinality_networks
from jaxgan.convert.torch_save import read_torch_save
from jaxgan import model
from jaxgan.checkpoint import module_from_config, save_network

__all__ = ["ConversionError", "NetSource", "convert", "read_source", "init_kwargs_overrides"]

NET_NAMES = ("G", "D", "G_ema")
PREFIXES = tuple(f"{n}." for n in NET_NAMES)
_META_KEYS = {"G": ("conv_clamp", "num_fp16_res", "mapping_lr_multiplier", "w_avg_beta"),
              "D": ("conv_clamp", "num_fp16_res", "mbstd_group_size", "mapping_lr_multiplier")}


class NetSource(NamedTuple):
    """One network read from a source file."""
    kind: str                      # 'G' or 'D'
    state: dict[str, np.ndarray]   # official names -> arrays
    init: dict[str, Any]           # config values from the file (init_kwargs / meta)


def _config_class(kind: str):
    return GeneratorConfig if kind == "G" else DiscriminatorConfig


def init_kwargs_overrides(kind: str, init_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Config values from an official constructor's kwargs that tensors cannot tell.

    Args:
      kind: 'G' or 'D'.
      init_kwargs: the official ``init_kwargs`` (``synthesis_kwargs``, ``mapping_kwargs``,
        ``epilogue_kwargs`` nested as in stylegan2-ada-pytorch).

    Returns:
      A dict of ``GeneratorConfig``/``DiscriminatorConfig`` fields.
    """
    kw = dict(init_kwargs or {})
    mapping = dict(kw.get("mapping_kwargs") or {})
    src: dict[str, Any] = {}
    if kind == "G":
        synth = dict(kw.get("synthesis_kwargs") or {})
        pairs = [("conv_clamp", synth), ("num_fp16_res", synth)]
        if "w_avg_beta" in mapping:
            src["w_avg_beta"] = mapping["w_avg_beta"]
    else:
        epi = dict(kw.get("epilogue_kwargs") or {})
        pairs = [("conv_clamp", kw), ("num_fp16_res", kw), ("mbstd_group_size", epi)]
    for name, d in pairs:
        if name in d:
            src[name] = d[name]
    if "lr_multiplier" in mapping:
        src["mapping_lr_multiplier"] = float(mapping["lr_multiplier"])
    return src


def _meta_overrides(kind: str, meta) -> dict[str, Any]:
    try:
        d = json.loads(str(np.asarray(meta)))
    except (ValueError, TypeError):
        return {}
    if not isinstance(d, dict):
        return {}
    return {k: d[k] for k in _META_KEYS[kind] if k in d}


def _one_npz_net(name_hint: str | None, entries: dict[str, np.ndarray], src: Path) -> NetSource:
    state = {k: v for k, v in entries.items() if "." in k}
    if not state:
        where = f"{name_hint}.* entries" if name_hint else "file"
        raise ConversionError(f"{src}: the {where} hold no official state-dict keys")
    try:
        kind = detect_kind(state)
    except ConversionError as e:
        raise ConversionError(f"{src}{f' ({name_hint})' if name_hint else ''}: {e}") from None
    if name_hint and (kind == "D") != (name_hint == "D"):
        raise ConversionError(f"{src}: the {name_hint}.* entries look like a "
                              f"{'discriminator' if kind == 'D' else 'generator'}")
    init = _meta_overrides(kind, entries["meta"]) if "meta" in entries else {}
    return NetSource(kind, state, init)


def _read_npz(src: Path) -> tuple[dict[str, NetSource], bool]:
    if not zipfile.is_zipfile(src):
        raise ConversionError(f"cannot read {src}: not an .npz (zip) archive")
    try:
        with np.load(src, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ConversionError(f"cannot read {src} as .npz: {e}") from None
    return _split_nets(data, src)


def _read_safetensors(src: Path) -> tuple[dict[str, NetSource], bool]:
    """A ``.safetensors`` of official names (as ``jaxgan export`` writes); meta JSON per
    network in the file's metadata (under ``G``/``D``/``G_ema``, or ``meta``)."""
    import safetensors  # noqa: PLC0415 - only this format needs it
    from safetensors.numpy import load_file  # noqa: PLC0415
    try:
        data = dict(load_file(str(src)))
        with safetensors.safe_open(str(src), framework="numpy") as f:
            metadata = dict(f.metadata() or {})
    except Exception as e:  # noqa: BLE001 - the library raises its own error types
        raise ConversionError(f"cannot read {src} as .safetensors: {e}") from None
    for name in NET_NAMES + ("meta",):
        if name in metadata:
            data[f"{name}.meta" if name != "meta" else "meta"] = np.array(metadata[name])
    return _split_nets(data, src)


def _split_nets(data: dict[str, np.ndarray], src: Path) -> tuple[dict[str, NetSource], bool]:
    prefixed = [k for k in data if k.startswith(PREFIXES)]
    if not prefixed:
        net = _one_npz_net(None, data, src)
        return {net.kind: net}, False
    stray = sorted(k for k in data if "." in k and not k.startswith(PREFIXES))
    if stray:
        raise ConversionError(f"{src}: key(s) {stray[:5]} lack a G./D./G_ema. prefix "
                              "while other keys have one")
    nets = {}
    for name in NET_NAMES:
        entries = {k[len(name) + 1:]: v for k, v in data.items() if k.startswith(name + ".")}
        if entries:
            nets[name] = _one_npz_net(name, entries, src)
    return nets, True


def _read_pkl(src: Path, allow_pickle: bool) -> dict[str, NetSource]:
    records = read_network_pkl(src, allow_pickle)
    nets = {}
    for name, rec in records.items():
        if name not in NET_NAMES:
            continue
        state = {k: np.asarray(v) for k, v in dict(rec.state_dict).items()}
        try:
            kind = detect_kind(state)
        except ConversionError as e:
            raise ConversionError(f"{src} ({name}): {e}") from None
        nets[name] = NetSource(kind, state, init_kwargs_overrides(kind, rec.init_kwargs))
    if not nets:
        raise ConversionError(f"{src} holds none of the networks {list(NET_NAMES)} "
                              f"(found: {sorted(records)})")
    return nets


def _read_pt(src: Path, allow_pickle: bool) -> tuple[dict[str, NetSource], bool]:
    """A ``torch.save`` file: a rosinality checkpoint, or an official state dict."""
    if not allow_pickle:
        raise PickleNotAllowedError(
            f"{src} is a torch.save file (a Python pickle). jaxgan reads it with a restricted "
            "unpickler that never runs code from the file, but reading one must be allowed "
            "explicitly: pass allow_pickle=True (--allow-pickle)")
    obj = read_torch_save(src)
    if is_rosinality(obj):
        nets = {}
        for name, (kind, state, init) in rosinality_networks(obj).items():
            nets[name] = NetSource(kind, state, init)
        return nets, True
    if isinstance(obj, dict) and obj and all(isinstance(v, np.ndarray) for v in obj.values()):
        return _split_nets({str(k): v for k, v in obj.items()}, src)   # torch.save(state_dict)
    keys = sorted(map(str, obj))[:8] if isinstance(obj, dict) else type(obj).__name__
    raise ConversionError(f"{src}: a torch.save file that is neither a rosinality checkpoint "
                          f"(g_ema/g/d state dicts) nor an official state dict (found {keys})")


def read_source(src, allow_pickle: bool = False) -> tuple[dict[str, NetSource], bool]:
    """Read the networks of an official ``.npz`` or ``.pkl``.

    Args:
      src: the source file.
      allow_pickle: passed to the pickle reader (``.pkl`` only).

    Returns:
      ``(nets, multi)``: ``{name: NetSource}`` (name ``G``, ``D`` or ``G_ema``; the
      detected kind for an unprefixed ``.npz``) and whether the source is a
      multi-network container (``.pkl`` or prefixed ``.npz``).

    Raises:
      ConversionError: unsupported suffix, unreadable file, or unrecognised content.
    """
    src = Path(src)
    if not src.is_file():
        raise ConversionError(f"source file {src} does not exist")
    suffix = src.suffix.lower()
    if suffix == ".npz":
        return _read_npz(src)
    if suffix in (".pt", ".pth"):
        return _read_pt(src, allow_pickle)
    if suffix == ".safetensors":
        return _read_safetensors(src)
    if suffix == ".pkl":
        return _read_pkl(src, allow_pickle), True
    raise ConversionError(f"{src}: unsupported source type {suffix or '(no suffix)'!r}; "
                          "expected an official .npz / .safetensors state dict, a .pkl network pickle "
                          "or a .pt/.pth torch.save checkpoint (rosinality or official)")


def _split_overrides(overrides: Mapping[str, Any] | None, nets: dict[str, NetSource]):
    """``{'field': v, 'D.field': v}`` -> ``{net_name: {field: v}}`` for the selected nets."""
    per = {name: {} for name in nets}
    for key, value in (overrides or {}).items():
        target, _, field = key.rpartition(".")
        names = [target] if target else list(nets)
        if target and target not in nets:
            raise ConversionError(f"override {key!r}: no network {target!r} is being "
                                  f"converted (converting {sorted(nets)})")
        fitting = [n for n in names if field in {f.name for f in dataclasses.fields(
            _config_class(nets[n].kind))}]
        if not fitting:
            valid = sorted({f.name for n in names
                            for f in dataclasses.fields(_config_class(nets[n].kind))})
            raise ConversionError(f"unknown override key {key!r}; valid keys: {valid}")
        for n in fitting:
            per[n][field] = value
    return per


def convert(src, out, net: str | None = None, overrides: Mapping[str, Any] | None = None,
            allow_pickle: bool = False, overwrite: bool = False) -> list[Path]:
    """Convert an official network file into jaxgan checkpoint directories.

    Args:
      src: official ``.npz`` (optionally ``G.``/``D.``/``G_ema.``-prefixed) or ``.pkl``.
      out: output directory (see the module docstring for the layout).
      net: convert only this network (``'G'``, ``'D'`` or ``'G_ema'``) into ``out``.
      overrides: config fields to set, e.g. ``{'conv_clamp': 256}``; a key
        ``'D.mbstd_group_size'`` applies to one network only, a bare key to every
        converted network whose config has that field.
      allow_pickle: allow the ``.pkl`` reader to unpickle (see pickle_reader).
      overwrite: replace existing checkpoints.

    Returns:
      The checkpoint directories written.

    Raises:
      ConversionError: unreadable source, unknown network / override key, or tensors
        that do not fit the architecture.
      FileExistsError: a destination exists and ``overwrite`` is False (nothing written).
    """
    src, out = Path(src), Path(out)
    if net is not None and net not in NET_NAMES:
        raise ConversionError(f"unknown network {net!r}; expected one of {list(NET_NAMES)}")
    nets, multi = read_source(src, allow_pickle)
    if net is not None:
        if net in nets:
            nets = {net: nets[net]}
        elif not multi and net == "G_ema" and "G" in nets:
            nets = {net: nets["G"]}
        else:
            raise ConversionError(f"{src} holds no network {net!r}; available: {sorted(nets)}")
    per = _split_overrides(overrides, nets)
    single = net is not None or not multi
    dests = {name: out if single else out / name for name in nets}
    if not overwrite:
        taken = [str(d) for d in dests.values() if d.exists()]
        if taken:
            verb = "exists" if len(taken) == 1 else "exist"
            raise FileExistsError(f"{', '.join(taken)} already {verb}; pass overwrite=True "
                                  "(--overwrite) to replace")
    converted = []
    for name, ns in nets.items():
        infer = infer_generator_config if ns.kind == "G" else infer_discriminator_config
        try:
            cfg = infer(ns.state, **{**ns.init, **per[name]})
        except ConversionError as e:
            raise ConversionError(f"{src} ({name}): {e}") from None
        except (TypeError, ValueError, KeyError, IndexError) as e:
            raise ConversionError(f"{src} ({name}): invalid configuration: {e}") from None
        module = module_from_config(cfg)
        try:
            variables = state_dict_to_variables(ns.state, model.variables_shape(module))
        except ConversionError as e:
            raise ConversionError(f"{src} ({name}): {e}") from None
        converted.append((dests[name], cfg, variables))
    return [save_network(d, cfg, v, overwrite=overwrite) for d, cfg, v in converted]
