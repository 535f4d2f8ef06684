"""Subcommands of the ``jaxgan`` console script, one module per capability.

Each module listed in :data:`MODULES` defines ``COMMANDS: tuple[jaxgan.commands.base.Command, ...]``;
:func:`jaxgan.cli.all_commands` collects them. Runners import JAX and friends lazily, raise
:class:`jaxgan.commands.base.UsageError` (or ``ValueError``/``OSError``) for user errors, and return
an exit code. Shared flags: ``--config``, ``--ckpt``, ``--out``, ``--seed``.
"""

#: Modules whose ``COMMANDS`` extend the CLI (append yours; keep one line per module).
MODULES: tuple[str, ...] = (
    "jaxgan.commands.convert",
    "jaxgan.commands.generate",
    "jaxgan.commands.train",
    "jaxgan.commands.launch",
    "jaxgan.commands.directions",
    "jaxgan.commands.dissect",
    "jaxgan.commands.metrics",
    "jaxgan.commands.explore",
    "jaxgan.commands.invert",
    "jaxgan.commands.explain",
    "jaxgan.commands.ensemble",
    "jaxgan.commands.demo",
    "jaxgan.commands.adapt",
    "jaxgan.commands.assets",
    "jaxgan.commands.export",
)
