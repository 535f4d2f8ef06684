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

__all__ = ["make_data_mesh", "to_global_batch"]


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
