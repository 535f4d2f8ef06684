"""Presets for the classifier and segmenter runners (``jaxgan train-classifier`` / ``train-segmenter``).

Each preset is a plain dict ``{'kind', 'train', 'model'}``: ``train`` holds
:class:`jaxgan.classify.TrainOptions` fields, ``model`` holds
:class:`~jaxgan.nets.configs.ClassifierConfig` / ``SegmenterConfig`` fields (the image
size, channels and classes are filled in from the data). Both are validated strictly
when used (unknown keys are an error). ``get_config`` returns a fresh deep copy.

==================  ==========  ===========================================================
preset              kind        what
==================  ==========  ===========================================================
shapes_shape        classifier  circle / square / triangle at 32x32 (target >= 98%)
shapes_has_sun      classifier  sun present or not at 32x32 (ceiling ~97%: hidden suns)
digits              classifier  scikit-learn digits, 16x16 grey, fixed test split (>= 95%)
segmenter_shapes    segmenter   8 concepts of the shapes scenes at 32x32 (target mIoU >= 0.9)
folder              classifier  a user's folder (``--data folder:PATH``), 32x32 RGB, flips
segmenter_folder    segmenter   a user's images/ + masks/<concept>/ folder, 32x32 RGB
==================  ==========  ===========================================================
"""
from __future__ import annotations

import copy

_PRESETS = {
    "shapes_shape": {
        "kind": "classifier",
        "train": dict(task="shapes:shape", resolution=32, channels=3, num_train=20000,
                      num_test=2000, steps=1500, batch_size=64, learning_rate=5e-3,
                      weight_decay=1e-4, warmup_steps=50, flip="auto", shift=0, seed=0),
        "model": dict(widths=(16, 32, 64), depth=1, groups=0, pool="avgmax"),
    },
    "shapes_has_sun": {
        "kind": "classifier",
        "train": dict(task="shapes:has_sun", resolution=32, channels=3, num_train=4000,
                      num_test=2000, steps=400, batch_size=64, learning_rate=5e-3,
                      weight_decay=1e-4, warmup_steps=50, flip="auto", shift=0, seed=0),
        "model": dict(widths=(16, 32, 64), depth=1, groups=0, pool="avgmax"),
    },
    "digits": {
        "kind": "classifier",
        "train": dict(task="digits", resolution=16, channels=1, steps=400, batch_size=64,
                      learning_rate=5e-3, weight_decay=1e-4, warmup_steps=50, flip="auto",
                      shift=1, seed=0),
        "model": dict(widths=(16, 32, 64), depth=1, groups=0, pool="avgmax"),
    },
    "folder": {
        "kind": "classifier",
        "train": dict(task="folder:", resolution=32, channels=3, steps=300, batch_size=32,
                      learning_rate=3e-3, weight_decay=1e-4, warmup_steps=30, flip="auto",
                      shift=2, seed=0, test_fraction=0.2),
        "model": dict(widths=(16, 32, 64), depth=1, groups=0, pool="avgmax"),
    },
    "segmenter_folder": {
        "kind": "segmenter",
        "train": dict(task="folder:", resolution=32, channels=3, steps=500, batch_size=16,
                      learning_rate=5e-3, weight_decay=1e-4, warmup_steps=30, flip=True,
                      shift=0, seed=0, dice_weight=1.0, test_fraction=0.2),
        "model": dict(widths=(16, 32, 64), groups=0, global_context=True),
    },
    "segmenter_shapes": {
        "kind": "segmenter",
        "train": dict(task="shapes", resolution=32, channels=3, num_train=16000, num_test=1000,
                      steps=1800, batch_size=32, learning_rate=5e-3, weight_decay=1e-4,
                      warmup_steps=50, flip=True, shift=0, seed=0, dice_weight=1.0),
        "model": dict(widths=(16, 32, 64), groups=0, global_context=True,
                      concepts=("sky", "ground", "object", "circle", "square", "triangle",
                                "sun", "texture")),
    },
}

#: Preset names.
PRESETS = tuple(_PRESETS)


def get_config(name: str | None = None) -> dict:
    """A preset by name.

    Args:
      name: one of :data:`PRESETS`. (Required: the default only exists so that a GAN
        loader calling ``get_config()`` on every ``configs/*.py`` gets a clear error.)

    Returns:
      a fresh dict ``{'kind': 'classifier' | 'segmenter', 'train': {...}, 'model': {...}}``.

    Raises:
      ValueError: no or unknown preset name.
    """
    if name is None:
        raise ValueError("configs/classifier.py holds classifier/segmenter presets "
                         f"{list(PRESETS)}, not a GAN config: use `jaxgan train-classifier "
                         "--preset NAME` or `jaxgan train-segmenter`")
    if name not in _PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {list(PRESETS)}")
    return copy.deepcopy(_PRESETS[name])


def preset_for_task(task: str) -> str:
    """Default classifier preset of a ``--task`` value (``digits``, ``shapes:<task>``,
    ``folder:PATH`` or ``tfds:NAME``)."""
    if task.startswith(("folder:", "tfds:")):          # a user's data: the folder preset
        return "folder"
    if task == "digits":
        return "digits"
    return "shapes_has_sun" if task == "shapes:has_sun" else "shapes_shape"
