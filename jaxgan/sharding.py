"""One sharding module: meshes, the rule table, batch sharding, process-local data.

Mesh axes are ``('data', 'fsdp')`` for training (:func:`make_mesh`) and ``('data',)`` for
the batched methods (inversion, AttFind, ...; :func:`make_data_mesh`). Batches are split over
the data axes (every device sees different examples); parameters, their EMA and their
optimiser moments are split over ``'fsdp'`` along the dimension the rule table names, and
replicated over ``'data'``. A rule that does not divide evenly falls back to replication, so
the same table serves 1 CPU, 8 fake CPU devices, a GPU node and a TPU pod.

Process-local data: each process holds its own contiguous rows (:func:`process_rows`, process
0 first); :func:`global_rows` / :func:`to_global_batch` assemble global arrays with
``jax.make_array_from_process_local_data`` and :func:`to_host` gathers them back (a
collective in multi-process runs).

Every batched method (inversion, AttFind, ...) runs on a data mesh: the caller's, or by
default :func:`one_device_mesh` (this process's first device; :func:`resolve_mesh`), so there
is one code path for one device, several devices and several processes. Large inputs go
through in blocks: :func:`block_size` picks a block (a multiple of the data axis, at most
about the memory budget), :func:`row_blocks` cuts this process's rows into global blocks
(the last padded with :func:`pad_rows`), and :func:`join_blocks` puts the gathered block
results back in global row order without the padding. :func:`map_rows` is the whole pattern
for a row-wise jitted function (render, feature extraction, classification, ...): blocks of at
most ``batch`` rows on the mesh, the last padded and cropped, the results joined.

Mesh axis types: in jax 0.10 ``jax.make_mesh`` defaults to ``AxisType.Explicit`` axes
(sharding becomes part of the array type); every mesh here is built with ``AxisType.Auto``.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec
from jax.sharding import PartitionSpec as P

__all__ = ["BATCH_SPEC", "DATA", "DATA_AXIS", "FSDP", "MIN_SHARD_SIZE", "RULES", "batch_sharding",
           "block_size", "global_rows", "join_blocks", "make_data_mesh", "make_mesh",
           "map_row_blocks", "map_rows", "mesh_processes", "one_device_mesh", "pad_rows", "process_rows", "replicate",
           "replicated", "resolve_mesh", "row_blocks", "spec_for", "to_global_batch", "to_host",
           "tree_shardings"]

DATA, FSDP = "data", "fsdp"
#: The batch axis of every mesh (the batched methods' 1-D meshes have only this one).
DATA_AXIS = DATA
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


# ----------------------------------------------------------------------------- process-local data

def make_data_mesh(
    axis_name: str = DATA_AXIS, devices: Sequence[jax.Device] | None = None
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


def one_device_mesh(device: jax.Device | None = None) -> Mesh:
    """The batched methods' default mesh: a 1-D ``'data'`` mesh over one device (default this
    process's first); it spans this process only, so the rows passed are all the rows."""
    return make_data_mesh(devices=[jax.local_devices()[0] if device is None else device])


def resolve_mesh(mesh: Mesh | None) -> Mesh:
    """``mesh``, or :func:`one_device_mesh` when None (what ``mesh=None`` means everywhere)."""
    return one_device_mesh() if mesh is None else mesh


def mesh_processes(mesh: Mesh) -> tuple[int, int]:
    """``(index, count)``: this process's position among the processes whose devices are in
    ``mesh`` (ordered by process index), and their number; arguments for :func:`process_rows`.

    Raises:
      ValueError: none of ``mesh``'s devices belongs to this process.
    """
    procs = sorted({d.process_index for d in mesh.devices.flat})
    if jax.process_index() not in procs:
        raise ValueError(f"process {jax.process_index()} has no device in the mesh "
                         f"(processes {procs})")
    return procs.index(jax.process_index()), len(procs)


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
    index, count = mesh_processes(mesh)
    n = n_local * count
    if n % mesh.shape[axis]:
        raise ValueError(f"{n} rows ({n_local} per process x {count} processes) "
                         f"do not divide over the {mesh.shape[axis]} devices of mesh axis {axis!r}")
    sharding = NamedSharding(mesh, PartitionSpec(axis))
    want = process_rows(n, index, count)
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

    Multi-process (arrays spanning processes): a collective (``process_allgather``), so every
    process must call it; every process gets the whole arrays.
    """
    if jax.process_count() == 1 or all(getattr(x, "is_fully_addressable", True)
                                       for x in jax.tree.leaves(tree)):
        return jax.device_get(tree)
    return multihost_utils.process_allgather(tree, tiled=True)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """``tree`` (the same values on every process) as arrays replicated over ``mesh``."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def pad_rows(a, n: int):
    """``a`` with its last row repeated up to ``n`` rows (None stays None): fixed batch shapes,
    so one compiled program serves a last, partial batch."""
    if a is None:
        return None
    a = np.asarray(a)
    return a if len(a) == n else np.concatenate([a, np.repeat(a[-1:], n - len(a), 0)])


# ----------------------------------------------------------------------------- blocks of rows

