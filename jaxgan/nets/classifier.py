"""Small CNN image classifier: the model to explain (StylEx), steer (GANalyze) or ensemble.

Architecture (channels last, see :class:`~jaxgan.nets.configs.ClassifierConfig`)::

    stem   3x3 conv -> widths[0]                       (full resolution)
    stage  3x3 conv stride 2 -> widths[i], then `depth` residual 3x3 convs   (i >= 1)
    head   global pool (mean, max or both, ``cfg.pool``) -> linear -> num_classes logits

Every conv is followed by SiLU (smooth, so gradients with respect to the image are well
behaved for attribution and steering), optionally preceded by GroupNorm (``cfg.groups``;
off by default). There are no batch statistics: the network is a pure function of each
image, ``vmap``-safe. Works at any resolution
>= 8 and 1 or 3 channels. Inputs are float images in [-1, 1], ``[N, H, W, C]``.

Use :func:`classifier_logits` (pure, jittable, differentiable w.r.t. ``images``);
:func:`evaluate_classifier` gives the accuracy on a (uint8 or float) held-out set.
"""
from __future__ import annotations

from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.ops.pixels import to_float
from jaxgan.nets.configs import ClassifierConfig


def check_images(images, resolution: int, channels: int, who: str):
    """Validate a float image batch ``[N, resolution, resolution, channels]``.

    Args:
      images: the array to check.
      resolution: expected height and width.
      channels: expected channel count.
      who: name used in error messages.

    Returns:
      ``images`` as a float JAX array (float16/bfloat16/float32 kept, float64 -> float32).

    Raises:
      TypeError: integer images (convert uint8 with ``jaxgan.data.to_float``).
      ValueError: wrong rank, size or channel count.
    """
    x = jnp.asarray(images)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{who} expects float images in [-1, 1], got dtype {x.dtype}; "
                        "convert uint8 images with jaxgan.data.to_float")
    if x.dtype == jnp.float64:
        x = x.astype(jnp.float32)
    want = (resolution, resolution, channels)
    if x.ndim != 4 or tuple(x.shape[1:]) != want:
        raise ValueError(f"{who} expects images of shape [N, {resolution}, {resolution}, "
                         f"{channels}] (NHWC), got {tuple(x.shape)}")
    return x


#: LeCun-normal without truncation: ``truncated_normal`` takes ~10 s to compile on CPU.
KERNEL_INIT = nn.initializers.variance_scaling(1.0, "fan_in", "normal")


class ConvNormAct(nn.Module):
    """3x3 conv (optionally strided) + GroupNorm + SiLU."""
    features: int
    groups: int
    stride: int = 1

    @nn.compact
    def __call__(self, x):
        """Args: x ``[N, H, W, C]``. Returns ``[N, ceil(H/stride), ceil(W/stride), features]``."""
        x = nn.Conv(self.features, (3, 3), strides=(self.stride, self.stride), padding="SAME",
                    kernel_init=KERNEL_INIT, name="conv")(x)
        if self.groups:
            x = nn.GroupNorm(num_groups=self.groups, name="norm")(x)
        return nn.silu(x)


class Classifier(nn.Module):
    """CNN ``images [N, R, R, C] in [-1, 1] -> logits [N, num_classes]``."""
    cfg: ClassifierConfig

    @nn.compact
    def __call__(self, images):
        """Args: images float ``[N, R, R, C]``. Returns float32 logits ``[N, num_classes]``."""
        cfg = self.cfg
        x = check_images(images, cfg.img_resolution, cfg.img_channels, "Classifier")
        x = ConvNormAct(cfg.widths[0], cfg.groups, name="stem")(x)
        for i, w in enumerate(cfg.widths[1:], start=1):
            x = ConvNormAct(w, cfg.groups, stride=2, name=f"stage{i}_down")(x)
            for j in range(cfg.depth):
                x = x + ConvNormAct(w, cfg.groups, name=f"stage{i}_conv{j}")(x)
        pooled = {"avg": [jnp.mean(x, axis=(1, 2))], "max": [jnp.max(x, axis=(1, 2))]}
        pooled["avgmax"] = pooled["avg"] + pooled["max"]
        x = jnp.concatenate(pooled[cfg.pool], axis=-1)                   # [N, (1|2) * width]
        head = nn.Dense(cfg.num_classes, kernel_init=KERNEL_INIT, name="head")
        return head(x).astype(jnp.float32)


