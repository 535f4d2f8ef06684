"""Data sources for jaxgan: synthetic scenes, real digits and folders of images.

Every source returns a ``dict`` of equal-length NumPy arrays (first axis ``N``) so that
features serialise as flat named arrays (tfds / array_record)::

    {'image': uint8 [N, H, W, C], 'label': int64 [N] (optional),
     '<factor>': [N] or [N, k], 'mask_<concept>': bool [N, H, W], ...}

Loaders may add a few non-array metadata entries (e.g. ``class_names``, ``skipped``);
:func:`array_items` keeps only the per-example arrays.

Inside jaxgan images are float32 in [-1, 1] NHWC; :func:`to_float` / :func:`to_uint8`
convert between the two.

Sources:
  * :mod:`jaxgan.data.shapes` - synthetic sky/ground/object scenes with recorded
    factors and exact concept masks; :mod:`jaxgan.data.tasks` - classification tasks
    defined as functions of those factors.
  * :mod:`jaxgan.data.digits` - scikit-learn's 8x8 digits, upsampled, fixed split.
  * :mod:`jaxgan.data.folder` - a folder of image files (labels from sub-folders).
"""
from __future__ import annotations

import numpy as np

from jaxgan.data.digits import load_digits_dataset
from jaxgan.data.folder import iter_image_folder, list_image_folder, load_image_folder
from jaxgan.data.shapes import (ALL_SHAPES, DEFAULT_SHAPES, FACTOR_NAMES, MASK_NAMES,
                                render_factors, render_shapes, sample_factors)
from jaxgan.data.tasks import TASKS, Task, get_task, make_task_dataset
from jaxgan.ops.pixels import to_float, to_uint8
import importlib

# The tfds/grain pipeline is imported on first use (tfds and grain are slow to import).
_LAZY = {
    "ArraySequenceSource": "builders", "open_public": "builders", "open_source": "builders",
    "read_arrays": "builders", "write_dataset": "builders",
    "ArraySource": "pipeline", "Compose": "pipeline", "NormalizeImage": "pipeline",
    "RandomFlipX": "pipeline", "example_rng": "pipeline", "make_iterator": "pipeline",
    "make_data_mesh": "sharding", "to_global_batch": "sharding",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"jaxgan.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'jaxgan.data' has no attribute {name!r}")


def array_items(data: dict) -> dict:
    """Keep only the per-example arrays of a source dict (drop metadata entries).

    Args:
      data: a dict returned by any loader in :mod:`jaxgan.data`.

    Returns:
      ``{name: np.ndarray}`` of the entries whose first axis has the length of
      ``data['image']``.
    """
    n = len(data["image"])
    return {k: v for k, v in data.items()
            if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == n}


__all__ = ["ALL_SHAPES", "DEFAULT_SHAPES", "FACTOR_NAMES", "MASK_NAMES", "TASKS", "Task",
           "array_items", "get_task", "iter_image_folder", "list_image_folder",
           "load_digits_dataset", "load_image_folder", "make_task_dataset", "render_factors",
           "render_shapes", "sample_factors", "to_float", "to_uint8"]
