"""``python -m jaxgan.eval.generate ...``: the same as ``jaxgan generate ...``.

Example::

    python -m jaxgan.eval.generate --ckpt out/g32 --seeds 0-15 --outdir out/generate --grid
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run ``jaxgan generate`` with ``argv`` (default ``sys.argv[1:]``).

    Returns:
      The exit code (0 on success, 2 on a usage or input error).
    """
    from jaxgan.cli import main as cli_main  # noqa: PLC0415
    return cli_main(["generate", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
