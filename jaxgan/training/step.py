"""Jitted training phases over one :class:`TrainState` (official phase order).

One iteration of the official loop is ``Gmain, [Greg], Dmain, [Dreg], then EMA and ADA``.
Each phase is a pure function ``(state, batch, key) -> (state, metrics)``; the
regularisation phases run every ``g_reg_interval`` / ``d_reg_interval`` iterations
(lazy regularisation, loss scaled by the interval) as separately compiled steps.
:func:`make_step_fns` jits them with the state's shardings and donation;
:func:`train_step` schedules one iteration on the host.

Keys: each phase uses ``fold_in(fold_in(key, state.step), phase_id)``, so a run is a
deterministic function of the root key and resumes exactly.

Extensions (:mod:`jaxgan.training.extension`, ``defs.extensions``) add terms, phases and
state through hooks; with none the phases are the plain recipe.

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
from jaxgan.training.extension import TrainerExtension, owner
from jaxgan.training.losses import LossConfig
from jaxgan.training.state import TrainState

#: Phase ids of the plain recipe (keys are folded with them); extensions use ids >= 5.
PHASES = {"g_main": 0, "g_reg": 1, "d_main": 2, "d_reg": 3, "finish": 4}


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
    # Trainer extensions named by the config's groups (jaxgan.training.extension).
    extensions: tuple[TrainerExtension, ...] = ()
    # jax.default_matmul_precision for every phase ('float32', 'tensorfloat32', 'default', ...);
    # None leaves JAX's default (TF32 for float32 convolutions on recent NVIDIA GPUs).
    matmul_precision: str | None = "float32"
    # Sharding of the latents G renders from (the batch's; set by make_step_fns on a mesh).
    # Without it z is drawn replicated and every device runs G on the whole global batch.
    latent_sharding: Any = None
    # Where the phases use G's and D's parameters, they are constrained to this sharding
    # (replicated; set by make_step_fns when the state has fsdp-split leaves): one all-gather
    # of the weights per use, and activations stay split by batch (ZeRO-3 style). Without it
    # XLA carries the weights' channel split into the activations (GiB-sized collectives).
    param_gather: Any = None


def _gather(defs: TrainDefs, tree):
    """``tree`` constrained to ``defs.param_gather`` (whole on every device), or as is. Applied
    to the parameters where a phase uses them and to their gradients (which XLA otherwise
    computes split by channel, with the activations)."""
    if defs.param_gather is None:
        return tree
    return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, defs.param_gather), tree)


def phase_key(key, state, phase_id: int):
    """The key of one phase of iteration ``state.step`` from the run's root ``key``."""
    return jax.random.fold_in(jax.random.fold_in(key, state.step), phase_id)


def _key(key, state, phase):
    return phase_key(key, state, PHASES[phase])


def _latents(defs: TrainDefs, batch, key):
    """Fresh z and a shuffled copy of the batch's labels for the generated images."""
    kz, kc = jax.random.split(key)
    n = batch["image"].shape[0]
    z = jax.random.normal(kz, (n, defs.G.cfg.z_dim))
    c = batch["c"][jax.random.permutation(kc, n)]
    if defs.latent_sharding is not None:          # split G's work over the batch's devices
        z = jax.lax.with_sharding_constraint(z, defs.latent_sharding)
        c = jax.lax.with_sharding_constraint(c, defs.latent_sharding)
    return z, c


def _style_cond(defs: TrainDefs, state: TrainState, batch, key):
    """An extension's condition of the generated images from the reals, shuffled as
    :func:`_latents` shuffles the labels (same ``key``); None without one."""
    _, kc = jax.random.split(key)
    n = batch["image"].shape[0]
    for ext in defs.extensions:
        sc = ext.style_cond(state, batch["image"][jax.random.permutation(kc, n)])
        if sc is not None:
            return jax.lax.stop_gradient(sc)
    return None


