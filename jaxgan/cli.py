"""The ``jaxgan`` command line: one subcommand per module listed in
:data:`jaxgan.commands.MODULES` (``jaxgan/commands/<name>.py``, each with a ``COMMANDS`` tuple
of name, help, argument setup and runner). Runners import their heavy dependencies lazily, so
``jaxgan --help`` is fast. User errors (bad paths, specs, shapes: :mod:`jaxgan.errors`) print
one line to stderr and exit with code 2; set ``JAXGAN_DEBUG=1`` to get the traceback instead.
"""
from __future__ import annotations

import argparse
import os
import sys

from jaxgan.commands.base import Command
from jaxgan.errors import USER_ERRORS, UsageError, one_line  # noqa: F401  (UsageError: for callers)


# ----------------------------------------------------------------------------- main

#: Commands defined here rather than in a ``jaxgan.commands`` module (none: every command
#: lives in its module).
COMMANDS: tuple[Command, ...] = ()


def all_commands() -> tuple[Command, ...]:
    """The built-in commands plus those of the modules listed in ``jaxgan.commands.MODULES``.

    Each listed module defines ``COMMANDS: tuple[Command, ...]`` and imports its heavy
    dependencies inside its runners, so building the parser stays cheap.
    """
    import importlib

    from jaxgan.commands import MODULES
    extra: list[Command] = []
    for name in MODULES:
        extra.extend(importlib.import_module(name).COMMANDS)
    return COMMANDS + tuple(extra)


def build_parser(commands=None) -> argparse.ArgumentParser:
    """The ``jaxgan`` argument parser with one subparser per entry of ``commands``
    (default :func:`all_commands`)."""
    commands = all_commands() if commands is None else commands
    parser = argparse.ArgumentParser(
        prog="jaxgan", description="StyleGAN2 in pure JAX/Flax, numerically matching "
        "NVIDIA's stylegan2-ada-pytorch.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for cmd in commands:
        sp = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.add_arguments(sp)
        sp.set_defaults(_run=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI.

    Args:
      argv: arguments without the program name (default ``sys.argv[1:]``).

    Returns:
      The exit code: 0 on success, 2 on a usage or input error.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or an argparse error (2, already printed)
        return e.code if isinstance(e.code, int) else 2
    from jaxgan.distributed import exit_on_peer_failure, initialize  # noqa: PLC0415
    from jaxgan.xla_cache import enable_persistent_cache  # noqa: PLC0415
    enable_persistent_cache()           # before anything compiles (JAXGAN_COMPILATION_CACHE=0: off)
    try:
        with exit_on_peer_failure(f"jaxgan {args.command}"):   # another process died: 1 line
            if args.command != "launch":   # multi-process jobs: join before touching devices
                initialize(prog=f"jaxgan {args.command}")
            return int(args._run(args) or 0)
    except USER_ERRORS as e:
        if os.environ.get("JAXGAN_DEBUG"):
            raise
        print(f"jaxgan {args.command}: error: {one_line(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
