"""Small U-Net concept segmenter: image -> one mask per concept (for GAN Dissection).

Architecture (channels last, see :class:`~jaxgan.nets.configs.SegmenterConfig`)::

    enc0   two 3x3 convs at full resolution -> widths[0]
    enc_i  3x3 conv stride 2 + 3x3 conv -> widths[i]              (i >= 1, halves the size)
    ctx    g = SiLU(Dense(concat(mean, max) of the bottleneck)), added to the bottleneck
    dec_i  1x1 conv -> widths[i], nearest 2x upsample, + skip enc_i, 3x3 conv (FPN-like)
    head   1x1 conv -> K logits, one per concept, + Dense(g) -> K image-level "presence"
           logits broadcast over the pixels                     (ctx, presence: global_context)

SiLU (after optional GroupNorm, ``cfg.groups``) follows every 3x3 conv; there are no
batch statistics (per-example, ``vmap``-safe). The presence logits let image-level
evidence switch a whole concept off (no triangle in the image -> empty ``triangle``
mask) while the local logits draw its outline (on the shapes scenes the per-shape masks
began improving after ~400 steps with them, and were still at chance after 800 without).
The output is multi-label: each concept has its own sigmoid, because concept masks
overlap (a circle's pixels are in both ``circle`` and ``object``; stripes are in
``texture`` and ``object``).

**Pluggable.** Dissection code only needs a *segmentation function*
``images float [N, H, W, C] in [-1, 1] -> {concept: [N, H, W] bool or probability}``.
:func:`segment` (with the module and variables bound, e.g. by ``functools.partial``) is
one; any other function with the same signature - a pretrained semantic segmenter, a
colour-threshold rule, the exact masks of a rendered shapes scene - can replace it.
:func:`evaluate_segmenter` scores any such function by dataset-level IoU per concept
(:func:`mean_iou`: pixels pooled over the set, concepts absent from both prediction and
truth excluded from the mean).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.ops.pixels import to_float
from jaxgan.nets.classifier import KERNEL_INIT, ConvNormAct, check_images, init_variables
from jaxgan.nets.configs import SegmenterConfig


def _upsample2x(x):
    """Nearest-neighbour 2x upsampling ``[N, H, W, C] -> [N, 2H, 2W, C]``."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class Segmenter(nn.Module):
    """U-Net ``images [N, R, R, C] in [-1, 1] -> logits [N, R, R, K]`` (K = len(concepts))."""
    cfg: SegmenterConfig

    @nn.compact
    def __call__(self, images):
        """Args: images float ``[N, R, R, C]``. Returns float32 logits ``[N, R, R, K]``."""
        cfg = self.cfg
        x = check_images(images, cfg.img_resolution, cfg.img_channels, "Segmenter")
        skips = []
        for i, w in enumerate(cfg.widths):
            x = ConvNormAct(w, cfg.groups, stride=1 if i == 0 else 2, name=f"enc{i}_a")(x)
            x = ConvNormAct(w, cfg.groups, name=f"enc{i}_b")(x)
            skips.append(x)
        presence = 0.0
        if cfg.global_context:
            g = jnp.concatenate([jnp.mean(x, axis=(1, 2)), jnp.max(x, axis=(1, 2))], -1)
            g = nn.silu(nn.Dense(cfg.widths[-1], kernel_init=KERNEL_INIT, name="context")(g))
            x = x + g[:, None, None, :]
            presence = nn.Dense(len(cfg.concepts), kernel_init=nn.initializers.zeros,
                                name="presence")(g)[:, None, None, :]            # [N, 1, 1, K]
        for i in range(len(cfg.widths) - 2, -1, -1):
            up = nn.Conv(cfg.widths[i], (1, 1), kernel_init=KERNEL_INIT, name=f"dec{i}_up")(x)
            x = ConvNormAct(cfg.widths[i], cfg.groups, name=f"dec{i}")(_upsample2x(up) + skips[i])
        head = nn.Conv(len(cfg.concepts), (1, 1), kernel_init=KERNEL_INIT, name="head")
        return (head(x) + presence).astype(jnp.float32)


def init_segmenter(cfg: SegmenterConfig, key):
    """Build a segmenter and initialise its variables.

    Args:
      cfg: the architecture.
      key: a ``jax.random`` key.

    Returns:
      ``(module, variables)`` with ``variables = {'params': ...}``.
    """
    module = Segmenter(cfg)
    dummy = jnp.zeros((1, cfg.img_resolution, cfg.img_resolution, cfg.img_channels))
    return module, init_variables(module, key, dummy, zero_kernels=("presence",))


