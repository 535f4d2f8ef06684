"""Pluggable feature extractors for the distribution metrics.

A :class:`FeatureNet` is a name, a feature dimension, a jit-able pure function
``fn(params, images [N, H, W, C] in [-1, 1]) -> [N, D]`` and its parameters (a pytree),
plus a fingerprint for the statistics cache. Metric names are built from the net's name:
``fd_<name>``, ``kd_<name>``, ``pr_<name>``; the Inception net's are reported as ``fid``,
``kid``, ``pr`` (the standard names), every other net's never are.

Built in:

* :func:`classifier_features` — the offline default: penultimate (pooled) features of a
  trained jaxgan classifier (``jaxgan.classify.load_model``), e.g. the committed shapes /
  digits classifiers. Reported as ``fd_classifier`` etc.
* :func:`inception_features` — the standard FID Inception-v3 (pool3, 2048-d) from the user's
  ``pt_inception-2015-12-05-6726825d.pth`` (or its ``.npz``), converted on load.

Any other extractor: ``FeatureNet("mynet", dim, fn, params, fingerprint)``.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan import assets, contract
from jaxgan.nets.lpips import resize_images
from jaxgan.convert.inception import load_inception
from jaxgan.nets.inception import inception_pool
from jaxgan.classify import load_model


class FeatureNet(NamedTuple):
    """A feature extractor for the metrics.

    Attributes:
      name: short name (``'classifier'``, ``'inception'``, ...); metrics are ``fd_<name>`` etc.
      dim: feature dimension D.
      fn: pure ``fn(params, images [N, H, W, C] float in [-1, 1]) -> [N, D]`` (jit-able).
      params: the pytree passed as ``fn``'s first argument.
      fingerprint: identifies the weights (used in the statistics cache key).
    """
    name: str
    dim: int
    fn: Callable[[Any, Any], Any]
    params: Any
    fingerprint: str


def metric_name(kind: str, net_name: str) -> str:
    """``('fd', 'inception') -> 'fid'``; ``('fd', 'classifier') -> 'fd_classifier'``."""
    if net_name == "inception":
        return {"fd": "fid", "kd": "kid", "pr": "pr"}[kind]
    return f"{kind}_{net_name}"


def _fit_images(images, resolution: int, channels: int):
    """Resize (area down / bilinear up) and convert grey <-> RGB for a fixed-input net."""
    x = images
    if x.shape[1] != resolution or x.shape[2] != resolution:
        x = resize_images(x, resolution)
    c = x.shape[-1]
    if c == channels:
        return x
    if c == 1 and channels == 3:
        return jnp.repeat(x, 3, axis=-1)
    if c == 3 and channels == 1:
        return jnp.mean(x, axis=-1, keepdims=True)
    raise ValueError(f"cannot feed {c}-channel images to a {channels}-channel feature network")


def classifier_penultimate(module, variables, images):
    """The pooled features that a jaxgan :class:`~jaxgan.nets.classifier.Classifier` feeds its
    final linear ``head`` (``[N, (1|2) * widths[-1]]``), captured with
    ``flax.linen.intercept_methods`` — no change to the classifier's code.

    Args:
      module, variables: a classifier from ``jaxgan.classify.load_model``.
      images: ``[N, R, R, C]`` at the classifier's resolution and channels.

    Returns:
      ``[N, D]`` features (jit / grad friendly).
    """
    captured = []

    def grab(next_fun, args, kwargs, context):
        if context.module.name == "head" and context.method_name == "__call__":
            captured.append(args[0])
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(grab):
        module.apply(variables, images)
    if len(captured) != 1:
        raise ValueError(f"{type(module).__name__} has no single 'head' layer to take features from")
    return captured[0]


def _fingerprint_tree(tree) -> str:
    h = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(tree):
        a = jax.device_get(leaf)
        h.update(str(a.shape).encode())
        h.update(a.tobytes()[:4096])
        h.update(str(float(a.sum())).encode())
    return h.hexdigest()[:16]


def classifier_features(path_or_model, name: str = "classifier") -> FeatureNet:
    """Feature net from a trained jaxgan classifier (the offline default).

    Args:
      path_or_model: a checkpoint directory (``jaxgan.classify.load_model``) or a
        ``(module, variables)`` pair.
      name: the name metrics are reported under (default ``'classifier'``).

    Returns:
      A :class:`FeatureNet`; inputs of any size/channel count are resized to the
      classifier's resolution (area down, bilinear up) and converted grey <-> RGB.
    """
    if isinstance(path_or_model, (str, Path)):
        module, variables = load_model(path_or_model)
    else:
        module, variables = path_or_model
    cfg = module.cfg
    if not hasattr(cfg, "num_classes"):
        raise ValueError(f"{path_or_model}: not a classifier ({type(cfg).__name__})")
    res, ch = cfg.img_resolution, cfg.img_channels

    def fn(v, images):
        return classifier_penultimate(module, v, _fit_images(images, res, ch))

    dim = jax.eval_shape(fn, variables, jax.ShapeDtypeStruct((1, res, res, ch), jnp.float32)).shape[1]
    return FeatureNet(name, int(dim), fn, variables, _fingerprint_tree(variables))


def inception_features(path, resize: int | None = 299) -> FeatureNet:
    """The standard FID Inception-v3 (pytorch-fid's ``FIDInceptionV3``), pool3 features.

    Args:
      path: the user's ``pt_inception-2015-12-05-6726825d.pth`` (a torch state dict, read
        without torch) or an ``.npz`` of the same keys.
      resize: input size (bilinear, as pytorch-fid); ``None`` keeps the input size (>= 75).

    Returns:
      A :class:`FeatureNet` named ``'inception'`` (metrics ``fid``, ``kid``, ``pr``), D = 2048.
    """
    module, variables = load_inception(path)

    def fn(v, images):
        x = images
        if x.shape[-1] == 1:
            x = jnp.repeat(x, 3, axis=-1)
        if resize is not None:
            x = jax.image.resize(x, (x.shape[0], resize, resize, 3), "linear", antialias=False)
        return inception_pool(module, v, x)

    return FeatureNet("inception", 2048, fn, variables, _fingerprint_tree(variables))


def reference_features(spec: str) -> FeatureNet:
    """A user's feature net ``package.module:factory`` (the :mod:`jaxgan.contract` kind
    ``features``: ``apply_fn(params, images) -> [N, D]``), resized and rescaled by the
    contract's adapter; metrics are reported as ``fd_<meta name>`` (default ``fd_user``).

    Args:
      spec: the Python reference.

    Returns:
      A :class:`FeatureNet`.
    """
    module, params = contract.load_model(spec, "features")
    return FeatureNet(module.cfg.name, int(module.cfg.dim), module.apply, params,
                      f"{spec}:{_fingerprint_tree(params)}")


def make_feature_net(spec: str) -> FeatureNet:
    """Parse a command-line feature-net spec.

    ``'classifier:PATH'`` or a plain directory -> :func:`classifier_features`;
    ``'inception:PATH'`` or a ``.pth`` / ``.npz`` file -> :func:`inception_features`;
    ``builtin:NAME`` is a classifier of :mod:`jaxgan.assets`; ``package.module:factory``
    is a user's feature net (:func:`reference_features`).
    """
    if contract.is_reference(spec) and spec.partition(":")[0] not in ("classifier", "inception"):
        return reference_features(spec)
    spec = assets.resolve(spec)
    kind, sep, rest = spec.partition(":")
    if sep and kind in ("classifier", "inception"):
        path = Path(rest)
    else:
        path, kind = Path(spec), ("inception" if Path(spec).suffix in (".pth", ".npz", ".pt") else
                                  "classifier")
    if not path.exists():
        raise FileNotFoundError(f"feature network not found: {path}")
    return inception_features(path) if kind == "inception" else classifier_features(path)
