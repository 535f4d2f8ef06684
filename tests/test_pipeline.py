"""Tests for jaxgan.data.builders / pipeline / sharding (tfds + grain, no TF).

Nothing here may download: every TFDS call gets an explicit ``tmp_path``
data_dir, public datasets are only opened under `tfds.testing.mock_data`, and
the checks that could in principle reach the network (or need fake devices)
run in subprocesses with a timeout and a dead proxy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from jaxgan.data import builders, pipeline
from conftest import xla_flags_with_devices

REPO = Path(__file__).resolve().parents[1]
N = 20


def _arrays(n=N, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "image": rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8),
        "label": rng.integers(0, 5, n).astype(np.int64),
        "size": rng.random(n, dtype=np.float32),
        "angle": rng.standard_normal((n, 2)),  # float64 [N, 2]
        "mask_sky": rng.random((n, 8, 8)) > 0.5,
        "id": np.arange(n, dtype=np.int32),
    }


def _run_script(code: str, timeout: float = 120, **env) -> str:
    """Runs python code in a fresh interpreter (no network, bounded time)."""
    full_env = dict(os.environ, JAX_PLATFORMS="cpu", http_proxy="http://127.0.0.1:9",
                    https_proxy="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9",
                    HTTPS_PROXY="http://127.0.0.1:9", NO_GCE_CHECK="true", **env)
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO,
                          env=full_env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


# ----------------------------------------------------------------- builders


def test_builder_roundtrip_byte_exact(tmp_path, capfd):
    arrays = _arrays()
    test_idx = np.array([19, 15, 17, 16, 18])  # non-contiguous: order must hold
    meta = {"class_names": ["a", "b", "c", "d", "e"], "task": "toy"}
    path = builders.write_dataset(arrays, "toy_set", tmp_path,
                                  splits={"train": slice(0, 15), "test": test_idx},
                                  metadata=meta)
    printed = capfd.readouterr()
    assert "ownload" not in printed.out + printed.err    # nothing is downloaded: none said
    assert path == tmp_path / "toy_set" / "1.0.0"
    assert any(p.name.startswith("toy_set-train.array_record") for p in path.iterdir())
    for split, idx in (("train", np.arange(15)), ("test", test_idx)):
        src = builders.open_source("toy_set", tmp_path, split)
        assert len(src) == len(idx)
        assert src.metadata == meta
        got = builders.read_arrays(src)
        assert set(got) == set(arrays)
        for k, v in arrays.items():
            assert got[k].dtype == v.dtype, k
            assert got[k].shape == v[idx].shape, k
            assert got[k].tobytes() == v[idx].tobytes(), k
        assert src[0]["label"].dtype == np.int64 and src[0]["size"].dtype == np.float32

    import tensorflow_datasets as tfds  # the plain TFDS reader sees it too

    raw = tfds.data_source("toy_set", data_dir=str(tmp_path), split="test", download=False)
    assert len(raw) == 5 and np.array_equal(raw[1]["image"], arrays["image"][15])


def test_builder_idempotent_and_rewrite(tmp_path):
    arrays = _arrays()
    path = builders.write_dataset(arrays, "idem", tmp_path, metadata={"v": 1})
    files = {p.name: p.stat().st_mtime_ns for p in path.iterdir()}
    assert builders.write_dataset(dict(arrays), "idem", tmp_path, metadata={"v": 1}) == path
    assert {p.name: p.stat().st_mtime_ns for p in path.iterdir()} == files

    changed = dict(arrays, label=arrays["label"] + 1)
    with pytest.raises(FileExistsError):
        builders.write_dataset(changed, "idem", tmp_path, metadata={"v": 1}, overwrite=False)
    builders.write_dataset(changed, "idem", tmp_path, metadata={"v": 1})
    got = builders.read_arrays(builders.open_source("idem", tmp_path, "train"))
    np.testing.assert_array_equal(got["label"], changed["label"])

    with pytest.raises(ValueError):
        builders.write_dataset({"a": np.zeros(3), "b": np.zeros(4)}, "bad", tmp_path)
    with pytest.raises(ValueError):
        builders.write_dataset(arrays, "Bad-Name", tmp_path)
    with pytest.raises(FileNotFoundError):
        builders.open_source("missing", tmp_path, "train")


# ----------------------------------------------------------------- pipeline


def _ids(it):
    return [b["id"].tolist() for b in it]


def test_determinism_and_seeds():
    src = pipeline.ArraySource(_arrays())
    kw = dict(batch_size=4, num_epochs=1, shard_index=0, shard_count=1)
    a = _ids(pipeline.make_iterator(src, seed=7, **kw))
    assert a == _ids(pipeline.make_iterator(src, seed=7, **kw))
    assert a != _ids(pipeline.make_iterator(src, seed=8, **kw))
    assert sorted(sum(a, [])) == list(range(N))
    plain = _ids(pipeline.make_iterator(src, seed=7, shuffle=False, **kw))
    assert sum(plain, []) == list(range(N))


def test_epochs_reshuffle():
    src = pipeline.ArraySource(_arrays())
    it = pipeline.make_iterator(src, batch_size=5, seed=3, num_epochs=3, shard_index=0,
                                shard_count=1, include_index=True)
    batches = list(it)
    assert len(batches) == 12
    ids = np.concatenate([b["id"] for b in batches])
    epochs = np.concatenate([b["record_epoch"] for b in batches])
    np.testing.assert_array_equal(ids, np.concatenate([b["record_index"] for b in batches]))
    orders = [ids[epochs == e] for e in range(3)]
    for order in orders:
        assert sorted(order.tolist()) == list(range(N))
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("n,drop", [(20, False), (24, True)])
def test_sharding_disjoint_complete_balanced(count, n, drop):
    src = pipeline.ArraySource({"id": np.arange(n)})
    shards = [
        np.concatenate(_ids(pipeline.make_iterator(
            src, batch_size=2, seed=1, num_epochs=1, shard_index=p, shard_count=count,
            drop_remainder=drop)) or [[]]).astype(int)
        for p in range(count)
    ]
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1
    assert sorted(np.concatenate(shards).tolist()) == list(range(n))  # complete + disjoint
    # The global batches do not depend on the number of processes.
    single = _ids(pipeline.make_iterator(src, batch_size=2 * count, seed=1, num_epochs=1,
                                         shard_index=0, shard_count=1, drop_remainder=drop))
    per_proc = [_ids(pipeline.make_iterator(src, batch_size=2, seed=1, num_epochs=1,
                                            shard_index=p, shard_count=count,
                                            drop_remainder=drop)) for p in range(count)]
    for k, global_batch in enumerate(single):
        joined = sum((b[k] for b in per_proc if k < len(b)), [])
        assert joined == global_batch


def test_iterator_state_resume():
    src = pipeline.ArraySource(_arrays())
    kw = dict(batch_size=3, seed=11, shard_index=0, shard_count=1)  # infinite stream
    it = pipeline.make_iterator(src, **kw)
    for _ in range(5):  # k = 5 batches, crossing an epoch boundary later
        next(it)
    state = json.loads(json.dumps(it.get_state()))  # JSON round trip
    expected = [next(it) for _ in range(6)]  # m = 6
    fresh = pipeline.make_iterator(src, **kw)
    fresh.set_state(state)
    assert fresh.steps == 5
    for want in expected:
        got = next(fresh)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])
    with pytest.raises(ValueError):
        pipeline.make_iterator(src, **dict(kw, seed=12)).set_state(state)


def test_transforms_seeded_per_example():
    arrays = _arrays()
    arrays["mask_sky"] = np.broadcast_to(np.arange(8) < 3, (N, 8, 8)).copy()
    src = pipeline.ArraySource(arrays)
    tf = pipeline.Compose(pipeline.RandomFlipX(), pipeline.NormalizeImage())

    def run(count, p, bs):
        it = pipeline.make_iterator(src, batch_size=bs, seed=5, num_epochs=1, transform=tf,
                                    shard_index=p, shard_count=count, include_index=True)
        return {int(i): (b["image"][j], b["mask_sky"][j]) for b in it
                for j, i in enumerate(b["record_index"])}

    one = run(1, 0, 4)
    two = {**run(2, 0, 2), **run(2, 1, 2)}
    assert set(one) == set(two) == set(range(N))
    flipped = 0
    for i, (img, mask) in one.items():
        assert img.dtype == np.float32 and -1 <= img.min() and img.max() <= 1
        np.testing.assert_array_equal(img, two[i][0])  # independent of sharding/batching
        ref = arrays["image"][i].astype(np.float32) / 127.5 - 1
        is_flipped = bool(mask[0, -1])
        flipped += is_flipped
        np.testing.assert_allclose(img, ref[:, ::-1] if is_flipped else ref, atol=1e-6)
    assert 0 < flipped < N


# ----------------------------------------------------------------- subprocesses


def test_global_batch_on_mesh_with_4_fake_devices():
    out = _run_script("""
        import jax, numpy as np
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
        from jaxgan.data.pipeline import ArraySource, make_iterator
        from jaxgan.sharding import make_data_mesh, to_global_batch
        assert jax.device_count() == 4, jax.devices()
        n = 16
        src = ArraySource({'id': np.arange(n), 'image': np.arange(n * 48, dtype=np.int64)
                           .reshape(n, 4, 4, 3).astype(np.uint8)})
        batch = next(make_iterator(src, batch_size=8, seed=0))  # defaults: process 0 of 1
        for mesh in (make_data_mesh(), Mesh(np.array(jax.devices()), ('data',))):
            g = to_global_batch(batch, mesh)
            assert g['image'].shape == (8, 4, 4, 3) and g['id'].shape == (8,)
            assert g['image'].sharding == NamedSharding(mesh, P('data'))
            assert len(g['image'].addressable_shards) == 4
            assert all(s.data.shape == (2, 4, 4, 3) for s in g['image'].addressable_shards)
            np.testing.assert_array_equal(np.asarray(g['image']), batch['image'])
            np.testing.assert_array_equal(np.asarray(g['id']), batch['id'])
            total = jax.jit(lambda x: x.astype(np.float32).sum())(g['image'])
            assert float(total) == float(batch['image'].astype(np.float32).sum())
        print('MESH_OK', str(make_data_mesh().axis_types))
        """, XLA_FLAGS=xla_flags_with_devices(4))
    assert "MESH_OK" in out


def test_open_public_mock_and_not_prepared(tmp_path):
    out = _run_script(f"""
        import time, numpy as np, tensorflow_datasets as tfds
        from jaxgan.data import builders
        data_dir = {str(tmp_path)!r}
        t = time.time()
        try:
            builders.open_public('mnist', data_dir, 'train')
            raise SystemExit('expected FileNotFoundError')
        except FileNotFoundError as e:
            assert 'not prepared' in str(e) and 'never downloads' in str(e), e
        assert time.time() - t < 30
        try:
            builders.open_public('no_such_dataset_xyz', data_dir, 'train')
            raise SystemExit('expected ValueError')
        except ValueError as e:
            assert 'not a registered' in str(e)
        with tfds.testing.mock_data(num_examples=6):
            src = builders.open_public('mnist', data_dir, 'train')
            assert len(src) == 6
            ex = src[0]
            assert ex['image'].shape == (28, 28, 1) and ex['image'].dtype == np.uint8
            from jaxgan.data.pipeline import make_iterator
            b = next(make_iterator(src, batch_size=3, seed=0, shard_index=0, shard_count=1))
            assert b['image'].shape == (3, 28, 28, 1) and b['label'].shape == (3,)
        print('PUBLIC_OK')
        """, timeout=90)
    assert "PUBLIC_OK" in out


@pytest.mark.slow
def test_worker_processes_match_threads():
    out = _run_script("""
        import numpy as np
        from jaxgan.data.pipeline import ArraySource, RandomFlipX, make_iterator
        if __name__ == '__main__':
            src = ArraySource({'id': np.arange(20), 'image': np.zeros((20, 4, 4, 3), np.uint8)})
            kw = dict(batch_size=4, seed=0, num_epochs=2, shard_index=0, shard_count=1,
                      transform=RandomFlipX())
            ref = [b['id'].tolist() for b in make_iterator(src, **kw)]
            it = make_iterator(src, worker_count=2, **kw)
            assert [b['id'].tolist() for b in it] == ref
            it.close()
            print('WORKERS_OK')
        """, timeout=300)
    assert "WORKERS_OK" in out
