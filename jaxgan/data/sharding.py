"""Put host-local NumPy batches onto a device mesh as global `jax.Array`s.

Mesh axis types: in jax 0.10 ``jax.make_mesh`` defaults to
``AxisType.Explicit`` axes (sharding becomes part of the array type, which
changes how jit/ops propagate shardings). The data pipeline only needs the
classic behaviour, so `make_data_mesh` builds the mesh with
``AxisType.Auto`` explicitly; a `jax.sharding.Mesh` constructed directly is
also ``Auto``. Both work with `to_global_batch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec
from jax.experimental import multihost_utils

__all__ = ["global_rows", "make_data_mesh", "process_rows", "replicate", "to_global_batch", "to_host"]


def make_data_mesh(
    axis_name: str = "data", devices: Sequence[jax.Device] | None = None
) -> Mesh:
    """1-D mesh over all (or the given) devices with an ``Auto`` axis.

    Args:
      axis_name: name of the data-parallel axis.
      devices: devices to use; default ``jax.devices()`` (all processes).

    Returns:
      A `jax.sharding.Mesh` of shape ``(len(devices),)``.
    """
    devices = jax.devices() if devices is None else list(devices)
    return jax.make_mesh(
        (len(devices),), (axis_name,), axis_types=(AxisType.Auto,), devices=devices
    )


def to_global_batch(
    batch: Any, mesh: Mesh, spec: PartitionSpec = PartitionSpec("data")
) -> Any:
    """Assembles a global sharded batch from each process' local batch.

    Uses `jax.make_array_from_process_local_data`, so it works with one or
    many processes: each process passes its own rows (e.g. from
    `pipeline.make_iterator`), and the result has leading dimension
    ``local_batch * process_count`` sharded over ``spec``. The global batch
    size must be divisible by the size of the mesh axes in ``spec[0]``.

    Args:
      batch: pytree (e.g. dict) of host-local NumPy arrays.
      mesh: device mesh.
      spec: partition spec for the leading (batch) dimension; trailing
        dimensions are replicated unless named.

    Returns:
      The same pytree of global `jax.Array`s with `NamedSharding(mesh, spec)`.
    """
    sharding = NamedSharding(mesh, spec)
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)),
        batch,
    )


def global_rows(tree: Any, mesh: Mesh, axis: str = "data") -> Any:
    """This process's rows (pytree of ``[n, ...]``, equal ``n`` on every process) -> global
    arrays ``[n * process_count, ...]`` with the row axis sharded over ``mesh``'s ``axis``.

    Raises:
      ValueError: ``mesh`` has no ``axis``, or the global row count does not divide over it.
    """
    if axis not in mesh.shape:
        raise ValueError(f"the mesh needs a {axis!r} axis, got axes {mesh.axis_names}")
    leaves = jax.tree.leaves(tree)
    n_local = int(np.shape(leaves[0])[0]) if leaves else 0
    n = n_local * jax.process_count()
    if n % mesh.shape[axis]:
        raise ValueError(f"{n} rows ({n_local} per process x {jax.process_count()} processes) "
                         f"do not divide over the {mesh.shape[axis]} devices of mesh axis {axis!r}")
    sharding = NamedSharding(mesh, PartitionSpec(axis))
    want = process_rows(n)
    got = sorted({idx[0].indices(n)[:2] for idx in
                  sharding.addressable_devices_indices_map((n,)).values()})
    if n and (got[0][0], got[-1][1]) != (want.start, want.stop):
        raise ValueError(f"mesh axis {axis!r} does not give process {jax.process_index()} the "
                         f"contiguous rows {want.start}:{want.stop} (it gets {got}); build the "
                         f"mesh from jax.devices() in process order")
    return to_global_batch(jax.tree.map(jax.device_get, tree), mesh, PartitionSpec(axis))


def process_rows(n: int, process_index: int | None = None,
                 process_count: int | None = None) -> slice:
    """This process's contiguous rows of a global batch of ``n`` (process 0 first).

    The layout matches `to_global_batch` over a mesh built from ``jax.devices()`` (devices
    ordered by process), so ``to_global_batch(x[process_rows(len(x))], mesh)`` is ``x``.

    Args:
      n: global batch size; must be divisible by the process count.
      process_index, process_count: default ``jax.process_index()`` / ``jax.process_count()``.

    Returns:
      ``slice(i * n // P, (i + 1) * n // P)``.
    """
    p = jax.process_count() if process_count is None else process_count
    i = jax.process_index() if process_index is None else process_index
    if n % p:
        raise ValueError(f"a global batch of {n} rows cannot be split evenly over {p} processes")
    if not 0 <= i < p:
        raise ValueError(f"process index {i} must lie in [0, {p})")
    k = n // p
    return slice(i * k, (i + 1) * k)


def to_host(tree: Any) -> Any:
    """NumPy copy of a pytree of (possibly multi-process sharded) global arrays.

    Multi-process: a collective (``process_allgather``), so every process must call it;
    every process gets the whole arrays.
    """
    if jax.process_count() == 1:
        return jax.device_get(tree)
    return multihost_utils.process_allgather(tree, tiled=True)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """``tree`` (the same values on every process) as arrays replicated over ``mesh``."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))
