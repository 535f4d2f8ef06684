"""Inference precision: float32 by default whatever ``num_fp16_res`` a checkpoint carries.

The shared official fixtures are converted as a released NVIDIA configuration would be
(``num_fp16_res=4``, ``conv_clamp=256``), then rendered/scored with no precision argument
and compared with the official float32 outputs. ``precision='float16'`` is compared with
the official code's own fp16 path, measured on the same networks:

* ``fixtures/official/fp16_released32.npz``: the official networks of ``fixture_g32_perturbed``
  / ``fixture_d32_perturbed`` built with ``num_fp16_res=4, conv_clamp=256`` (stylegan2-ada-pytorch
  d72cc7d, torch 2.13 CPU): ``img_fp32``/``logits_fp32`` (``force_fp32=True``) and
  ``img_fp16``/``logits_fp16`` (``force_fp32=False``: fp16 blocks at 8², 16², 32², unfused
  modulated conv, clamping). Measured official fp16-vs-fp32 max abs distance: G 1.50e-2,
  D 2.65e-3.
* ``fixtures/official/fixture_cond32.npz``: a conditional (cifar-style, ``c_dim=10``) G and D
  made with the official code (``meta`` says how), fp32 and fp16 outputs. Measured official
  fp16-vs-fp32: G 1.16e-2, D 6.6e-4.
"""
from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

from conftest import FIXTURES, load_fixture
from jaxgan import model
from jaxgan.convert.official import (infer_discriminator_config, infer_generator_config,
                                     state_dict_to_variables)
from jaxgan.nets.configs import block_dtype
from jaxgan.nets.discriminator import Discriminator
from jaxgan.nets.generator import Generator

RELEASED = dict(num_fp16_res=4, conv_clamp=256)
# The official fp16-vs-fp32 max distances measured above. jaxgan's float16 path must stay
# within a small multiple of them: two fp16 implementations round differently (XLA:CPU vs
# torch's CPU half kernels) and differ from each other by about as much as each differs
# from fp32. Measured (jaxgan float16 vs official fp32, relative to the official fp16's own
# distance): released-style G max 1.0-1.25x; conditional G max 1.34x, RMS 1.23x (2.58e-3 vs
# 2.10e-3); conditional D (4 logits) max 2.0x, RMS 1.9x. bfloat16 for comparison: conditional G max
# 9.3e-2 (8x), RMS 1.8e-2; D 1.25e-2 (19x).
OFFICIAL_FP16 = {"G": 1.50e-2, "D": 2.65e-3, "Gc": 1.16e-2, "Dc": 6.6e-4}
MAX_RATIO, RMS_RATIO = 2.5, 2.5


def _check_fp16(ours, off16, off32):
    """jaxgan float16 vs official fp32, bounded by the official fp16-vs-fp32 distance."""
    ours, off16, off32 = (np.asarray(a, np.float64) for a in (ours, off16, off32))
    err, official = ours - off32, off16 - off32
    assert np.abs(err).max() <= MAX_RATIO * np.abs(official).max()
    assert np.sqrt(np.mean(err ** 2)) <= RMS_RATIO * np.sqrt(np.mean(official ** 2))
    assert np.abs(err).max() > 1e-5          # float16 really ran


def _gen(state, **kw):
    G = Generator(infer_generator_config(state, **kw))
    return G, state_dict_to_variables(state, model.variables_shape(G))


def _disc(state, **kw):
    D = Discriminator(infer_discriminator_config(state, **kw))
    return D, state_dict_to_variables(state, model.variables_shape(D))


def _nhwc(x):
    return jnp.asarray(np.transpose(x, (0, 2, 3, 1)))