def _g_tree(defs: TrainDefs, state: TrainState):
    """What G's optimiser trains: ``g['params']``, or what the owning extension says."""
    return owner(defs).g_tree(state)


def _g_params(defs: TrainDefs, tree):
    """The G params that render, from :func:`_g_tree`'s tree."""
    return owner(defs).g_params(tree)


def _g_buffers(defs: TrainDefs, state: TrainState, buffers):
    """G's buffers after a phase ran G in training mode (extensions may keep the old)."""
    for ext in defs.extensions:
        buffers = ext.g_buffers(state, buffers)
    return buffers


def _g_apply(defs: TrainDefs, state: TrainState, grads, tree, buffers):
    """Optimiser update of G's tree (stored by the owning extension, if any) and buffers."""
    updates, g_opt = defs.g_tx.update(grads, state.g_opt, tree)
    buffers = _g_buffers(defs, state, buffers)
    state = owner(defs).g_store(state, tree, updates)
    return state._replace(g={"params": state.g["params"], "buffers": buffers}, g_opt=g_opt)


def ema_generator(defs: TrainDefs, state: TrainState):
    """G_ema variables that render samples and exports (an extension may transform them)."""
    return owner(defs).ema_generator(state)


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
        loss, (g_vars, _) = losses.g_main_loss(p, state.g, _gather(defs, state.d), defs.G, defs.D,
                                               z, c, k_loss,
                                               cfg=defs.loss, augment=defs.augment,
                                               p=state.ada.p, style_cond=sc)
        pl_mean = state.pl_mean
        if both:
            pl, (_, pl_mean, _) = _pl_term(defs, state, p, z, c, k_pl, 1.0, sc)
            loss = loss + pl
        extra: dict = {}
        for ext in defs.extensions:     # extensions' terms (they derive their own keys)
            term, m = ext.g_main_term(defs, state, p, z, key)
            if term is not None:
                loss = loss + term
            extra.update(m)
        return loss, (g_vars["buffers"], pl_mean, extra)

    tree = _g_tree(defs, state)
    (loss, (buffers, pl_mean, extra)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        _gather(defs, tree))
    state = _g_apply(defs, state, _gather(defs, grads), tree, buffers)._replace(pl_mean=pl_mean)
    return state, {"loss/G/main": loss, **extra}


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
    (loss, (buffers, pl_mean, lengths)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        _gather(defs, tree))
    state = _g_apply(defs, state, _gather(defs, grads), tree, buffers)._replace(pl_mean=pl_mean)
    return state, {"loss/G/pl": loss, "pl/lengths": jnp.mean(lengths), "pl/mean": pl_mean}


def d_main(defs: TrainDefs, state: TrainState, batch, key, fakes: Callable | None = None):
    """Dmain (or Dboth without lazy regularisation).

    Args:
      fakes: optional ``fakes(defs, state, g_vars, images) -> [N, R, R, C]``: D's fakes
        for this batch instead of ``G(z)`` (an extension's phase, e.g. reconstructions of
        the reals); G is then not run and no latents are drawn.
    """
    key = _key(key, state, "d_main")
    k_lat, k_loss, k_r1 = jax.random.split(key, 3)
    both = defs.d_reg_interval is None and defs.loss.r1_gamma != 0

    g_vars = {**state.g, "params": _gather(defs, _g_params(defs, _g_tree(defs, state)))}
    z = c = sc = fake = None
    if fakes is not None:
        fake = fakes(defs, state, g_vars, batch["image"])
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
        _gather(defs, state.d["params"]))
    updates, d_opt = defs.d_tx.update(_gather(defs, grads), state.d_opt, state.d["params"])
    buffers = _g_buffers(defs, state, buffers)
    state = state._replace(d={**state.d, "params": optax.apply_updates(state.d["params"], updates)},
                           d_opt=d_opt, g={**state.g, "buffers": buffers})
    state = state._replace(ada=ada_accumulate(state.ada, real_logits))
    return state, {"loss/D/main": loss, "scores/real": jnp.mean(real_logits),
                   "scores/fake": jnp.mean(gen_logits), "signs/real": jnp.mean(jnp.sign(real_logits))}


