"""Read stylegan2-ada-pytorch ``network-snapshot-*.pkl`` files without running their code.

TF-era releases (``(G, D, Gs)`` tuples of ``dnnlib.tflib.network.Network``) are recognised
too and mapped to official state dicts by :mod:`jaxgan.convert.tf_pickle`.

A snapshot is a plain pickle of ``dict(G=, D=, G_ema=, augment_pipe=, training_set_kwargs=)``.
Each network is a ``torch.nn.Module`` of a ``torch_utils.persistence.persistent_class``: it
pickles as ``_reconstruct_persistent_obj(meta)``, ``meta`` holding the whole source of the
defining module (``module_src``, which the official loader executes and this reader never
does), the ``class_name`` and the instance ``__dict__`` (``state``: ``_parameters``,
``_buffers``, ``_modules``, ``_init_kwargs``, ...). Tensors pickle as
``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`` (``_v3`` with a dtype
for uint16/float8), parameters wrap them in ``_rebuild_parameter``, and each storage is
``torch.storage._load_from_bytes(b)`` with ``b`` a *legacy-format* ``torch.save``: pickles of
a magic number, protocol version and system info, a pickle whose persistent id
``('storage', torch.FloatStorage, key, location, numel, view)`` is the storage, a pickle of
the keys, then per key an int64 count and raw little-endian bytes.

Every pickle here goes through an unpickler whose ``find_class`` resolves only an explicit
list of names, each to a NumPy-based stand-in in this module; torch is never imported. Any
other global (``os.system``, ``builtins.eval``, a network class, ...) raises
:class:`UnsafePickleError` naming it.
"""
from __future__ import annotations

import collections
import io
import pickle
import struct
from pathlib import Path
from typing import Any, NamedTuple

import ml_dtypes
import numpy as np

from jaxgan.convert.tf_pickle import TFNetwork, is_tf_snapshot, tf_snapshot_to_official

__all__ = ["NetworkRecord", "PickleNotAllowedError", "UnsafePickleError", "read_network_pkl"]

_PERSISTENCE = ("torch_utils.persistence", "_reconstruct_persistent_obj")
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_NUMERIC = {"float32": "<f4", "float64": "<f8", "float16": "<f2", "int64": "<i8",
            "int32": "<i4", "int16": "<i2", "int8": "i1", "uint8": "u1", "bool": "?",
            "complex64": "<c8", "complex128": "<c16", "uint16": "<u2", "uint32": "<u4",
            "uint64": "<u8"}
_ML_DTYPES = ("bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz",
              "float8_e5m2fnuz", "float8_e8m0fnu")
_DTYPE_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64",
                  "int": "int32", "short": "int16", "cfloat": "complex64",
                  "cdouble": "complex128"}
_STORAGES = {"FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
             "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
             "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
             "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
             "ComplexDoubleStorage": "complex128", "UntypedStorage": "uint8"}


class PickleNotAllowedError(ValueError):
    """Reading a pickle was not explicitly allowed (``allow_pickle=False``)."""


class UnsafePickleError(ValueError):
    """A pickle refers to a global that the restricted unpickler does not allow."""


class NetworkRecord(NamedTuple):
    """One network of a snapshot pickle.

    Attributes:
      class_name: the official class name, e.g. ``'Generator'``.
      state_dict: what ``module.state_dict()`` gives, as NumPy arrays of the stored dtype.
      init_kwargs: the constructor keyword arguments (nested ``EasyDict`` -> ``dict``).
      init_args: the constructor positional arguments.
    """
    class_name: str
    state_dict: dict[str, np.ndarray]
    init_kwargs: dict
    init_args: tuple = ()


# ----------------------------------------------------------------------------- stand-ins

def _numpy_dtype(name: str) -> np.dtype:
    name = _DTYPE_ALIASES.get(name, name)
    if name in _NUMERIC:
        return np.dtype(_NUMERIC[name])
    if name in _ML_DTYPES:
        try:
            return np.dtype(getattr(ml_dtypes, name))
        except AttributeError:
            raise ValueError(f"tensor dtype {name} needs the ml_dtypes package") from None
    raise ValueError(f"unsupported tensor dtype torch.{name}")


class _TorchDtype(NamedTuple):
    """Stand-in for a ``torch.dtype`` global (``_rebuild_tensor_v3``'s dtype argument)."""
    dtype: np.dtype