@pytest.fixture(scope="module")
def released():
    g_state, g_io, _ = load_fixture("fixture_g32_perturbed")
    d_state, d_io, _ = load_fixture("fixture_d32_perturbed")
    G, gv = _gen(g_state, **RELEASED)
    D, dv = _disc(d_state, **RELEASED, mbstd_group_size=4)
    fp16 = dict(np.load(FIXTURES / "fp16_released32.npz"))
    return G, gv, g_io, D, dv, d_io, fp16


def test_block_dtype_layout():
    g_state, _, _ = load_fixture("fixture_g32")
    cfg = infer_generator_config(g_state, **RELEASED)
    # Official: fp16_resolution = max(2 ** (log2(R) + 1 - num_fp16_res), 8).
    assert [block_dtype(cfg, r) for r in (4, 8, 16, 32)] == ["float32"] * 4
    assert [block_dtype(cfg, r, "float16") for r in (4, 8, 16, 32)] == ["float32"] + ["float16"] * 3
    cfg0 = cfg.replace(num_fp16_res=0, low_precision_dtype="bfloat16")
    assert [block_dtype(cfg0, r, "config") for r in (4, 8, 16, 32)] == ["float32"] * 4
    assert block_dtype(cfg0, 32, "bfloat16") == "bfloat16"      # released layout when 0
    with pytest.raises(ValueError, match="precision must be one of"):
        block_dtype(cfg, 8, "fp16")


def test_released_config_renders_float32_by_default(released):
    G, gv, io, *_ = released
    assert G.cfg.num_fp16_res == 4 and G.cfg.conv_clamp == 256
    ref = _nhwc(io["img"])
    img = model.synthesize(G, gv, jnp.asarray(io["ws"]))
    assert img.dtype == jnp.float32
    assert float(jnp.abs(img - ref).max()) < 1e-4
    # The same through z -> mapping -> synthesis.
    img = model.generate(G, gv, jnp.asarray(io["z"]))
    assert float(jnp.abs(img - ref).max()) < 1e-4
    # The training precision (the config's bf16 blocks) is measurably different.
    low = model.synthesize(G, gv, jnp.asarray(io["ws"]), precision="config")
    assert float(jnp.abs(low - ref).max()) > 1e-3


def test_released_config_discriminates_float32_by_default(released):
    *_, D, dv, io, _ = released
    logits = model.discriminate(D, dv, _nhwc(io["img"]))
    np.testing.assert_allclose(logits, io["logits"], atol=1e-4, rtol=0)


def test_float16_follows_the_official_fp16_path(released):
    G, gv, g_io, D, dv, d_io, fp16 = released
    img16 = model.synthesize(G, gv, jnp.asarray(g_io["ws"]), precision="float16")
    official = float(np.abs(fp16["img_fp16"] - fp16["img_fp32"]).max())
    assert official == pytest.approx(OFFICIAL_FP16["G"], rel=0.01)
    _check_fp16(img16, _nhwc(fp16["img_fp16"]), _nhwc(fp16["img_fp32"]))
    logits16 = model.discriminate(D, dv, _nhwc(d_io["img"]), precision="float16")
    official_d = float(np.abs(fp16["logits_fp16"] - fp16["logits_fp32"]).max())
    assert official_d == pytest.approx(OFFICIAL_FP16["D"], rel=0.01)
    _check_fp16(logits16, fp16["logits_fp16"], fp16["logits_fp32"])


def _cond_fixture():
    d = dict(np.load(FIXTURES / "fixture_cond32.npz"))
    g = {k[2:]: v for k, v in d.items() if k.startswith("G.")}
    dd = {k[2:]: v for k, v in d.items() if k.startswith("D.")}
    return g, dd, d, json.loads(str(d["meta"]))


