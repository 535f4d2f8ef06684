"""The runners behind ``jaxgan train-classifier`` / ``train-segmenter``: data -> training ->
held-out evaluation -> checkpoint."""
from __future__ import annotations

import time
from functools import partial

import jax

from jaxgan.classify.steps import (TrainOptions, as_config, classifier_optimizer,
                                   init_classifier_state, make_classifier_step,
                                   make_segmenter_step, train_loop)
from jaxgan.classify.store import save_model
from jaxgan.data.labelled import load_classification_data, load_segmentation_data, mask_concepts
from jaxgan.nets.classifier import evaluate_classifier, init_classifier
from jaxgan.nets.configs import ClassifierConfig, SegmenterConfig
from jaxgan.nets.segmenter import evaluate_segmenter, init_segmenter, segment


def _resolve_aug(opts: TrainOptions, flip_ok: bool, shift_ok: bool, what: str):
    if opts.flip is True and not flip_ok:
        raise ValueError(f"flip=True changes the labels of {what}; use flip=False or 'auto'")
    if opts.shift and not shift_ok:
        raise ValueError(f"shift={opts.shift} changes the labels of {what}; use shift=0")
    return (flip_ok if opts.flip == "auto" else bool(opts.flip)), opts.shift


def run_classifier(train=None, model=None, *, out=None, progress: bool = True) -> dict:
    """Train a classifier on ``train.task``, evaluate it held-out and optionally save it.

    Args:
      train: :class:`TrainOptions` or a dict of its fields (unknown keys are an error).
      model: dict of :class:`ClassifierConfig` fields other than ``img_resolution``,
        ``img_channels``, ``num_classes``, ``task``, ``class_names`` (set from the data).
      out: checkpoint directory to write, or None.
      progress: show a tqdm progress bar.

    Returns:
      dict: ``module``, ``variables``, ``metrics`` (``test_accuracy``, ``train_loss``,
      ``train_accuracy`` of the last batch, ``seconds``, ...), ``path``.
    """
    opts = as_config(TrainOptions, train)
    t0 = time.perf_counter()
    data, test, info = load_classification_data(opts)
    flip, shift = _resolve_aug(opts, info["flip_ok"], info["shift_ok"], opts.task)
    cfg = ClassifierConfig.from_dict({
        **dict(model or {}), "img_resolution": opts.resolution,
        "img_channels": data["image"].shape[-1], "num_classes": info["num_classes"],
        "task": opts.task, "class_names": info["class_names"]})
    module, variables = init_classifier(cfg, jax.random.fold_in(jax.random.key(opts.seed), 0))
    tx = classifier_optimizer(opts)
    step = make_classifier_step(module, tx, flip=flip, shift=shift)
    state, last = train_loop(step, init_classifier_state(variables["params"], tx), data, opts, progress,
                         opts.task)
    variables = {"params": state.params}
    acc = evaluate_classifier(module, variables, test["image"], test["label"],
                              opts.eval_batch_size)
    metrics = {"test_accuracy": acc, "num_test": len(test["label"]),
               "num_train": len(data["label"]), "train_loss": last.get("loss"),
               "train_accuracy": last.get("accuracy"), "flip": flip, "shift": shift,
               "seconds": time.perf_counter() - t0, "options": opts.to_dict()}
    path = save_model(out, module, variables, metrics) if out else None
    return {"module": module, "variables": variables, "metrics": metrics, "path": path}


def run_segmenter(train=None, model=None, *, out=None, progress: bool = True) -> dict:
    """Train a concept segmenter on shapes scenes or a mask folder, report held-out mIoU,
    optionally save.

    Args:
      train: :class:`TrainOptions` or dict (``task``: ``'shapes'`` or ``'folder:PATH'``).
      model: dict of :class:`SegmenterConfig` fields other than ``img_resolution`` /
        ``img_channels`` (e.g. ``concepts``, ``widths``).
      out: checkpoint directory to write, or None.
      progress: show a tqdm progress bar.

    Returns:
      dict: ``module``, ``variables``, ``metrics`` (``mean_iou``, ``iou`` per concept,
      ``seconds``, ...), ``path``.
    """
    if not isinstance(train, TrainOptions):
        train = {"task": "shapes", **dict(train or {})}
    opts = as_config(TrainOptions, train)
    t0 = time.perf_counter()
    model = dict(model or {})
    if opts.task.startswith("folder:") and "concepts" not in model:   # the folder's concepts
        model["concepts"] = mask_concepts(opts.task.partition(":")[2])
    cfg = SegmenterConfig.from_dict({**model, "img_resolution": opts.resolution,
                                     "img_channels": opts.channels})
    data, test = load_segmentation_data(opts, cfg.concepts)
    # Every shapes concept mask moves with the image under flips and shifts.
    flip, shift = _resolve_aug(opts, True, True, "segmentation")
    module, variables = init_segmenter(cfg, jax.random.fold_in(jax.random.key(opts.seed), 0))
    tx = classifier_optimizer(opts)
    step = make_segmenter_step(module, tx, flip=flip, shift=shift, dice_weight=opts.dice_weight)
    state, last = train_loop(step, init_classifier_state(variables["params"], tx), data, opts, progress,
                         "segmenter")
    variables = {"params": state.params}
    fn = partial(jax.jit(lambda v, x: segment(module, v, x)), variables)
    truth = {c: test["masks"][..., k] for k, c in enumerate(cfg.concepts)}
    miou, per = evaluate_segmenter(fn, test["image"], truth,
                                   min(opts.eval_batch_size, len(test["image"])))
    metrics = {"mean_iou": miou, "iou": per, "num_test": len(test["image"]),
               "num_train": len(data["image"]), "train_loss": last.get("loss"), "flip": flip,
               "shift": shift, "seconds": time.perf_counter() - t0,
               "options": opts.to_dict()}
    path = save_model(out, module, variables, metrics) if out else None
    return {"module": module, "variables": variables, "metrics": metrics, "path": path}
