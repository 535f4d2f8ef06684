"""jaxgan.checkpoint: bit-exact save/load round trips, atomic saves, clear errors."""
from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from jaxgan import checkpoint, model
from jaxgan.checkpoint import CheckpointError, load_network, save_network
from jaxgan.nets.configs import DiscriminatorConfig, GeneratorConfig
from jaxgan.nets.discriminator import Discriminator
from jaxgan.nets.generator import Generator

TINY = dict(img_resolution=16, channel_base=256, channel_max=32)
G_CFG = GeneratorConfig(**TINY, z_dim=16, w_dim=16, mapping_layers=2)
D_CFG = DiscriminatorConfig(**TINY)


def _random_variables(module, seed):
    """Random values on the exact variables structure of ``module``.

    ``model.variables_shape`` is ``jax.eval_shape`` of ``model.init_generator`` /
    ``init_discriminator``; filling it with random numbers gives the same pytree as a
    real init without compiling the forward pass (seconds on CPU), and random values
    make the bit-exactness check stronger than the initialisers' zeros and ones.
    """
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda s: jax.numpy.asarray(rng.standard_normal(s.shape).astype(s.dtype)),
                        model.variables_shape(module))


@pytest.fixture(scope="module")
def nets():
    """Tiny G and D with their variables."""
    G, D = Generator(G_CFG), Discriminator(D_CFG)
    return {"G": (G, _random_variables(G, 0)), "D": (D, _random_variables(D, 1))}


def _assert_same(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert isinstance(y, jax.Array)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert np.array_equal(np.asarray(x), np.asarray(y))


def _leftovers(parent):
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


@pytest.mark.parametrize("kind", ["G", "D"])
def test_round_trip_bit_exact(nets, tmp_path, kind):
    module, variables = nets[kind]
    out = save_network(tmp_path / "ck", module, variables)
    assert (out / "arch.json").is_file() and (out / "variables").is_dir()
    assert json.loads((out / "arch.json").read_text())["kind"] == type(module.cfg).__name__
    loaded, restored = load_network(out)
    assert type(loaded) is type(module) and loaded.cfg == module.cfg
    _assert_same(variables, restored)
    want = model.variables_shape(loaded)
    assert jax.tree_util.tree_structure(want) == jax.tree_util.tree_structure(restored)
    assert [(s.shape, s.dtype) for s in jax.tree.leaves(want)] == [
        (x.shape, x.dtype) for x in jax.tree.leaves(restored)]
    assert _leftovers(tmp_path) == []


def test_save_accepts_config_and_numpy(nets, tmp_path):
    _, variables = nets["G"]
    np_vars = jax.tree.map(np.asarray, variables)
    save_network(tmp_path / "ck", G_CFG, np_vars)
    _, restored = load_network(tmp_path / "ck")
    _assert_same(np_vars, restored)


def test_refuses_overwrite(nets, tmp_path):
    G, gv = nets["G"]
    save_network(tmp_path / "ck", G, gv)
    with pytest.raises(FileExistsError, match="overwrite"):
        save_network(tmp_path / "ck", G, gv)
    D, dv = nets["D"]
    save_network(tmp_path / "ck", D, dv, overwrite=True)
    loaded, restored = load_network(tmp_path / "ck")
    assert isinstance(loaded, Discriminator)
    _assert_same(dv, restored)
    assert _leftovers(tmp_path) == []


def test_interrupted_save_leaves_nothing(nets, tmp_path, monkeypatch):
    G, gv = nets["G"]

    def boom(directory, variables):
        directory.mkdir()
        (directory / "partial").write_text("half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(checkpoint, "_save_variables", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_network(tmp_path / "ck", G, gv)
    assert not (tmp_path / "ck").exists()
    assert _leftovers(tmp_path) == []
    monkeypatch.undo()
    # An interrupted overwrite keeps the old checkpoint intact.
    save_network(tmp_path / "ck", G, gv)
    monkeypatch.setattr(checkpoint, "_save_variables", boom)
    with pytest.raises(RuntimeError):
        save_network(tmp_path / "ck", *nets["D"], overwrite=True)
    monkeypatch.undo()
    loaded, restored = load_network(tmp_path / "ck")
    assert isinstance(loaded, Generator)
    _assert_same(gv, restored)
    assert _leftovers(tmp_path) == []


def test_multi_net_directory_picks_g_ema_then_g(nets, tmp_path):
    G, gv = nets["G"]
    g2 = jax.tree.map(lambda x: x + 1, gv)
    save_network(tmp_path / "run" / "G", G, gv)
    save_network(tmp_path / "run" / "D", *nets["D"])
    _, v = load_network(tmp_path / "run")
    _assert_same(gv, v)                                    # only G: G
    save_network(tmp_path / "run" / "G_ema", G, g2)
    _, v = load_network(tmp_path / "run")
    _assert_same(g2, v)                                    # G_ema preferred
    _, v = load_network(tmp_path / "run", net="G")
    _assert_same(gv, v)
    assert isinstance(load_network(tmp_path / "run", net="D")[0], Discriminator)
    # A single checkpoint stands for the net of its own kind only.
    assert isinstance(load_network(tmp_path / "run" / "D", net="D")[0], Discriminator)
    with pytest.raises(CheckpointError, match="no network 'G'"):
        load_network(tmp_path / "run" / "D", net="G")


def test_clear_errors(nets, tmp_path):
    G, gv = nets["G"]
    with pytest.raises(CheckpointError, match=r"nope does not exist.*arch\.json"):
        load_network(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"empty is not a jaxgan checkpoint: no arch\.json"):
        load_network(tmp_path / "empty")
    save_network(tmp_path / "onlyD" / "D", *nets["D"])
    with pytest.raises(CheckpointError, match=r"holds \['D'\]: pass net="):
        load_network(tmp_path / "onlyD")
    with pytest.raises(CheckpointError, match=r"no network 'G_ema'.*available: \['D'\]"):
        load_network(tmp_path / "onlyD", net="G_ema")

    ck = save_network(tmp_path / "ck", G, gv)
    arch = ck / "arch.json"
    good = arch.read_text()
    arch.write_text(good.replace('"GeneratorConfig"', '"Mystery"'))
    with pytest.raises(CheckpointError, match=r"arch\.json.*'Mystery'"):
        load_network(ck)
    d = json.loads(good)
    arch.write_text(json.dumps({**d, "bogus_field": 1}))
    with pytest.raises(CheckpointError, match="bogus_field"):
        load_network(ck)
    arch.write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_network(ck)
    # Variables that do not fit the architecture: named key and both shapes.
    arch.write_text(json.dumps({**d, "channel_max": 16}))
    with pytest.raises(CheckpointError, match=r"params/synthesis/b16/conv0/weight: stored shape "
                                              r"\(3, 3, 32, 16\), architecture expects "
                                              r"\(3, 3, 16, 16\)"):
        load_network(ck)
    arch.write_text(json.dumps({**d, "mapping_layers": 3}))
    with pytest.raises(CheckpointError, match=r"missing: \['params/mapping/fc2/bias'"):
        load_network(ck)
