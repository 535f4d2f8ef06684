"""A folder of image files as a dataset (the official ``dataset_tool.py`` for folders).

Files are found recursively (extensions in :data:`IMAGE_EXTENSIONS`, case-insensitive;
hidden files and folders skipped) and sorted by relative path, so the order is stable.
Each image is EXIF-rotated, converted to ``L`` (1 channel) or ``RGB`` (3; alpha is
dropped, palette / grey images are expanded) and resampled once with PIL's Lanczos filter
from its centred square (side = shorter side) to ``resolution x resolution`` - the same
as "scale the shorter side to ``resolution`` then centre-crop", without rounding the
intermediate size. Lanczos in PIL widens its support when downscaling, so it also
anti-aliases (area-like).

Labels: with ``labels_from_subfolders`` the first-level sub-folder of each file is its
class; class names are sorted and numbered 0..K-1. A folder without sub-folders (all
files at the top level) is read unlabelled; files at the top level next to class
sub-folders are an error. Unreadable files are skipped with a warning naming each path
and a final count; the loader returns their paths in ``skipped``.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageOps

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm")


def _check_resolution(resolution) -> int:
    r = resolution
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or not (
            4 <= r <= 4096 and r & (r - 1) == 0):
        raise ValueError(f"resolution must be a power of two in 4..4096, got {resolution!r}")
    return int(r)


def list_image_folder(path, *, labels_from_subfolders: bool = True):
    """Find the image files of a folder and their classes (reads no pixels).

    Args:
      path: folder to scan recursively.
      labels_from_subfolders: derive labels from first-level sub-folder names.

    Returns:
      ``(files, labels, class_names)``: sorted list of :class:`Path`; int64 [N] labels or
      ``None`` when unlabelled; sorted list of class names (empty when unlabelled).

    Raises:
      FileNotFoundError: ``path`` does not exist. NotADirectoryError: it is a file.
      ValueError: no image files, or top-level files next to class sub-folders.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"image folder not found: {str(root)!r}")
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {str(root)!r}")
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        files += [Path(dirpath, f) for f in filenames
                  if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS)]
    files.sort(key=lambda p: p.relative_to(root).as_posix())
    if not files:
        raise ValueError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found under "
                         f"{str(root)!r}")
    rel = [f.relative_to(root).parts for f in files]
    if not labels_from_subfolders or all(len(p) == 1 for p in rel):
        return files, None, []
    top = [p[0] for p in rel if len(p) == 1]
    if top:
        raise ValueError(f"{str(root)!r} has image files at its top level (e.g. {top[0]!r}) "
                         "next to class sub-folders; move them into a sub-folder or pass "
                         "labels_from_subfolders=False")
    class_names = sorted({p[0] for p in rel})
    lookup = {c: i for i, c in enumerate(class_names)}
    return files, np.array([lookup[p[0]] for p in rel], np.int64), class_names


def load_image(file, resolution: int, channels: int = 3) -> np.ndarray:
    """Read one image, centre-crop to a square and resize it (see module docstring).

    Args:
      file: image path.
      resolution: output side.
      channels: 1 or 3.

    Returns:
      uint8 [resolution, resolution, channels].

    Raises:
      OSError / ValueError (and PIL's errors): the file cannot be decoded.
    """
    with Image.open(file) as im:
        im.load()
        im = ImageOps.exif_transpose(im)
        if im.mode == "P":                      # palette (maybe with transparency)
            im = im.convert("RGBA")
        elif im.mode.startswith("I;16"):        # 16-bit grey
            im = im.convert("I")
        if im.mode == "I":                      # 16-bit values -> 8-bit
            im = im.point(lambda v: v * (1 / 256)).convert("L")
        return _square(im, resolution, channels)


