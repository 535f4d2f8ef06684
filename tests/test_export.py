"""``jaxgan export``: official state-dict names, round trips through ``jaxgan convert``."""
from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from conftest import FIXTURES, load_fixture
from jaxgan.checkpoint import load_network
from jaxgan.cli import main
from jaxgan.convert import convert
from jaxgan.convert.export import export


def _fixture_state(name):
    d = dict(np.load(FIXTURES / f"{name}.npz"))
    state, _, _ = load_fixture(name)
    return state, d


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    """G, D and G_ema (= G) from the official fixtures, converted as a released config."""
    root = tmp_path_factory.mktemp("export")
    g, _ = _fixture_state("fixture_g32_perturbed")
    d, _ = _fixture_state("fixture_d32_perturbed")
    both = {**{f"G.{k}": v for k, v in g.items()}, **{f"G_ema.{k}": v for k, v in g.items()},
            **{f"D.{k}": v for k, v in d.items()}}
    np.savez(root / "all.npz", **both)
    convert(root / "all.npz", root / "ck", overrides={"conv_clamp": 256, "num_fp16_res": 4})
    return root, g, d


def test_single_network_is_the_official_state_dict(nets, tmp_path):
    root, g, _ = nets
    out = export(root / "ck" / "G", tmp_path / "g.npz")
    with np.load(out) as f:
        got = {k: f[k] for k in f.files}
    meta = json.loads(str(got.pop("meta")))
    # Exactly the official G.state_dict() keys (resample_filter buffers included), shapes and
    # values: what load_state_dict(strict=True) of the official network needs.
    assert set(got) == set(g)
    for k, v in g.items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)
    assert meta["conv_clamp"] == 256 and meta["num_fp16_res"] == 4
    assert meta["jaxgan_config"]["kind"] == "GeneratorConfig"


@pytest.mark.parametrize("fmt,suffix", [("official-npz", ".npz"), ("safetensors", ".safetensors")])
def test_multi_network_round_trip(nets, tmp_path, fmt, suffix):
    root, g, d = nets
    out = export(root / "ck", tmp_path / f"all{suffix}", fmt)
    if fmt == "safetensors":
        from safetensors.numpy import load_file  # noqa: PLC0415
        keys = set(load_file(str(out)))
    else:
        keys = set(np.load(out).files) - {"G.meta", "D.meta", "G_ema.meta"}
    assert keys == ({f"G.{k}" for k in g} | {f"G_ema.{k}" for k in g} | {f"D.{k}" for k in d})
    back = convert(out, tmp_path / "back")
    assert sorted(p.name for p in back) == ["D", "G", "G_ema"]
    for name in ("G", "D", "G_ema"):
        m0, v0 = load_network(root / "ck", name)
        m1, v1 = load_network(tmp_path / "back", name)
        assert m1.cfg == m0.cfg                     # conv_clamp / num_fp16_res carried by meta
        jax.tree.map(np.testing.assert_array_equal, v1, v0)


def test_cli_export_and_errors(nets, tmp_path, capsys):
    root, _, _ = nets
    out = tmp_path / "g.safetensors"
    assert main(["export", "--ckpt", str(root / "ck"), "--out", str(out), "--format", "safetensors"]) == 0
    assert out.is_file()
    capsys.readouterr()
    assert main(["export", "--ckpt", str(root / "ck"), "--out", str(out), "--format", "safetensors"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and len(err.strip().splitlines()) == 1
    assert main(["export", "--ckpt", str(root / "ck"), "--out", str(tmp_path / "g.npz"), "--format", "safetensors"]) == 2
    assert ".safetensors" in capsys.readouterr().err
    assert main(["export", "--ckpt", str(tmp_path / "nope"), "--out", str(tmp_path / "x.npz"), "--format", "official-npz"]) == 2
    assert "does not exist" in capsys.readouterr().err
