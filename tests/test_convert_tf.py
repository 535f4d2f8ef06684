"""TF-era NVIDIA pickles (``(G, D, Gs)`` of ``dnnlib.tflib.network.Network``) -> jaxgan.

The pickle is written by stand-in classes (``tests/torchfree.py``) from the official
fixtures through the inverse of stylegan2-ada-pytorch's ``legacy.py`` mapping; the converted
networks must reproduce the official images and logits (<= 1e-4). The pickle's
``build_module_src`` raises if run: reading it must never execute it.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import load_fixture
from jaxgan import model
from jaxgan.checkpoint import load_network
from jaxgan.cli import main
from jaxgan.convert import ConversionError, convert
from torchfree import official_to_tf_d, official_to_tf_g, tf_network, write_pickle

TOL = 1e-4


def _snapshot(static_extra=None, drop=None):
    g, _, meta = load_fixture("fixture_g32_perturbed")
    d, _, _ = load_fixture("fixture_d32_perturbed")
    gk = dict(resolution=32, fmap_base=2048, fmap_max=128, mapping_layers=2, latent_size=512,
              dlatent_size=512, num_channels=3, label_size=0, architecture="skip",
              **(static_extra or {}))
    dk = dict(resolution=32, fmap_base=2048, fmap_max=128, mbstd_group_size=4,
              architecture="resnet", num_channels=3, label_size=0)
    G = official_to_tf_g(g, 32, meta["mapping_num_layers"], gk, "G")
    Gs = official_to_tf_g(g, 32, meta["mapping_num_layers"], gk, "Gs")
    if drop:                                      # remove one TF variable of Gs's synthesis
        syn = Gs.state["components"]["synthesis"].state
        syn["variables"] = [(k, v) for k, v in syn["variables"] if k != drop]
    return (G, official_to_tf_d(d, 32, dk), Gs)


def test_tf_pickle_renders_and_scores_like_official(tmp_path):
    _, g_io, _ = load_fixture("fixture_g32_perturbed")
    _, d_io, _ = load_fixture("fixture_d32_perturbed")
    write_pickle(_snapshot(), tmp_path / "stylegan2-test-config-f.pkl")
    written = convert(tmp_path / "stylegan2-test-config-f.pkl", tmp_path / "ck", allow_pickle=True)
    assert sorted(p.name for p in written) == ["D", "G", "G_ema"]
    G, gv = load_network(tmp_path / "ck")                          # G_ema (= Gs)
    assert G.cfg.channel_base == 4096 and G.cfg.channel_max == 128
    img = np.asarray(model.generate(G, gv, np.asarray(g_io["z"]))).transpose(0, 3, 1, 2)
    assert float(np.abs(img - g_io["img"]).max()) <= TOL
    img = np.asarray(model.generate(G, gv, np.asarray(g_io["z"]), truncation_psi=0.7))
    assert float(np.abs(img.transpose(0, 3, 1, 2) - g_io["img_psi07"]).max()) <= TOL
    D, dv = load_network(tmp_path / "ck", "D")
    assert D.cfg.mbstd_group_size == 4 and D.cfg.mapping_lr_multiplier == 0.1
    logits = model.discriminate(D, dv, np.asarray(d_io["img"]).transpose(0, 2, 3, 1))
    np.testing.assert_allclose(logits, d_io["logits"], atol=TOL, rtol=0)


def test_tf_kwargs_carry_over_and_released_precision(tmp_path):
    _, g_io, _ = load_fixture("fixture_g32_perturbed")
    write_pickle(_snapshot({"num_fp16_res": 4, "conv_clamp": 256}), tmp_path / "n.pkl")
    convert(tmp_path / "n.pkl", tmp_path / "ck", net="G_ema", allow_pickle=True)
    G, gv = load_network(tmp_path / "ck")
    assert G.cfg.num_fp16_res == 4 and G.cfg.conv_clamp == 256
    img = np.asarray(model.synthesize(G, gv, np.asarray(g_io["ws"]))).transpose(0, 3, 1, 2)
    assert float(np.abs(img - g_io["img"]).max()) <= TOL             # float32 by default


def test_tf_pickle_errors_are_one_line(tmp_path, capsys):
    write_pickle(_snapshot(drop="16x16/Conv1/mod_weight"), tmp_path / "bad.pkl")
    assert main(["convert", str(tmp_path / "bad.pkl"), str(tmp_path / "ck"), "--allow-pickle"]) == 2
    err = capsys.readouterr().err
    assert "missing variable 'synthesis/16x16/Conv1/mod_weight'" in err
    assert len(err.strip().splitlines()) == 1
    old = tf_network("G", {"resolution": 32}, [], version=3)
    write_pickle((old, old, old), tmp_path / "old.pkl")
    with pytest.raises((ConversionError, ValueError), match="version 3 < 4"):
        convert(tmp_path / "old.pkl", tmp_path / "ck2", allow_pickle=True)
