"""Convert the standard FID Inception weights into :class:`jaxgan.nets.inception.FIDInceptionV3`.

The file users have is pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``: a
``torch.save``'d ``state_dict`` (``Conv2d_1a_3x3.conv.weight``, ...,
``Mixed_7c.branch_pool.bn.running_var``, ``fc.weight``, ``fc.bias``). It is read **without
torch**: both ``torch.save`` formats (the zip archive of torch >= 1.6 and the older legacy
stream) are parsed with the restricted unpickler of :mod:`jaxgan.convert.pickle_reader`,
which only rebuilds tensors. An ``.npz`` with the same keys works too (write one with
``np.savez(f, **{k: v.numpy() for k, v in sd.items()})``).

Layouts: conv ``[O, I, kh, kw] -> [kh, kw, I, O]``; ``bn.weight/bias -> scale/bias``,
``bn.running_mean/var -> batch_stats mean/var`` (``num_batches_tracked`` ignored); ``fc.weight
[1008, 2048] -> kernel [2048, 1008]``. Every key and shape is checked; missing, unexpected
and mis-shaped entries are all listed in one error.
"""
from __future__ import annotations

import io
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.convert.pickle_reader import (_LEGACY_MAGIC, _LEGACY_PROTOCOL, _RestrictedUnpickler,
                                          _Storage, _tensor)
from jaxgan.nets.inception import FIDInceptionV3

_IGNORED_SUFFIXES = (".num_batches_tracked",)


class InceptionConversionError(ValueError):
    """The state dict does not match the FID Inception-v3 (keys or shapes)."""


# ----------------------------------------------------------------------------- reading

class _LazyTensor(NamedTuple):
    storage: _Storage
    offset: int
    size: tuple
    stride: tuple


def _lazy_rebuild(storage, offset, size, stride, *_rest):
    return _LazyTensor(storage, offset, size, stride)


class _StateDictUnpickler(_RestrictedUnpickler):
    """Restricted unpickler that defers tensor rebuilding until the storages hold their data
    (a state dict's tensors are unpickled before the legacy stream's raw bytes)."""

    def find_class(self, module: str, name: str):
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _lazy_rebuild
        return super().find_class(module, name)


def read_torch_state_dict(path) -> dict[str, np.ndarray]:
    """Read a ``torch.save``'d state dict (zip or legacy format) as NumPy, torch-free.

    Raises:
      FileNotFoundError: no such file. ValueError: not a torch file / not a dict of tensors.
      jaxgan.convert.pickle_reader.UnsafePickleError: the pickle names a forbidden global.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    storages: dict[str, _Storage] = {}
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
            if not pkl:
                raise ValueError(f"{path}: zip archive without data.pkl (not a torch.save file)")
            root = pkl[0][: -len("data.pkl")]
            if any(n.startswith(f"{root}code/") for n in names):
                raise ValueError(f"{path} is a TorchScript archive (e.g. NVIDIA's inception-2015-"
                                 "12-05.pt), not a state dict; use pytorch-fid's "
                                 "pt_inception-2015-12-05-6726825d.pth")
            obj = _StateDictUnpickler(io.BytesIO(z.read(pkl[0])), storages).load()
            for key, st in storages.items():
                name = f"{root}data/{key}"
                if name not in names:
                    raise ValueError(f"{path}: storage {key} missing from the archive")
                raw = z.read(name)
                st.data = np.frombuffer(raw, st.dtype, count=len(raw) // st.dtype.itemsize)
    else:
        with open(path, "rb") as f:
            plain = _RestrictedUnpickler
            try:
                magic = plain(f).load()
            except Exception as e:  # noqa: BLE001
                raise ValueError(f"{path} is not a torch.save file: {e}") from None
            if magic != _LEGACY_MAGIC or plain(f).load() != _LEGACY_PROTOCOL:
                raise ValueError(f"{path} is not a torch.save file (bad magic number)")
            plain(f).load()                                   # sys_info
            obj = _StateDictUnpickler(f, storages).load()
            for key in plain(f).load():
                st = storages[str(key)]
                (numel,) = struct.unpack("<q", f.read(8))
                raw = f.read(numel * st.dtype.itemsize)
                if len(raw) != numel * st.dtype.itemsize:
                    raise ValueError(f"{path}: storage {key} truncated")
                st.data = np.frombuffer(raw, st.dtype)
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a state dict")
    out = {}
    for k, v in obj.items():
        if isinstance(v, _LazyTensor):
            v = _tensor(v.storage, v.offset, v.size, v.stride)
        if not isinstance(v, np.ndarray):
            raise ValueError(f"{path}: entry {k!r} is a {type(v).__name__}, not a tensor")
        out[str(k)] = v
    return out


def read_weights(path) -> dict[str, np.ndarray]:
    """``.npz`` or torch ``.pth`` -> ``{torch key: array}``."""
    path = Path(path)
    if path.suffix == ".npz":
        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {path}")
        with np.load(path, allow_pickle=False) as d:
            return {k: d[k] for k in d.files}
    try:
        return read_torch_state_dict(path)
    except pickle.UnpicklingError as e:
        raise ValueError(f"{path}: cannot read as a torch state dict: {e}") from None


# ----------------------------------------------------------------------------- mapping

def _template():
    return jax.eval_shape(FIDInceptionV3().init, jax.random.key(0), jnp.zeros((1, 75, 75, 3)))


def expected_state_shapes(shapes=None) -> dict[str, tuple[int, ...]]:
    """The official key -> shape table, derived from :class:`FIDInceptionV3`'s variables."""
    shapes = _template() if shapes is None else shapes
    out = {}
    for torch_key, (col, path, transform) in _torch_to_flax(shapes).items():
        leaf = shapes[col]
        for p in path:
            leaf = leaf[p]
        shp = tuple(leaf.shape)
        if transform == "conv":
            shp = (shp[3], shp[2], shp[0], shp[1])
        elif transform == "dense":
            shp = (shp[1], shp[0])
        out[torch_key] = shp
    return out


