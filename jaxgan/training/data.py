"""Training data: build (once) the configured dataset as a tfds array_record dataset and
stream it through the grain pipeline as global, sharded batches ``{'image', 'c'}``."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import jax
import numpy as np
from jax.experimental import multihost_utils

from jaxgan.data import load_digits_dataset, load_image_folder
from jaxgan.data.builders import open_public, open_source, write_dataset
from jaxgan.data.pipeline import Compose, NormalizeImage, RandomFlipX, make_iterator
from jaxgan.data.tasks import shapes_source
from jaxgan.training.rundir import array_fingerprint


def _name(*parts) -> str:
    s = "_".join(str(p) for p in parts if p not in ("", None))
    return re.sub(r"[^a-z0-9_]+", "_", s.lower()).strip("_")


def build_source(data_cfg, out_dir: Path, seed: int = 0, check=None):
    """Create (or reuse) the dataset described by ``data_cfg``.

    Args:
      data_cfg: the config's ``data`` group.
      out_dir: the run directory (the dataset is written under ``out_dir/dataset`` unless
        ``data.data_dir`` is set).
      seed: the seed of generated datasets.
      check: optional ``check(fingerprint)``, called before anything is written, with
        ``{'source', 'size', 'sha256'}`` (SHA-256 of the images and labels; of the name,
        split and size for a prepared tfds dataset); it may raise to stop the run.

    Returns:
      ``(source, info)``: a random-access source of ``{'image': uint8 [R, R, C], 'label'?}``
      and ``{'resolution', 'channels', 'num_classes', 'class_names', 'size'}``.
    """
    d = data_cfg
    data_dir = Path(d.data_dir) if d.data_dir else Path(out_dir) / "dataset"
    res = int(d.resolution)
    if d.source == "tfds":
        if not d.tfds_name or not d.data_dir:
            raise ValueError("data.source='tfds' needs data.tfds_name and data.data_dir "
                             "(a directory where the dataset is already prepared)")
        src = open_public(d.tfds_name, d.data_dir, d.split)
        ex = src[0]
        img = np.asarray(ex["image"])
        if img.shape[0] != res:
            raise ValueError(f"tfds dataset {d.tfds_name} has {img.shape[0]}px images but "
                             f"data.resolution={res}; resize it with a folder export")
        n_cls = int(src.info.features["label"].num_classes) if "label" in ex else 0
        if check is not None:
            ident = f"tfds|{d.tfds_name}|{d.split}|{len(src)}".encode()
            check({"source": "tfds", "size": len(src), "sha256": hashlib.sha256(ident).hexdigest()})
        names = list(getattr(src.info.features["label"], "names", None) or []) if n_cls else []
        if d.get("cond", False) and not n_cls:
            raise ValueError(f"data.cond=True needs labelled data, but tfds dataset "
                             f"{d.tfds_name} has no 'label' feature")
        return src, dict(resolution=res, channels=img.shape[-1], num_classes=n_cls,
                         class_names=names if len(names) == n_cls else [], size=len(src))
    class_names: list[str] = []
    if d.source == "shapes":
        arrays, n_cls, class_names, tag = shapes_source(d, res, seed)
        name = _name("shapes", tag, res, d.num_images, seed)
    elif d.source == "digits":
        arrays = load_digits_dataset(d.split, res, channels=1)
        n_cls, class_names = 10, [str(i) for i in range(10)]
        name = _name("digits", d.split, res)
    elif d.source == "folder":
        if not d.path:
            raise ValueError("data.source='folder' needs data.path")
        arrays = load_image_folder(d.path, res)
        class_names = list(arrays.get("class_names") or [])
        n_cls = len(class_names)
        name = _name("folder", Path(d.path).name, res)
    else:
        raise ValueError(f"data.source must be 'shapes', 'digits', 'folder' or 'tfds', got {d.source!r}")
    if d.get("cond", False) and not n_cls:
        where = f"data.path {d.path!r} has no class sub-folders" if d.source == "folder" else \
            f"data.source={d.source} has no labels"
        raise ValueError(f"data.cond=True needs labelled data, but {where} (pass data.cond=False "
                         f"for an unconditional generator)")
    keep = {"image": arrays["image"]}
    if "label" in arrays:
        keep["label"] = np.asarray(arrays["label"], np.int64)
    if check is not None:
        check({"source": d.source, "size": int(len(keep["image"])),
               "sha256": array_fingerprint(keep)})
    # Process 0 writes first; after a barrier the others reuse it (shared filesystem) or
    # write their own copy (host-local disks) — never two writers on one directory at once.
    if jax.process_index() == 0:
        write_dataset(keep, name, data_dir, metadata={"class_names": class_names})
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(f"jaxgan:dataset:{name}")
        if jax.process_index() != 0:
            write_dataset(keep, name, data_dir, metadata={"class_names": class_names})
    src = open_source(name, data_dir, "train")
    return src, dict(resolution=res, channels=int(keep["image"].shape[-1]), num_classes=n_cls,
                     class_names=class_names, size=len(src))


class GlobalBatches:
    """Iterator of global batches ``{'image': f32 [N, R, R, C], 'c': f32 [N, c_dim]}``
    placed on the mesh; ``get_state``/``set_state`` expose the iterator position."""

    def __init__(self, it, c_dim: int, mesh, sharding):
        self._it, self._c_dim, self._mesh, self._sh = it, c_dim, mesh, sharding

    def __iter__(self):
        return self

    def __next__(self):
        b = next(self._it)
        n = b["image"].shape[0]
        if self._c_dim:
            c = np.eye(self._c_dim, dtype=np.float32)[np.asarray(b["label"], np.int64)]
        else:
            c = np.zeros((n, 0), np.float32)
        out = {"image": np.asarray(b["image"], np.float32), "c": c}
        if self._mesh is None:
            return out
        return {k: jax.make_array_from_process_local_data(self._sh, v) for k, v in out.items()}

    def get_state(self):
        return self._it.get_state()

    def set_state(self, state):
        self._it.set_state(state)


def make_batches(source, cfg, info: dict, local_batch: int, mesh, sharding) -> GlobalBatches:
    """Seeded, shuffled, per-process-sharded batches (x-flip when ``data.mirror``)."""
    tf = [NormalizeImage()]
    if cfg.data.mirror:
        tf.append(RandomFlipX(0.5, keys=("image",)))
    it = make_iterator(source, batch_size=local_batch, seed=cfg.seed, shuffle=True,
                       transform=Compose(*tf) if len(tf) > 1 else tf[0])
    c_dim = info["num_classes"] if cfg.data.cond else 0
    return GlobalBatches(it, c_dim, mesh, sharding)