def block_size(n: int, max_rows: int, mesh: Mesh, axis: str = DATA_AXIS) -> int:
    """Global rows per block for ``n`` global rows: a multiple of ``mesh``'s ``axis`` size, at
    most ``max_rows`` (or one row per device, if more), the blocks as even as that allows (so
    the last one is padded least). ``n <= max_rows``: one block of ``n`` rounded up."""
    a = mesh.shape[axis]
    cap = max(a, max_rows // a * a)
    blocks = max(1, -(-n // cap))
    return -(-(-(-n // blocks)) // a) * a


def row_blocks(tree: Any, mesh: Mesh, block: int, axis: str = DATA_AXIS):
    """This process's rows (pytree of ``[n, ...]``, equal ``n`` on every process) in global
    blocks of ``block`` rows (from :func:`block_size`): each block holds ``block / processes``
    consecutive rows of every process (:func:`global_rows`), the last ones padded with
    :func:`pad_rows`. Yields the global arrays; :func:`join_blocks` undoes the split.

    Raises:
      ValueError: ``block`` does not divide over the mesh's processes.
    """
    count = mesh_processes(mesh)[1]
    if block % count:
        raise ValueError(f"a block of {block} rows does not divide over {count} processes")
    per = block // count
    leaves = jax.tree.leaves(tree)
    n = int(np.shape(leaves[0])[0]) if leaves else 0
    for s in range(0, n, per):
        part = jax.tree.map(lambda x, s=s: pad_rows(np.asarray(x)[s:s + per], per), tree)
        yield global_rows(part, mesh, axis)


def join_blocks(parts: Sequence[Any], n_local: int, mesh: Mesh) -> np.ndarray:
    """Host results ``[block, ...]`` of :func:`row_blocks`' blocks, in order (gathered with
    :func:`to_host`) -> ``[n_local * processes, ...]`` in global row order (process 0's rows
    first), the padding dropped."""
    count = mesh_processes(mesh)[1]
    per = [np.asarray(p).reshape(count, -1, *np.shape(p)[1:]) for p in parts]
    rows = np.concatenate(per, axis=1)[:, :n_local]
    return rows.reshape(count * n_local, *rows.shape[2:])


# ----------------------------------------------------------------------------- row-wise maps

def map_row_blocks(fn, rows: Any, *args, batch: int, mesh: Mesh | None = None,
                   shrink: bool = True, axis: str = DATA_AXIS):
    """:func:`map_rows` one block at a time: yields ``(start, out)``, ``out`` the host outputs
    (a pytree of ``[m, ...]``) of this process's rows ``start .. start + m`` (padding dropped).

    Every process must consume every block (each one gathers across processes)."""
    mesh = resolve_mesh(mesh)
    index, count = mesh_processes(mesh)
    leaves = jax.tree.leaves(rows)
    if not leaves:
        raise ValueError("map_rows: no row arrays")
    n = int(np.shape(leaves[0])[0])
    if any(int(np.shape(x)[0]) != n for x in leaves):
        raise ValueError(f"map_rows: row arrays of different lengths "
                         f"{[np.shape(x)[0] for x in leaves]}")
    unit = int(np.lcm(mesh.shape[axis], count))        # blocks divide over devices and processes
    block = -(-max(1, batch) // unit) * unit
    if shrink and n:
        block = min(block, -(-(n * count) // unit) * unit)
    per = block // count
    repl = NamedSharding(mesh, PartitionSpec())
    args = jax.tree.map(lambda x: jax.device_put(x, repl)                # arrays only: Python
                        if isinstance(x, (np.ndarray, jax.Array)) else x, args)  # scalars stay weak
    if n == 0:
        shapes = jax.eval_shape(fn, jax.tree.map(
            lambda x: jax.ShapeDtypeStruct((block, *np.shape(x)[1:]), np.asarray(x).dtype), rows),
            *args)
        yield 0, jax.tree.map(lambda s: np.zeros((0, *s.shape[1:]), s.dtype), shapes)
        return
    for b, blk in enumerate(row_blocks(rows, mesh, block, axis)):
        out = to_host(fn(blk, *args))
        m = min(per, n - b * per)
        yield b * per, jax.tree.map(
            lambda o, m=m: np.asarray(o).reshape(count, per, *np.shape(o)[1:])[index, :m], out)


def map_rows(fn, rows: Any, *args, batch: int, mesh: Mesh | None = None, shrink: bool = True,
             axis: str = DATA_AXIS) -> Any:
    """Run a row-wise function over blocks of rows on a data mesh; the results joined.

    Args:
      fn: ``fn(rows_block, *args) -> pytree of [block, ...]`` where row ``i`` of every output
        depends only on row ``i`` of ``rows_block`` (a jitted function: it runs once per block
        on global arrays sharded over ``axis``, so one compiled program serves every block).
      rows: this process's rows, a pytree of ``[n, ...]`` arrays (equal ``n`` on every
        process; process 0's rows first globally, :func:`process_rows`).
      *args: other arguments (parameters, keys), replicated over the mesh.
      batch: rows per block, at most (rounded up to a multiple of the axis and the process
        count); the last block is padded with :func:`pad_rows` and cropped.
      mesh: a mesh with an ``axis`` axis; None: :func:`one_device_mesh`.
      shrink: fewer rows than ``batch`` run as one block of ``n`` (rounded up) instead of a
        full padded block; False keeps one block shape whatever ``n`` (one compile for
        calls of any length).

    Returns:
      The outputs for this process's rows, a pytree of host ``[n, ...]`` arrays.
    """
    parts = [out for _, out in map_row_blocks(fn, rows, *args, batch=batch, mesh=mesh,
                                              shrink=shrink, axis=axis)]
    if len(parts) == 1:
        return parts[0]
    return jax.tree.map(lambda *p: np.concatenate(p), *parts)