def test_conditional_released_config_float32_and_float16():
    g_state, d_state, io, meta = _cond_fixture()
    assert meta["c_dim"] == 10 and meta["num_fp16_res"] == 4
    G, gv = _gen(g_state, **RELEASED)
    D, dv = _disc(d_state, **RELEASED, mbstd_group_size=4)
    z, c = jnp.asarray(io["z"]), jnp.asarray(io["c"])
    np.testing.assert_allclose(model.mapping(G, gv, z, c), io["ws"], atol=1e-5, rtol=0)
    ref = _nhwc(io["img"])
    img = model.generate(G, gv, z, c)
    assert float(jnp.abs(img - ref).max()) < 1e-4
    np.testing.assert_allclose(model.discriminate(D, dv, ref, c), io["logits"], atol=1e-4, rtol=0)
    img16 = model.synthesize(G, gv, jnp.asarray(io["ws"]), precision="float16")
    official = float(np.abs(io["img_fp16"] - io["img"]).max())
    assert official == pytest.approx(OFFICIAL_FP16["Gc"], rel=0.01)
    _check_fp16(img16, _nhwc(io["img_fp16"]), ref)
    l16 = model.discriminate(D, dv, ref, c, precision="float16")
    official_d = float(np.abs(io["logits_fp16"] - io["logits"]).max())
    assert official_d == pytest.approx(OFFICIAL_FP16["Dc"], rel=0.01)
    _check_fp16(l16, io["logits_fp16"], io["logits"])


def test_bfloat16_is_explicit_and_further(released):
    G, gv, io, *_ = released
    ref = _nhwc(io["img"])
    bf = model.synthesize(G, gv, jnp.asarray(io["ws"]), precision="bfloat16")
    assert bf.dtype == jnp.float32
    assert float(jnp.abs(bf - ref).max()) > 1e-3
    with pytest.raises(ValueError, match="precision must be one of"):
        model.synthesize(G, gv, jnp.asarray(io["ws"]), precision="half")


def test_with_precision_sets_the_modules_default(released):
    G, gv, io, D, dv, d_io, _ = released
    ws = jnp.asarray(io["ws"])
    G16 = model.with_precision(G, "float16")
    np.testing.assert_array_equal(model.synthesize(G16, gv, ws),
                                  model.synthesize(G, gv, ws, precision="float16"))
    # An explicit argument still wins over the module's default.
    np.testing.assert_array_equal(model.synthesize(G16, gv, ws, precision="float32"),
                                  model.synthesize(G, gv, ws))
    D16 = model.with_precision(D, "float16")
    img = _nhwc(d_io["img"])
    np.testing.assert_array_equal(model.discriminate(D16, dv, img),
                                  model.discriminate(D, dv, img, precision="float16"))
    with pytest.raises(ValueError, match="precision must be one of"):
        model.with_precision(G, "fp8")


def test_cli_convert_released_and_generate_without_flag(tmp_path, capsys):
    from jaxgan.cli import main  # noqa: PLC0415
    _, io, _ = load_fixture("fixture_g32_perturbed")
    ck = tmp_path / "ck"
    assert main(["convert", str(FIXTURES / "fixture_g32_perturbed.npz"), str(ck),
                 "--override", "num_fp16_res=4", "--override", "conv_clamp=256"]) == 0
    np.savez(tmp_path / "z.npz", z=io["z"])
    fp16 = dict(np.load(FIXTURES / "fp16_released32.npz"))
    out = {}
    for prec in (None, "float16"):
        argv = ["generate", "--ckpt", str(ck), "--z-file", str(tmp_path / "z.npz"), "--save-npz",
                "--outdir", str(tmp_path / str(prec))]
        assert main(argv + (["--precision", prec] if prec else [])) == 0
        out[prec] = np.load(tmp_path / str(prec) / "images.npz")["img"]   # NCHW
    assert np.abs(out[None] - io["img"]).max() < 1e-4
    _check_fp16(out["float16"], fp16["img_fp16"], fp16["img_fp32"])
    capsys.readouterr()
    assert main(["generate", "--ckpt", str(ck), "--seeds", "0", "--precision", "half",
                 "--outdir", str(tmp_path / "x")]) == 2
    assert "--precision" in capsys.readouterr().err
