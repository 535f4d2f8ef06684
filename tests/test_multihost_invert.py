"""Inversion and AttFind with their batch axes sharded across 2 processes on localhost (CPU,
gloo collectives) equal the single-process results; the `jaxgan invert` and `jaxgan explain
attfind` commands under `jaxgan launch` (slow); a training checkpoint restored onto a
different process count (slow).

The multi-process side runs this file as a worker (``python tests/test_multihost_invert.py
WORKDIR``) under :func:`jaxgan.distributed.launch`: each process builds the same tiny
networks, keeps only its own rows of the batch, runs the sharded programs and process 0
writes the gathered results. The single-process reference runs in the pytest process on the
whole batch through the unsharded code paths. ``launch`` kills its process groups when it
returns or raises, so a failing test leaves nothing running.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
N_INV, N_ATT = 4, 4                    # global batch sizes (2 rows per process)
G_FIXTURE = ROOT / "tests" / "fixtures" / "trained" / "G_shapes32"


def _env(devices: int = 1) -> dict:
    from test_multihost import _env as env                # one copy of the test environment
    return env(devices)


def _launch2(argv, log: Path) -> int:
    from jaxgan.distributed import launch
    with open(log, "w") as f:
        return launch(2, argv, env=_env(1), timeout_s=500, stdout=f, stderr=subprocess.STDOUT)


# ----------------------------------------------------------------------------- shared setup

def _inversion_problem():
    """Tiny untrained G, 4 targets and a short pixel-L2 W+ projection with noise maps."""
    import jax
    import jaxgan
    from jaxgan.invert import DistanceWeights, ProjectConfig
    cfg = jaxgan.GeneratorConfig(img_resolution=8, z_dim=8, w_dim=8, mapping_layers=1,
                                 channel_base=64, channel_max=8)
    G, g = jaxgan.init_generator(cfg, jax.random.key(3))
    targets = np.tanh(np.random.default_rng(0).normal(size=(N_INV, 8, 8, 3))).astype(np.float32)
    pc = ProjectConfig(space="wplus", num_steps=6, w_avg_samples=64, regularize_noise_weight=1.0,
                       distance=DistanceWeights(lpips=0.0, l2=1.0))
    return G, g, targets, pc


def _attfind_problem():
    """A StylEx-like stand-in (tiny classifier-conditioned G + linear classifier, the
    attributes :func:`jaxgan.stylex.pipeline.run_attfind` reads) and an ``enc`` of 4 images
    whose recorded classes match the regenerated ones except image 1's (unstable)."""
    import jax
    import jax.numpy as jnp
    from jaxgan import model
    from jaxgan.nets.configs import GeneratorConfig
    from jaxgan.stylex import attfind as af
    cfg = GeneratorConfig(img_resolution=8, z_dim=8, w_dim=8, mapping_layers=1,
                          channel_base=64, channel_max=8, style_cond_dim=2)
    G, g = model.init_generator(cfg, jax.random.key(0))
    w_clf = np.asarray(jax.random.normal(jax.random.key(1), (8 * 8 * 3, 2))) / 8
    clf = lambda x: jnp.reshape(x, (x.shape[0], -1)) @ w_clf              # noqa: E731

    @jax.jit
    def encode(z, cond):
        st = model.styles(G, g, model.condition_ws(model.mapping(G, g, z), cond))
        return st, clf(model.synthesize(G, g, styles=st, noise_mode="const"))

    z = jax.random.normal(jax.random.key(2), (N_ATT, cfg.z_dim))
    st, logits = encode(z, jax.random.normal(jax.random.key(4), (N_ATT, 2)))
    layout = af.style_layout(st)
    cond = np.asarray(logits).copy()
    cond[1] = cond[1, ::-1]                                              # image 1: unstable
    sx = SimpleNamespace(G=G, g=g, logits=clf, D=None)
    return sx, {"styles": np.asarray(af.flatten_styles(st, layout)), "cond_logits": cond,
                "layout": layout}


ATTFIND_KW = dict(shift=1.5, num_indices=3, chunk=24, progress=False)
BLOCKS_KW = dict(shift=1.5, chunk=4, coords=[0, 3, 5], progress=False)


