"""``jaxgan launch --num-processes N -- COMMAND ...``: run any jaxgan command as N
cooperating local processes (one "host" each) under JAX's multi-controller runtime.

``COMMAND`` is a jaxgan subcommand (``train --config tiny --out runs/x``) or, after
``python``, any Python invocation. On TPU pods / SLURM / Open MPI do not use this: run
the plain command on every host; initialisation is detected from the environment.
"""
from __future__ import annotations

import argparse
import sys

from jaxgan.commands.base import Command, UsageError


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--num-processes", "-n", type=int, required=True, help="processes to start")
    p.add_argument("--devices-per-process", type=int, default=1,
                   help="CPU devices per process (default 1)")
    p.add_argument("--timeout", type=float, default=None, help="kill all after this many seconds")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- COMMAND",
                   help="the jaxgan subcommand (or `python ...`) each process runs")


def command_argv(cmd: list[str]) -> list[str]:
    """``['train', ...]`` -> ``[python, -m, jaxgan.cli, train, ...]``; ``python ...`` kept."""
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise UsageError("nothing to launch: give the command after `--`, e.g. "
                         "`jaxgan launch -n 2 -- train --config tiny --out runs/tiny`")
    if cmd[0] in ("python", "python3", sys.executable):
        return [sys.executable, *cmd[1:]]
    return [sys.executable, "-m", "jaxgan.cli", *cmd]


def _run(args) -> int:
    from jaxgan.distributed import launch  # noqa: PLC0415
    if args.num_processes < 1:
        raise UsageError(f"--num-processes must be >= 1, got {args.num_processes}")
    return launch(args.num_processes, command_argv(args.cmd),
                  devices_per_process=args.devices_per_process, timeout_s=args.timeout)


COMMANDS = (
    Command("launch", "run a jaxgan command as N cooperating local processes "
            "(jax.distributed on 127.0.0.1)", _arguments, _run),
)
