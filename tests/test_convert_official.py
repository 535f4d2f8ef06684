"""Converter: official state dict <-> jaxgan variables, architecture inference, errors."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from conftest import load_fixture
from jaxgan import model
from jaxgan.convert.official import (ConversionError, detect_kind, infer_discriminator_config,
                                     infer_generator_config, state_dict_to_variables,
                                     variables_to_state_dict)
from jaxgan.nets.configs import DiscriminatorConfig, GeneratorConfig
from jaxgan.nets.discriminator import Discriminator
from jaxgan.nets.generator import Generator


def _random_variables(module, seed=0):
    shapes = model.variables_shape(module)
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda s: rng.standard_normal(s.shape).astype(np.float32), shapes)


G_CONFIGS = [
    GeneratorConfig(img_resolution=8, z_dim=8, w_dim=8, mapping_layers=1, channel_base=64, channel_max=16),
    GeneratorConfig(img_resolution=16, z_dim=8, w_dim=12, c_dim=5, mapping_layers=3, channel_base=128,
                    channel_max=32, architecture="resnet", img_channels=1, embed_features=6,
                    layer_features=10),
    GeneratorConfig(img_resolution=32, z_dim=0, c_dim=3, w_dim=8, mapping_layers=2, channel_base=512,
                    channel_max=32, architecture="orig", use_noise=False),
]
D_CONFIGS = [
    DiscriminatorConfig(img_resolution=8, channel_base=64, channel_max=16),
    DiscriminatorConfig(img_resolution=16, channel_base=128, channel_max=32, architecture="skip",
                        c_dim=4, cmap_dim=7, mapping_layers=2, mbstd_num_channels=2, img_channels=1),
    DiscriminatorConfig(img_resolution=32, channel_base=512, channel_max=32, architecture="orig",
                        mbstd_num_channels=0),
]


@pytest.mark.parametrize("cfg", G_CONFIGS, ids=lambda c: f"G{c.img_resolution}-{c.architecture}")
def test_generator_roundtrip_and_inference(cfg):
    G = Generator(cfg)
    v = _random_variables(G)
    state = variables_to_state_dict(v, "G")
    # Official layouts: conv [out, in, kh, kw], FC [out, in], const [C, H, W].
    top = cfg.img_resolution
    assert state[f"synthesis.b{top}.conv1.weight"].shape == (cfg.channels(top), cfg.channels(top), 3, 3)
    assert state["mapping.fc0.weight"].shape[1] == cfg.z_dim + (
        (cfg.embed_features or cfg.w_dim) if cfg.c_dim else 0)
    assert state["synthesis.b4.const"].shape == (cfg.channels(4), 4, 4)
    assert detect_kind(state) == "G"
    assert infer_generator_config(state) == cfg
    back = state_dict_to_variables(state, model.variables_shape(G))
    jax.tree.map(np.testing.assert_array_equal, back, v)


@pytest.mark.parametrize("cfg", D_CONFIGS, ids=lambda c: f"D{c.img_resolution}-{c.architecture}")
def test_discriminator_roundtrip_and_inference(cfg):
    D = Discriminator(cfg)
    v = _random_variables(D, 1)
    state = variables_to_state_dict(v, "D")
    c4 = cfg.channels(4)
    assert state["b4.fc.weight"].shape == (c4, c4 * 16)
    assert detect_kind(state) == "D"
    assert infer_discriminator_config(state, mbstd_group_size=cfg.mbstd_group_size) == cfg
    back = state_dict_to_variables(state, model.variables_shape(D))
    jax.tree.map(np.testing.assert_array_equal, back, v)


def test_fc_flatten_order_is_nchw_in_official_layout():
    """b4.fc maps NCHW-flattened features officially; jaxgan flattens NHWC."""
    cfg = D_CONFIGS[0]
    D = Discriminator(cfg)
    v = _random_variables(D, 2)
    w_jax = v["params"]["b4"]["fc"]["weight"]                    # [16*C (h, w, c), out]
    w_off = variables_to_state_dict(v, "D")["b4.fc.weight"]     # [out, C*16 (c, h, w)]
    c = cfg.channels(4)
    x = np.random.default_rng(0).standard_normal((4, 4, c)).astype(np.float32)  # one HWC map
    np.testing.assert_allclose(x.reshape(-1) @ w_jax, w_off @ x.transpose(2, 0, 1).reshape(-1),
                               rtol=1e-4, atol=1e-4)


def test_conversion_errors_name_the_problem():
    state, _, _ = load_fixture("fixture_g32")
    G = Generator(infer_generator_config(state))
    tmpl = model.variables_shape(G)
    bad = dict(state)
    del bad["synthesis.b8.conv0.affine.bias"]
    with pytest.raises(ConversionError, match=r"missing key.*synthesis\.b8\.conv0\.affine\.bias"):
        state_dict_to_variables(bad, tmpl)
    bad = dict(state, **{"synthesis.b8.extra.weight": np.zeros(3, np.float32)})
    with pytest.raises(ConversionError, match=r"unexpected key.*synthesis\.b8\.extra\.weight"):
        state_dict_to_variables(bad, tmpl)
    bad = dict(state)
    bad["synthesis.b16.conv1.weight"] = np.zeros((128, 64, 3, 3), np.float32)
    with pytest.raises(ConversionError,
                       match=r"synthesis\.b16\.conv1\.weight.*\(128, 64, 3, 3\).*\(128, 128, 3, 3\)"):
        state_dict_to_variables(bad, tmpl)
    with pytest.raises(ConversionError, match="neither"):
        detect_kind({"foo.weight": np.zeros(1)})
    with pytest.raises(ConversionError, match="not a generator"):
        infer_generator_config({"b4.conv.weight": np.zeros((1, 1, 3, 3))})
    with pytest.raises(ValueError, match="unknown key"):
        infer_generator_config(state, convclamp=3)


def test_overrides_for_values_without_tensors():
    state, _, _ = load_fixture("fixture_g32")
    cfg = infer_generator_config(state, conv_clamp=256, num_fp16_res=4)
    assert cfg.conv_clamp == 256 and cfg.num_fp16_res == 4
