"""Jitted training phases over one :class:`TrainState` (official phase order).

One iteration of the official loop is ``Gmain, [Greg], Dmain, [Dreg], then EMA and ADA``.
Each phase is a pure function ``(state, batch, key) -> (state, metrics)``; the
regularisation phases run every ``g_reg_interval`` / ``d_reg_interval`` iterations
(lazy regularisation, loss scaled by the interval) as separately compiled steps.
:func:`make_step_fns` jits them with the state's shardings and donation;
:func:`train_step` schedules one iteration on the host.

Keys: each phase uses ``fold_in(fold_in(key, state.step), phase_id)``, so a run is a
deterministic function of the root key and resumes exactly.

Batch: ``{'image': [N, R, R, C] float32 in [-1, 1], 'c': [N, c_dim] float32}``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxgan.nets.discriminator import Discriminator
from jaxgan.nets.generator import Generator
from jaxgan.training import losses
from jaxgan.training.augment import ada_accumulate, ada_update
from jaxgan.training.losses import LossConfig
from jaxgan.training.state import TrainState

PHASES = {"g_main": 0, "g_reg": 1, "d_main": 2, "d_reg": 3, "finish": 4, "e_main": 5}


@dataclasses.dataclass(frozen=True)
class TrainDefs:
    """Static pieces of a run: networks, optimisers, hyper-parameters (hashable)."""
    G: Generator
    D: Discriminator
    g_tx: optax.GradientTransformation
    d_tx: optax.GradientTransformation
    batch_size: int
    loss: LossConfig = LossConfig()
    g_reg_interval: int | None = 4
    d_reg_interval: int | None = 16
    ema_kimg: float = 10.0
    ema_rampup: float | None = None
    augment: Callable | None = None          # (img, p, key) -> img, or None
    ada_target: float | None = None          # None: fixed p
    ada_interval: int = 4
    ada_kimg: float = 500.0
    # StylEx (``jaxgan.stylex.model.StylexDefs``): classifier-conditioned G, encoder path.
    stylex: Any = None
    # Domain adaptation (``jaxgan.domain.setup.DomainDefs``): masked G/domain parameters.
    domain: Any = None
    # jax.default_matmul_precision for every phase ('float32', 'tensorfloat32', 'default', ...);
    # None leaves JAX's default (TF32 for float32 convolutions on recent NVIDIA GPUs).
    matmul_precision: str | None = "float32"


def _key(key, state, phase):
    return jax.random.fold_in(jax.random.fold_in(key, state.step), PHASES[phase])


def _latents(defs: TrainDefs, batch, key):
    """Fresh z and a shuffled copy of the batch's labels for the generated images."""
    kz, kc = jax.random.split(key)
    n = batch["image"].shape[0]
    z = jax.random.normal(kz, (n, defs.G.cfg.z_dim))
    c = batch["c"][jax.random.permutation(kc, n)]
    return z, c


def _style_cond(defs: TrainDefs, state: TrainState, batch, key):
    """StylEx: frozen-classifier logits of the reals, shuffled as :func:`_latents` shuffles
    the labels (same ``key``); None in plain runs."""
    if defs.stylex is None:
        return None
    _, kc = jax.random.split(key)
    n = batch["image"].shape[0]
    x = batch["image"][jax.random.permutation(kc, n)]
    return jax.lax.stop_gradient(defs.stylex.logits(state.frozen, x))


def _g_tree(defs: TrainDefs, state: TrainState):
    """What G's optimiser trains: ``g['params']``, or ``{'g', 'dom'}`` in domain runs."""
    if defs.domain is None:
        return state.g["params"]
    return {"g": state.g["params"], "dom": state.dom}


def _g_params(defs: TrainDefs, tree):
    """The G params that render: the tree itself, or the domain applied (domain runs)."""
    return tree if defs.domain is None else defs.domain.effective(tree["g"], tree["dom"])


def _g_apply(defs: TrainDefs, state: TrainState, grads, tree, buffers):
    """Optimiser update of G's tree; domain runs update only the masked leaves and keep the
    source buffers unless ``domain.update_buffers``."""
    updates, g_opt = defs.g_tx.update(grads, state.g_opt, tree)
    if defs.domain is None:
        return state._replace(g={"params": optax.apply_updates(tree, updates), "buffers": buffers},
                              g_opt=g_opt)
    new = defs.domain.apply_updates(tree, updates)
    if not defs.domain.update_buffers:
        buffers = state.g["buffers"]
    return state._replace(g={"params": new["g"], "buffers": buffers}, dom=new["dom"], g_opt=g_opt)


