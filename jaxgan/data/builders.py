"""Write NumPy datasets once as TFDS (array_record) datasets and read them back.

Everything here works without TensorFlow: datasets are written by a small
`tfds.core.GeneratorBasedBuilder` subclass with ``file_format='array_record'``
and read back through TFDS' random-access `ArrayRecordDataSource`, which is what
`grain` consumes.

Notes on what does (not) work without TensorFlow (tfds 4.9.x):

* `tfds.dataset_builders.store_as_tfds_dataset` / `AdhocBuilder` need TF (they
  test ``isinstance(ds, tf.data.Dataset)``), so we define our own builder.
* `tfds.features.Image` *encoding* needs TF (PNG encoding goes through
  ``tf.image``), so every array is stored as `tfds.features.Tensor` with its
  exact shape and dtype: the round trip is byte-exact. Decoding public datasets'
  `Image` features works without TF (PIL / OpenCV).
* Scalar tensors come back from TFDS as Python ``int``/``float``;
  `ArraySequenceSource` casts them back to the stored NumPy dtype.
* float64 tensors are serialised through a float32 list (lossy), so float64
  arrays are stored as their int64 bit pattern and viewed back on read; all
  other bool/int/uint/float16/float32 dtypes round-trip exactly.
* `tfds.load`, `tfds.ImageFolder` and `tfds.builder(...).as_dataset` need TF.

Nothing in this module downloads anything: `write_dataset` disables the GCS
lookup and `open_public` never calls ``download_and_prepare``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

__all__ = ["ArraySequenceSource", "infer_features", "open_public", "open_source",
           "read_arrays", "write_dataset"]

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_FINGERPRINT_KEY = "jaxgan_fingerprint"
_USER_META_KEY = "jaxgan_metadata"
_VIEWS_KEY = "jaxgan_bitviews"


def _storage_dtype(dtype: np.dtype) -> np.dtype:
    """float64 is not stored exactly by TFDS: store its int64 bit pattern."""
    return np.dtype(np.int64) if dtype == np.float64 else dtype


def _check_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not arrays:
        raise ValueError("`arrays` is empty.")
    out = {k: np.asarray(v) for k, v in arrays.items()}
    lengths = {k: v.shape[0] if v.ndim else None for k, v in out.items()}
    if None in lengths.values() or len(set(lengths.values())) != 1:
        raise ValueError(f"All arrays need the same leading length, got {lengths}.")
    for k, v in out.items():
        if not v.dtype.isnative:
            out[k] = v = v.astype(v.dtype.newbyteorder("="))
        if v.dtype.kind not in "biuf":
            raise TypeError(
                f"Array {k!r} has unsupported dtype {v.dtype}; only bool, integer "
                "and float arrays are stored (keep strings in `metadata`)."
            )
    return out


def infer_features(arrays: Mapping[str, np.ndarray]) -> tfds.features.FeaturesDict:
    """Builds the TFDS feature spec of a dict of equal-length arrays.

    Every key becomes a `tfds.features.Tensor` with the per-example shape
    (``arr.shape[1:]``) and the exact dtype (float64: its int64 bit pattern),
    so the round trip is byte-exact.

    Args:
      arrays: dict of NumPy arrays sharing the leading (example) dimension.

    Returns:
      A `tfds.features.FeaturesDict`.
    """
    arrays = _check_arrays(arrays)
    return tfds.features.FeaturesDict(
        {
            k: tfds.features.Tensor(shape=v.shape[1:], dtype=_storage_dtype(v.dtype).type)
            for k, v in arrays.items()
        }
    )


def _split_indices(n: int, splits: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    if splits is None:
        splits = {"train": slice(None)}
    out = {}
    for split, sel in splits.items():
        if isinstance(sel, slice):
            idx = np.arange(n)[sel]
        else:
            sel = np.asarray(sel)
            idx = np.flatnonzero(sel) if sel.dtype == bool else sel.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"Split {split!r} indexes outside [0, {n}).")
        out[split] = idx.astype(np.int64)
    return out


def _fingerprint(arrays: Mapping[str, np.ndarray], split_idx: Mapping[str, np.ndarray],
                 metadata: Mapping[str, Any]) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        v = np.ascontiguousarray(arrays[k])
        h.update(f"{k}|{v.dtype.str}|{v.shape}".encode())
        h.update(memoryview(v).cast("B"))
    for k in sorted(split_idx):
        h.update(f"split|{k}".encode())
        h.update(split_idx[k].tobytes())
    h.update(json.dumps(metadata, sort_keys=True, default=str).encode())
    return h.hexdigest()


class _ArrayBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Unregistered builder that writes a dict of arrays (no TensorFlow needed)."""

    def __init__(self, *, name: str, version: str, arrays: Mapping[str, np.ndarray],
                 split_idx: Mapping[str, np.ndarray], metadata: Mapping[str, Any],
                 description: str, **kwargs: Any):
        self.name = name
        self.VERSION = tfds.core.Version(version)  # pylint: disable=invalid-name
        self._arrays = arrays
        self._split_idx = split_idx
        self._metadata = dict(metadata)
        self._description = description
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self._description,
            features=infer_features(self._arrays),
            # Keep the given example order (examples are keyed by position).
            disable_shuffling=True,
            metadata=tfds.core.MetadataDict(self._metadata),
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        return {s: self._generate_examples(idx) for s, idx in self._split_idx.items()}

    def _generate_examples(self, idx):
        stored = {k: v.view(_storage_dtype(v.dtype)) for k, v in self._arrays.items()}
        for pos, i in enumerate(idx):
            yield pos, {k: v[i] for k, v in stored.items()}


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_dataset(
    arrays: Mapping[str, np.ndarray],
    name: str,
    data_dir,
    splits: Mapping[str, slice | np.ndarray] | None = None,
    version: str = "1.0.0",
    metadata: Mapping[str, Any] | None = None,
    *,
    overwrite: bool = True,
    description: str | None = None,
) -> Path:
    """Writes a dict of arrays once as a TFDS dataset in array_record format.

    Layout: ``data_dir/name/version/`` with TFDS' ``dataset_info.json``,
    ``features.json``, ``metadata.json`` and one array_record file per split.
    The content fingerprint (SHA-256 over arrays, splits and metadata) is stored
    in ``metadata.json``; calling again with identical content is a no-op.
    In multi-process jobs call this from one process only (e.g. process 0).

    Args:
      arrays: dict of equal-length arrays (bool / integer / float), e.g.
        ``{'image': uint8 [N,H,W,C], 'label': int64 [N], 'mask_sky': bool [N,H,W]}``.
      name: dataset name, snake_case (``[a-z][a-z0-9_]*``).
      data_dir: root directory for datasets (required; nothing defaults to
        ``~/tensorflow_datasets``).
      splits: ``{split_name: slice | int indices | bool mask}`` over the
        examples; default ``{'train': slice(None)}`` (all examples, in order).
      version: dataset version ``'X.Y.Z'``.
      metadata: JSON-serialisable dict (class names, task description, ...),
        readable back via ``open_source(...).metadata``.
      overwrite: if the dataset exists with a *different* fingerprint, replace
        it (True) or raise `FileExistsError` (False).
      description: optional free-text description stored in the dataset info.

    Returns:
      The dataset directory ``data_dir/name/version``.
    """
    if not _NAME_RE.match(name):
        raise ValueError(f"Dataset name must match {_NAME_RE.pattern}, got {name!r}.")
    arrays = _check_arrays(arrays)
    n = next(iter(arrays.values())).shape[0]
    split_idx = _split_indices(n, splits)
    user_meta = json.loads(json.dumps(dict(metadata or {})))  # validate + copy
    fp = _fingerprint(arrays, split_idx, user_meta)
    path = Path(data_dir) / name / version

    old_meta = _read_json(path / "metadata.json")
    if old_meta is not None and old_meta.get(_FINGERPRINT_KEY) == fp:
        if (path / "dataset_info.json").exists():
            return path
    if path.exists():
        if not overwrite:
            raise FileExistsError(f"{path} exists with different content.")
        if not (path / "dataset_info.json").exists() and any(path.iterdir()):
            raise FileExistsError(f"{path} exists but is not a TFDS dataset dir.")
        shutil.rmtree(path)

    builder = _ArrayBuilder(
        name=name,
        version=version,
        arrays=arrays,
        split_idx=split_idx,
        metadata={
            _FINGERPRINT_KEY: fp,
            _USER_META_KEY: user_meta,
            _VIEWS_KEY: {k: v.dtype.str for k, v in arrays.items()
                         if _storage_dtype(v.dtype) != v.dtype},
        },
        description=description or f"jaxgan dataset {name!r}",
        data_dir=str(data_dir),
        file_format="array_record",
    )
    # TFDS prints "Downloading and preparing dataset ... Unknown size" and "... downloaded and
    # prepared" to stdout although nothing is downloaded here (the arrays are written
    # locally); those two lines are held back so users do not read them as a download.
    with tempfile.TemporaryDirectory(prefix="jaxgan_tfds_dl_") as dl_dir, \
            contextlib.redirect_stdout(io.StringIO()):
        builder.download_and_prepare(
            download_dir=dl_dir,
            download_config=tfds.download.DownloadConfig(try_download_gcs=False),
        )
    return path


