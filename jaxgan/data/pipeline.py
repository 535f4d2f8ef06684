"""Deterministic, resumable, multi-process input pipelines built on grain.

`make_iterator` turns any random-access source (``len(src)``, ``src[i] ->
dict``; e.g. `jaxgan.data.builders.open_source` or `ArraySource`) into an
iterator of dicts of NumPy batches.

Semantics (all derived from ``seed``; no global randomness):

* The *global stream* is the concatenation over epochs of per-epoch
  permutations of the records (grain ``MapDataset.shuffle`` re-seeds every
  epoch), or the records in order when ``shuffle=False``.
* Global batch ``k`` is ``stream[k*G:(k+1)*G]`` with ``G = batch_size *
  shard_count``; process ``p`` gets the contiguous slice ``[p*B:(p+1)*B]`` of
  it. Hence the global batches do not depend on the number of processes, the
  shards of each global batch are disjoint, and over the stream they are
  complete; ``make_array_from_process_local_data`` reassembles the global batch.
* Iterator state is the number of (local == global) batches consumed, so a run
  resumes exactly, even on a different number of processes (same ``G``).
* The optional per-example ``transform(example, rng)`` gets a
  `numpy.random.Generator` seeded from ``(seed, epoch, record_index)``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grain
import numpy as np
import jax
from absl import flags

__all__ = [
    "ArraySource",
    "BatchIterator",
    "Compose",
    "NormalizeImage",
    "RandomFlipX",
    "example_rng",
    "make_iterator",
]

Example = dict[str, Any]
Transform = Callable[[Example, np.random.Generator], Example]
_STATE_VERSION = 1


class ArraySource:
    """In-memory random-access source over a dict of equal-length arrays.

    Args:
      arrays: dict of arrays sharing the leading (example) dimension, e.g.
        the output of a jaxgan source or `builders.read_arrays`.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray]):
        self._arrays = {k: np.asarray(v) for k, v in arrays.items()}
        lengths = {len(v) for v in self._arrays.values()}
        if len(lengths) != 1:
            raise ValueError("All arrays need the same leading length.")
        self._n = lengths.pop()

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> Example:
        return {k: v[index] for k, v in self._arrays.items()}


def example_rng(seed: int, epoch: int, index: int, salt: int = 0) -> np.random.Generator:
    """Per-example random generator derived only from its arguments.

    Args:
      seed: pipeline seed.
      epoch: epoch number of the example in the stream.
      index: record index of the example in the source.
      salt: extra stream id, to draw independent numbers for other purposes.

    Returns:
      A fresh `numpy.random.Generator` (Philox).
    """
    seq = np.random.SeedSequence([int(seed), int(epoch), int(index), int(salt)])
    return np.random.Generator(np.random.Philox(seq))


class NormalizeImage:
    """Transform: uint8 images in [0, 255] -> float32 in [-1, 1].

    Args:
      keys: keys of the image arrays to convert.
    """

    def __init__(self, keys: Sequence[str] = ("image",)):
        self.keys = tuple(keys)

    def __call__(self, example: Example, rng: np.random.Generator) -> Example:
        del rng
        out = dict(example)
        for k in self.keys:
            out[k] = np.asarray(example[k], np.float32) * np.float32(1 / 127.5) - 1
        return out


class RandomFlipX:
    """Transform: horizontal flip with probability ``p`` (per-example rng).

    Flips the width axis (axis 1) of the given keys; by default of every array
    with ``ndim >= 2`` (images ``[H, W, C]`` and masks ``[H, W]`` together),
    leaving scalar factors and labels alone. Adds nothing to the example.

    Args:
      p: flip probability.
      keys: keys to flip; None = all arrays with ``ndim >= 2``.
    """

    def __init__(self, p: float = 0.5, keys: Sequence[str] | None = None):
        self.p = float(p)
        self.keys = None if keys is None else tuple(keys)

    def __call__(self, example: Example, rng: np.random.Generator) -> Example:
        if rng.random() >= self.p:
            return example
        out = dict(example)
        for k, v in example.items():
            v = np.asarray(v)
            if (self.keys is None and v.ndim >= 2) or (self.keys and k in self.keys):
                out[k] = np.ascontiguousarray(v[:, ::-1])
        return out