def _torch_to_flax(variables) -> dict[str, tuple[str, tuple[str, ...], str]]:
    """``torch key -> (collection, flax path, transform)`` for every variable."""
    table = {}
    for col, tree in variables.items():
        flat = jax.tree_util.tree_flatten_with_path(tree)[0]
        for kp, _ in flat:
            path = tuple(str(getattr(k, "key", k)) for k in kp)
            *mods, leaf = path
            prefix = ".".join(mods)
            if col == "batch_stats":
                table[f"{prefix}.running_{leaf}"] = (col, path, "copy")
            elif leaf == "kernel":
                table[f"{prefix}.weight"] = (col, path, "dense" if mods == ["fc"] else "conv")
            elif leaf == "scale":
                table[f"{prefix}.weight"] = (col, path, "copy")
            else:
                table[f"{prefix}.{leaf}"] = (col, path, "copy")
    return table


def state_dict_to_variables(state: Mapping[str, np.ndarray]) -> dict:
    """Official state dict -> ``{'params', 'batch_stats'}`` of :class:`FIDInceptionV3`.

    Raises:
      InceptionConversionError: listing every missing, unexpected and mis-shaped key.
    """
    shapes = _template()
    expected = expected_state_shapes(shapes)
    keys = {k for k in state if not k.endswith(_IGNORED_SUFFIXES)}
    missing = sorted(set(expected) - keys)
    unexpected = sorted(keys - set(expected))
    bad = sorted(f"{k}: {tuple(np.shape(state[k]))} (expected {expected[k]})"
                 for k in keys & set(expected) if tuple(np.shape(state[k])) != expected[k])
    if missing or unexpected or bad:
        parts = []
        for what, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", bad)):
            if items:
                more = f" ... (+{len(items) - 20} more)" if len(items) > 20 else ""
                parts.append(f"{len(items)} {what}: {', '.join(items[:20])}{more}")
        raise InceptionConversionError("not the FID Inception-v3 state dict (pytorch-fid "
                                       "pt_inception-2015-12-05): " + "; ".join(parts))
    out: dict = {}
    for torch_key, (col, path, transform) in _torch_to_flax(shapes).items():
        a = np.asarray(state[torch_key], np.float32)
        if transform == "conv":
            a = a.transpose(2, 3, 1, 0)
        elif transform == "dense":
            a = a.T
        node = out.setdefault(col, {})
        for p in path[:-1]:
            node = node.setdefault(p, {})
        node[path[-1]] = jnp.asarray(a)
    return out


def variables_to_state_dict(variables) -> dict[str, np.ndarray]:
    """Inverse of :func:`state_dict_to_variables` (official key names and layouts)."""
    out = {}
    for torch_key, (col, path, transform) in _torch_to_flax(variables).items():
        a = variables[col]
        for p in path:
            a = a[p]
        a = np.asarray(a)
        if transform == "conv":
            a = a.transpose(3, 2, 0, 1)
        elif transform == "dense":
            a = a.T
        out[torch_key] = a
    return out


def load_inception(path):
    """Load the FID Inception from ``.pth`` (torch state dict) or ``.npz``.

    Returns:
      ``(module, variables)`` for :func:`jaxgan.nets.inception.inception_pool`.
    """
    return FIDInceptionV3(), state_dict_to_variables(read_weights(path))


def convert_inception(src, out) -> Path:
    """Convert ``src`` (``.pth``/``.npz``) to a checked, torch-free ``.npz`` at ``out``."""
    state = read_weights(src)
    variables = state_dict_to_variables(state)                # validates
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **variables_to_state_dict(variables))
    return out
