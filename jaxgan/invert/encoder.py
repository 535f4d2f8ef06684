"""Train an image -> W+ encoder for a frozen generator (pSp / in-domain inversion recipe).

Each step draws a batch of generated images ``x = G(w)`` (``w = mapping(z)``, const noise)
and a batch of real images, and minimises, for ``ws_hat = E(x) + w_avg``:

* generated: ``latent * mean((ws_hat - w)**2)`` (latent cycle) ``+ l2 * mean((G(ws_hat) -
  x)**2) + lpips * LPIPS(G(ws_hat), x)``;
* real: ``real * (l2 * mean((G(E(x)) - x)**2) + lpips * LPIPS(G(E(x)), x))``.

Adam on the encoder parameters only; the generator is frozen (its gradients flow through
to the encoder). The encoder architecture is :class:`jaxgan.nets.encoder.Encoder` with the
generator's resolution, channels, ``w_dim`` and ``num_ws``.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan import model
from jaxgan.invert.losses import DistanceWeights, image_distance
from jaxgan.nets.configs import EncoderConfig
from jaxgan.progress import progress as reporter


@dataclasses.dataclass(frozen=True)
class EncoderTrainConfig:
    """Encoder training settings (frozen, hashable).

    Attributes:
      steps, batch_size: optimisation steps; generated images (and real images) per step.
      learning_rate: Adam (betas 0.9, 0.99) step size.
      l2, lpips, latent: weights of pixel L2, LPIPS and the latent cycle term.
      real: weight of the reconstruction terms on real images (0: generated images only).
      lpips_resolution: resolution LPIPS compares at (None: G's).
      truncation_psi: truncation of the generated training latents.
      channel_base, channel_max: encoder width.
    """
    steps: int = 2000
    batch_size: int = 16
    learning_rate: float = 1e-3
    l2: float = 1.0
    lpips: float = 1.0
    latent: float = 1.0
    real: float = 1.0
    lpips_resolution: int | None = None
    truncation_psi: float = 1.0
    channel_base: int = 4096
    channel_max: int = 128

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"EncoderTrainConfig: steps and batch_size must be >= 1, got "
                             f"{self.steps}, {self.batch_size}")


def encoder_config_for(G, channel_base: int = 4096, channel_max: int = 128) -> EncoderConfig:
    """The encoder architecture matching generator ``G`` (resolution, channels, W+ shape)."""
    c = G.cfg
    return EncoderConfig(img_resolution=c.img_resolution, img_channels=c.img_channels,
                         w_dim=c.w_dim, num_ws=c.num_ws, channel_base=channel_base,
                         channel_max=channel_max)


def encode_ws(E, e_vars, g, images):
    """Images ``[N, R, R, C]`` -> ws ``[N, num_ws, w_dim]`` (the encoder's offsets + w_avg)."""
    return model.encode(E, e_vars, images, g["buffers"]["mapping"]["w_avg"])


def encoder_loss(e_params, E, G, g, z, real, cfg: EncoderTrainConfig, lp=None, c=None):
    """The training objective for one batch.

    Args:
      e_params: encoder ``params``.
      E, G, g: encoder module, generator module and variables.
      z: ``[B, z_dim]`` latents of the generated batch.
      real: ``[B, R, R, C]`` real images in [-1, 1], or None.
      cfg: the :class:`EncoderTrainConfig`.
      lp: LPIPS network (needed when ``cfg.lpips > 0``).
      c: ``[B, c_dim]`` conditions of the generated batch (conditional generators).

    Returns:
      ``(loss, metrics dict)``.
    """
    dist = DistanceWeights(lpips=cfg.lpips, l2=cfg.l2, lpips_resolution=cfg.lpips_resolution)
    ev = {"params": e_params}
    w = model.mapping(G, g, z, c, truncation_psi=cfg.truncation_psi)          # [B, num_ws, w_dim]
    x = jax.lax.stop_gradient(model.synthesize(G, g, w))                     # [B, R, R, C]
    w_hat = encode_ws(E, ev, g, x)
    lat = jnp.mean(jnp.square(w_hat - w))
    rec = jnp.mean(image_distance(model.synthesize(G, g, w_hat), x, dist, lp))
    loss = cfg.latent * lat + rec
    metrics = {"latent": lat, "gen_rec": rec}
    if real is not None and cfg.real:
        rec_r = jnp.mean(image_distance(model.synthesize(G, g, encode_ws(E, ev, g, real)),
                                        real, dist, lp))
        loss = loss + cfg.real * rec_r
        metrics["real_rec"] = rec_r
    metrics["loss"] = loss
    return loss, metrics


def make_train_step(E, G, cfg: EncoderTrainConfig):
    """Jitted ``step(e_params, opt_state, g, real, key, lp) -> (e_params, opt_state, metrics)``
    and the optax optimiser."""
    opt = optax.adam(cfg.learning_rate, b1=0.9, b2=0.99)

    @jax.jit
    def step(e_params, opt_state, g, real, key, lp):
        z = jax.random.normal(key, (cfg.batch_size, G.cfg.z_dim))
        # a conditional G: uniform classes (a class-bound G maps with its own class)
        c = model.sample_classes(G, jax.random.fold_in(key, 1), cfg.batch_size)
        grads, metrics = jax.grad(encoder_loss, has_aux=True)(e_params, E, G, g, z, real,
                                                              cfg, lp, c)
        upd, opt_state = opt.update(grads, opt_state, e_params)
        return optax.apply_updates(e_params, upd), opt_state, metrics

    return step, opt


def train_encoder(G, g, real_images=None, cfg: EncoderTrainConfig = EncoderTrainConfig(), *,
                  key=None, lp=None, init=None, progress: bool = True):
    """Train an encoder for generator ``(G, g)``.

    Args:
      G, g: the frozen generator.
      real_images: optional ``[M, R, R, C]`` real training images (uint8 or float in [-1, 1]);
        batches are drawn with ``fold_in(key, step)``.
      cfg: the :class:`EncoderTrainConfig`.
      key: PRNG key (default ``key(0)``).
      lp: LPIPS network (needed when ``cfg.lpips > 0``).
      init: optional ``(E, e_vars)`` to continue from.
      progress: show a tqdm bar.

    Returns:
      ``(E, e_vars, history)``; history is a list of per-step metric dicts (floats).
    """
    if cfg.lpips and lp is None:
        raise ValueError("train_encoder: cfg.lpips > 0 needs lp= (jaxgan.nets.lpips.load_lpips)")
    key = jax.random.key(0) if key is None else key
    if init is None:
        E, e_vars = model.init_encoder(encoder_config_for(G, cfg.channel_base, cfg.channel_max),
                                       jax.random.fold_in(key, 0))
    else:
        E, e_vars = init
    real = None
    if real_images is not None and cfg.real:
        real = np.asarray(real_images)
        shape = (G.cfg.img_resolution, G.cfg.img_resolution, G.cfg.img_channels)
        if real.ndim != 4 or real.shape[1:] != shape or len(real) == 0:
            raise ValueError(f"train_encoder: real_images must be [M, {shape[0]}, {shape[1]}, "
                             f"{shape[2]}], got {real.shape}")
        real = (real.astype(np.float32) / 127.5 - 1) if real.dtype == np.uint8 else \
            real.astype(np.float32)
        real = jnp.asarray(real)
    step, opt = make_train_step(E, G, cfg)
    params = e_vars["params"]
    opt_state = opt.init(params)
    history = []
    bar = reporter(range(cfg.steps), desc="train-encoder", unit="step", disable=not progress)
    bar.compiling()
    for i in bar:
        k = jax.random.fold_in(key, i + 1)
        kz, kr = jax.random.split(k)
        batch = None
        if real is not None:
            idx = jax.random.randint(kr, (cfg.batch_size,), 0, real.shape[0])
            batch = real[idx]
        params, opt_state, m = step(params, opt_state, g, batch, kz, lp)
        if not np.isfinite(float(m["loss"])):
            raise FloatingPointError(f"train_encoder: loss became {float(m['loss'])} at step {i}")
        history.append({k2: float(v) for k2, v in m.items()})
    return E, {**e_vars, "params": params}, history
