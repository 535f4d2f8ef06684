"""Read ``torch.save`` files (zip and legacy formats) without torch and without running code.

* Zip format (torch >= 1.6 default): a zip archive ``<name>/data.pkl`` (the object pickle,
  whose persistent ids ``('storage', torch.FloatStorage, key, location, numel)`` name the
  storages), ``<name>/data/<key>`` (each storage's raw little-endian bytes),
  ``<name>/byteorder`` (``little``; absent in old files) and ``<name>/version``.
* Legacy format (``_use_new_zipfile_serialization=False``): one stream of pickles (magic
  number, protocol version, system info, the object, the storage keys) followed by each
  storage's element count and raw bytes.

Both are unpickled by the restricted unpickler of :mod:`jaxgan.convert.pickle_reader`
(tensor/storage rebuild functions and plain containers only), extended here with stand-ins
for the few other globals that training checkpoints hold (``argparse.Namespace``).
TorchScript archives (``torch.jit.save``) are refused by name.
"""
from __future__ import annotations

import io
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from jaxgan.convert.pickle_reader import (UnsafePickleError, _LEGACY_MAGIC, _LEGACY_PROTOCOL,
                                          _RestrictedUnpickler, _Storage)

__all__ = ["read_torch_save", "TorchSaveError"]


class TorchSaveError(ValueError):
    """A file is not a ``torch.save`` payload this reader handles (the message says why)."""


class Namespace(dict):
    """Stand-in for ``argparse.Namespace`` (rosinality checkpoints store their ``args``)."""

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.update(state)


class _Unpickler(_RestrictedUnpickler):
    def find_class(self, module: str, name: str):
        if (module, name) == ("argparse", "Namespace"):
            return Namespace
        return super().find_class(module, name)


class _ZipUnpickler(_Unpickler):
    """Reads each storage's bytes from the archive when the pickle first names it."""

    def __init__(self, file, storages, zf: zipfile.ZipFile, prefix: str):
        super().__init__(file, storages)
        self._zf, self._prefix = zf, prefix

    def persistent_load(self, pid):
        st = super().persistent_load(pid)
        root = st.base if st.base is not None else st
        if root.data is None:
            _fill_zip(self._zf, self._prefix, {str(pid[2]): root})
        return st


class _Lazy:
    """A tensor rebuild call deferred until the legacy format's storages are read."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args


class _lazy:
    """A rebuild function whose calls are deferred (``_Lazy``)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        return _Lazy(self.fn, args)


class _LegacyUnpickler(_Unpickler):
    """Defers tensor rebuilds: the legacy format stores the data after the object pickle."""

    def find_class(self, module: str, name: str):
        obj = super().find_class(module, name)
        if module in ("torch._utils", "torch._tensor") and callable(obj):
            return _lazy(obj)
        return obj


def _resolve(x):
    if isinstance(x, _lazy):                 # passed as an argument (_rebuild_from_type_v2)
        return x.fn
    if isinstance(x, _Lazy):
        return x.fn(*[_resolve(a) for a in x.args])
    if isinstance(x, dict):
        for k in list(x):
            x[k] = _resolve(x[k])
        return x
    if isinstance(x, list):
        return [_resolve(v) for v in x]
    if isinstance(x, tuple):
        return tuple(_resolve(v) for v in x)
    return x


def _fill_zip(zf: zipfile.ZipFile, prefix: str, storages: dict[str, _Storage]) -> None:
    for key, st in storages.items():
        try:
            raw = zf.read(f"{prefix}data/{key}")
        except KeyError:
            raise TorchSaveError(f"storage {key} is missing from the archive") from None
        need = st.numel * st.dtype.itemsize
        if len(raw) < need:
            raise TorchSaveError(f"storage {key}: {len(raw)} bytes stored, expected {need}")
        st.data = np.frombuffer(raw[:need], st.dtype)


def _read_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkls = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if not pkls:
            if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
                raise TorchSaveError("a TorchScript archive (torch.jit.save), not a torch.save "
                                     "checkpoint: save the state dict with torch.save instead")
            raise TorchSaveError("a zip archive without <name>/data.pkl: not a torch.save file")
        prefix = pkls[0][: -len("data.pkl")]
        if f"{prefix}byteorder" in names and zf.read(f"{prefix}byteorder").strip() != b"little":
            raise TorchSaveError("a big-endian torch.save file is not supported")
        storages: dict[str, _Storage] = {}
        return _ZipUnpickler(io.BytesIO(zf.read(pkls[0])), storages, zf, prefix).load()


def _read_legacy(f) -> Any:
    plain = _Unpickler
    if plain(f).load() != _LEGACY_MAGIC:
        raise TorchSaveError("not a torch.save file (no legacy magic number, not a zip)")
    if plain(f).load() != _LEGACY_PROTOCOL:
        raise TorchSaveError("unsupported legacy torch.save protocol version")
    plain(f).load()  # sys_info
    storages: dict[str, _Storage] = {}
    obj = _LegacyUnpickler(f, storages).load()
    for key in plain(f).load():
        st = storages[str(key)]
        (numel,) = struct.unpack("<q", f.read(8))
        raw = f.read(st.numel * st.dtype.itemsize)
        if numel != st.numel or len(raw) != st.numel * st.dtype.itemsize:
            raise TorchSaveError(f"storage {key}: {numel} elements and {len(raw)} bytes "
                                 f"stored, expected {st.numel} x {st.dtype}")
        st.data = np.frombuffer(raw, st.dtype)
    return _resolve(obj)


def read_torch_save(path) -> Any:
    """Load a ``torch.save`` file as plain Python containers and NumPy arrays.

    Args:
      path: a ``.pt`` / ``.pth`` file (zip or legacy format).

    Returns:
      The saved object with every tensor as a NumPy array (``OrderedDict`` state dicts stay
      ordered dicts; an ``argparse.Namespace`` becomes a dict).

    Raises:
      FileNotFoundError: no such file.
      UnsafePickleError: the file refers to a global outside the allowed list.
      TorchSaveError: any other unreadable, truncated or unsupported content.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        if zipfile.is_zipfile(path):
            return _read_zip(path)
        with open(path, "rb") as f:
            return _read_legacy(f)
    except (TorchSaveError, UnsafePickleError) as e:
        raise type(e)(f"{path}: {e}") from None
    except (EOFError, pickle.UnpicklingError, struct.error, zipfile.BadZipFile, KeyError,
            ValueError) as e:
        raise TorchSaveError(f"{path}: not a readable torch.save file (truncated or corrupt?): "
                             f"{type(e).__name__}: {e}") from None
