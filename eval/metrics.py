"""``python -m jaxgan.eval.metrics ...``: the same as ``jaxgan metrics ...``.

Example::

    python -m jaxgan.eval.metrics --ckpt out/shapes32/network --metrics fd_classifier,ppl_wend --data shapes
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run ``jaxgan metrics`` with ``argv`` (default ``sys.argv[1:]``).

    Returns:
      The exit code (0 on success, 2 on a usage or input error).
    """
    from jaxgan.cli import main as cli_main  # noqa: PLC0415
    return cli_main(["metrics", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
