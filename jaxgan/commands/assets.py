"""``jaxgan assets``: list the networks shipped inside the package (see :mod:`jaxgan.assets`).

Any of them can be passed wherever a checkpoint directory is accepted as ``builtin:NAME``
(e.g. ``jaxgan generate --ckpt builtin:G_shapes32_60k --seeds 0-7``).
"""
from __future__ import annotations

import argparse
import json

from jaxgan.commands.base import Command


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the whole manifest (with paths) as JSON")


def _run(args: argparse.Namespace) -> int:
    from jaxgan import assets  # noqa: PLC0415
    man = assets.manifest()
    if args.json:
        print(json.dumps({n: {**man[n], "path": assets.path(n)} for n in assets.names()}, indent=1))
        return 0
    for n in assets.names():
        e = man[n]
        print(f"builtin:{n}  (v{e['version']}, {e['kind']}): {e['measured']}")
        print(f"    used by: {e['used_by']}")
    return 0


COMMANDS = (
    Command("assets", "list the built-in networks (pass them as builtin:NAME wherever a "
            "checkpoint is accepted)", _arguments, _run),
)