def _six_styles(enc) -> np.ndarray:
    """6 images (3 per process): with ``chunk=4`` on 2 devices AttFind renders image blocks
    of 4 (2 rows of each process; its second block padded) x 1 edit."""
    return np.concatenate([enc["styles"], 0.9 * enc["styles"][:2]])


# ----------------------------------------------------------------------------- worker

def _worker(workdir: str) -> None:
    from jaxgan.distributed import initialize
    assert initialize(), "the worker must run under jaxgan.distributed.launch"
    import jax
    from jaxgan.sharding import make_data_mesh, process_rows, to_host
    from jaxgan.invert import project
    from jaxgan.stylex.pipeline import run_attfind
    mesh = make_data_mesh()
    out = {"process_count": jax.process_count(), "devices": len(jax.devices())}

    G, g, targets, pc = _inversion_problem()
    local = targets[process_rows(N_INV)]
    res = project(G, g, local, pc, key=jax.random.key(7), mesh=mesh)
    out["inv/sharding"] = str(res.latent.sharding.spec)
    r = to_host(res._asdict())
    for k in ("latent", "ws", "images", "loss", "curve"):
        out[f"inv/{k}"] = np.asarray(r[k])
    out["inv/noise"] = np.concatenate([np.asarray(v).reshape(N_INV, -1)
                                       for v in jax.tree.leaves(r["noise"])], 1)

    sx, enc = _attfind_problem()
    a = run_attfind(sx, enc, mesh=mesh, **ATTFIND_KW)
    out.update({f"att/{k}": np.asarray(a[k])
                for k in ("effects", "stable", "labels", "smin", "smax", "base")})
    out["att/ranking"] = json.dumps(a["ranking"])
    from jaxgan.stylex import attfind as af
    m = af.make_attfind_model(sx.G, sx.g, sx.logits, enc["layout"])
    six = _six_styles(enc)
    out["att/blocks"] = af.attfind_effects(m, six[process_rows(len(six))], mesh=mesh,
                                           **BLOCKS_KW)
    # Without mesh=, a process works alone on a one-device mesh over its own rows.
    out["att/local_min"] = af.style_min_max(six[process_rows(len(six))])[0]
    if jax.process_index() == 0:
        np.savez(Path(workdir) / "multi.npz", **out)


# ----------------------------------------------------------------------------- tests

@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    d = tmp_path_factory.mktemp("multi")
    code = _launch2([sys.executable, str(Path(__file__).resolve()), str(d)], d / "log.txt")
    assert code == 0, (d / "log.txt").read_text()[-4000:]
    with np.load(d / "multi.npz") as z:
        out = {k: z[k] for k in z.files}
    assert int(out["process_count"]) == 2 and int(out["devices"]) == 2
    return out


def test_inversion_split_over_two_processes_equals_one_process(multi):
    import jax
    from jaxgan.invert import latent_stats, project
    G, g, targets, pc = _inversion_problem()
    ref = project(G, g, targets, pc, key=jax.random.key(7))
    assert "data" in str(multi["inv/sharding"])              # the result was sharded
    for k in ("latent", "ws", "images"):
        np.testing.assert_allclose(multi[f"inv/{k}"], np.asarray(getattr(ref, k)), atol=2e-5)
    for k in ("loss", "curve"):
        np.testing.assert_allclose(multi[f"inv/{k}"], np.asarray(getattr(ref, k)), rtol=1e-5)
    noise = np.concatenate([np.asarray(v).reshape(N_INV, -1)
                            for v in jax.tree.leaves(ref.noise)], 1)
    np.testing.assert_allclose(multi["inv/noise"], noise, atol=2e-5)
    # The optimisation moved every row away from the shared start, differently per image.
    start = np.asarray(latent_stats(G, g, pc.space, pc.w_avg_samples)[0])
    moved = np.abs(multi["inv/latent"] - start).reshape(N_INV, -1).max(1)
    assert moved.min() > 1e-3
    assert np.abs(multi["inv/latent"][0] - multi["inv/latent"][3]).max() > 1e-4


