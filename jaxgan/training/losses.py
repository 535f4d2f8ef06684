"""StyleGAN2 losses (stylegan2-ada-pytorch ``training/loss.py``) as pure functions.

All functions take the networks as static Flax modules plus explicit variables, and a
PRNG key; nothing is stateful. The generator runs in *training mode*: the mapping moves
``w_avg`` toward the batch mean (returned as updated buffers), style mixing is applied
with probability ``style_mixing_prob`` and noise is random.

Conventions: images ``[N, H, W, C]`` in [-1, 1]; ``c`` is ``[N, c_dim]`` (``c_dim`` may be 0).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from jaxgan import model
from jaxgan.nets.discriminator import Discriminator
from jaxgan.nets.generator import Generator

AugmentFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]   # (img, p, key) -> img


class LossConfig(NamedTuple):
    """Loss hyper-parameters (official defaults)."""
    r1_gamma: float = 10.0
    style_mixing_prob: float = 0.9
    pl_weight: float = 2.0
    pl_decay: float = 0.01
    pl_batch_shrink: int = 2


def _cond(c):
    return None if c is None or c.shape[-1] == 0 else c


def sample_ws(G: Generator, g_vars, z, c, key, style_mixing_prob: float):
    """Training-mode mapping: w_avg update, then style mixing at a random cutoff.

    One cutoff for the whole batch, drawn from ``[1, num_ws)`` and applied with probability
    ``style_mixing_prob`` (as the official); the second w comes from a fresh z.

    Returns:
      ``(ws [N, num_ws, w_dim], g_vars with updated w_avg)``.
    """
    k_cut, k_prob, k_z = jax.random.split(key, 3)
    c = _cond(c)
    ws, g_vars = model.mapping_update_w_avg(G, g_vars, z, c)
    if style_mixing_prob > 0:
        num_ws = ws.shape[1]
        cutoff = jax.random.randint(k_cut, (), 1, num_ws)
        cutoff = jnp.where(jax.random.uniform(k_prob) < style_mixing_prob, cutoff, num_ws)
        ws2 = model.mapping(G, g_vars, jax.random.normal(k_z, z.shape), c)
        ws = model.style_mixing(ws, ws2, cutoff)
    return ws, g_vars


def run_G(G: Generator, g_vars, z, c, key, style_mixing_prob: float, style_cond=None):
    """Training-mode generator: :func:`sample_ws`, then synthesis with random noise.

    ``style_cond`` ``[N, K]`` (an extension's condition, e.g. classifier logits) is appended to every w before the
    synthesis (:func:`jaxgan.model.condition_ws`); the returned ws are the mapping's.

    Returns:
      ``(images [N, R, R, C], ws [N, num_ws, w_dim], g_vars with updated w_avg)``.
    """
    k_ws, k_noise = jax.random.split(key)
    ws, g_vars = sample_ws(G, g_vars, z, c, k_ws, style_mixing_prob)
    syn_ws = ws if style_cond is None else model.condition_ws(ws, style_cond)
    img = model.synthesize(G, g_vars, syn_ws, noise_mode="random", noise_key=k_noise, fused=False,
                           precision="config")    # training: the config's num_fp16_res
    return img, ws, g_vars


def run_D(D: Discriminator, d_vars, img, c, augment: AugmentFn | None, p, key):
    """Discriminator logits ``[N]`` of (optionally ADA-augmented) images."""
    if augment is not None:
        img = augment(img, p, key)
    return model.discriminate(D, d_vars, img, _cond(c), precision="config")[:, 0]


def g_main_loss(g_params, g_vars, d_vars, G, D, z, c, key, *, cfg: LossConfig,
                augment: AugmentFn | None = None, p=0.0, style_cond=None):
    """Non-saturating generator loss ``softplus(-D(G(z)))``.

    Returns:
      ``(loss, (new_g_vars, logits [N]))``; differentiate w.r.t. ``g_params``.
    """
    k_g, k_d = jax.random.split(key)
    img, _, g_vars = run_G(G, {**g_vars, "params": g_params}, z, c, k_g, cfg.style_mixing_prob,
                           style_cond)
    logits = run_D(D, d_vars, img, c, augment, p, k_d)
    return jnp.mean(jax.nn.softplus(-logits)), (g_vars, logits)


def g_pl_loss(g_params, g_vars, G, z, c, key, pl_mean, *, cfg: LossConfig, gain: float = 1.0,
              style_cond=None):
    """Path-length regularisation on ``N // pl_batch_shrink`` samples.

    ``pl_lengths = sqrt(mean_l sum_d (∂(G(w)·y)/∂w)²)`` with ``y ~ N(0, 1) / sqrt(H W)``;
    ``pl_mean`` moves toward the batch mean by ``pl_decay``; the penalty is
    ``(pl_lengths - pl_mean)² · pl_weight``, times ``gain`` (the lazy interval).

    Returns:
      ``(loss, (new_g_vars, new_pl_mean, pl_lengths))``.
    """
    n = max(z.shape[0] // cfg.pl_batch_shrink, 1)
    z, c = z[:n], (c[:n] if c is not None else None)
    k_ws, k_noise, k_y = jax.random.split(key, 3)
    ws, g_vars = sample_ws(G, {**g_vars, "params": g_params}, z, c, k_ws, cfg.style_mixing_prob)

    def synth(w):
        if style_cond is not None:
            w = model.condition_ws(w, style_cond[:n])
        return model.synthesize(G, g_vars, w, noise_mode="random", noise_key=k_noise, fused=False,
                                precision="config")

    img, vjp = jax.vjp(synth, ws)
    y = jax.random.normal(k_y, img.shape) / jnp.sqrt(img.shape[1] * img.shape[2])
    (pl_grads,) = vjp(y)                                           # [n, num_ws, w_dim]
    pl_lengths = jnp.sqrt(jnp.mean(jnp.sum(jnp.square(pl_grads), axis=2), axis=1))
    new_mean = pl_mean + cfg.pl_decay * (jnp.mean(pl_lengths) - pl_mean)
    # As the official: the penalty's pl_mean is *not* detached (gradient flows through it).
    penalty = jnp.square(pl_lengths - new_mean)
    return jnp.mean(penalty * cfg.pl_weight) * gain, (g_vars, jax.lax.stop_gradient(new_mean), pl_lengths)


def d_main_loss(d_params, d_vars, g_vars, G, D, real, c_real, z, c_gen, key, *, cfg: LossConfig,
                augment: AugmentFn | None = None, p=0.0, style_cond=None, fake=None):
    """``softplus(D(G(z))) + softplus(-D(x))``; G runs in training mode, without gradients.

    Args:
      fake: optional ``[N, R, R, C]`` fakes to use instead of ``G(z)`` (an extension's, e.g.
        reconstructions of the reals); G is then not run and ``g_vars`` comes back unchanged.

    Returns:
      ``(loss, (new_g_vars, real_logits [N], gen_logits [N]))``.
    """
    k_g, k_d1, k_d2 = jax.random.split(key, 3)
    if fake is None:
        img, _, g_vars = run_G(G, g_vars, z, c_gen, k_g, cfg.style_mixing_prob, style_cond)
    else:
        img, c_gen = fake, c_real          # reconstructions of the reals carry their labels
    img = jax.lax.stop_gradient(img)
    d_vars = {**d_vars, "params": d_params}
    gen_logits = run_D(D, d_vars, img, c_gen, augment, p, k_d1)
    real_logits = run_D(D, d_vars, real, c_real, augment, p, k_d2)
    loss = jnp.mean(jax.nn.softplus(gen_logits)) + jnp.mean(jax.nn.softplus(-real_logits))
    return loss, (g_vars, real_logits, gen_logits)


def d_r1_loss(d_params, d_vars, D, real, c_real, key, *, cfg: LossConfig,
              augment: AugmentFn | None = None, p=0.0, gain: float = 1.0):
    """R1: ``gamma / 2 · ||∂D(x)/∂x||²`` on (augmented) reals, times ``gain``.

    The gradient is taken w.r.t. the *un-augmented* reals, as the official (the
    augmentation is inside D's input path).

    Returns:
      ``(loss, (real_logits [N], r1_penalty [N]))``.
    """
    d_vars = {**d_vars, "params": d_params}

    def logits_sum(x):
        lg = run_D(D, d_vars, x, c_real, augment, p, key)
        return jnp.sum(lg), lg

    grads, logits = jax.grad(logits_sum, has_aux=True)(real)
    penalty = jnp.sum(jnp.square(grads), axis=(1, 2, 3))
    return jnp.mean(penalty * (cfg.r1_gamma / 2)) * gain, (logits, penalty)