def segmenter_logits(module: Segmenter, variables, images):
    """Per-concept logits (pure; jit / grad / vmap friendly).

    Args:
      module: a :class:`Segmenter`.
      variables: its variables ``{'params': ...}``.
      images: float ``[N, R, R, C]`` in [-1, 1].

    Returns:
      float32 ``[N, R, R, K]``; channel ``k`` is concept ``module.cfg.concepts[k]``.
    """
    return module.apply(variables, images)


def segment(module: Segmenter, variables, images, *, threshold: float | None = 0.5):
    """Concept masks of a batch of images - the reference *segmentation function*.

    Args:
      module: a :class:`Segmenter`.
      variables: its variables.
      images: float ``[N, R, R, C]`` in [-1, 1].
      threshold: probability above which a pixel is in the mask; None returns the
        sigmoid probabilities instead of boolean masks.

    Returns:
      ``{concept: [N, R, R]}``: bool masks (``threshold`` given) or float32 probabilities,
      one per ``module.cfg.concepts``.
    """
    probs = jax.nn.sigmoid(segmenter_logits(module, variables, images))
    out = probs if threshold is None else probs > threshold
    return {c: out[..., k] for k, c in enumerate(module.cfg.concepts)}


# ----------------------------------------------------------------------------- mIoU

def iou_counts(pred: dict, true: dict, concepts=None) -> dict:
    """Per-concept intersection and union pixel counts.

    Args:
      pred, true: ``{concept: bool [N, H, W]}`` (NumPy or JAX; nonzero = in the mask).
      concepts: names to count; default every key of ``true`` that ``pred`` also has.

    Returns:
      ``{concept: (intersection, union)}`` as Python ints.
    """
    names = [c for c in true if c in pred] if concepts is None else list(concepts)
    missing = [c for c in names if c not in pred or c not in true]
    if missing:
        raise ValueError(f"concept(s) {missing} missing from pred or true masks")
    out = {}
    for c in names:
        p, t = np.asarray(pred[c]).astype(bool), np.asarray(true[c]).astype(bool)
        if p.shape != t.shape:
            raise ValueError(f"concept {c!r}: pred shape {p.shape} != true shape {t.shape}")
        out[c] = (int(np.count_nonzero(p & t)), int(np.count_nonzero(p | t)))
    return out


def iou_from_counts(counts: dict) -> tuple[float, dict]:
    """``(mean IoU, {concept: IoU})`` from :func:`iou_counts` (summed over batches).

    A concept whose union is empty (absent from both prediction and truth) has IoU NaN
    and is excluded from the mean; the mean is NaN if no concept is present.
    """
    per = {c: (i / u if u else float("nan")) for c, (i, u) in counts.items()}
    present = [v for v in per.values() if not np.isnan(v)]
    return (float(np.mean(present)) if present else float("nan")), per


def mean_iou(pred: dict, true: dict, concepts=None) -> tuple[float, dict]:
    """Dataset-level IoU per concept (pixels pooled over all images) and their mean.

    Args:
      pred, true: ``{concept: bool [N, H, W]}``.
      concepts: names to score (default: keys of ``true`` also in ``pred``).

    Returns:
      ``(mean over present concepts, {concept: IoU or NaN if absent from both})``.
    """
    return iou_from_counts(iou_counts(pred, true, concepts))


def evaluate_segmenter(segment_fn, images, masks: dict, batch_size: int = 250):
    """mIoU of any segmentation function on a held-out set.

    Args:
      segment_fn: ``float images [B, R, R, C] -> {concept: bool [B, R, R]}`` (e.g.
        ``partial(segment, module, variables)``; any pluggable replacement works).
      images: uint8 or float ``[N, R, R, C]``.
      masks: ``{concept: bool [N, R, R]}`` ground truth; the concepts scored.
      batch_size: evaluation batch size.

    Returns:
      ``(mean IoU, {concept: IoU})`` as :func:`mean_iou`.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = to_float(images)
    total = {c: (0, 0) for c in masks}
    for s in range(0, len(images), batch_size):
        pred = segment_fn(images[s:s + batch_size])
        part = iou_counts(pred, {c: m[s:s + batch_size] for c, m in masks.items()})
        total = {c: (total[c][0] + part[c][0], total[c][1] + part[c][1]) for c in total}
    return iou_from_counts(total)
