"""Built-in assessors and statistics: differentiable ``images [N, R, R, C] -> [N]`` functions.

GANalyze needs an *assessor* (image -> score); steerability curves need a *statistic*
per edit (object size for zoom, centre for shift, colour for colour). All are built from
the committed measuring instruments - the concept segmenter and the classifiers (built in:
:mod:`jaxgan.assets`) - or from pixels, and are pure jnp (``jit``/``grad`` safe).
Each builder closes over the instrument's module and variables and returns a function.

Segmenter-based statistics use the soft masks (sigmoid probabilities), so they are
differentiable; the area is a fraction of the image, the centre is in pixels from the
top-left corner.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jaxgan.nets.segmenter import segmenter_logits
from jaxgan.nets.classifier import classifier_logits

Assessor = Callable[[jax.Array], jax.Array]


def _concept_index(seg_module, concept: str) -> int:
    concepts = tuple(seg_module.cfg.concepts)
    if concept not in concepts:
        raise ValueError(f"the segmenter has no concept {concept!r}; it has {concepts}")
    return concepts.index(concept)


def concept_prob(seg_module, seg_vars, concept: str = "object") -> Assessor:
    """Soft mask ``[N, R, R]`` of one concept (sigmoid of the segmenter's logits)."""
    k = _concept_index(seg_module, concept)
    return lambda images: jax.nn.sigmoid(segmenter_logits(seg_module, seg_vars, images)[..., k])


def concept_area(seg_module, seg_vars, concept: str = "object", scale: float = 1.0) -> Assessor:
    """Fraction of the image covered by ``concept`` (soft), times ``scale``: ``[N]``."""
    prob = concept_prob(seg_module, seg_vars, concept)
    return lambda images: scale * jnp.mean(prob(images), axis=(1, 2))


def concept_size(seg_module, seg_vars, concept: str = "object", scale: float = 1.0) -> Assessor:
    """``scale * sqrt(area fraction)`` (the shapes data's ``object_size`` factor): ``[N]``."""
    area = concept_area(seg_module, seg_vars, concept)
    return lambda images: scale * jnp.sqrt(area(images) + 1e-8)


def concept_centre(seg_module, seg_vars, concept: str = "object", axis: str = "x") -> Assessor:
    """Probability-weighted centre of ``concept`` along ``axis`` ('x' or 'y'), pixels: ``[N]``."""
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    prob = concept_prob(seg_module, seg_vars, concept)

    def centre(images):
        p = prob(images)                                                     # [N, R, R]
        r = p.shape[1]
        pos = jnp.arange(r, dtype=p.dtype) + 0.5
        marg = jnp.sum(p, axis=1 if axis == "x" else 2)                      # [N, R]
        return jnp.sum(marg * pos, axis=1) / jnp.maximum(jnp.sum(marg, axis=1), 1e-6)

    return centre


def mean_colour(channel: int | None = None, seg_module=None, seg_vars=None,
                concept: str | None = None) -> Assessor:
    """Mean colour of the image (or of ``concept``'s soft mask): ``[N]``.

    Args:
      channel: 0/1/2 for R/G/B; None averages the channels (brightness).
      seg_module, seg_vars, concept: weight pixels by a concept's soft mask (optional).
    """
    prob = concept_prob(seg_module, seg_vars, concept) if concept is not None else None

    def colour(images):
        x = images[..., channel] if channel is not None else jnp.mean(images, axis=-1)
        if prob is None:
            return jnp.mean(x, axis=(1, 2))
        p = prob(images)
        return jnp.sum(p * x, axis=(1, 2)) / jnp.maximum(jnp.sum(p, axis=(1, 2)), 1e-6)

    return colour


def class_score(cls_module, cls_vars, class_idx: int, kind: str = "logit") -> Assessor:
    """A classifier's score for one class: ``'logit'``, ``'margin'`` (logit minus the
    log-sum-exp of the others) or ``'prob'``: ``[N]``."""
    n = cls_module.cfg.num_classes
    if not 0 <= class_idx < n:
        raise ValueError(f"class_idx {class_idx} out of range [0, {n})")
    if kind not in ("logit", "margin", "prob"):
        raise ValueError(f"kind must be 'logit', 'margin' or 'prob', got {kind!r}")

    def score(images):
        logits = classifier_logits(cls_module, cls_vars, images)             # [N, K]
        if kind == "logit":
            return logits[:, class_idx]
        if kind == "prob":
            return jax.nn.softmax(logits, axis=-1)[:, class_idx]
        others = jnp.delete(logits, class_idx, axis=1, assume_unique_indices=True)
        return logits[:, class_idx] - jax.nn.logsumexp(others, axis=-1)

    return score


def edit_statistic(edit: str, seg_module, seg_vars) -> Assessor:
    """The statistic a steering direction for ``edit`` should move (steerability curves).

    zoom -> object area fraction; shift_x / shift_y -> object centre (pixels);
    color_r/g/b -> mean of that channel; brightness -> mean intensity. rotate has no
    scalar statistic here (raises).
    """
    if edit == "zoom":
        return concept_area(seg_module, seg_vars, "object")
    if edit in ("shift_x", "shift_y"):
        return concept_centre(seg_module, seg_vars, "object", edit[-1])
    if edit.startswith("color_"):
        return mean_colour("rgb".index(edit[-1]))
    if edit == "brightness":
        return mean_colour(None)
    raise ValueError(f"no built-in statistic for edit {edit!r}")


def builtin_assessor(name: str, *, segmenter=None, classifier=None, scale: float = 1.0,
                     class_idx: int = 1) -> Assessor:
    """Assessors by name for the CLI.

    Names: ``object_size`` (``scale * sqrt(object area)``), ``object_area``,
    ``object_x``, ``object_y``, ``sun_area``, ``ground_area`` (the planted horizon: a lower
    horizon is more ground), ``sky_area``, ``class_logit``, ``class_margin``,
    ``class_prob`` (``classifier``'s ``class_idx``), ``brightness``.

    Args:
      segmenter / classifier: ``(module, variables)`` of the instruments.
    """
    seg = {"object_size": lambda m, v: concept_size(m, v, "object", scale),
           "object_area": lambda m, v: concept_area(m, v, "object", scale),
           "object_x": lambda m, v: concept_centre(m, v, "object", "x"),
           "object_y": lambda m, v: concept_centre(m, v, "object", "y"),
           "sun_area": lambda m, v: concept_area(m, v, "sun", scale),
           "ground_area": lambda m, v: concept_area(m, v, "ground", scale),
           "sky_area": lambda m, v: concept_area(m, v, "sky", scale)}
    if name in seg:
        if segmenter is None:
            raise ValueError(f"assessor {name!r} needs a segmenter")
        return seg[name](*segmenter)
    if name.startswith("class_"):
        if classifier is None:
            raise ValueError(f"assessor {name!r} needs a classifier")
        kind = name[len("class_"):]
        f = class_score(*classifier, class_idx, kind)
        return (lambda images: scale * f(images)) if scale != 1.0 else f
    if name == "brightness":
        f = mean_colour(None)
        return lambda images: scale * f(images)
    names = sorted(seg) + ["class_logit", "class_margin", "class_prob", "brightness"]
    raise ValueError(f"unknown assessor {name!r}; choose from {names}")
