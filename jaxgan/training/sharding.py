"""Sharding rules for training: one table maps parameter paths to ``PartitionSpec``s.

Mesh axes are ``('data', 'fsdp')``. Batches are split over both axes (every device sees
different examples); parameters, their EMA and their optimiser moments are split over
``'fsdp'`` along the dimension the rule names, and replicated over ``'data'``. A rule that
does not divide evenly falls back to replication, so the same table serves 1 CPU, 8 fake
CPU devices, a GPU node and a TPU pod.
"""
from __future__ import annotations

import re
from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

DATA, FSDP = "data", "fsdp"
BATCH_SPEC = P((DATA, FSDP))

#: (regex on the '/'-joined leaf path, axis to shard over 'fsdp' (negative = from the end)).
#: First match wins; ``None`` replicates. Conv weights are [kh, kw, in, out], fully
#: connected [in, out], the synthesis const [H, W, C]: all split their output channels.
RULES: tuple[tuple[str, int | None], ...] = (
    (r"(^|/)weight$", -1),
    (r"(^|/)const$", -1),
    (r".*", None),
)

#: Leaves smaller than this stay replicated (splitting them costs more than it saves).
MIN_SHARD_SIZE = 2 ** 12


def make_mesh(fsdp: int = 1, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """``('data', 'fsdp')`` mesh over all (or the given) devices, Auto axis types.

    Args:
      fsdp: size of the parameter-sharding axis; must divide the device count.
      devices: default ``jax.devices()`` (every process's devices).
    """
    devices = list(jax.devices() if devices is None else devices)
    if fsdp < 1 or len(devices) % fsdp:
        raise ValueError(f"fsdp={fsdp} must divide the number of devices ({len(devices)})")
    arr = np.asarray(devices, dtype=object).reshape(len(devices) // fsdp, fsdp)
    return Mesh(arr, (DATA, FSDP), axis_types=(AxisType.Auto, AxisType.Auto))


def _path_str(path) -> str:
    parts = []
    for p in path:
        for attr in ("key", "name", "idx"):
            if hasattr(p, attr):
                parts.append(str(getattr(p, attr)))
                break
    return "/".join(parts)


def spec_for(path: str, shape: tuple[int, ...], fsdp_size: int) -> P:
    """PartitionSpec of one leaf under :data:`RULES`."""
    if fsdp_size == 1 or int(np.prod(shape, dtype=np.int64)) < MIN_SHARD_SIZE:
        return P()
    for pattern, axis in RULES:
        if re.search(pattern, path):
            if axis is None or not shape:
                return P()
            ax = axis % len(shape)
            if shape[ax] % fsdp_size:
                return P()
            spec = [None] * len(shape)
            spec[ax] = FSDP
            return P(*spec)
    return P()


def tree_shardings(tree: Any, mesh: Mesh) -> Any:
    """NamedSharding for every leaf of ``tree`` (arrays or ShapeDtypeStructs) by the rules."""
    fsdp = mesh.shape[FSDP]
    return jax.tree_util.tree_map_with_path(
        lambda path, x: NamedSharding(mesh, spec_for(_path_str(path), tuple(np.shape(x)), fsdp)),
        tree)


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Batches: leading axis split over every device."""
    return NamedSharding(mesh, BATCH_SPEC)


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())