def test_attfind_split_over_two_processes_equals_one_process(multi):
    from jaxgan.stylex.pipeline import run_attfind
    sx, enc = _attfind_problem()
    ref = run_attfind(sx, enc, **ATTFIND_KW)
    # Global reductions: the extremes are over both processes' images (NumPy reference).
    np.testing.assert_array_equal(multi["att/smin"], enc["styles"].min(0))
    np.testing.assert_array_equal(multi["att/smax"], enc["styles"].max(0))
    np.testing.assert_array_equal(multi["att/stable"], [True, False, True, True])
    np.testing.assert_array_equal(multi["att/stable"], ref["stable"])
    np.testing.assert_array_equal(multi["att/labels"], ref["labels"])
    np.testing.assert_allclose(multi["att/base"], ref["base"], atol=1e-6)
    assert multi["att/effects"].shape == ref["effects"].shape == (3, 2, enc["layout"].size, 2)
    np.testing.assert_allclose(multi["att/effects"], ref["effects"], atol=1e-5)
    assert np.abs(ref["effects"]).max() > 1e-3
    got = json.loads(str(multi["att/ranking"]))
    assert sorted(got) == sorted(str(c) for c in ref["ranking"])
    for c, picks in ref["ranking"].items():
        assert [(d, j) for d, j, _ in got[str(c)]] == [(d, j) for d, j, _ in picks]
        np.testing.assert_allclose([s for *_, s in got[str(c)]], [s for *_, s in picks],
                                   atol=1e-5)
    # Several image blocks across the processes (the last padded) equal the one-device loop.
    from jaxgan.stylex import attfind as af
    m = af.make_attfind_model(sx.G, sx.g, sx.logits, enc["layout"])
    six = _six_styles(enc)
    loop = af.attfind_effects_loop(m, six, shift=1.5, coords=[0, 3, 5])
    assert multi["att/blocks"].shape == loop.shape == (6, 2, 3, 2)
    np.testing.assert_allclose(multi["att/blocks"], loop, atol=1e-5)
    np.testing.assert_array_equal(multi["att/local_min"], six[:3].min(0))     # process 0's


def test_process_rows_partition_a_batch_and_global_rows_checks_the_mesh():
    import jax
    from jax.sharding import Mesh
    from jaxgan.sharding import global_rows, make_data_mesh, process_rows
    x = {"a": np.arange(6.0).reshape(3, 2), "b": None}
    got = global_rows(x, make_data_mesh(devices=jax.devices()[:1]))
    np.testing.assert_array_equal(np.asarray(got["a"]), x["a"])
    assert got["b"] is None and got["a"].sharding.spec[0] == "data"
    with pytest.raises(ValueError, match="'data' axis"):
        global_rows(x, Mesh(np.asarray(jax.devices()[:1]), ("batch",)))
    rows = [process_rows(12, i, 3) for i in range(3)]
    assert np.concatenate([np.arange(12)[r] for r in rows]).tolist() == list(range(12))
    assert process_rows(12) == slice(0, 12)                  # one process: everything
    with pytest.raises(ValueError, match="evenly"):
        process_rows(5, 0, 2)
    with pytest.raises(ValueError, match="process index"):
        process_rows(4, 2, 2)


def _run_one_and_two(args, tmp_path: Path) -> None:
    """``jaxgan ARGS --out tmp/one`` in one process, then under ``jaxgan.distributed.launch``
    with 2 processes ``--out tmp/two``; both must succeed."""
    one = subprocess.run([sys.executable, "-m", "jaxgan.cli", *args, "--out", str(tmp_path / "one")],
                         env=_env(1), cwd=ROOT, capture_output=True, text=True, timeout=500)
    assert one.returncode == 0, one.stderr[-3000:]
    code = _launch2([sys.executable, "-m", "jaxgan.cli", *args, "--out", str(tmp_path / "two")],
                    tmp_path / "log.txt")
    assert code == 0, (tmp_path / "log.txt").read_text()[-4000:]


