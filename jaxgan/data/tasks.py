"""Classification tasks on the synthetic shapes scenes, defined as functions of factors.

Each :class:`Task` names the factors its label depends on (``depends_on``): a classifier
of that task *ought* to depend on exactly those, which is what StylEx / dissection
experiments can check. Positive rates below are under the default sampling options.

=================  =======  ===========================================  ==============
task               classes  label                                        positive rate
=================  =======  ===========================================  ==============
is_circle          2        shape == circle                              1/3
shape              3        circle / square / triangle                   1/3 each
shape5             5        all of ALL_SHAPES (renders all five)         1/5 each
has_sun            2        has_sun                                      1/2
has_texture        2        has_texture                                  1/2
circle_and_sun     2        shape == circle and has_sun                  1/6
object_size_large  2        object_size > 0.29 (area > 8.4% of image)    ~1/2
object_left        2        object_x < 0.5                               1/2
large_low_horizon  2        object_size > 0.29 and horizon < 0.575       ~1/4
large_high_horizon 2        object_size > 0.29 and horizon > 0.575       ~1/4
red_high_horizon   2        object hue within 1/4 turn of red and        ~1/4
                            horizon > 0.575
=================  =======  ===========================================  ==============

``horizon`` is the y of the sky/ground line from the top, so a low horizon (small value)
means much ground; ``large_low_horizon`` / ``large_high_horizon`` depend on two planted
factors that a 32² generator draws well (object size, horizon height), unlike
``circle_and_sun``'s 2-px sun. ``red_high_horizon`` pairs the horizon with the object's hue
(:func:`object_redness`: red, orange, yellow, pink and magenta objects are "red"), a factor a
generator's colour channels carry.
"""
from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np

from jaxgan.data.shapes import ALL_SHAPES, DEFAULT_SHAPES, render_domain, render_shapes

#: Threshold of ``object_size_large`` (midpoint of the default ``size_range``).
LARGE_SIZE = 0.29
#: Threshold of ``large_low_horizon``'s horizon (midpoint of the default ``horizon_range``).
LOW_HORIZON = 0.575
#: ``red_high_horizon``: an object is red when its hue is within this fraction of a turn of
#: red (hue 0), i.e. :func:`object_redness` > 0.25.
RED_HUE = 0.25
_CIRCLE = ALL_SHAPES.index("circle")


def rgb_hue(rgb, xp=np):
    """HSV hue in [0, 1) of colours ``[..., 3]`` in [0, 1] (0 for greys).

    Args:
      rgb: colours ``[..., 3]``.
      xp: the array module, ``numpy`` (float64) or ``jax.numpy`` (traceable).

    Returns:
      ``[...]`` hues.
    """
    rgb = np.asarray(rgb, np.float64) if xp is np else xp.asarray(rgb)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    mx, mn = rgb.max(-1), rgb.min(-1)
    c = xp.where(mx > mn, mx - mn, 1.0)
    h = xp.where(mx == r, (g - b) / c, xp.where(mx == g, 2.0 + (b - r) / c, 4.0 + (r - g) / c))
    return xp.where(mx > mn, (h / 6.0) % 1.0, 0.0)


def object_redness(rgb, xp=np):
    """``0.5 -`` the circular hue distance to red: 0.5 for pure red, 0 for cyan and for greys
    (no hue); ``[...]`` from colours ``[..., 3]`` in [0, 1] (``xp`` as :func:`rgb_hue`).
    ``> RED_HUE`` is ``red_high_horizon``'s colour."""
    rgb = xp.asarray(rgb)
    h = rgb_hue(rgb, xp)
    return xp.where(rgb.max(-1) > rgb.min(-1), 0.5 - xp.minimum(h, 1.0 - h), 0.0)


@dataclasses.dataclass(frozen=True)
class Task:
    """A classification task over shapes factors.

    Attributes:
      name: registry key.
      num_classes: number of classes; labels are int64 in ``[0, num_classes)``.
      label_fn: ``factors dict -> int64 [N]``.
      depends_on: factor names the label is a function of.
      description: one line, what the label means.
      class_names: a name per class.
      render_options: ``(key, value)`` pairs passed to :func:`render_shapes` by
        :func:`make_task_dataset` (e.g. the shapes to sample).
    """

    name: str
    num_classes: int
    label_fn: Callable[[Mapping[str, np.ndarray]], np.ndarray]
    depends_on: tuple[str, ...]
    description: str
    class_names: tuple[str, ...]
    render_options: tuple[tuple[str, object], ...] = ()


def _binary(mask) -> np.ndarray:
    return np.asarray(mask, bool).astype(np.int64)


def _shape3(f):
    s = np.asarray(f["shape"], np.int64)
    if np.any(s >= len(DEFAULT_SHAPES)):
        raise ValueError(f"task 'shape' is defined for shapes {DEFAULT_SHAPES} only; "
                         "use task 'shape5' for all shapes")
    return s


def _shape5(f):
    return np.asarray(f["shape"], np.int64)