class ArraySequenceSource:
    """Random-access source over a TFDS data source with exact NumPy dtypes.

    Implements grain's ``RandomAccessDataSource`` protocol (``__len__``,
    ``__getitem__``); each record is a dict of NumPy arrays whose dtypes are
    those of the feature spec (TFDS returns Python scalars for 0-d tensors).

    Attributes:
      info: the `tfds.core.DatasetInfo`.
      metadata: the user metadata dict given to `write_dataset` (or the public
        dataset's metadata, possibly empty).
    """

    def __init__(self, data_source, info):
        self._source = data_source
        self.info = info
        self._dtypes = {}
        for k, f in info.features.items():  # top-level numeric features only
            try:
                dtype = np.dtype(f.np_dtype)
            except (AttributeError, TypeError):
                continue
            if dtype.kind in "biuf":
                self._dtypes[k] = dtype
        meta = dict(info.metadata or {})
        self.metadata = meta.get(_USER_META_KEY, meta)
        self._views = {k: np.dtype(d) for k, d in meta.get(_VIEWS_KEY, {}).items()}

    def __len__(self) -> int:
        return len(self._source)

    def _fix(self, record: Mapping[str, Any]) -> dict[str, Any]:
        out = {
            k: np.asarray(v, dtype=self._dtypes[k]) if k in self._dtypes else v
            for k, v in record.items()
        }
        for k, dtype in self._views.items():
            out[k] = out[k].view(dtype)
        return out

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self._fix(self._source[int(index)])

    def __getitems__(self, indices) -> list[dict[str, Any]]:
        many = getattr(self._source, "__getitems__", None)
        records = many(list(indices)) if many else [self._source[i] for i in indices]
        return [self._fix(r) for r in records]

    def __repr__(self) -> str:
        return f"ArraySequenceSource({self.info.full_name}, n={len(self)})"