@pytest.mark.slow
def test_invert_command_two_processes_equals_one_process(tmp_path):
    """`jaxgan launch -n 2 -- invert ...` writes the same files as `jaxgan invert ...`; 3
    images: the 2-process global batch is padded to 4 (2 rows each)."""
    if not (G_FIXTURE / "arch.json").is_file():
        pytest.skip(f"trained generator fixture {G_FIXTURE} missing")
    args = ["invert", "--ckpt", str(G_FIXTURE), "--data", "shapes", "--num", "3", "--steps", "5",
            "--lpips", "0", "--l2", "1", "--batch", "3"]
    _run_one_and_two(args, tmp_path)
    a, b = np.load(tmp_path / "one" / "latents.npz"), np.load(tmp_path / "two" / "latents.npz")
    assert sorted(a.files) == sorted(b.files) and a["latent"].shape[0] == 3
    for k in a.files:
        if a[k].dtype.kind == "f":
            np.testing.assert_allclose(b[k], a[k], atol=2e-5, err_msg=k)
        else:
            np.testing.assert_array_equal(b[k], a[k])
    ma = json.loads((tmp_path / "one" / "metrics.json").read_text())
    mb = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert [r["name"] for r in ma["images"]] == [r["name"] for r in mb["images"]]
    np.testing.assert_allclose(mb["mean"]["mse"], ma["mean"]["mse"], rtol=1e-4)


@pytest.mark.slow
def test_explain_attfind_command_two_processes_equals_one_process(tmp_path):
    """`jaxgan launch -n 2 -- explain attfind ...` on a tiny (untrained) StylEx export with
    the trained shapes classifier: the same effects, stable set and ranking as one process."""
    import jax
    from jaxgan import model
    from jaxgan.checkpoint import save_network
    from jaxgan.nets.configs import EncoderConfig, GeneratorConfig
    clf = ROOT / "tests" / "fixtures" / "trained" / "classifier_shapes_circle_and_sun"
    if not (clf / "arch.json").is_file():
        pytest.skip(f"classifier fixture {clf} missing")
    net = tmp_path / "net"
    G, g = model.init_generator(GeneratorConfig(img_resolution=32, z_dim=8, w_dim=8,
                                                mapping_layers=1, channel_base=64, channel_max=8,
                                                style_cond_dim=2), jax.random.key(0))
    E, e = model.init_encoder(EncoderConfig(img_resolution=32, w_dim=8, channel_base=64,
                                            channel_max=8), jax.random.key(1))
    save_network(net / "G_ema", G, g)
    save_network(net / "E", E, e)
    (net / "stylex.json").write_text(json.dumps({"classifier": str(clf)}))
    args = ["explain", "attfind", "--ckpt", str(net), "--num-images", "8", "--chunk", "64",
            "--no-progress"]
    _run_one_and_two(args, tmp_path)
    a, b = np.load(tmp_path / "one" / "attfind.npz"), np.load(tmp_path / "two" / "attfind.npz")
    assert a["stable"].any() and a["effects"].shape[2] == b["effects"].shape[2] > 0
    for k in ("stable", "labels"):
        np.testing.assert_array_equal(b[k], a[k])
    for k in ("effects", "smin", "smax", "base"):
        np.testing.assert_allclose(b[k], a[k], atol=1e-5, err_msg=k)
    ra = json.loads((tmp_path / "one" / "attfind.json").read_text())["ranking"]
    rb = json.loads((tmp_path / "two" / "attfind.json").read_text())["ranking"]
    assert {c: [(r["direction"], r["coordinate"]) for r in v] for c, v in ra.items()} == \
        {c: [(r["direction"], r["coordinate"]) for r in v] for c, v in rb.items()}


@pytest.mark.slow
def test_checkpoint_restores_onto_a_different_process_count(tmp_path):
    """orbax writes global arrays and the data iterator state holds only the global batch
    position, so a run checkpointed by 2 processes continues in 1 process (2 devices) and
    vice versa, ending exactly as an uninterrupted 16-step run."""
    from test_multihost import _assert_same_run, _losses, _multi, _single
    longer = "run.total_kimg=0.064"                      # 16 steps; the first leg runs 8
    ref = tmp_path / "ref16"
    _single(ref, longer)
    two_one, one_two = tmp_path / "two_then_one", tmp_path / "one_then_two"
    assert _multi(two_one) == 0
    _single(one_two)
    for run in (two_one, one_two):
        assert (run / "checkpoints" / "8").is_dir() and _losses(run)[-1, 0] == 8
    _single(two_one, longer)                             # 2 processes -> 1
    assert _multi(one_two, longer) == 0                  # 1 process -> 2
    for run in (two_one, one_two):
        # _losses asserts no step was logged twice: the second leg resumed at step 8.
        assert _losses(run)[:, 0].tolist() == _losses(ref)[:, 0].tolist()
        _assert_same_run(ref, run)


if __name__ == "__main__":
    _worker(sys.argv[1])