def ema_generator(defs: TrainDefs, state: TrainState):
    """G_ema variables that render samples (the EMA domain applied in domain runs)."""
    if defs.domain is None:
        return state.g_ema
    return {**state.g_ema, "params": defs.domain.effective(state.g_ema["params"], state.dom_ema)}


def _pl_term(defs, state, g_params, z, c, key, gain, style_cond=None):
    return losses.g_pl_loss(g_params, state.g, defs.G, z, c, key, state.pl_mean,
                            cfg=defs.loss, gain=gain, style_cond=style_cond)


def g_main(defs: TrainDefs, state: TrainState, batch, key):
    """Gmain (or Gboth without lazy regularisation)."""
    key = _key(key, state, "g_main")
    k_lat, k_loss, k_pl = jax.random.split(key, 3)
    z, c = _latents(defs, batch, k_lat)
    sc = _style_cond(defs, state, batch, k_lat)
    both = defs.g_reg_interval is None and defs.loss.pl_weight > 0

    def loss_fn(t):
        p = _g_params(defs, t)
        loss, (g_vars, _) = losses.g_main_loss(p, state.g, state.d, defs.G, defs.D, z, c, k_loss,
                                               cfg=defs.loss, augment=defs.augment,
                                               p=state.ada.p, style_cond=sc)
        pl_mean = state.pl_mean
        if both:
            pl, (_, pl_mean, _) = _pl_term(defs, state, p, z, c, k_pl, 1.0, sc)
            loss = loss + pl
        cons = jnp.zeros((), jnp.float32)
        if defs.domain is not None:     # consistency toward the frozen source G (own key)
            z_c = jax.random.normal(jax.random.fold_in(key, 99), z.shape)
            cons = defs.domain.consistency_term(defs.G, state.frozen, p, state.g, z_c)
        return loss + cons, (g_vars["buffers"], pl_mean, cons)

    tree = _g_tree(defs, state)
    (loss, (buffers, pl_mean, cons)), grads = jax.value_and_grad(loss_fn, has_aux=True)(tree)
    state = _g_apply(defs, state, grads, tree, buffers)._replace(pl_mean=pl_mean)
    metrics = {"loss/G/main": loss}
    if defs.domain is not None:
        metrics["loss/G/consistency"] = cons
    return state, metrics


def g_reg(defs: TrainDefs, state: TrainState, batch, key):
    """Greg: path-length regularisation, loss × g_reg_interval."""
    key = _key(key, state, "g_reg")
    k_lat, k_pl = jax.random.split(key)
    z, c = _latents(defs, batch, k_lat)
    sc = _style_cond(defs, state, batch, k_lat)
    gain = float(defs.g_reg_interval or 1)

    def loss_fn(t):
        loss, (g_vars, pl_mean, lengths) = _pl_term(defs, state, _g_params(defs, t), z, c, k_pl,
                                                    gain, sc)
        return loss, (g_vars["buffers"], pl_mean, lengths)

    tree = _g_tree(defs, state)
    (loss, (buffers, pl_mean, lengths)), grads = jax.value_and_grad(loss_fn, has_aux=True)(tree)
    state = _g_apply(defs, state, grads, tree, buffers)._replace(pl_mean=pl_mean)
    return state, {"loss/G/pl": loss, "pl/lengths": jnp.mean(lengths), "pl/mean": pl_mean}


