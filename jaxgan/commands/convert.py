"""``jaxgan convert``: official stylegan2-ada-pytorch weights (``.npz`` state dicts, ``.pkl``
snapshots and TF-era pickles, rosinality ``.pt``, ``.safetensors``) to jaxgan checkpoints.

::

    jaxgan convert SRC OUT [--net G|D|G_ema] [--allow-pickle] [--override KEY=VALUE ...]
                           [--overwrite]

The readers and the mapping are :mod:`jaxgan.convert`; docs/convert.md.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from jaxgan.commands.base import Command, UsageError
from jaxgan.errors import MissingKeyError
from jaxgan.outputs import ensure_writable_dir


def parse_override(text: str) -> tuple[str, object]:
    """``'key=value'`` -> ``(key, value)``; the value is parsed as JSON when it can be."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"bad --override {text!r}: expected KEY=VALUE, e.g. conv_clamp=256")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def _convert_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", help="official .npz state dict (keys optionally prefixed G./D./G_ema.) "
                               "or .pkl network pickle")
    p.add_argument("out", help="output checkpoint directory (several nets: OUT/<name>)")
    p.add_argument("--net", choices=["G", "D", "G_ema"], help="convert only this network, into OUT")
    p.add_argument("--allow-pickle", action="store_true",
                   help="read .pkl network pickles (official snapshots, TF-era releases). The "
                   "reader never runs code from the file: a restricted unpickler maps only the "
                   "known torch/numpy/dnnlib names to NumPy stand-ins and refuses any other "
                   "global by name, and the embedded network source is never executed")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="set a config field, e.g. conv_clamp=256 or D.mbstd_group_size=8 "
                        "(VALUE parsed as JSON when possible); repeatable")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing checkpoints written by jaxgan (never other files)")


def _convert_run(args: argparse.Namespace) -> int:
    from jaxgan.convert import convert  # noqa: PLC0415
    overrides = dict(parse_override(o) for o in args.override)
    ensure_writable_dir(Path(args.out).parent, "OUT's parent")
    try:
        paths = convert(args.src, args.out, net=args.net, overrides=overrides,
                        allow_pickle=args.allow_pickle, overwrite=args.overwrite)
    except KeyError as e:       # the converter indexes the source's state dict by name
        if isinstance(e, MissingKeyError):
            raise
        raise MissingKeyError(f"{args.src} lacks tensor {e.args[0]!r}: not a complete "
                              "stylegan2-ada-pytorch network of this architecture") from None
    for path in paths:
        print(path)
    return 0


COMMANDS = (
    Command("convert", "convert official stylegan2-ada-pytorch weights (.npz/.pkl) to a "
            "jaxgan checkpoint", _convert_arguments, _convert_run),
)
