"""Ensembling with a conditional generator whose class is inferred per image.

The class of a test image is what the experiment predicts, so it cannot be given: each
image is inverted and its views rendered with the class the weak classifier predicts for
it. The generator's classes are matched to the task's by name (when the network has class
names) or by index. Images are grouped by class and every group runs on the generator
bound to its class (:func:`jaxgan.model.bind_class`), so the unconditional machinery is
reused unchanged.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from jaxgan import model


def task_to_generator_classes(task_names, class_names, c_dim: int) -> np.ndarray:
    """``lookup [num_task_classes]``: the generator class of each task class.

    Args:
      task_names: the task's class names.
      class_names: the generator's class names (may be empty: match by index).
      c_dim: the generator's number of classes.

    Raises:
      ValueError: a task class has no generator class.
    """
    task_names = [str(n) for n in task_names]
    if class_names:
        missing = [n for n in task_names if n not in class_names]
        if missing:
            raise ValueError(f"task classes {missing} are not classes of the generator "
                             f"({', '.join(class_names)})")
        return np.array([list(class_names).index(n) for n in task_names], np.int64)
    if len(task_names) != c_dim:
        raise ValueError(f"the task has {len(task_names)} classes, the generator {c_dim} (and "
                         f"no class names to match them by)")
    return np.arange(c_dim, dtype=np.int64)


def per_class(G, classes, run: Callable):
    """Run ``run(G_k, idx)`` for every class ``k`` present in ``classes`` (``idx``: the rows
    of that class; ``G_k``: ``G`` bound to ``k``) and put the row outputs back in order.

    Args:
      G: a conditional generator.
      classes: int ``[N]`` class per row.
      run: ``(G_k, idx [n_k]) -> array [n_k, ...]`` or a tuple/list of such arrays.

    Returns:
      ``[N, ...]`` rows in the order of ``classes`` (a tuple of them when ``run`` returns a
      tuple).
    """
    classes = np.asarray(classes)
    out = None
    for k in np.unique(classes):
        idx = np.nonzero(classes == k)[0]
        r = run(model.bind_class(G, int(k)), idx)
        parts = r if isinstance(r, (tuple, list)) else (r,)
        if out is None:
            out = [np.zeros((len(classes), *np.shape(p)[1:]), np.asarray(p).dtype)
                   for p in parts]
        for o, p in zip(out, parts):
            o[idx] = np.asarray(p)
    return tuple(out) if isinstance(r, (tuple, list)) else out[0]
