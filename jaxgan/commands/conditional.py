"""Command helpers for conditional generators (``c_dim > 0``): the ``--class`` /
``--classifier`` flags, a class given by name or index, inferred by a classifier, or read
from an image's sub-folder, and the class-bound generator the unconditional tools run on.

Class names travel with the network (``classes.json``, :func:`jaxgan.checkpoint.
load_class_names`), written by training from the dataset's class names.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from jaxgan.commands.base import UsageError


def add_class_arguments(p: argparse.ArgumentParser, infer: bool = True) -> None:
    """``--class`` (and with ``infer``, ``--classifier``) for a conditional generator."""
    p.add_argument("--class", dest="cls", default=None,
                   help="conditional generator: the class, by name (saved with the network) or "
                        "index" + ("; default: each image's sub-folder when it names a class"
                                   if infer else ""))
    if infer:
        p.add_argument("--classifier", default=None,
                       help="conditional generator: infer each image's class with this "
                            "classifier checkpoint (jaxgan train-classifier) or "
                            "package.module:factory (docs/own-data.md)")


def class_index(spec, ckpt, c_dim: int) -> int:
    """``--class`` (a name or an index) -> the class index of the network at ``ckpt``."""
    from jaxgan.checkpoint import load_class_names, resolve_class  # noqa: PLC0415 - JAX
    try:
        return resolve_class(spec, load_class_names(ckpt), c_dim, "--class")
    except ValueError as e:
        raise UsageError(str(e)) from None


def bound_generator(args, G, ckpt):
    """``G`` bound to ``--class`` for a conditional generator (the unconditional tools then
    run on it unchanged); ``G`` itself for an unconditional one.

    Returns:
      ``(G', class_index or None)``.
    """
    from jaxgan import model  # noqa: PLC0415 - JAX
    cls = getattr(args, "cls", None)
    if not G.cfg.c_dim:
        if cls is not None:
            raise UsageError("--class given, but the generator is unconditional (c_dim=0)")
        return G, None
    if cls is None:
        raise UsageError(f"the generator is conditional (c_dim={G.cfg.c_dim}"
                         f"{_names_hint(ckpt)}): pass --class NAME|IDX")
    idx = class_index(cls, ckpt, G.cfg.c_dim)
    return model.bind_class(G, idx), idx


def _names_hint(ckpt) -> str:
    from jaxgan.checkpoint import load_class_names  # noqa: PLC0415 - JAX
    names = load_class_names(ckpt)
    return f"; classes: {', '.join(names)}" if names else ""


def classify_images(classifier_ckpt, x, class_names, c_dim: int) -> np.ndarray:
    """Each image's class index by a classifier: argmax of its logits, mapped to the
    generator's classes by name when both have names, else by index.

    Args:
      classifier_ckpt: classifier checkpoint directory or ``package.module:factory``.
      x: ``[N, R, R, C]`` float images in [-1, 1] (resized to the classifier's resolution).
      class_names: the generator's class names (may be empty).
      c_dim: the generator's number of classes.

    Returns:
      int64 ``[N]`` generator class indices.
    """
    import dataclasses  # noqa: PLC0415
    import jax  # noqa: PLC0415
    from jaxgan import contract  # noqa: PLC0415
    from jaxgan.nets.classifier import classifier_logits, predict_logits  # noqa: PLC0415
    if not contract.is_reference(classifier_ckpt) and not Path(classifier_ckpt).is_dir():
        raise UsageError(f"--classifier {classifier_ckpt}: no such directory (nor a "
                         "package.module:factory)")
    # a checkpoint, or a user's package.module:factory through the contract's adapter
    module, variables = contract.load_model(classifier_ckpt, "classifier",
                                            resolution=x.shape[1])
    cc = module.cfg
    if isinstance(module, contract.AdaptedModel):       # the adapter converts size and channels
        cc = dataclasses.replace(cc, img_channels=x.shape[-1], img_resolution=x.shape[1])
    if cc.img_channels != x.shape[-1]:
        raise UsageError(f"--classifier takes {cc.img_channels}-channel images, the generator "
                         f"makes {x.shape[-1]}")
    cls_names = list(cc.class_names)
    if class_names and cls_names:
        missing = [n for n in cls_names if n not in class_names]
        if missing:
            raise UsageError(f"--classifier classes {missing} are not generator classes "
                             f"({', '.join(class_names)})")
        lookup = np.array([list(class_names).index(n) for n in cls_names], np.int64)
    elif cc.num_classes == c_dim:
        lookup = np.arange(c_dim)
    else:
        raise UsageError(f"--classifier has {cc.num_classes} classes, the generator {c_dim}")
    r = cc.img_resolution

    @jax.jit
    def logits(v, imgs):
        if imgs.shape[1] != r:
            imgs = jax.image.resize(imgs, (imgs.shape[0], r, r, imgs.shape[-1]), "linear",
                                    antialias=True)
        return classifier_logits(module, v, imgs)

    out = predict_logits(lambda b: logits(variables, b), np.asarray(x, np.float32),
                         batch_size=min(len(x), 64))
    return lookup[np.argmax(out, axis=-1)]


def image_classes(args, G, ckpt, x, folders=None):
    """Per-image conditions of a conditional generator for ``jaxgan invert``.

    Order: ``--class`` (every image), ``--classifier`` (inferred per image), else each
    image's first sub-folder when every one names a class of the network.

    Args:
      args: parsed arguments with ``cls`` and ``classifier``.
      G, ckpt: the generator and its checkpoint path.
      x: ``[N, R, R, C]`` images.
      folders: each image's first sub-folder name, or None.

    Returns:
      ``(c [N, c_dim] float32 or None, per-image class names or indices (list) or None,
      how the classes were chosen: 'class' | 'classifier' | 'folder' | None)``.
    """
    from jaxgan.checkpoint import load_class_names  # noqa: PLC0415 - JAX
    cls, clf = getattr(args, "cls", None), getattr(args, "classifier", None)
    c_dim = G.cfg.c_dim
    if not c_dim:
        if cls is not None or clf is not None:
            raise UsageError("--class/--classifier given, but the generator is unconditional "
                             "(c_dim=0)")
        return None, None, None
    if cls is not None and clf is not None:
        raise UsageError("pass --class or --classifier, not both")
    names = load_class_names(ckpt)
    if cls is not None:
        idx, how = np.full(len(x), class_index(cls, ckpt, c_dim), np.int64), "class"
    elif clf is not None:
        idx, how = classify_images(clf, x, names, c_dim), "classifier"
    elif folders and names and all(f in names for f in folders):
        idx, how = np.array([names.index(f) for f in folders], np.int64), "folder"
    else:
        raise UsageError(f"the generator is conditional (c_dim={c_dim}"
                         f"{'; classes: ' + ', '.join(names) if names else ''}): pass --class "
                         f"NAME|IDX or --classifier CKPT (or images in sub-folders named by "
                         f"class)")
    c = np.eye(c_dim, dtype=np.float32)[idx]                                  # [N, c_dim]
    labels = [names[i] if names else int(i) for i in idx]
    return c, labels, how
