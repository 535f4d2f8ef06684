"""``python -m jaxgan.eval.invert ...``: the same as ``jaxgan invert ...``.

Example::

    python -m jaxgan.eval.invert --ckpt builtin:G_shapes32_60k --data shapes --num 16 \
        --space wplus --steps 1000 --out out/invert
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run ``jaxgan invert`` with ``argv`` (default ``sys.argv[1:]``).

    Returns:
      The exit code (0 on success, 2 on a usage or input error).
    """
    from jaxgan.cli import main as cli_main  # noqa: PLC0415
    return cli_main(["invert", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