def d_reg(defs: TrainDefs, state: TrainState, batch, key):
    """Dreg: R1 on reals, loss × d_reg_interval."""
    key = _key(key, state, "d_reg")
    gain = float(defs.d_reg_interval or 1)

    def loss_fn(p):
        return losses.d_r1_loss(p, state.d, defs.D, batch["image"], batch["c"], key, cfg=defs.loss,
                                augment=defs.augment, p=state.ada.p, gain=gain)

    (loss, (real_logits, penalty)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        _gather(defs, state.d["params"]))
    updates, d_opt = defs.d_tx.update(_gather(defs, grads), state.d_opt, state.d["params"])
    state = state._replace(d={**state.d, "params": optax.apply_updates(state.d["params"], updates)},
                           d_opt=d_opt)
    state = state._replace(ada=ada_accumulate(state.ada, real_logits))
    return state, {"loss/D/r1": loss, "r1/penalty": jnp.mean(penalty)}


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
    for ext in defs.extensions:
        state = ext.finish(defs, state, beta)
    metrics = {"ema/beta": beta, "augment/p": state.ada.p}
    if defs.ada_target is not None and defs.augment is not None:
        state = state._replace(ada=ada_update(state.ada, batch_size=defs.batch_size,
                                              target=defs.ada_target, ada_kimg=defs.ada_kimg,
                                              interval=defs.ada_interval))
    return state, metrics


class StepFns(NamedTuple):
    """The jitted phases: the plain recipe's (None when off) and the extensions' by name."""
    g_main: Callable
    g_reg: Callable | None
    d_main: Callable
    d_reg: Callable | None
    finish: Callable
    extra: dict[str, Callable] | None = None

    def phase(self, name: str) -> Callable:
        """The jitted phase called ``name``."""
        if name in self._fields and name != "extra":
            return getattr(self, name)
        return (self.extra or {})[name]


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
    run under ``defs.matmul_precision``. With a ``batch_sharding`` the latents are drawn
    with it too (``defs.latent_sharding``), so G's phases are data parallel."""
    if batch_sharding is not None:
        defs = dataclasses.replace(defs, latent_sharding=batch_sharding)
    if replicated is not None and state_shardings is not None and any(
            s.spec != replicated.spec for s in jax.tree.leaves(state_shardings)):
        defs = dataclasses.replace(defs, param_gather=replicated)
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
    extra = {name: jit(fn) for ext in defs.extensions for name, fn in ext.phases().items()}
    return StepFns(jit(g_main), jit(g_reg) if use_greg else None, jit(d_main),
                   jit(d_reg) if use_dreg else None, jit(finish), extra)


def plan(fns: StepFns, defs: TrainDefs, step: int) -> list[str]:
    """The phase names of iteration ``step`` in order: ``g_main, [g_reg], d_main, [d_reg],
    finish`` (lazy regularisation every interval), then as each extension reschedules it."""
    names = ["g_main"]
    if fns.g_reg is not None and step % defs.g_reg_interval == 0:
        names.append("g_reg")
    names.append("d_main")
    if fns.d_reg is not None and step % defs.d_reg_interval == 0:
        names.append("d_reg")
    names.append("finish")
    for ext in defs.extensions:
        names = ext.schedule(step, names)
    return names


def train_step(fns: StepFns, defs: TrainDefs, state: TrainState, batch, key, step: int):
    """One official iteration; ``step`` is the host copy of ``state.step`` (no device sync).

    Returns:
      ``(state, metrics)`` with metrics still on device.
    """
    metrics: dict[str, Any] = {}
    for name in plan(fns, defs, step):
        state, m = fns.phase(name)(state, batch, key)
        metrics.update(m)
    return state, metrics
