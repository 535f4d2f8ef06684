"""The training state pytree and the optimisers (official Adam with lazy-reg correction)."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxgan import model
from jaxgan.nets.configs import DiscriminatorConfig, GeneratorConfig
from jaxgan.training.augment import AdaState, ada_init


class TrainState(NamedTuple):
    """Everything a run needs to continue exactly (plus the data-iterator position and
    the root seed, which the checkpoint stores beside it).

    Attributes:
      step: iterations done (``batch_idx`` of the official loop); images seen = step·batch.
      g, g_ema: generator variables ``{'params', 'buffers'}`` (live and EMA).
      d: discriminator variables ``{'params'}``.
      g_opt, d_opt: optax states (one per network, shared by its main and reg phases).
      pl_mean: path-length running mean.
      ada: ADA controller (probability ``ada.p`` and the sign statistics).
      ext: what trainer extensions (:mod:`jaxgan.training.extension`) train or update: a
        flat dict shared by the run's extensions, e.g. an encoder and its optax state
        ``{'e', 'e_opt'}``; checkpoints store its entries beside the fields above. None in
        plain runs.
      frozen: networks the extensions read and never update (a classifier, LPIPS weights,
        a source generator); rebuilt from the config on resume, never checkpointed. None in
        plain runs.
    """
    step: jax.Array
    g: dict
    d: dict
    g_ema: dict
    g_opt: Any
    d_opt: Any
    pl_mean: jax.Array
    ada: AdaState
    ext: dict | None = None
    frozen: dict | None = None


def make_optimizer(lr: float = 0.0025, betas=(0.0, 0.99), eps: float = 1e-8,
                   reg_interval: int | None = None) -> optax.GradientTransformation:
    """Adam as the official, with the lazy-regularisation correction.

    With lazy regularisation every ``reg_interval`` steps the official code scales
    ``lr`` and both betas by ``mb_ratio = interval / (interval + 1)`` (betas as powers).
    Non-finite gradients are replaced (NaN -> 0, ±inf -> ±1e5) before the update, as the
    official ``nan_to_num`` on ``param.grad``.
    """
    ratio = 1.0 if reg_interval is None else reg_interval / (reg_interval + 1)
    b1, b2 = betas[0] ** ratio, betas[1] ** ratio
    sanitize = optax.stateless(
        lambda g, _: jax.tree.map(lambda x: jnp.nan_to_num(x, nan=0.0, posinf=1e5, neginf=-1e5), g))
    return optax.chain(sanitize, optax.adam(lr * ratio, b1=b1, b2=b2, eps=eps))


def init_state(g_cfg: GeneratorConfig, d_cfg: DiscriminatorConfig, key, g_tx, d_tx,
               augment_p: float = 0.0):
    """Fresh networks (official init), EMA = G, optimiser states.

    Returns:
      ``(G, D, TrainState)``.
    """
    kg, kd = jax.random.split(key)
    G, g_vars = model.init_generator(g_cfg, kg)
    D, d_vars = model.init_discriminator(d_cfg, kd)
    f32 = jnp.float32
    state = TrainState(
        step=jnp.zeros((), jnp.int32), g=g_vars, d=d_vars,
        g_ema=jax.tree.map(jnp.array, g_vars),
        g_opt=g_tx.init(g_vars["params"]), d_opt=d_tx.init(d_vars["params"]),
        pl_mean=jnp.zeros((), f32), ada=ada_init(augment_p))
    return G, D, state
