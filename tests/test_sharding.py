"""The blocks of rows of :mod:`jaxgan.sharding` (the batched methods' memory bound) against a
brute-force reference, and the one-device default mesh."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxgan.sharding import (block_size, join_blocks, make_data_mesh, mesh_processes,
                             one_device_mesh, resolve_mesh, row_blocks, to_host)


class _Axis:
    """A stand-in for a mesh's ``shape`` (``block_size`` reads only the axis size)."""
    def __init__(self, a):
        self.shape = {"data": a}


@pytest.mark.parametrize("a", [1, 2, 3, 8])
def test_block_size_is_the_most_even_split_within_the_budget(a):
    """Brute force: among blocks that are multiples of the axis size ``a`` and within the
    budget (``cap`` rounded down to a multiple of ``a``, at least ``a``), the fewest blocks,
    and of those the smallest block (least padding)."""
    for n in range(1, 40):
        for cap in range(1, 30):
            budget = max(a, cap // a * a)
            sizes = range(a, budget + 1, a)
            fewest = min(-(-n // k) for k in sizes)
            want = min(k for k in sizes if -(-n // k) == fewest)
            assert block_size(n, cap, _Axis(a)) == want, (n, cap, a)


def test_row_blocks_and_join_blocks_round_trip_with_padding():
    mesh = one_device_mesh()
    assert resolve_mesh(None) == mesh and resolve_mesh(mesh) is mesh
    assert mesh.devices.size == 1 and mesh_processes(mesh) == (0, 1)
    assert make_data_mesh(devices=jax.local_devices()[:1]) == mesh
    x = {"a": np.arange(14.0).reshape(7, 2), "b": np.arange(7)}
    blocks = list(row_blocks(x, mesh, 3))
    assert [np.shape(b["a"]) for b in blocks] == [(3, 2)] * 3
    np.testing.assert_array_equal(np.asarray(blocks[-1]["b"]), [6, 6, 6])   # last row repeated
    assert blocks[0]["a"].sharding.spec[0] == "data"
    back = join_blocks([to_host(b["a"]) for b in blocks], 7, mesh)
    np.testing.assert_array_equal(back, x["a"])
