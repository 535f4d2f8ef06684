"""The ``jaxgan`` CLI end to end: convert official weights, generate, compare to official.

The acceptance check: ``jaxgan convert`` of the official fixture, then ``jaxgan generate
--z-file`` with the fixture's z reproduces the official images (<= 1e-4).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

from conftest import FIXTURES, load_fixture
from jaxgan import model
from jaxgan.checkpoint import load_network, save_network
from jaxgan.cli import main
from jaxgan.commands.generate import parse_seeds
from jaxgan.nets.configs import GeneratorConfig
from jaxgan.nets.discriminator import Discriminator
from jaxgan.nets.generator import Generator
from jaxgan.viz.grid import to_uint8

TOL = 1e-4
PKL_DIR = Path(__file__).parent / "fixtures" / "pkl"


def run(capsys, *argv):
    """``main(argv)`` in-process -> (exit code, stdout, stderr)."""
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def png(path):
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def g32(tmp_path_factory):
    """The official 32x32 generator fixture converted by ``jaxgan convert``."""
    root = tmp_path_factory.mktemp("g32")
    assert main(["convert", str(FIXTURES / "fixture_g32.npz"), str(root / "ck")]) == 0
    _, io, meta = load_fixture("fixture_g32")
    np.savez(root / "z.npz", z=io["z"])
    return root / "ck", io, root


def test_convert_writes_checkpoint(g32):
    ck, _, _ = g32
    arch = json.loads((ck / "arch.json").read_text())
    assert arch["kind"] == "GeneratorConfig" and arch["img_resolution"] == 32
    G, _ = load_network(ck)
    assert isinstance(G, Generator) and G.cfg.num_ws == 8


def test_generate_z_file_matches_official(g32, capsys, tmp_path):
    ck, io, root = g32
    rc, _, err = run(capsys, "generate", "--ckpt", ck, "--z-file", root / "z.npz", "--save-npz",
                     "--grid", "--batch", 3, "--outdir", tmp_path)   # 4 images: padded batch
    assert rc == 0, err
    saved = np.load(tmp_path / "images.npz")
    assert saved["img"].dtype == np.float32 and saved["img"].shape == (4, 3, 32, 32)
    assert np.abs(saved["img"] - io["img"]).max() <= TOL
    np.testing.assert_array_equal(saved["z"], io["z"])
    nhwc = saved["img"].transpose(0, 2, 3, 1)
    for i in range(4):
        np.testing.assert_array_equal(png(tmp_path / f"img{i:04d}.png"), to_uint8(nhwc[i]))
    grid = png(tmp_path / "grid.png")
    assert grid.shape == (64, 64, 3)
    np.testing.assert_array_equal(grid[32:, :32], to_uint8(nhwc[2]))


def test_generate_w_file_matches_official(g32, capsys, tmp_path):
    ck, io, _ = g32
    np.savez(tmp_path / "w.npz", w=io["ws"][:, 0])     # [N, w_dim]: broadcast to num_ws
    rc, _, err = run(capsys, "generate", "--ckpt", ck, "--w-file", tmp_path / "w.npz",
                     "--save-npz", "--outdir", tmp_path / "o")
    assert rc == 0, err
    saved = np.load(tmp_path / "o" / "images.npz")
    assert np.abs(saved["img"] - io["img"]).max() <= TOL
    np.testing.assert_array_equal(saved["w"], io["ws"])
    assert (tmp_path / "o" / "img0003.png").is_file()


def test_generate_psi(g32, capsys, tmp_path):
    ck, io, root = g32
    rc, _, err = run(capsys, "generate", "--ckpt", ck, "--z-file", root / "z.npz", "--psi", 0.7,
                     "--save-npz", "--outdir", tmp_path)
    assert rc == 0, err
    assert np.abs(np.load(tmp_path / "images.npz")["img"] - io["img_psi07"]).max() <= TOL


def test_generate_seeds_like_official(g32, capsys, tmp_path):
    ck, _, _ = g32
    rc, _, err = run(capsys, "generate", "--ckpt", ck, "--seeds", "0-1", "--outdir", tmp_path)
    assert rc == 0, err
    G, v = load_network(ck)
    z = np.concatenate([np.random.RandomState(s).randn(1, G.cfg.z_dim) for s in (0, 1)])
    ref = to_uint8(jax.jit(lambda z: model.generate(G, v, z))(z.astype(np.float32)))
    for s in (0, 1):
        got = png(tmp_path / f"seed{s:04d}.png").astype(int)
        assert np.abs(got - ref[s]).max() <= 1      # float rounding at a uint8 step
        assert (got == ref[s]).mean() > 0.99


def test_convert_prefixed_npz(g32, capsys, tmp_path):
    ck, _, _ = g32
    both = {f"G.{k}": v for k, v in np.load(FIXTURES / "fixture_g32.npz").items()}
    both.update({f"D.{k}": v for k, v in np.load(FIXTURES / "fixture_d32.npz").items()})
    np.savez(tmp_path / "GD.npz", **both)
    rc, out, err = run(capsys, "convert", tmp_path / "GD.npz", tmp_path / "run")
    assert rc == 0, err
    assert sorted(Path(p).name for p in out.split()) == ["D", "G"]
    assert (tmp_path / "run" / "G" / "arch.json").read_text() == (ck / "arch.json").read_text()
    _, gv = load_network(ck)
    G2, gv2 = load_network(tmp_path / "run")                 # picks G (no G_ema)
    assert isinstance(G2, Generator)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(gv), jax.tree.leaves(gv2)))
    D, _ = load_network(tmp_path / "run", net="D")
    assert isinstance(D, Discriminator) and D.cfg.mbstd_group_size == 4
    # --net D writes that network alone, straight into OUT.
    rc, _, err = run(capsys, "convert", tmp_path / "GD.npz", tmp_path / "d", "--net", "D",
                     "--override", "conv_clamp=256")
    assert rc == 0, err
    assert load_network(tmp_path / "d")[0].cfg.conv_clamp == 256


def test_convert_pkl_matches_npz(capsys, tmp_path):
    pytest.importorskip("jaxgan.convert.pickle_reader")
    if not (PKL_DIR / "snapshot.pkl").is_file():
        pytest.skip("no pickle fixture")
    rc, _, err = run(capsys, "convert", PKL_DIR / "snapshot.pkl", tmp_path / "p")
    assert rc == 2 and "--allow-pickle" in err
    rc, _, err = run(capsys, "convert", PKL_DIR / "snapshot.pkl", tmp_path / "p", "--allow-pickle")
    assert rc == 0, err
    init = json.loads((PKL_DIR / "snapshot.json").read_text())["D"]["init_kwargs"]
    rc, _, err = run(capsys, "convert", PKL_DIR / "snapshot.npz", tmp_path / "n",
                     "--override", f"conv_clamp={init['conv_clamp']}",
                     "--override", f"num_fp16_res={init['num_fp16_res']}")
    assert rc == 0, err
    for name in ("G", "D", "G_ema"):
        a, b = tmp_path / "p" / name, tmp_path / "n" / name
        assert (a / "arch.json").read_text() == (b / "arch.json").read_text()
        (_, va), (_, vb) = load_network(a), load_network(b)
        assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(va), jax.tree.leaves(vb)))
    assert load_network(tmp_path / "p")[0].cfg.num_fp16_res == init["num_fp16_res"]


@pytest.fixture(scope="module")
def tiny_cond(tmp_path_factory):
    """A tiny conditional generator (c_dim 3) with random variables."""
    G = Generator(GeneratorConfig(img_resolution=8, channel_base=64, channel_max=16, z_dim=8,
                                  w_dim=8, c_dim=3, mapping_layers=1))
    rng = np.random.default_rng(0)
    v = jax.tree.map(lambda s: 0.5 * rng.standard_normal(s.shape).astype(s.dtype),
                     model.variables_shape(G))
    return save_network(tmp_path_factory.mktemp("cond") / "ck", G, v)


def test_random_noise_and_class(tiny_cond, capsys, tmp_path):
    common = ["generate", "--ckpt", tiny_cond, "--seeds", "0-2", "--class", 1, "--save-npz"]
    for mode, batch in (("random", 1), ("random", 3), ("const", 3)):
        rc, _, err = run(capsys, *common, "--noise-mode", mode, "--batch", batch,
                         "--outdir", tmp_path / f"{mode}{batch}")
        assert rc == 0, err
    img = {k: np.load(tmp_path / k / "images.npz")["img"] for k in ("random1", "random3", "const3")}
    np.testing.assert_allclose(img["random1"], img["random3"], atol=1e-5)  # per-image keys
    assert np.abs(img["random3"] - img["const3"]).max() > 1e-3
    np.testing.assert_array_equal(np.load(tmp_path / "const3" / "images.npz")["c"][:, 1], 1)


@pytest.mark.parametrize("argv, message", [
    (["generate", "--ckpt", "{tmp}/nope", "--seeds", "0"], "nope does not exist"),
    (["generate", "--ckpt", "{ck}", "--seeds", "0-x"], "bad seed spec '0-x'"),
    (["generate", "--ckpt", "{ck}", "--z-file", "{tmp}/bad_z.npz"],
     "'z' has shape (2, 7); expected [N, 512]"),
    (["generate", "--ckpt", "{ck}", "--z-file", "{tmp}/w.npz"], "no 'z' array"),
    (["generate", "--ckpt", "{ck}", "--w-file", "{tmp}/w.npz"],
     "'w' has shape (1, 3, 512); expected [N, 512] or [N, 8, 512]"),
    (["generate", "--ckpt", "{ck}", "--z-file", "{tmp}/missing.npz"], "file does not exist"),
    (["generate", "--ckpt", "{ck}", "--seeds", "0", "--class", "1"], "unconditional"),
    (["generate", "--ckpt", "{cond}", "--seeds", "0"], "conditional (c_dim=3): pass --class"),
    (["generate", "--ckpt", "{cond}", "--seeds", "0", "--class", "5"], "--class 5 out of range"),
    (["convert", "{fx}/fixture_g32.npz", "{tmp}/x", "--override", "bogus=1"],
     "unknown override key 'bogus'"),
    (["convert", "{fx}/fixture_d32.npz", "{tmp}/x", "--net", "G"], "no network 'G'"),
    (["convert", "{tmp}/w.txt", "{tmp}/x"], "unsupported source type '.txt'"),
    (["convert", "{tmp}/fake.npz", "{tmp}/x"], "not an .npz (zip) archive"),
    (["convert", "{fx}/fixture_g32.npz", "{ck}"], "already exists; pass overwrite=True"),
])
def test_bad_inputs_exit_2(g32, tiny_cond, capsys, tmp_path, argv, message):
    ck, _, _ = g32
    np.savez(tmp_path / "bad_z.npz", z=np.zeros((2, 7)))
    np.savez(tmp_path / "w.npz", w=np.zeros((1, 3, 512)))
    (tmp_path / "w.txt").write_text("w")
    (tmp_path / "fake.npz").write_text("not a zip")
    fill = dict(tmp=tmp_path, ck=ck, cond=tiny_cond, fx=FIXTURES)
    rc, _, err = run(capsys, *[a.format(**fill) for a in argv])
    assert rc == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_argparse_errors_and_help(capsys):
    assert run(capsys, "generate", "--ckpt", "x")[0] == 2          # no --seeds/--z-file/--w-file
    rc, out, _ = run(capsys, "generate", "--help")
    assert rc == 0 and "--truncation-cutoff" in out
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]


def test_console_script_and_module_entry(tmp_path):
    exe = Path(sys.executable).with_name("jaxgan")
    if not exe.exists():
        pytest.skip("console script not installed (pip install -e .)")
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    p = subprocess.run([str(exe), "generate", "--ckpt", str(tmp_path / "nope"), "--seeds", "0"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2 and "nope does not exist" in p.stderr
    assert "Traceback" not in p.stderr
    from jaxgan.eval.generate import main as eval_main
    assert eval_main(["--ckpt", str(tmp_path / "nope"), "--seeds", "0"]) == 2