def d_main(defs: TrainDefs, state: TrainState, batch, key, rec: bool = False):
    """Dmain (or Dboth without lazy regularisation).

    With ``rec`` (StylEx, :func:`d_main_rec`) the fakes are the encoder path's reconstructions
    ``G(E(x), C(x))`` of the batch instead of ``G(z)``.
    """
    key = _key(key, state, "d_main")
    k_lat, k_loss, k_r1 = jax.random.split(key, 3)
    both = defs.d_reg_interval is None and defs.loss.r1_gamma != 0

    g_vars = {**state.g, "params": _g_params(defs, _g_tree(defs, state))}
    z = c = sc = fake = None
    if rec:                            # no latents or style condition: G(z) is not drawn
        from jaxgan.stylex.losses import reconstruct  # noqa: PLC0415 - StylEx only
        fake = reconstruct(defs.stylex, defs.G, g_vars, defs.stylex.E, state.e, state.frozen,
                           batch["image"])[2]
    else:
        z, c = _latents(defs, batch, k_lat)
        sc = _style_cond(defs, state, batch, k_lat)

    def loss_fn(p):
        loss, (g_vars_new, real_logits, gen_logits) = losses.d_main_loss(
            p, state.d, g_vars, defs.G, defs.D, batch["image"], batch["c"], z, c, k_loss,
            cfg=defs.loss, augment=defs.augment, p=state.ada.p, style_cond=sc, fake=fake)
        if both:
            r1, _ = losses.d_r1_loss(p, state.d, defs.D, batch["image"], batch["c"], k_r1,
                                     cfg=defs.loss, augment=defs.augment, p=state.ada.p)
            loss = loss + r1
        return loss, (g_vars_new["buffers"], real_logits, gen_logits)

    (loss, (buffers, real_logits, gen_logits)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.d["params"])
    updates, d_opt = defs.d_tx.update(grads, state.d_opt, state.d["params"])
    if defs.domain is not None and not defs.domain.update_buffers:
        buffers = state.g["buffers"]
    state = state._replace(d={**state.d, "params": optax.apply_updates(state.d["params"], updates)},
                           d_opt=d_opt, g={**state.g, "buffers": buffers})
    state = state._replace(ada=ada_accumulate(state.ada, real_logits))
    return state, {"loss/D/main": loss, "scores/real": jnp.mean(real_logits),
                   "scores/fake": jnp.mean(gen_logits), "signs/real": jnp.mean(jnp.sign(real_logits))}


def d_main_rec(defs: TrainDefs, state: TrainState, batch, key):
    """StylEx Dmain on the encoder path's reconstructions (as the reproducibility study's
    alternating training): without it the encoder path's adversarial term can be met by one
    scene that D rates real, which D never learns to reject (the encoder path collapses)."""
    return d_main(defs, state, batch, key, rec=True)


def d_reg(defs: TrainDefs, state: TrainState, batch, key):
    """Dreg: R1 on reals, loss × d_reg_interval."""
    key = _key(key, state, "d_reg")
    gain = float(defs.d_reg_interval or 1)

    def loss_fn(p):
        return losses.d_r1_loss(p, state.d, defs.D, batch["image"], batch["c"], key, cfg=defs.loss,
                                augment=defs.augment, p=state.ada.p, gain=gain)

    (loss, (real_logits, penalty)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.d["params"])
    updates, d_opt = defs.d_tx.update(grads, state.d_opt, state.d["params"])
    state = state._replace(d={**state.d, "params": optax.apply_updates(state.d["params"], updates)},
                           d_opt=d_opt)
    state = state._replace(ada=ada_accumulate(state.ada, real_logits))
    return state, {"loss/D/r1": loss, "r1/penalty": jnp.mean(penalty)}


def e_main(defs: TrainDefs, state: TrainState, batch, key):
    """StylEx encoder path: x -> E(x) -> G(E(x), C(x)); reconstruction (L1 + LPIPS), latent
    cycle, classifier KL and adversarial losses (:func:`jaxgan.stylex.losses.encoder_path_loss`);
    updates G (with ``g_tx``, sharing ``g_opt``) and E (``defs.stylex.e_tx``)."""
    from jaxgan.stylex.losses import encoder_path_loss  # noqa: PLC0415 - StylEx only
    key = _key(key, state, "e_main")

    def loss_fn(gp, ep):
        return encoder_path_loss(defs.stylex, defs.G, defs.D, {**state.g, "params": gp},
                                 {**state.e, "params": ep}, state.d, state.frozen,
                                 batch["image"], key, augment=defs.augment, p=state.ada.p)

    (loss, metrics), (g_grads, e_grads) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(
        state.g["params"], state.e["params"])
    g_upd, g_opt = defs.g_tx.update(g_grads, state.g_opt, state.g["params"])
    e_upd, e_opt = defs.stylex.e_tx.update(e_grads, state.e_opt, state.e["params"])
    state = state._replace(
        g={**state.g, "params": optax.apply_updates(state.g["params"], g_upd)}, g_opt=g_opt,
        e={**state.e, "params": optax.apply_updates(state.e["params"], e_upd)}, e_opt=e_opt)
    return state, {"loss/E/total": loss, **metrics}


def ema_beta(defs: TrainDefs, nimg):
    """``0.5 ** (batch / max(ema_nimg, 1e-8))`` with optional ramp-up (official)."""
    ema_nimg = jnp.asarray(defs.ema_kimg * 1000.0, jnp.float32)
    if defs.ema_rampup is not None:
        ema_nimg = jnp.minimum(ema_nimg, nimg * defs.ema_rampup)
    return 0.5 ** (defs.batch_size / jnp.maximum(ema_nimg, 1e-8))


