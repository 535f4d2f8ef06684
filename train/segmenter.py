"""Train the concept segmenter on shapes scenes and print its held-out mean IoU.

Usage (CPU, a few minutes)::

    python -m jaxgan.train.segmenter                          # preset segmenter_shapes, mIoU >= 0.9
    python -m jaxgan.train.segmenter --steps 200 --out out/seg_quick
    python -m jaxgan.train.segmenter --set model.concepts=sky,ground,object

Same flags as ``jaxgan.train.classifier`` (no ``--task``: the data is always the shapes
scenes). The checkpoint goes to ``--out`` (default ``out/segmenter_shapes``); load it
with ``jaxgan.classify.load_model`` and use ``jaxgan.nets.segmenter.segment``.
"""
from __future__ import annotations

import sys

from .classifier import main as _main


def main(argv=None) -> int:
    """Parse flags, train, print per-concept and mean IoU, save. Returns the exit status."""
    return _main(argv, kind="segmenter")


if __name__ == "__main__":
    sys.exit(main())