class Compose:
    """Chains transforms; each gets an independent generator (salted rng).

    Args:
      *transforms: callables ``(example, rng) -> example``.
    """

    def __init__(self, *transforms: Transform):
        self.transforms = transforms

    def __call__(self, example: Example, rng: np.random.Generator) -> Example:
        for t, child in zip(self.transforms, rng.spawn(len(self.transforms))):
            example = t(example, child)
        return example


class _TagAndTransform:
    """``map_with_index`` fn: index k = epoch * N + record (picklable)."""

    def __init__(self, n: int, seed: int, transform, include_index: bool):
        self.n, self.seed = n, seed
        self.transform, self.include_index = transform, include_index

    def __call__(self, k: int, example: Mapping[str, Any]) -> Example:
        epoch, index = divmod(int(k), self.n)
        example = dict(example)
        if self.transform is not None:
            example = self.transform(example, example_rng(self.seed, epoch, index))
        if self.include_index:
            if "record_index" in example or "record_epoch" in example:
                raise KeyError("include_index: the example already has 'record_index' "
                               "or 'record_epoch'.")
            example["record_index"] = np.int64(index)
            example["record_epoch"] = np.int64(epoch)
        return example


class _HostBatches(grain.MapDataset):
    """Batch ``k`` = this process' contiguous slice of global batch ``k``."""

    def __init__(self, parent, *, total, batch_size, shard_index, shard_count,
                 drop_remainder):
        super().__init__(parent)
        self._total = total  # None: infinite stream.
        self._g = batch_size * shard_count
        self._p, self._c = shard_index, shard_count
        self._drop = drop_remainder

    def _bounds(self, k: int) -> tuple[int, int]:
        start = k * self._g
        size = self._g if self._total is None else min(self._g, self._total - start)
        return (start + self._p * size // self._c,
                start + (self._p + 1) * size // self._c)

    def __len__(self) -> int:
        if self._total is None:
            return sys.maxsize
        full, rem = divmod(self._total, self._g)
        if self._drop or rem == 0:
            return full
        lo, hi = self._bounds(full)
        return full + int(hi > lo)

    def __str__(self) -> str:
        return f"_HostBatches(G={self._g}, shard={self._p}/{self._c})"

    def __getitem__(self, k):
        if isinstance(k, slice):
            return self.slice(k)
        lo, hi = self._bounds(int(k))
        return _stack([self._parent[i] for i in range(lo, hi)])


def _stack(records: Sequence[Any]) -> Any:
    """Stacks a list of (nested) dicts of arrays into a dict of batches."""
    if isinstance(records[0], Mapping):
        return {k: _stack([r[k] for r in records]) for k in records[0]}
    return np.stack([np.asarray(r) for r in records])


class BatchIterator:
    """Iterator of dicts of NumPy batches with exact save/restore.

    ``get_state()`` returns a JSON-serialisable dict; ``set_state(state)``
    restores it (also into a fresh iterator built with the same arguments,
    possibly on a different number of processes with the same global batch
    size, when ``worker_count == 0``). ``steps`` is the number of batches
    consumed so far.
    """

    def __init__(self, dataset: grain.IterDataset, config: dict[str, Any]):
        self._dataset = dataset
        self._it = iter(dataset)
        self._config = config
        self.steps = 0

    def __iter__(self) -> BatchIterator:
        return self

    def __next__(self) -> Example:
        batch = next(self._it)
        self.steps += 1
        return batch

    def get_state(self) -> dict[str, Any]:
        """Returns the JSON-serialisable iterator state."""
        return {"version": _STATE_VERSION, "config": dict(self._config),
                "steps": self.steps, "grain": self._it.get_state()}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restores a state from `get_state` (raises on a config mismatch)."""
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"Unknown iterator state version {state.get('version')}.")
        if dict(state["config"]) != self._config:
            raise ValueError(
                f"Iterator state was saved with config {state['config']}, "
                f"this iterator has {self._config}."
            )
        self._it.set_state(state["grain"])
        self.steps = int(state["steps"])

    def close(self) -> None:
        """Stops background threads / worker processes."""
        close = getattr(self._it, "close", None)
        if close is not None:
            close()


def make_iterator(
    source,
    *,
    batch_size: int,
    seed: int,
    shuffle: bool = True,
    num_epochs: int | None = None,
    shard_index: int | None = None,
    shard_count: int | None = None,
    drop_remainder: bool = True,
    transform: Transform | None = None,
    worker_count: int = 0,
    include_index: bool = False,
    read_threads: int = 4,
    prefetch_batches: int = 4,
) -> BatchIterator:
    """Builds a seeded, sharded, resumable batch iterator over a source.

    Args:
      source: random-access source (``len``, ``[i] -> dict of arrays``).
      batch_size: per-process batch size ``B``; the global batch is
        ``B * shard_count``.
      seed: integer seed for shuffling and per-example transforms.
      shuffle: reshuffle records every epoch (seeded by ``(seed, epoch)``).
      num_epochs: number of passes over the data; None = infinite.
      shard_index: this process' shard; default ``jax.process_index()``.
      shard_count: number of shards; default ``jax.process_count()``.
      drop_remainder: drop the final incomplete global batch (finite epochs).
        If False, that batch is split as evenly as possible (process sizes
        differ by <= 1; a process may get none), so the union over shards of
        one epoch is every record exactly once.
      transform: per-example ``fn(example, rng) -> example``; ``rng`` is from
        `example_rng` (seed, epoch, record index). Must be picklable when
        ``worker_count > 0``. See `NormalizeImage`, `RandomFlipX`, `Compose`.
      worker_count: grain worker processes (``mp_prefetch``); 0 = threads in
        this process. The saved state then depends on ``worker_count``.
      include_index: add int64 ``'record_index'`` (index in the source) and
        ``'record_epoch'`` to every example.
      read_threads: grain read threads (``ReadOptions.num_threads``).
      prefetch_batches: batches prefetched (``ReadOptions.prefetch_buffer_size``).

    Returns:
      A `BatchIterator` yielding dicts of NumPy arrays with leading dim ``B``
      (the last one smaller only when ``drop_remainder=False``).
    """
    if shard_index is None or shard_count is None:

        shard_index = jax.process_index() if shard_index is None else shard_index
        shard_count = jax.process_count() if shard_count is None else shard_count
    if not 0 <= shard_index < shard_count:
        raise ValueError(f"Need 0 <= shard_index < shard_count, got {shard_index}/{shard_count}.")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    n = len(source)
    if n == 0:
        raise ValueError("Empty source.")
    if num_epochs is not None and num_epochs <= 0:
        raise ValueError(f"num_epochs must be positive or None, got {num_epochs}.")

    ds = grain.MapDataset.source(source)
    if transform is not None or include_index:
        ds = ds.map_with_index(_TagAndTransform(n, seed, transform, include_index))
    if shuffle:
        # Hash the seed so runs with seeds s and s+1 do not see shifted
        # permutations (grain re-seeds epoch e with shuffle_seed + e).
        shuffle_seed = int(np.random.SeedSequence([int(seed), 0x5EED]).generate_state(1)[0])
        ds = ds.shuffle(seed=shuffle_seed)
    ds = ds.repeat(num_epochs)
    ds = _HostBatches(
        ds,
        total=None if num_epochs is None else n * num_epochs,
        batch_size=batch_size,
        shard_index=shard_index,
        shard_count=shard_count,
        drop_remainder=drop_remainder,
    )
    it_ds = ds.to_iter_dataset(
        grain.ReadOptions(num_threads=read_threads, prefetch_buffer_size=prefetch_batches)
    )
    if worker_count > 0:
        # grain 0.2.x reads an absl flag in mp_prefetch and raises
        # UnparsedFlagAccessError in scripts that never parsed absl flags
        # (google/grain#1355); mark them parsed (defaults) in that case only.

        if not flags.FLAGS.is_parsed():
            flags.FLAGS.mark_as_parsed()
        it_ds = it_ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=worker_count))
    config = {
        "num_records": n,
        "seed": int(seed),
        "shuffle": bool(shuffle),
        "num_epochs": num_epochs,
        "global_batch_size": batch_size * shard_count,
        "drop_remainder": bool(drop_remainder),
        "worker_count": int(worker_count),
    }
    return BatchIterator(it_ds, config)