def open_source(name: str, data_dir, split: str, version: str | None = None):
    """Opens a split written by `write_dataset` as a random-access source.

    Reads from the directory directly (`tfds.builder_from_directory`), so names
    never clash with the public TFDS registry and nothing is downloaded.

    Args:
      name: dataset name given to `write_dataset`.
      data_dir: the same root directory.
      split: split name, or any TFDS split expression (``'train[:80%]'``).
      version: version to open; default the highest one present.

    Returns:
      An `ArraySequenceSource` (``len(src)``, ``src[i] -> dict of arrays``).
    """
    root = Path(data_dir) / name
    if version is None:
        found = sorted(
            (p for p in root.glob("*")
             if re.fullmatch(r"\d+\.\d+\.\d+", p.name)
             and (p / "dataset_info.json").exists()),
            key=lambda p: tfds.core.Version(p.name),
        ) if root.is_dir() else []
        if not found:
            raise FileNotFoundError(f"No dataset {name!r} under {data_dir}.")
        path = found[-1]
    else:
        path = root / version
        if not (path / "dataset_info.json").exists():
            raise FileNotFoundError(f"No dataset {name!r}:{version} under {data_dir}.")
    builder = tfds.builder_from_directory(str(path))
    return ArraySequenceSource(builder.as_data_source(split=split), builder.info)


def _not_prepared_message(name: str, data_dir, reason: str) -> str:
    return (
        f"TFDS dataset {name!r} is not prepared in array_record format under "
        f"data_dir={str(data_dir)!r} ({reason}). jaxgan never downloads data; "
        "prepare it once, e.g. `tfds build "
        f"{name.split(':')[0]} --data_dir={data_dir} --file_format=array_record` "
        "(building public datasets needs network access and may need TensorFlow)."
    )


def open_public(name: str, data_dir, split: str):
    """Opens a public TFDS-registry dataset already prepared in ``data_dir``.

    Never downloads: ``download_and_prepare`` is not called. The dataset must
    have been prepared with ``file_format='array_record'`` (random access);
    works under `tfds.testing.mock_data`.

    Args:
      name: registered TFDS name, optionally with config/version
        (``'mnist'``, ``'celeb_a:2.1.0'``, ``'cifar10'``).
      data_dir: TFDS data directory holding the prepared dataset (required).
      split: split name or TFDS split expression.

    Returns:
      An `ArraySequenceSource` whose records are dicts of NumPy arrays.

    Raises:
      ValueError: if ``name`` is not a registered TFDS dataset.
      FileNotFoundError: if the dataset is not prepared (as array_record) there.
    """
    if data_dir is None:
        raise ValueError("open_public needs an explicit data_dir.")
    base = name.split(":")[0].split("/")[0]
    if base not in tfds.list_builders(with_community_datasets=False):
        raise ValueError(f"{base!r} is not a registered TFDS dataset.")
    builder = tfds.builder(name, data_dir=str(data_dir))
    prepared = builder.is_prepared()
    try:
        # Under tfds.testing.mock_data the builder is never "prepared" but
        # as_data_source is mocked, so try it in both cases.
        src = builder.as_data_source(split=split)
    except Exception as e:  # pylint: disable=broad-except
        reason = (
            f"prepared as {builder.info.file_format}, not array_record: {e}"
            if prepared
            else f"not found: {type(e).__name__}"
        )
        raise FileNotFoundError(_not_prepared_message(name, data_dir, reason)) from e
    return ArraySequenceSource(src, builder.info)


def read_arrays(source, indices=None) -> dict[str, np.ndarray]:
    """Reads (part of) a random-access source into a dict of stacked arrays.

    Args:
      source: any random-access source of dict records (e.g. `open_source`).
      indices: record indices to read; default all, in order.

    Returns:
      dict of arrays with a leading example dimension.
    """
    indices = range(len(source)) if indices is None else indices
    records = [source[int(i)] for i in indices]
    if not records:
        raise ValueError("No records to read.")
    return {k: np.stack([np.asarray(r[k]) for r in records]) for k in records[0]}
