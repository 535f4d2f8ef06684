"""Labelled image folders for classifier and segmenter training: a user's data.

* classification: one sub-folder per class (``PATH/<class>/*.png``), class names sorted
  (:func:`jaxgan.data.folder.load_image_folder`);
* segmentation: ``PATH/images/<name>`` and one mask per concept
  ``PATH/masks/<concept>/<name>`` (same file name; a pixel > 127 is in the mask).

Splits are stratified and seeded (:func:`interleaved_order`, :func:`split_folder`).
:func:`load_classification_data` / :func:`load_segmentation_data` give the held-out data
of every source ``jaxgan.classify`` trains on (shapes tasks, digits, folders).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxgan.data.builders import open_public, read_arrays
from jaxgan.data.digits import load_digits_dataset
from jaxgan.data.folder import IMAGE_EXTENSIONS, fit_images, load_image, load_image_folder
from jaxgan.data.shapes import render_shapes
from jaxgan.data.tasks import get_task, make_task_dataset

# Factors an x-flip / a translation changes: tasks depending on them forbid that augmentation.
_FLIP_VARIANT = ("object_x", "sun_x", "rotation", "stripe_angle")
_SHIFT_VARIANT = ("object_x", "object_y", "sun_x", "sun_y", "horizon")


def interleaved_order(labels, seed: int) -> np.ndarray:
    """A seeded order of examples in which every prefix is about class-balanced.

    Each class is shuffled (``np.random.default_rng(seed)``), then the classes are
    interleaved by rank: example ``i`` of a class of size ``n`` sorts at ``(i + 0.5) / n``.

    Args:
      labels: int ``[N]``.
      seed: the shuffling seed.

    Returns:
      int ``[N]`` indices.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keys = np.empty(len(labels))
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        keys[idx] = (np.arange(len(idx)) + 0.5) / len(idx) + 1e-9 * c
    return np.argsort(keys, kind="stable")


def split_folder(data: dict, sizes: dict, seed: int) -> dict:
    """Split a labelled dataset into named parts, stratified (:func:`interleaved_order`).

    Args:
      data: ``image`` ``[N, ...]`` and ``label`` ``[N]`` (other per-example arrays follow).
      sizes: ``{split: count}`` in order (e.g. ``{'train': 60, 'test': 40}``); their sum
        must not exceed N.
      seed: shuffling seed.

    Returns:
      ``{split: {key: array}}``.

    Raises:
      ValueError: more examples asked for than there are.
    """
    n = len(data["label"])
    if sum(sizes.values()) > n:
        raise ValueError(f"the folder has {n} images, fewer than the {sum(sizes.values())} "
                         f"asked for ({', '.join(f'{k} {v}' for k, v in sizes.items())})")
    order, out, start = interleaved_order(data["label"], seed), {}, 0
    for name, k in sizes.items():
        idx = order[start:start + k]
        out[name] = {key: np.asarray(v)[idx] for key, v in data.items()
                     if isinstance(v, np.ndarray) and len(v) == n}
        start += k
    return out


def load_labelled_folder(path, resolution: int, channels: int = 3) -> tuple[dict, tuple]:
    """A folder with one sub-folder per class -> ``({'image', 'label'}, class_names)``.

    Args:
      path: the folder (``jaxgan.data.folder.load_image_folder``: sorted class names).
      resolution: image side (a power of two).
      channels: 1 or 3.

    Returns:
      ``(data, class_names)``: ``image`` uint8 ``[N, R, R, C]``, ``label`` int32 ``[N]``.

    Raises:
      ValueError: no class sub-folders, or fewer than two classes.
    """
    d = load_image_folder(path, resolution, channels=channels)
    names = tuple(d.get("class_names") or ())
    if "label" not in d or len(names) < 2:
        raise ValueError(f"{path}: a labelled folder needs one sub-folder per class (at least "
                         f"two), found {list(names)}")
    return {"image": d["image"], "label": d["label"].astype(np.int32)}, names


def mask_concepts(path) -> tuple[str, ...]:
    """The concepts of a segmentation folder: the sorted ``PATH/masks/`` sub-folder names."""
    masks = Path(path) / "masks"
    if not masks.is_dir():
        raise ValueError(f"{path}: a segmentation folder needs images/ and masks/<concept>/")
    return tuple(sorted(d.name for d in masks.iterdir() if d.is_dir()
                        and not d.name.startswith(".")))


