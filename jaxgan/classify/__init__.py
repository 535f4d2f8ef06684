"""Train, evaluate, save and load the small classifier and concept segmenter.

Pure pieces (jitted, seeded, no global state): :func:`make_classifier_step`,
:func:`make_segmenter_step` build ``train_step(state, batch, key) -> (state, metrics)``
(the state argument is donated); :func:`predict_logits`, :func:`evaluate_classifier`,
:func:`evaluate_segmenter` and :func:`mean_iou` evaluate. :func:`run_classifier` /
:func:`run_segmenter` are the small runners behind ``jaxgan train-classifier`` and
``jaxgan train-segmenter``: data -> training (tqdm bar with ETA) -> held-out
evaluation -> checkpoint.

Seeding: one ``seed`` drives everything - the shapes datasets (train = scene indices
``[0, num_train)``, test = ``[num_train, num_train + num_test)``, so they are disjoint),
the parameter init (``fold_in(key(seed), 0)``), the per-step augmentation keys
(``fold_in(fold_in(key(seed), 1), step)``) and the data order (a local
``np.random.default_rng(seed)``). Same seed -> identical parameters.

Checkpoint directory (:func:`save_model` / :func:`load_model`)::

    <path>/arch.json     ClassifierConfig / SegmenterConfig .to_json()
    <path>/params/       {'params': ...} (orbax StandardCheckpointer)
    <path>/metrics.json  optional: held-out metrics and training options

written to a sibling temporary directory and moved into place with ``os.replace``.
"""
from __future__ import annotations

from jaxgan.classify.runners import run_classifier, run_segmenter
from jaxgan.classify.steps import (ClassifierState, TrainOptions, augment, classifier_optimizer,
                                   init_classifier_state, make_classifier_step,
                                   make_segmenter_step)
from jaxgan.classify.store import (ARCH_FILE, METRICS_FILE, PARAMS_DIR, build_module,
                                   load_model, save_model)
from jaxgan.data.labelled import load_classification_data, load_segmentation_data
from jaxgan.nets.classifier import classifier_logits, evaluate_classifier, predict_logits
from jaxgan.nets.segmenter import (evaluate_segmenter, iou_counts, iou_from_counts, mean_iou,
                                   segmenter_logits)

__all__ = ["ARCH_FILE", "METRICS_FILE", "PARAMS_DIR", "TrainOptions", "ClassifierState", "augment", "build_module",
           "evaluate_classifier", "evaluate_segmenter", "init_classifier_state", "iou_counts",
           "iou_from_counts", "load_classification_data", "load_model",
           "load_segmentation_data", "make_classifier_step", "classifier_optimizer",
           "make_segmenter_step", "mean_iou", "predict_logits", "run_classifier",
           "run_segmenter", "save_model", "classifier_logits", "segmenter_logits"]