class _StorageType(NamedTuple):
    """Stand-in for a torch storage class such as ``torch.FloatStorage``."""
    name: str
    dtype: np.dtype


class _Storage:
    """A storage read from a ``torch.save`` payload: a flat array, filled after unpickling."""

    def __init__(self, dtype: np.dtype, numel: int, base: "_Storage | None" = None,
                 offset: int = 0):
        self.dtype, self.numel, self.base, self.offset = dtype, numel, base, offset
        self.data: np.ndarray | None = None

    def array(self) -> np.ndarray:
        if self.base is not None:
            return self.base.array()[self.offset:self.offset + self.numel]
        if self.data is None:
            raise ValueError("storage data missing from the torch.save payload")
        return self.data


class _TensorType:
    """Stand-in for ``torch.Tensor`` / ``torch.nn.Parameter`` used as a type argument."""


class _PersistentObject(NamedTuple):
    """What ``_reconstruct_persistent_obj(meta)`` gives here: the record, not the object."""
    class_name: str
    state: dict


class _ModuleStub:
    """Stand-in for a plain ``torch.nn.modules.*`` class; keeps the pickled ``__dict__``."""
    class_name = "Module"

    def __setstate__(self, state):
        self.state = state if isinstance(state, dict) else {}


class _EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict`` (becomes a plain dict in the results)."""

    def __setstate__(self, state):
        pass


def _stub_class(name: str) -> type:
    return type(name, (_ModuleStub,), {"class_name": name})


def _reconstruct_persistent_obj(meta) -> _PersistentObject:
    if not isinstance(meta, dict) or not isinstance(meta.get("state"), dict):
        raise ValueError("persistent object without a state dict")
    return _PersistentObject(str(meta.get("class_name", "?")), meta["state"])


def _tensor(storage, offset, size, stride, dtype: np.dtype | None = None,
            metadata=None) -> np.ndarray:
    """Gather a (possibly strided) tensor out of a storage, bounds-checked, as a new array."""
    if not isinstance(storage, _Storage):
        raise ValueError(f"tensor storage is a {type(storage).__name__}, not a storage")
    flat = storage.array()
    if dtype is not None and dtype != flat.dtype:
        if flat.nbytes % dtype.itemsize:
            raise ValueError(f"storage of {flat.nbytes} bytes does not hold {dtype} elements")
        flat = flat.view(dtype)
    size, stride, offset = tuple(int(s) for s in size), tuple(int(s) for s in stride), int(offset)
    if len(size) != len(stride) or min(size + stride + (offset,), default=0) < 0:
        raise ValueError(f"bad tensor geometry size={size} stride={stride} offset={offset}")
    if 0 in size:
        return np.empty(size, flat.dtype.newbyteorder("="))
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= flat.size:
        raise ValueError(f"tensor size={size} stride={stride} offset={offset} reaches past "
                         f"its storage of {flat.size} elements")
    view = np.lib.stride_tricks.as_strided(flat[offset:], size,
                                           tuple(s * flat.itemsize for s in stride))
    out = np.array(view, dtype=flat.dtype.newbyteorder("="), order="C")
    if isinstance(metadata, dict) and metadata.get("neg"):
        out = -out
    if isinstance(metadata, dict) and metadata.get("conj"):
        out = np.conj(out)
    return out


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None,
                       metadata=None):
    return _tensor(storage, offset, size, stride, metadata=metadata)


def _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype,
                       metadata=None):
    if not isinstance(dtype, _TorchDtype):
        raise ValueError("_rebuild_tensor_v3 without a torch dtype")
    return _tensor(storage, offset, size, stride, dtype.dtype, metadata)


def _rebuild_parameter(data, requires_grad=False, hooks=None, state=None):
    if not isinstance(data, np.ndarray):
        raise ValueError(f"parameter data is a {type(data).__name__}, not a tensor")
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    if func not in (_rebuild_tensor_v2, _rebuild_tensor_v3,
                    _rebuild_parameter) or not isinstance(args, tuple):
        raise ValueError("_rebuild_from_type_v2 with an unexpected rebuild function")
    return func(*args)


def _np_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype):
        raise ValueError("numpy scalar without a dtype")
    if dtype.hasobject:
        return data
    if isinstance(data, str):
        data = data.encode("latin-1")
    return np.frombuffer(data, dtype, count=1)[0]


def _np_reconstruct(subtype, shape, typecode):
    if subtype is not np.ndarray:
        raise ValueError("numpy array reconstruction of a class other than ndarray")
    return np.ndarray(shape, np.dtype(typecode))


def _codecs_encode(text, encoding="utf-8"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise ValueError("unexpected _codecs.encode call")
    return text.encode("latin-1")


# ----------------------------------------------------------------------------- unpickling

_FIXED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice, ("builtins", "complex"): complex,
    ("builtins", "bytearray"): bytearray, ("_codecs", "encode"): _codecs_encode,
    ("dnnlib.util", "EasyDict"): _EasyDict, ("dnnlib", "EasyDict"): _EasyDict,
    ("dnnlib.tflib.network", "Network"): TFNetwork,      # TF-era releases (tf_pickle)
    _PERSISTENCE: _reconstruct_persistent_obj,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): _TensorType, ("torch.nn.parameter", "Parameter"): _TensorType,
    ("torch.nn", "Parameter"): _TensorType,
    ("numpy", "dtype"): np.dtype, ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "scalar"): _np_scalar,
    ("numpy._core.multiarray", "scalar"): _np_scalar,
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
}
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler resolving only allowed globals, each to a stand-in defined above."""

    def __init__(self, file, storages: dict | None = None):
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str):
        module = _PY2_MODULES.get(module, module)
        if (module, name) in _FIXED:
            return _FIXED[(module, name)]
        if module in ("torch", "torch.storage", "torch.cuda") and name in _STORAGES:
            return _StorageType(name, _numpy_dtype(_STORAGES[name]))
        if module == "torch" and (name in _NUMERIC or name in _DTYPE_ALIASES
                                  or name in _ML_DTYPES):
            return _TorchDtype(_numpy_dtype(name))
        if module == "torch.storage" and name == "_load_from_bytes":
            return _load_from_bytes
        if module.startswith("torch.nn.modules.") and name.isidentifier():
            return _stub_class(name)
        raise UnsafePickleError(
            f"refused to load global '{module}.{name}': the restricted unpickler only "
            "resolves torch tensor/storage rebuild functions, persistent network records "
            "and plain containers")

    def persistent_load(self, pid):
        if self._storages is None or not isinstance(pid, tuple) or len(pid) < 5 \
                or pid[0] != "storage" or not isinstance(pid[1], _StorageType):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r:.80}")
        stype, key, numel = pid[1], str(pid[2]), int(pid[4])
        root = self._storages.setdefault(key, _Storage(stype.dtype, numel))
        view = pid[5] if len(pid) > 5 else None
        if view is not None:
            _, offset, view_numel = view
            return _Storage(stype.dtype, int(view_numel), root, int(offset))
        return root