def finish(defs: TrainDefs, state: TrainState, batch, key):
    """End of iteration: G_ema update, step += 1, ADA adjustment every ada_interval steps."""
    del batch, key
    nimg = state.step.astype(jnp.float32) * defs.batch_size
    beta = ema_beta(defs, nimg)
    g_ema = {"params": jax.tree.map(lambda p, e: p + beta * (e - p), state.g["params"],
                                    state.g_ema["params"]),
             "buffers": state.g["buffers"]}
    step = state.step + 1
    state = state._replace(step=step, g_ema=g_ema)
    if state.dom is not None:          # domain parameters: the same EMA
        state = state._replace(dom_ema=jax.tree.map(lambda p, e: p + beta * (e - p), state.dom,
                                                    state.dom_ema))
    metrics = {"ema/beta": beta, "augment/p": state.ada.p}
    if defs.ada_target is not None and defs.augment is not None:
        state = state._replace(ada=ada_update(state.ada, batch_size=defs.batch_size,
                                              target=defs.ada_target, ada_kimg=defs.ada_kimg,
                                              interval=defs.ada_interval))
    return state, metrics


class StepFns(NamedTuple):
    g_main: Callable
    g_reg: Callable | None
    d_main: Callable
    d_reg: Callable | None
    finish: Callable
    e_main: Callable | None = None      # StylEx encoder path
    d_main_rec: Callable | None = None  # StylEx: Dmain on the reconstructions (even steps)


class _WithPrecision:
    """A jitted phase traced, lowered and run under ``jax.default_matmul_precision``."""

    def __init__(self, jitted, precision: str):
        self.jitted, self.precision = jitted, precision

    def __call__(self, *args):
        with jax.default_matmul_precision(self.precision):
            return self.jitted(*args)

    def lower(self, *args):
        with jax.default_matmul_precision(self.precision):
            return self.jitted.lower(*args)


def make_step_fns(defs: TrainDefs, state_shardings=None, batch_sharding=None,
                  replicated=None) -> StepFns:
    """Jit every phase with donation of the state (and shardings when given), traced and
    run under ``defs.matmul_precision``."""
    def jit(fn):
        f = lambda s, b, k: fn(defs, s, b, k)  # noqa: E731
        if state_shardings is None:
            jf = jax.jit(f, donate_argnums=0)
        else:
            jf = jax.jit(f, donate_argnums=0,
                         in_shardings=(state_shardings, batch_sharding, replicated),
                         out_shardings=(state_shardings, replicated))
        return jf if defs.matmul_precision is None else _WithPrecision(jf, defs.matmul_precision)
    use_greg = defs.g_reg_interval is not None and defs.loss.pl_weight > 0
    use_dreg = defs.d_reg_interval is not None and defs.loss.r1_gamma != 0
    return StepFns(jit(g_main), jit(g_reg) if use_greg else None, jit(d_main),
                   jit(d_reg) if use_dreg else None, jit(finish),
                   jit(e_main) if defs.stylex is not None else None,
                   jit(d_main_rec) if defs.stylex is not None and defs.stylex.d_on_rec else None)


def train_step(fns: StepFns, defs: TrainDefs, state: TrainState, batch, key, step: int):
    """One official iteration; ``step`` is the host copy of ``state.step`` (no device sync).

    Returns:
      ``(state, metrics)`` with metrics still on device.
    """
    metrics: dict[str, Any] = {}
    # StylEx: 'alternate' runs the encoder path instead of Gmain on even steps,
    # 'combined' runs both every step.
    e_path = fns.e_main is not None and (defs.stylex.mode == "combined" or step % 2 == 0)
    if not (e_path and defs.stylex.mode == "alternate"):
        state, m = fns.g_main(state, batch, key)
        metrics.update(m)
    if e_path:
        state, m = fns.e_main(state, batch, key)
        metrics.update(m)
    if fns.g_reg is not None and step % defs.g_reg_interval == 0:
        state, m = fns.g_reg(state, batch, key)
        metrics.update(m)
    # StylEx: on even steps D's fakes are the encoder path's reconstructions.
    d_main_fn = fns.d_main_rec if fns.d_main_rec is not None and step % 2 == 0 else fns.d_main
    state, m = d_main_fn(state, batch, key)
    metrics.update(m)
    if fns.d_reg is not None and step % defs.d_reg_interval == 0:
        state, m = fns.d_reg(state, batch, key)
        metrics.update(m)
    state, m = fns.finish(state, batch, key)
    metrics.update(m)
    return state, metrics
