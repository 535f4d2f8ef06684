"""A real dataset nobody here made, as a user's folder: scikit-image's 200 25x25 grey
images from Labeled Faces in the Wild (``skimage.data.lfw_subset()``: the first 100 are
faces, the last 100 non-faces; shipped inside the package, no download), upscaled to 32x32
(PIL bicubic) and written as ``OUT/face/*.png`` and ``OUT/non-face/*.png``."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def write_lfw_folder(out, size: int = 32) -> Path:
    """Write the LFW subset as a labelled folder; return ``out``.

    Args:
      out: the folder to create (class sub-folders ``face``, ``non-face``).
      size: side of the written PNGs.

    Returns:
      ``out`` as a Path.
    """
    from PIL import Image
    from skimage.data import lfw_subset
    x = lfw_subset()                                             # [200, 25, 25] in [0, 1]
    out = Path(out)
    for i, img in enumerate(x):
        cls = "face" if i < 100 else "non-face"
        (out / cls).mkdir(parents=True, exist_ok=True)
        im = Image.fromarray(np.round(img * 255).astype(np.uint8), "L")
        im.resize((size, size), Image.Resampling.BICUBIC).save(out / cls / f"{i:03d}.png")
    return out


def write_lfw_split(out, size: int = 32, num_test: int = 40) -> dict:
    """The LFW folder plus its held-out split as folders: ``OUT/all`` (every image),
    ``OUT/train`` and ``OUT/heldout`` (class sub-folders each). The split is
    :func:`jaxgan.data.labelled.split_folder` with seed 0 - the one ``jaxgan
    train-classifier --data folder:OUT/all`` holds out (``test_fraction`` 0.2 of 200 = 40) -
    so a generator trained on ``train`` never sees the classifier's or inversion's test faces.

    Returns:
      ``{'all', 'train', 'heldout'}`` paths.
    """
    import shutil
    from jaxgan.data.labelled import split_folder
    out = Path(out)
    full = write_lfw_folder(out / "all", size)
    files = sorted(p.relative_to(full) for p in full.rglob("*.png"))          # face/ first
    labels = np.array([0 if str(f).startswith("face") else 1 for f in files])
    parts = split_folder({"label": labels, "index": np.arange(len(files))},
                         {"test": num_test, "train": len(files) - num_test}, 0)
    for name, part in (("heldout", "test"), ("train", "train")):
        for i in parts[part]["index"]:
            (out / name / files[i].parent).mkdir(parents=True, exist_ok=True)
            shutil.copy(full / files[i], out / name / files[i])
    return {"all": full, "train": out / "train", "heldout": out / "heldout"}


if __name__ == "__main__":
    import sys
    print(write_lfw_split(sys.argv[1] if len(sys.argv) > 1 else "out/lfw"))
