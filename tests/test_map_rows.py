""":func:`jaxgan.sharding.map_rows` (every batched capability's row-wise map) against a plain
``jax.vmap`` / NumPy reference: uneven row counts, padded last block, pytrees, shared
arguments, an empty input, and a 4-fake-device mesh in a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import xla_flags_with_devices
from jaxgan.sharding import map_row_blocks, map_rows

REPO = Path(__file__).resolve().parents[1]


def _row(x, y, w):
    """One row: a small nonlinear map of a pytree row with a shared weight."""
    h = jnp.tanh(x["a"] @ w) + y
    return {"h": h, "s": jnp.sum(x["b"] ** 2)}, jnp.argmax(h)


CALLS = []


@jax.jit
def _fn(rows, w):
    CALLS.append(rows[0]["a"].shape[0])                       # traced once per block shape
    return jax.vmap(_row, in_axes=(0, 0, None))(rows[0], rows[1], w)


def _data(n, seed=0):
    r = np.random.default_rng(seed)
    return ({"a": r.normal(size=(n, 5)).astype(np.float32),
             "b": r.normal(size=(n, 3, 2)).astype(np.float32)},
            r.normal(size=(n, 4)).astype(np.float32))


def _reference(x, y, w):
    h = np.tanh(x["a"] @ w) + y
    return {"h": h, "s": (x["b"] ** 2).sum((1, 2))}, h.argmax(1)


@pytest.mark.parametrize("n,batch,shrink", [(1, 4, True), (7, 3, True), (8, 4, False),
                                             (10, 16, True), (10, 16, False), (13, 5, False)])
def test_map_rows_matches_reference(n, batch, shrink):
    w = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    x, y = _data(n)
    CALLS.clear()
    got = map_rows(_fn, (x, y), w, batch=batch, shrink=shrink)
    want = _reference(x, y, w)
    jax.tree.map(lambda g, r: np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6), got, want)
    assert got[1].dtype == np.int32 and got[0]["h"].shape == (n, 4)
    block = min(batch, n) if shrink else batch
    assert set(CALLS) <= {block}                              # one block shape (last one padded)
    starts = [s for s, o in map_row_blocks(_fn, (x, y), w, batch=batch, shrink=shrink)]
    assert starts == list(range(0, n, block))
    np.testing.assert_array_equal(got[1], np.asarray(jax.vmap(_row, in_axes=(0, 0, None))(
        x, y, w)[1]))


def test_map_rows_empty_and_errors():
    w = np.ones((5, 4), np.float32)
    x, y = _data(0)
    got = map_rows(_fn, (x, y), w, batch=4)
    assert got[0]["h"].shape == (0, 4) and got[0]["s"].shape == (0,) and got[1].shape == (0,)
    with pytest.raises(ValueError, match="different lengths"):
        map_rows(_fn, (_data(3)[0], _data(4)[1]), w, batch=4)


def _run(code: str) -> str:
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=xla_flags_with_devices(4))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_capabilities_on_4_fake_devices_match_one_device():
    """Rendering (random noise keyed by image index) and precision/recall on a 4-device mesh
    give the one-device results."""
    out = _run("""
        import jax, numpy as np
        import jaxgan
        from jaxgan.render import make_renderer, render_batches
        from jaxgan.metrics.precision_recall import precision_recall
        from jaxgan.sharding import make_data_mesh
        assert jax.device_count() == 4
        mesh = make_data_mesh()
        G, g = jaxgan.init_generator(jaxgan.GeneratorConfig(
            img_resolution=8, z_dim=8, w_dim=8, channel_base=64, channel_max=8,
            mapping_layers=1), jax.random.key(0))
        render = make_renderer(G, 'z', 0.7, noise_mode='random', seed=2)
        z = np.random.default_rng(0).normal(size=(7, 8)).astype(np.float32)
        one = list(render_batches(render, g, z, batch=3))
        four = list(render_batches(render, g, z, batch=3, mesh=mesh))
        assert [s for s, _ in four] == [0, 4], [s for s, _ in four]   # blocks of 4 rows
        a, b = np.concatenate([x for _, x in one]), np.concatenate([x for _, x in four])
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
        r = np.random.default_rng(1)
        f1, f2 = r.normal(size=(30, 4)), r.normal(size=(21, 4)) + 0.5
        assert precision_recall(f1, f2, row_batch_size=8) == \
            precision_recall(f1, f2, row_batch_size=8, mesh=mesh)
        print('CAPS_OK')
        """)
    assert "CAPS_OK" in out


def test_map_rows_on_4_fake_devices():
    code = textwrap.dedent("""
        import jax, jax.numpy as jnp, numpy as np
        from jaxgan.sharding import make_data_mesh, map_rows
        assert jax.device_count() == 4, jax.devices()
        mesh = make_data_mesh()
        seen = []
        jf = jax.jit(lambda x, w: {'y': jnp.tanh(x @ w), 'i': jnp.argmax(x, 1)})
        def fn(x, w):
            seen.append((x.shape[0], len(x.sharding.device_set), len(w.sharding.device_set),
                         x.sharding.spec))
            return jf(x, w)
        r = np.random.default_rng(0)
        w = r.normal(size=(3, 2)).astype(np.float32)
        for n, batch in ((1, 8), (9, 6), (17, 8), (4, 1)):
            x = r.normal(size=(n, 3)).astype(np.float32)
            got = map_rows(fn, x, w, batch=batch, mesh=mesh)
            np.testing.assert_allclose(got['y'], np.tanh(x @ w), rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(got['i'], x.argmax(1))
            block = -(-min(batch, n) // 4) * 4               # a multiple of the 4 devices
            assert {s[:3] for s in seen} == {(block, 4, 4)}, seen
            assert all(s[3][0] == 'data' for s in seen), seen
            assert len(seen) == -(-n // block), seen
            seen.clear()
        print('MAP_ROWS_OK')
        """)
    assert "MAP_ROWS_OK" in _run(code)