def _square(im, resolution: int, channels: int) -> np.ndarray:
    """A PIL image converted to L/RGB, centre-cropped to a square, resized (Lanczos)."""
    im = im.convert("L" if channels == 1 else "RGB")
    w, h = im.size
    s = min(w, h)
    box = ((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2)
    im = im.resize((resolution, resolution), Image.Resampling.LANCZOS, box=box)
    a = np.asarray(im, np.uint8)
    return a[..., None] if a.ndim == 2 else a


def fit_images(images, resolution: int, channels: int = 3) -> np.ndarray:
    """uint8 images ``[N, H, W, 1|3]`` (e.g. a tfds dataset's) made square, resized and
    converted as :func:`load_image` does with files.

    Returns:
      uint8 ``[N, resolution, resolution, channels]``.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or images.dtype != np.uint8:
        raise ValueError(f"fit_images: need uint8 [N, H, W, 1|3], got {images.dtype} "
                         f"{images.shape}")
    if images.shape[1:] == (resolution, resolution, channels):
        return images
    return np.stack([_square(Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a),
                             resolution, channels) for a in images])


def _iter(path, resolution, labels_from_subfolders, channels, skipped):
    files, labels, _ = list_image_folder(path, labels_from_subfolders=labels_from_subfolders)
    for i, f in enumerate(files):
        try:
            img = load_image(f, resolution, channels)
        except Exception as e:  # noqa: BLE001 - any decoding failure means "skip this file"
            warnings.warn(f"skipping unreadable image {str(f)!r}: {type(e).__name__}: {e}",
                          RuntimeWarning, stacklevel=3)
            skipped.append(str(f))
            continue
        yield str(f), img, (None if labels is None else int(labels[i]))


def iter_image_folder(path, resolution: int, *, labels_from_subfolders: bool = True,
                      channels: int = 3) -> Iterator[tuple[str, np.ndarray, int | None]]:
    """Stream ``(file, image uint8 [R, R, C], label or None)`` one image at a time.

    Same scanning, decoding and labelling as :func:`load_image_folder` (no mirroring);
    unreadable files are skipped with a warning naming them.
    """
    _check_resolution(resolution)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    yield from _iter(path, resolution, labels_from_subfolders, channels, [])


def load_image_folder(path, resolution: int, *, labels_from_subfolders: bool = True,
                      mirror: bool = False, channels: int = 3) -> dict:
    """Load every image of a folder (recursively) as a dataset dict.

    Args:
      path: folder of images (class sub-folders for labels).
      resolution: output side, a power of two (4..4096).
      labels_from_subfolders: label = index of the sorted first-level sub-folder name.
      mirror: append horizontally flipped copies (the official ``--mirror``), so the
        result has ``2 * N`` images: originals first, then the flips in the same order.
      channels: 1 (grey) or 3 (RGB).

    Returns:
      dict with arrays ``image`` uint8 [M, R, R, C], ``label`` int64 [M] (only when
      labelled), ``flipped`` bool [M]; and metadata ``class_names`` (list[str]),
      ``files`` (list[str], path of each of the N originals) and ``skipped`` (list[str],
      unreadable files).

    Raises:
      FileNotFoundError / NotADirectoryError / ValueError: missing folder, not a folder,
      no images, or no readable image.
    """
    r = _check_resolution(resolution)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    _, _, class_names = list_image_folder(path, labels_from_subfolders=labels_from_subfolders)
    skipped: list[str] = []
    files, images, labels = [], [], []
    for f, img, lab in _iter(path, r, labels_from_subfolders, channels, skipped):
        files.append(f)
        images.append(img)
        labels.append(lab)
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable file(s) of "
                      f"{len(skipped) + len(files)} under {str(path)!r}", RuntimeWarning,
                      stacklevel=2)
    if not images:
        raise ValueError(f"no readable images under {str(path)!r} "
                         f"({len(skipped)} unreadable)")
    image = np.stack(images)
    flipped = np.zeros(len(image), bool)
    out = {"image": image}
    if class_names:
        out["label"] = np.array(labels, np.int64)
    if mirror:
        out["image"] = np.concatenate([image, image[:, :, ::-1]])
        flipped = np.concatenate([flipped, ~flipped])
        if "label" in out:
            out["label"] = np.concatenate([out["label"], out["label"]])
    out["flipped"] = flipped
    return {**out, "class_names": class_names, "files": files, "skipped": skipped}
