"""Acceptance: jaxgan reproduces NVIDIA's official StyleGAN2 outputs (≤ 1e-4, float32).

Fixtures (tests/fixtures/official, copied from ../shared/fixtures) hold the official
state dicts with inputs and outputs of stylegan2-ada-pytorch's forward pass.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_fixture
from jaxgan import model
from jaxgan.convert.official import (infer_discriminator_config, infer_generator_config,
                                     state_dict_to_variables)
from jaxgan.nets.discriminator import Discriminator
from jaxgan.nets.generator import Generator

TOL = 1e-4


def _nchw(x):
    return np.asarray(x).transpose(0, 3, 1, 2)


@pytest.fixture(scope="module", params=["", "_perturbed"])
def gen(request):
    state, io, meta = load_fixture(f"fixture_g32{request.param}")
    cfg = infer_generator_config(state)
    G = Generator(cfg)
    return G, state_dict_to_variables(state, model.variables_shape(G)), io, meta


def test_inferred_generator_config(gen):
    G, _, _, meta = gen
    cfg = G.cfg
    assert (cfg.img_resolution, cfg.channel_base, cfg.channel_max) == (
        meta["R"], meta["channel_base"], meta["channel_max"])
    assert (cfg.z_dim, cfg.w_dim, cfg.c_dim, cfg.mapping_layers) == (
        meta["z_dim"], meta["w_dim"], meta["c_dim"], meta["mapping_num_layers"])
    assert cfg.architecture == "skip" and cfg.num_ws == 8


def test_mapping_matches_official(gen):
    G, v, io, _ = gen
    ws = model.mapping(G, v, jnp.asarray(io["z"]))
    assert np.abs(np.asarray(ws) - io["ws"]).max() <= TOL
    ws7 = model.mapping(G, v, jnp.asarray(io["z"]), truncation_psi=0.7)
    assert np.abs(np.asarray(ws7) - io["ws_psi07"]).max() <= TOL


@pytest.mark.parametrize("fused", [True, False])
def test_images_match_official(gen, fused):
    G, v, io, _ = gen
    img = model.synthesize(G, v, jnp.asarray(io["ws"]), noise_mode="const", fused=fused)
    ref = io["img"] if fused else io["img_unfused"]
    assert np.abs(_nchw(img) - ref).max() <= TOL
    img7 = model.generate(G, v, jnp.asarray(io["z"]), truncation_psi=0.7, fused=fused)
    assert np.abs(_nchw(img7) - io["img_psi07"]).max() <= TOL


@pytest.mark.parametrize("suffix", ["", "_perturbed"])
def test_discriminator_matches_official(suffix):
    state, io, meta = load_fixture(f"fixture_d32{suffix}")
    cfg = infer_discriminator_config(state, mbstd_group_size=meta["mbstd_group_size"])
    assert cfg.architecture == meta["D_architecture"]
    assert cfg.mbstd_num_channels == meta["mbstd_num_channels"]
    D = Discriminator(cfg)
    v = state_dict_to_variables(state, model.variables_shape(D))
    logits = model.discriminate(D, v, jnp.asarray(io["img"].transpose(0, 2, 3, 1)))
    assert logits.shape == (4, 1)
    assert np.abs(np.asarray(logits) - io["logits"]).max() <= TOL