def _load_from_bytes(b) -> _Storage:
    """Stand-in for ``torch.storage._load_from_bytes``: a storage from ``torch.save`` bytes."""
    if not isinstance(b, (bytes, bytearray)):
        raise ValueError("_load_from_bytes expects bytes")
    f = io.BytesIO(b)
    plain = _RestrictedUnpickler
    if plain(f).load() != _LEGACY_MAGIC or plain(f).load() != _LEGACY_PROTOCOL:
        raise ValueError("storage payload is not a torch.save file")
    plain(f).load()  # sys_info: data is little-endian whatever the saving machine was
    storages: dict[str, _Storage] = {}
    result = _RestrictedUnpickler(f, storages).load()
    for key in plain(f).load():
        st = storages[str(key)]
        (numel,) = struct.unpack("<q", f.read(8))
        raw = f.read(st.numel * st.dtype.itemsize)
        if numel != st.numel or len(raw) != st.numel * st.dtype.itemsize:
            raise ValueError(f"storage {key}: {numel} elements and {len(raw)} bytes stored, "
                             f"expected {st.numel} x {st.dtype}")
        st.data = np.frombuffer(raw, st.dtype)
    if not isinstance(result, _Storage):
        raise ValueError("storage payload holds no storage")
    return result


# ----------------------------------------------------------------------------- records

