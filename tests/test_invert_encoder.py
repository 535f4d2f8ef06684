"""Encoder training (the loss falls) and encoder-initialised in-domain inversion beating the
encoder alone on held-out shapes scenes (trained generator + encoder fixtures)."""
from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

import jaxgan
from jaxgan.invert.encoder import EncoderTrainConfig, encode_ws, train_encoder
from jaxgan.invert.indomain import encoder_invert, indomain_config, invert_indomain

TRAINED = Path(__file__).parent / "fixtures" / "trained"


def test_encoder_training_reduces_loss():
    cfg = jaxgan.GeneratorConfig(img_resolution=8, z_dim=8, w_dim=8, mapping_layers=2,
                                 channel_base=64, channel_max=8)
    G, g = jaxgan.init_generator(cfg, jax.random.key(3))
    real = np.random.default_rng(0).integers(0, 256, (32, 8, 8, 3), dtype=np.uint8)
    tcfg = EncoderTrainConfig(steps=60, batch_size=8, learning_rate=3e-3, lpips=0.0,
                              channel_base=128, channel_max=16)
    E, e_vars, hist = train_encoder(G, g, real, tcfg, key=jax.random.key(1), progress=False)
    assert len(hist) == 60 and {"latent", "gen_rec", "real_rec", "loss"} <= set(hist[0])
    first = np.mean([h["latent"] for h in hist[:5]])
    last = np.mean([h["latent"] for h in hist[-5:]])
    assert last < 0.7 * first, (first, last)
    ws = encode_ws(E, e_vars, g, np.zeros((2, 8, 8, 3), np.float32))
    assert ws.shape == (2, G.cfg.num_ws, 8)
    with pytest.raises(ValueError, match="real_images"):
        train_encoder(G, g, real[:, :4], tcfg, progress=False)


@pytest.mark.slow  # trained-G acceptance check: minutes on CPU (`pytest -m slow`)
def test_indomain_beats_encoder_alone():
    if not (TRAINED / "G_shapes32" / "arch.json").is_file() or \
            not (TRAINED / "encoder_shapes32" / "arch.json").is_file():
        pytest.skip("trained G_shapes32 / encoder_shapes32 fixtures missing")
    from jaxgan.checkpoint import load_network
    from jaxgan.data import render_shapes, to_float
    from jaxgan.invert.report import SHAPES_HELDOUT_START
    G, g = load_network(TRAINED / "G_shapes32")
    E, e_vars = load_network(TRAINED / "encoder_shapes32")
    x = to_float(render_shapes(6, 32, seed=0, start=SHAPES_HELDOUT_START + 200)["image"])
    ws0, rec0 = encoder_invert(G, g, x, E, e_vars)
    cfg = indomain_config(num_steps=60, learning_rate=0.02, lambda_perc=0.0, lambda_dom=2.0)
    r = invert_indomain(G, g, x, E, e_vars, cfg)
    mse_enc = np.mean((np.asarray(rec0) - x) ** 2, axis=(1, 2, 3))
    mse_id = np.mean((np.asarray(r.images) - x) ** 2, axis=(1, 2, 3))
    assert np.all(mse_id < mse_enc), (mse_id, mse_enc)
    assert mse_id.mean() < 0.8 * mse_enc.mean(), (mse_id, mse_enc)
