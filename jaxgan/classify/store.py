"""Classifier/segmenter checkpoints: ``arch.json`` + ``params/`` (orbax) + optional
``metrics.json``, written atomically (:func:`save_model`) and read back (:func:`load_model`)."""
from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from jaxgan import assets
from jaxgan.checkpoint import write_dir_atomic
from jaxgan.errors import quiet_abandoned_reads
from jaxgan.nets.classifier import Classifier, init_classifier
from jaxgan.nets.configs import ClassifierConfig, SegmenterConfig, config_from_json
from jaxgan.nets.segmenter import Segmenter, init_segmenter

ARCH_FILE, PARAMS_DIR, METRICS_FILE = "arch.json", "params", "metrics.json"


def save_model(path, module, variables, metrics: dict | None = None) -> Path:
    """Atomically write ``arch.json`` + orbax ``params/`` (+ ``metrics.json``) to ``path``.

    Args:
      path: the checkpoint directory; an existing one is replaced.
      module: a :class:`Classifier` or :class:`Segmenter` (its ``cfg`` goes to arch.json).
      variables: ``{'params': ...}``.
      metrics: optional JSON-serialisable dict.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path).absolute()
    cfg = getattr(module, "cfg", None)
    if not isinstance(cfg, (ClassifierConfig, SegmenterConfig)):
        raise TypeError("save_model expects a Classifier or Segmenter, got "
                        f"{type(module).__name__}")
    tree = jax.tree.map(np.asarray, jax.device_get({"params": variables["params"]}))

    def fill(tmp: Path) -> None:
        (tmp / ARCH_FILE).write_text(cfg.to_json() + "\n")
        if metrics is not None:
            (tmp / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
        with ocp.StandardCheckpointer() as ckptr:
            ckptr.save(tmp / PARAMS_DIR, tree)
            ckptr.wait_until_finished()

    return write_dir_atomic(path, fill)


def build_module(cfg):
    """``Classifier`` / ``Segmenter`` of a ``ClassifierConfig`` / ``SegmenterConfig``."""
    if isinstance(cfg, ClassifierConfig):
        return Classifier(cfg)
    if isinstance(cfg, SegmenterConfig):
        return Segmenter(cfg)
    raise TypeError(f"not a classifier/segmenter config: {type(cfg).__name__}")


def load_model(path):
    """Load a checkpoint written by :func:`save_model`.

    Args:
      path: the checkpoint directory, or ``builtin:NAME`` (a network in :mod:`jaxgan.assets`).

    Returns:
      ``(module, variables)`` with ``variables = {'params': ...}`` as JAX arrays.

    Raises:
      FileNotFoundError: no ``arch.json`` / ``params/`` there.
      ValueError: ``arch.json`` is not a classifier or segmenter config.
    """
    path = Path(assets.resolve(path)).absolute()
    if not (path / ARCH_FILE).is_file() or not (path / PARAMS_DIR).is_dir():
        raise FileNotFoundError(f"{path} is not a classifier/segmenter checkpoint "
                                f"(expected {ARCH_FILE} and {PARAMS_DIR}/)")
    cfg = config_from_json((path / ARCH_FILE).read_text())
    if not isinstance(cfg, (ClassifierConfig, SegmenterConfig)):
        raise ValueError(f"{path / ARCH_FILE} holds a {type(cfg).__name__}, not a "
                         "ClassifierConfig / SegmenterConfig")
    module = build_module(cfg)
    init = init_classifier if isinstance(cfg, ClassifierConfig) else init_segmenter
    target = jax.eval_shape(lambda: init(cfg, jax.random.key(0))[1])
    quiet_abandoned_reads()     # a damaged array: the other reads finish after the loop closed
    with ocp.StandardCheckpointer() as ckptr:
        variables = ckptr.restore(path / PARAMS_DIR, target)
    return module, jax.tree.map(jnp.asarray, variables)


# ----------------------------------------------------------------------------- runners