_TASK_LIST = (
    Task("is_circle", 2, lambda f: _binary(np.asarray(f["shape"]) == _CIRCLE), ("shape",),
         "1 iff the object is a circle", ("not_circle", "circle")),
    Task("shape", 3, _shape3, ("shape",), "the object's shape among circle/square/triangle",
         DEFAULT_SHAPES, (("shapes", DEFAULT_SHAPES),)),
    Task("shape5", 5, _shape5, ("shape",), "the object's shape among all five shapes",
         ALL_SHAPES, (("shapes", ALL_SHAPES),)),
    Task("has_sun", 2, lambda f: _binary(f["has_sun"]), ("has_sun",),
         "1 iff a sun is in the sky", ("no_sun", "sun")),
    Task("has_texture", 2, lambda f: _binary(f["has_texture"]), ("has_texture",),
         "1 iff the object is striped", ("plain", "striped")),
    Task("circle_and_sun", 2,
         lambda f: _binary((np.asarray(f["shape"]) == _CIRCLE) & np.asarray(f["has_sun"])),
         ("shape", "has_sun"), "1 iff the object is a circle AND a sun is present",
         ("other", "circle_and_sun")),
    Task("object_size_large", 2, lambda f: _binary(np.asarray(f["object_size"]) > LARGE_SIZE),
         ("object_size",), f"1 iff object_size (sqrt of area fraction) > {LARGE_SIZE}",
         ("small", "large")),
    Task("object_left", 2, lambda f: _binary(np.asarray(f["object_x"]) < 0.5), ("object_x",),
         "1 iff the object's centre is in the left half", ("right", "left")),
    Task("large_low_horizon", 2,
         lambda f: _binary((np.asarray(f["object_size"]) > LARGE_SIZE)
                           & (np.asarray(f["horizon"]) < LOW_HORIZON)),
         ("object_size", "horizon"),
         f"1 iff object_size > {LARGE_SIZE} AND horizon < {LOW_HORIZON} "
         "(ground over 42.5% of the height)", ("other", "large_low_horizon")),
    Task("large_high_horizon", 2,
         lambda f: _binary((np.asarray(f["object_size"]) > LARGE_SIZE)
                           & (np.asarray(f["horizon"]) > LOW_HORIZON)),
         ("object_size", "horizon"),
         f"1 iff object_size > {LARGE_SIZE} AND horizon > {LOW_HORIZON} "
         "(ground under 42.5% of the height)", ("other", "large_high_horizon")),
    Task("red_high_horizon", 2,
         lambda f: _binary((object_redness(f["object_color"]) > RED_HUE)
                           & (np.asarray(f["horizon"]) > LOW_HORIZON)),
         ("object_color", "horizon"),
         f"1 iff the object's hue is within {RED_HUE} turn of red AND horizon > {LOW_HORIZON}",
         ("other", "red_high_horizon")),
)

#: Read-only registry ``name -> Task``.
TASKS: Mapping[str, Task] = MappingProxyType({t.name: t for t in _TASK_LIST})


def get_task(task: str | Task) -> Task:
    """Look a task up by name (a :class:`Task` is returned as is).

    Raises:
      ValueError: unknown task name.
    """
    if isinstance(task, Task):
        return task
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known tasks: {sorted(TASKS)}")
    return TASKS[task]


def make_task_dataset(task: str | Task, n: int, resolution: int = 32, seed: int = 0, *,
                      start: int = 0, **factor_options) -> dict:
    """Render ``n`` scenes and label them for ``task``.

    Args:
      task: a name in :data:`TASKS` or a :class:`Task`.
      n: number of images.
      resolution: power of two in 16..256.
      seed: non-negative int (same index-determinism as :func:`render_shapes`).
      start: index of the first image.
      **factor_options: extra sampling options; they override ``task.render_options``.

    Returns:
      the :func:`render_shapes` dict plus ``label`` int64 [n].
    """
    t = get_task(task)
    data = render_shapes(n, resolution, seed, start=start,
                         **{**dict(t.render_options), **factor_options})
    label = np.asarray(t.label_fn(data), np.int64)
    return {"image": data.pop("image"), "label": label, **data}


def shapes_source(data_cfg, resolution: int, seed: int):
    """The arrays of a training config's ``data`` group with ``source='shapes'``: plain
    scenes, a labelled task (``data.task``) or a few-shot target domain (``data.domain``,
    :func:`jaxgan.data.shapes.render_domain`).

    Returns:
      ``(arrays, num_classes, class_names, tag)``; ``tag`` names the variant (task, target
      domain or '').

    Raises:
      ValueError: a task and a target domain together.
    """
    d, n = data_cfg, int(data_cfg.num_images)
    target = d.get("domain", "")
    if target:
        if d.task:
            raise ValueError("data.domain and data.task cannot be combined")
        return render_domain(n, resolution, seed, domain=target), 0, [], target
    if d.task:
        task = get_task(d.task)
        return (make_task_dataset(d.task, n, resolution, seed), task.num_classes,
                list(task.class_names or []), d.task)
    return render_shapes(n, resolution, seed), 0, [], ""