def init_variables(module: nn.Module, key, dummy, zero_kernels: tuple[str, ...] = ()):
    """``module.init(key, dummy)``'s variables, drawn from one normal sample (fast compile).

    Every ``jax.random.normal`` call in a jitted program is compiled separately, which on
    CPU costs seconds per parameter (10 convs: ~25 s); one draw for all parameters takes
    well under a second. The result has the distribution of the declared initialisers:
    ``kernel`` LeCun normal (``N(0, 1/fan_in)``, fan_in = product of all but the last
    axis) or zeros inside a submodule named in ``zero_kernels``; ``scale`` ones; every
    other leaf (biases) zeros.

    Args:
      module: a Flax module whose parameters follow those conventions.
      key: a ``jax.random`` key.
      dummy: an example input for ``module.init``.

    Returns:
      the variables ``{'params': ...}``.
    """
    shapes = jax.eval_shape(module.init, key, dummy)                 # traces, no compile
    flat, treedef = jax.tree_util.tree_flatten_with_path(shapes)

    def draw(k):
        z = jax.random.normal(k, (sum(leaf.size for _, leaf in flat),), jnp.float32)
        leaves, offset = [], 0
        for path, leaf in flat:
            names = [str(getattr(p, "key", p)) for p in path]
            if names[-1] == "kernel" and not set(names) & set(zero_kernels):
                fan_in = int(np.prod(leaf.shape[:-1]))
                v = z[offset:offset + leaf.size].reshape(leaf.shape) / np.sqrt(fan_in)
                offset += leaf.size
            else:
                v = jnp.full(leaf.shape, 1.0 if names[-1] == "scale" else 0.0, jnp.float32)
            leaves.append(v.astype(leaf.dtype))
        return jax.tree_util.tree_unflatten(treedef, leaves)
    return jax.jit(draw)(key)


def init_classifier(cfg: ClassifierConfig, key):
    """Build a classifier and initialise its variables.

    Args:
      cfg: the architecture.
      key: a ``jax.random`` key.

    Returns:
      ``(module, variables)`` with ``variables = {'params': ...}``.
    """
    module = Classifier(cfg)
    dummy = jnp.zeros((1, cfg.img_resolution, cfg.img_resolution, cfg.img_channels))
    return module, init_variables(module, key, dummy)


def classifier_logits(module: Classifier, variables, images):
    """Logits of a batch of images (pure; jit / grad / vmap friendly).

    Args:
      module: a :class:`Classifier`.
      variables: its variables ``{'params': ...}``.
      images: float ``[N, R, R, C]`` in [-1, 1].

    Returns:
      float32 ``[N, num_classes]`` logits (differentiable w.r.t. ``images``).
    """
    return module.apply(variables, images)


def classifier_probs(module: Classifier, variables, images):
    """Softmax class probabilities ``[N, num_classes]`` (see :func:`classifier_logits`)."""
    return jax.nn.softmax(classifier_logits(module, variables, images), axis=-1)


def predict_logits(fn, images, batch_size: int = 250) -> np.ndarray:
    """Apply a jitted ``fn(float images) -> array`` over a big uint8/float array in batches.

    The last batch is zero-padded to ``batch_size`` so ``fn`` compiles once.

    Args:
      fn: e.g. ``partial(jax.jit(lambda v, x: classifier_logits(module, v, x)), variables)``.
      images: uint8 or float ``[N, R, R, C]``.
      batch_size: examples per call.

    Returns:
      NumPy concatenation of ``fn`` over the batches, first axis ``N``.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = to_float(images)
    out = []
    for s in range(0, len(images), batch_size):
        x = images[s:s + batch_size]
        k = len(x)
        if k < batch_size:
            x = np.concatenate([x, np.zeros((batch_size - k, *x.shape[1:]), x.dtype)])
        out.append(np.asarray(fn(x))[:k])
    return np.concatenate(out)


def evaluate_classifier(module, variables, images, labels, batch_size: int = 250) -> float:
    """Top-1 accuracy on a held-out set.

    Args:
      module, variables: the classifier.
      images: uint8 or float ``[N, R, R, C]``.
      labels: int ``[N]``.
      batch_size: evaluation batch size.

    Returns:
      accuracy in [0, 1].
    """
    fn = partial(jax.jit(lambda v, x: classifier_logits(module, v, x)), variables)
    logits = predict_logits(fn, images, min(batch_size, len(images)))
    return float(np.mean(np.argmax(logits, -1) == np.asarray(labels)))