def _plain(x):
    """EasyDict/OrderedDict -> dict, NumPy scalars -> Python scalars, recursively."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    if isinstance(x, np.generic):
        return x.item()
    return x


def _module_state(obj) -> dict | None:
    """The ``__dict__`` of a pickled torch module, or None if ``obj`` is not one."""
    state = getattr(obj, "state", None)
    if isinstance(obj, (_PersistentObject, _ModuleStub)) and isinstance(state, dict) \
            and isinstance(state.get("_parameters"), dict):
        return state
    return None


def _collect(state: dict, prefix: str, out: dict[str, np.ndarray], path: tuple) -> None:
    """Add the ``state_dict()`` entries of one module (and its submodules) to ``out``."""
    if id(state) in path:
        raise ValueError(f"module {prefix[:-1]!r} contains itself")
    skip = state.get("_non_persistent_buffers_set") or ()
    entries = list(state["_parameters"].items())
    entries += [(k, v) for k, v in (state.get("_buffers") or {}).items() if k not in skip]
    for name, value in entries:
        if value is None:
            continue
        if not isinstance(value, np.ndarray):
            raise ValueError(f"{prefix}{name} is a {type(value).__name__}, not a tensor")
        out[prefix + name] = value
    for name, sub in (state.get("_modules") or {}).items():
        if sub is None:
            continue
        sub_state = _module_state(sub)
        if sub_state is None:
            raise ValueError(f"submodule {prefix}{name} is a {type(sub).__name__}, not a module")
        _collect(sub_state, f"{prefix}{name}.", out, path + (id(state),))


def _record(obj) -> NetworkRecord | None:
    state = _module_state(obj)
    if state is None:
        return None
    sd: dict[str, np.ndarray] = {}
    _collect(state, "", sd, ())
    kwargs = _plain(state.get("_init_kwargs") or {})
    args = _plain(state.get("_init_args") or ())
    return NetworkRecord(obj.class_name, sd, kwargs if isinstance(kwargs, dict) else {},
                         tuple(args) if isinstance(args, (list, tuple)) else ())


def read_network_pkl(path, allow_pickle: bool = False) -> dict[str, NetworkRecord]:
    """Read the networks of a stylegan2-ada-pytorch snapshot pickle, torch-free and safely.

    Args:
      path: a ``network-snapshot-*.pkl`` (or any pickle of a dict of persistent torch
        modules, e.g. a stylegan3 snapshot).
      allow_pickle: must be True: ``.pkl`` files are Python pickles. The restricted
        unpickler used here never runs their embedded source code, but reading one is
        still an explicit choice.

    Returns:
      ``{entry: NetworkRecord}`` for every top-level entry that is a torch module (``G``,
      ``D``, ``G_ema``, and ``augment_pipe`` when present); other entries
      (``training_set_kwargs``, ``None``) are left out.

    Raises:
      FileNotFoundError: ``path`` does not exist.
      PickleNotAllowedError: ``allow_pickle`` is False.
      UnsafePickleError: the pickle refers to a global outside the allowed list.
      ValueError: not a pickle, truncated or corrupt, or no network entries.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"network pickle not found: {path}")
    if not allow_pickle:
        raise PickleNotAllowedError(
            f"{path} is a Python pickle. jaxgan reads network pickles with a restricted "
            "unpickler that never runs the source code embedded in them, but loading one must "
            "be allowed explicitly: pass allow_pickle=True (or --allow-pickle on the command "
            "line) if you trust where the file came from.")
    with open(path, "rb") as f:
        if f.read(4) == b"PK\x03\x04":
            raise ValueError(f"{path} is a zip archive (torch.save / TorchScript?), not a "
                             "stylegan2-ada-pytorch network pickle")
        f.seek(0)
        try:
            data = _RestrictedUnpickler(f).load()
        except UnsafePickleError as e:
            raise UnsafePickleError(f"{path}: {e}") from None
        except (EOFError, pickle.UnpicklingError, struct.error) as e:
            raise ValueError(f"{path} is not a readable network pickle (truncated or corrupt?): "
                             f"{type(e).__name__}: {e}") from None
        except Exception as e:  # noqa: BLE001  (any failure here means a bad file)
            raise ValueError(f"cannot read network pickle {path}: {type(e).__name__}: {e}") \
                from None
    if is_tf_snapshot(data):
        try:
            return {name: NetworkRecord(cls, sd, kw)
                    for name, (cls, sd, kw) in tf_snapshot_to_official(data).items()}
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a {type(data).__name__}, not a dict of networks")
    records = {}
    for key, value in data.items():
        try:
            rec = _record(value)
        except (ValueError, RecursionError) as e:
            raise ValueError(f"{path} ({key}): {e}") from None
        if rec is not None:
            records[str(key)] = rec
    if not records:
        raise ValueError(f"{path} holds no torch network entries (keys: {sorted(map(str, data))})")
    return records
