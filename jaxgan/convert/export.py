"""Export jaxgan networks under the official stylegan2-ada-pytorch state-dict names.

Formats (one file per export):

* ``official-npz``: a NumPy ``.npz``. A checkpoint directory of several networks (``G/``,
  ``D/``, ``G_ema/``, as ``jaxgan convert`` or training writes them) gives keys
  ``G.<name>``, ``D.<name>``, ``G_ema.<name>``; a single network gives the bare names, i.e.
  exactly ``net.state_dict()`` of the official network (``resample_filter`` buffers
  included), so ``official_net.load_state_dict({k: torch.from_numpy(v) ...})`` loads it with
  ``strict=True``. Each network also gets a ``<prefix>meta`` entry: a JSON string with the
  constructor values the tensors cannot tell (``conv_clamp``, ``num_fp16_res``,
  ``mbstd_group_size``, ``mapping_lr_multiplier``, ``w_avg_beta``) and the whole jaxgan
  config (``jaxgan_config``). ``jaxgan convert`` reads this file back.
* ``safetensors``: the same tensors under the same names in a ``.safetensors`` file (the
  ``safetensors`` library's NumPy API; ``safetensors.torch.load_file`` reads it into torch),
  the per-network meta JSON in the file's metadata under the network name (``meta`` for a
  single network). ``jaxgan convert`` reads it back.

Layouts are the official ones (NCHW convolutions ``[out, in, kh, kw]``, FC ``[out, in]``,
``const [C, H, W]``, the discriminator's NCHW-flattened ``b4.fc.weight``), float32.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from jaxgan.convert.official import ConversionError, variables_to_state_dict
from jaxgan.nets.configs import DiscriminatorConfig, GeneratorConfig
from jaxgan.checkpoint import ARCH_FILE, NET_NAMES, load_network, resolve_checkpoint

FORMATS = ("official-npz", "safetensors")
SUFFIX = {"official-npz": ".npz", "safetensors": ".safetensors"}
META_FIELDS = {"G": ("conv_clamp", "num_fp16_res", "mapping_lr_multiplier", "w_avg_beta"),
               "D": ("conv_clamp", "num_fp16_res", "mbstd_group_size", "mapping_lr_multiplier")}


def _resample_filter(taps) -> np.ndarray:
    """The official ``upfirdn2d.setup_filter`` of a 1-D filter (4 taps): ``outer(f, f) / sum``."""
    f = np.asarray(taps, np.float32)
    f2 = np.outer(f, f)
    return (f2 / f2.sum()).astype(np.float32)


def _filter_owners(state, kind: str, cfg) -> list[str]:
    """Module prefixes that hold an official ``resample_filter`` buffer."""
    owners = []
    for name, a in state.items():
        prefix, _, leaf = name.rpartition(".")
        # Conv2dLayer and SynthesisLayer (4-d weight) hold one; ToRGBLayer does not.
        if leaf == "weight" and np.ndim(a) == 4 and not prefix.endswith("torgb"):
            owners.append(prefix)
    if kind == "G":
        owners += [f"synthesis.b{r}" for r in cfg.block_resolutions]          # SynthesisBlock
    else:
        owners += [f"b{r}" for r in cfg.block_resolutions]                    # DiscriminatorBlock
    return owners


def official_state_dict(cfg, variables) -> dict[str, np.ndarray]:
    """The official ``state_dict()`` of a jaxgan generator or discriminator.

    Args:
      cfg: its ``GeneratorConfig`` / ``DiscriminatorConfig``.
      variables: ``{'params': ..., 'buffers': ...}``.

    Returns:
      ``{official name: float32 array}`` including the ``resample_filter`` buffers.

    Raises:
      ConversionError: an encoder or other network with no official counterpart, or a
        StylEx generator (its affines read ``w_dim + style_cond_dim`` features).
    """
    if isinstance(cfg, GeneratorConfig):
        kind = "G"
        if cfg.style_cond_dim:
            raise ConversionError("a StylEx generator (style_cond_dim > 0) has no official "
                                  "stylegan2-ada-pytorch counterpart to export to")
    elif isinstance(cfg, DiscriminatorConfig):
        kind = "D"
    else:
        raise ConversionError(f"cannot export a {type(cfg).__name__}: only generators and "
                              "discriminators have official state-dict names")
    state = variables_to_state_dict(variables, kind)
    filt = _resample_filter(cfg.resample_filter)
    for owner in _filter_owners(state, kind, cfg):
        state[f"{owner}.resample_filter"] = filt
    return state


def _meta(cfg) -> str:
    kind = "G" if isinstance(cfg, GeneratorConfig) else "D"
    d = {k: getattr(cfg, k) for k in META_FIELDS[kind]}
    d["jaxgan_config"] = json.loads(cfg.to_json())
    return json.dumps(d)


def _networks(ckpt) -> dict[str, tuple]:
    """``{'' | net name: (cfg, variables)}`` of a checkpoint directory."""
    ckpt = Path(ckpt)
    if (ckpt / ARCH_FILE).is_file():
        module, v = load_network(ckpt)
        return {"": (module.cfg, v)}
    subs = [n for n in NET_NAMES if (ckpt / n / ARCH_FILE).is_file()]
    if not subs:
        resolve_checkpoint(ckpt)          # raises the checkpoint loader's one-line error
    out = {}
    for n in subs:
        module, v = load_network(ckpt, n)
        out[n] = (module.cfg, v)
    return out


def export(ckpt, out, fmt: str = "official-npz", overwrite: bool = False) -> Path:
    """Write a checkpoint's networks under the official state-dict names.

    Args:
      ckpt: a network checkpoint directory, or a directory of ``G/``, ``D/``, ``G_ema/``.
      out: the output file (``.npz`` / ``.safetensors``; the suffix is checked).
      fmt: ``'official-npz'`` or ``'safetensors'``.
      overwrite: replace an existing ``out``.

    Returns:
      ``out`` as a Path.

    Raises:
      ConversionError: unknown format, wrong suffix, or a network without official names.
      FileExistsError: ``out`` exists and ``overwrite`` is False.
    """
    out = Path(out)
    if fmt not in FORMATS:
        raise ConversionError(f"unknown export format {fmt!r}; expected one of {list(FORMATS)}")
    if out.suffix.lower() != SUFFIX[fmt]:
        raise ConversionError(f"{out}: a {fmt} export must end in {SUFFIX[fmt]}")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; pass overwrite=True (--overwrite) to "
                              "replace it")
    nets = _networks(ckpt)
    tensors: dict[str, np.ndarray] = {}
    metas: dict[str, str] = {}
    for name, (cfg, v) in nets.items():
        prefix = f"{name}." if name else ""
        for k, a in official_state_dict(cfg, v).items():
            tensors[prefix + k] = np.array(a, np.float32, order="C")   # keeps 0-d scalars 0-d
        metas[name] = _meta(cfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=SUFFIX[fmt])
    os.close(fd)
    try:
        if fmt == "official-npz":
            extra = {(f"{n}.meta" if n else "meta"): np.array(m) for n, m in metas.items()}
            with open(tmp, "wb") as f:
                np.savez(f, **tensors, **extra)
        else:
            from safetensors.numpy import save_file  # noqa: PLC0415 - only this format needs it
            save_file(tensors, tmp, metadata={"format": "pt",
                                              **{(n or "meta"): m for n, m in metas.items()}})
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out