def load_mask_folder(path, resolution: int, channels: int = 3) -> tuple[dict, tuple]:
    """``PATH/images/<name>`` + ``PATH/masks/<concept>/<name>`` -> images and masks.

    Args:
      path: the folder.
      resolution: image side (a power of two); masks are resampled alike, then > 127.
      channels: of the images, 1 or 3.

    Returns:
      ``({'image': uint8 [N, R, R, C], 'masks': bool [N, R, R, K], 'label': zeros [N]},
      concepts)`` with concepts the sorted ``masks/`` sub-folder names.

    Raises:
      ValueError: no images, no concept folders, or an image without a mask of a concept.
    """
    root = Path(path)
    img_dir, mask_dir = root / "images", root / "masks"
    if not img_dir.is_dir() or not mask_dir.is_dir():
        raise ValueError(f"{path}: a segmentation folder needs images/ and masks/<concept>/")
    files = sorted(f for f in img_dir.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
    concepts = mask_concepts(root)
    if not files or not concepts:
        raise ValueError(f"{path}: found {len(files)} images and concepts {list(concepts)}; "
                         "need both")
    images, masks = [], []
    for f in files:
        images.append(load_image(f, resolution, channels))
        per = []
        for c in concepts:
            m = sorted((mask_dir / c).glob(f.stem + ".*"))
            if not m:
                raise ValueError(f"{path}: image {f.name} has no mask in masks/{c}/")
            per.append(load_image(m[0], resolution, 1)[..., 0] > 127)
        masks.append(np.stack(per, -1))
    return ({"image": np.stack(images), "masks": np.stack(masks),
             "label": np.zeros(len(files), np.int32)}, concepts)


def load_classification_data(opts):
    """Held-out classification data of ``opts.task``.

    Args:
      opts: the run options, a ``jaxgan.classify.TrainOptions`` (task, resolution,
        channels, sizes, seed, test_fraction).

    Returns:
      ``(train, test, info)``: ``train`` / ``test`` dicts with ``image`` uint8
      ``[N, R, R, C]`` and ``label`` int32 ``[N]``; ``info`` dict with ``num_classes``,
      ``class_names``, ``flip_ok``, ``shift_ok``.

    Raises:
      ValueError: unknown task, or a resolution / channel count the source cannot make.
    """
    kind, _, name = opts.task.partition(":")
    if kind == "digits" and not name:
        tr, te = (load_digits_dataset(s, opts.resolution, opts.channels) for s in ("train", "test"))
        info = dict(num_classes=10, class_names=tuple(str(i) for i in range(10)),
                    flip_ok=False, shift_ok=True)
    elif kind == "shapes" and name:
        task = get_task(name)
        if opts.channels != 3:
            raise ValueError(f"shapes scenes are RGB: channels must be 3, got {opts.channels}")
        tr = make_task_dataset(task, opts.num_train, opts.resolution, opts.seed)
        te = make_task_dataset(task, opts.num_test, opts.resolution, opts.seed,
                               start=opts.num_train)
        info = dict(num_classes=task.num_classes, class_names=tuple(task.class_names),
                    flip_ok=not set(task.depends_on) & set(_FLIP_VARIANT),
                    shift_ok=not set(task.depends_on) & set(_SHIFT_VARIANT))
    elif kind == "folder" and name:
        data, names = load_labelled_folder(name, opts.resolution, opts.channels)
        n_test = max(1, round(opts.test_fraction * len(data["label"])))
        parts = split_folder(data, {"test": n_test, "train": len(data["label"]) - n_test},
                             opts.seed)
        tr, te = parts["train"], parts["test"]
        info = dict(num_classes=len(names), class_names=names, flip_ok=True, shift_ok=True)
    elif kind == "tfds" and name:
        tr, te, names = load_tfds_classification(name, opts)
        info = dict(num_classes=len(names), class_names=names, flip_ok=False, shift_ok=True)
    else:
        raise ValueError(f"unknown classification task {opts.task!r}; expected 'digits', "
                         "'shapes:<task>' with <task> in jaxgan.data.TASKS, 'folder:PATH' or "
                         "'tfds:NAME' (with data_dir)")
    pick = lambda d: {"image": d["image"], "label": d["label"].astype(np.int32)}  # noqa: E731
    return pick(tr), pick(te), info


def load_segmentation_data(opts, concepts):
    """Shapes scenes with stacked concept masks for segmenter training.

    Args:
      opts: run options; ``opts.task`` is ``'shapes'`` or ``'folder:PATH'``
        (:func:`jaxgan.data.labelled.load_mask_folder`).
      concepts: concept names (each must be in ``jaxgan.data.MASK_NAMES``).

    Returns:
      ``(train, test)`` dicts: ``image`` uint8 ``[N, R, R, 3]``, ``masks`` bool
      ``[N, R, R, K]`` (channel k = ``concepts[k]``).
    """
    kind, _, path = opts.task.partition(":")
    if kind == "folder" and path:
        data, names = load_mask_folder(path, opts.resolution, opts.channels)
        missing = [c for c in concepts if c not in names]
        if missing:
            raise ValueError(f"no masks/ folder for concept(s) {missing} in {path}")
        data["masks"] = data["masks"][..., [names.index(c) for c in concepts]]
        n_test = max(1, round(opts.test_fraction * len(data["label"])))
        parts = split_folder(data, {"test": n_test, "train": len(data["label"]) - n_test},
                             opts.seed)
        pick = lambda d: {"image": d["image"], "masks": d["masks"]}  # noqa: E731
        return pick(parts["train"]), pick(parts["test"])
    if opts.task != "shapes":
        raise ValueError(f"the segmenter trains on 'shapes' or 'folder:PATH', got {opts.task!r}")
    if opts.channels != 3:
        raise ValueError(f"shapes scenes are RGB: channels must be 3, got {opts.channels}")

    def make(n, start):
        d = render_shapes(n, opts.resolution, opts.seed, start=start)
        missing = [c for c in concepts if f"mask_{c}" not in d]
        if missing:
            raise ValueError(f"no masks for concept(s) {missing} in the shapes data")
        return {"image": d["image"], "masks": np.stack([d[f"mask_{c}"] for c in concepts], -1)}
    return make(opts.num_train, 0), make(opts.num_test, opts.num_train)

def load_tfds_classification(name: str, opts):
    """A TFDS classification dataset already prepared (array_record) in ``opts.data_dir``:
    its ``train`` split, and its ``test`` split when it has one (else ``opts.test_fraction``
    of train held out, stratified). Nothing is downloaded.

    Args:
      name: the registered TFDS name (``'mnist'``, ``'cifar10'``, ``'name:version'``).
      opts: run options (``data_dir``, ``resolution``, ``channels``, ``seed``,
        ``test_fraction``).

    Returns:
      ``(train, test, class_names)``; images fitted to ``resolution`` x ``channels``.

    Raises:
      ValueError: no ``data_dir``, an unregistered name, no ``image``/``label`` features.
      FileNotFoundError: the dataset is not prepared there.
    """
    if not getattr(opts, "data_dir", ""):
        raise ValueError(f"tfds:{name} needs data_dir: the TFDS data directory holding the "
                         "prepared dataset (nothing is downloaded)")
    src = open_public(name, opts.data_dir, "train")
    label = src.info.features["label"] if "label" in src.info.features else None
    if label is None or "image" not in src.info.features:
        raise ValueError(f"tfds:{name} has no 'image' and 'label' features")
    names = tuple(getattr(label, "names", None) or
                  (str(i) for i in range(int(getattr(label, "num_classes", 0)))))

    def fit(source):
        d = read_arrays(source)
        return {"image": fit_images(d["image"], opts.resolution, opts.channels),
                "label": np.asarray(d["label"], np.int32)}
    train = fit(src)
    try:
        test = fit(open_public(name, opts.data_dir, "test"))
    except (FileNotFoundError, ValueError):
        n_test = max(1, round(opts.test_fraction * len(train["label"])))
        parts = split_folder(train, {"test": n_test, "train": len(train["label"]) - n_test},
                             opts.seed)
        train, test = parts["train"], parts["test"]
    if len(names) < 2:
        names = tuple(str(i) for i in range(int(train["label"].max()) + 1))
    return train, test, names
