"""StylEx encoder-path losses (Lang et al. 2021; weights as the reproducibility study).

The encoder path of one training step, for reals ``x`` ``[N, R, R, C]`` in [-1, 1]::

    logits = C(x)                          frozen classifier
    w      = E(x) (+ w_avg)                [N, num_ws, w_dim]
    x_rec  = G(w, logits)                  synthesis of condition_ws(w, logits), const noise
    loss   = scale * (l1 * |x - x_rec|_1 + lpips * LPIPS(x, x_rec) + cycle * |E(x_rec) - w|_1)
             + kl * KL(softmax C(x) || softmax C(x_rec)) + adv * softplus(-D(x_rec))

``scale`` = 10 and (l1, lpips, cycle) = (1, 0.1, 0.1) as in the reproducibility study.
All functions are pure (the networks are static modules, variables explicit).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxgan import model
from jaxgan.nets.lpips import lpips_distance
from jaxgan.training.losses import run_D


class StylexLossConfig(NamedTuple):
    """Encoder-path loss weights."""
    l1: float = 1.0
    lpips: float = 0.1
    cycle: float = 0.1
    scale: float = 10.0
    kl: float = 1.0
    adv: float = 1.0


def kl_divergence(logits_p, logits_q):
    """``KL(softmax(p) || softmax(q))`` per row.

    Args:
      logits_p, logits_q: ``[N, K]``.

    Returns:
      ``[N]`` (nats, >= 0).
    """
    lp = jax.nn.log_softmax(logits_p, axis=-1)
    lq = jax.nn.log_softmax(logits_q, axis=-1)
    return jnp.sum(jnp.exp(lp) * (lp - lq), axis=-1)


def reconstruct(sx, G, g_vars, E, e_vars, frozen, x, noise_mode="const", noise_key=None):
    """``x -> (logits C(x), w = E(x), x_rec = G(w, C(x)))``.

    Args:
      sx: :class:`jaxgan.stylex.trainer.StylexExtension` (classifier + encoder definitions).
      G, g_vars: the classifier-conditioned generator.
      E, e_vars: the encoder.
      frozen: ``{'clf': classifier variables, ...}``.
      x: ``[N, R, R, C]`` in [-1, 1].

    Returns:
      ``(logits [N, K], w [N, num_ws, w_dim], x_rec [N, R, R, C])``.
    """
    logits = jax.lax.stop_gradient(sx.logits(frozen, x))
    w = model.encode(E, e_vars, x, g_vars["buffers"]["mapping"]["w_avg"])
    x_rec = model.synthesize(G, g_vars, model.condition_ws(w, logits), noise_mode=noise_mode,
                             noise_key=noise_key, fused=False)
    return logits, w, x_rec


def encoder_path_loss(sx, G, D, g_vars, e_vars, d_vars, frozen, x, key, *, augment=None, p=0.0):
    """The StylEx encoder-path loss (module docstring); differentiate w.r.t. G and E params.

    Returns:
      ``(loss, metrics)`` with the unweighted terms under ``loss/E/*`` and the classifier
      agreement ``stylex/agree`` (fraction with argmax C(x_rec) == argmax C(x)).
    """
    cfg: StylexLossConfig = sx.loss
    E = sx.E
    logits, w, x_rec = reconstruct(sx, G, g_vars, E, e_vars, frozen, x)
    l1 = jnp.mean(jnp.abs(x - x_rec))
    if cfg.lpips and frozen.get("lpips") is not None:
        lp = jnp.mean(lpips_distance(frozen["lpips"], x_rec, x))
    else:
        lp = jnp.zeros(())
    w_rec = model.encode(E, e_vars, x_rec, g_vars["buffers"]["mapping"]["w_avg"])
    cycle = jnp.mean(jnp.abs(w_rec - w))
    rec_logits = sx.logits(frozen, x_rec)
    kl = jnp.mean(kl_divergence(logits, rec_logits))
    adv = jnp.zeros(())
    if cfg.adv:
        adv = jnp.mean(jax.nn.softplus(-run_D(D, d_vars, x_rec, None, augment, p, key)))
    loss = (cfg.scale * (cfg.l1 * l1 + cfg.lpips * lp + cfg.cycle * cycle)
            + cfg.kl * kl + cfg.adv * adv)
    agree = jnp.mean(jnp.argmax(rec_logits, -1) == jnp.argmax(logits, -1))
    return loss, {"loss/E/l1": l1, "loss/E/lpips": lp, "loss/E/cycle": cycle, "loss/E/kl": kl,
                  "loss/E/adv": adv, "stylex/agree": agree}
