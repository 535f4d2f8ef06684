"""The optax loop shared by the learned directions (GANalyze, steerability).

The loss is a pure function ``loss_fn(params, consts, key) -> (loss, per_direction [K])``;
``consts`` (the frozen generator's variables, assessors' variables...) is passed to the
jitted step as an argument rather than baked in as constants. Steps run on device in
chunks of ``chunk`` under ``lax.scan``; the host only updates a tqdm bar between chunks.
Step ``t`` uses ``fold_in(key, t)``.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan.progress import progress as reporter


def run_optax(loss_fn: Callable, params, consts, key, *, steps: int,
              tx: optax.GradientTransformation, chunk: int = 25, progress: bool = True, desc: str = "directions"):
    """Minimise ``loss_fn`` over ``params`` with ``tx``.

    Args:
      loss_fn: ``(params, consts, key) -> (scalar loss, [K] per-direction losses)``.
      params: initial parameters (pytree).
      consts: frozen inputs of the loss (pytree of arrays).
      key: ``jax.random`` key.
      steps: number of optimiser steps (>= 1).
      tx: the optax transformation.
      chunk: steps per jitted ``lax.scan`` call.
      progress: show a tqdm bar.
      desc: the bar's label.

    Returns:
      ``(params, curve)`` with ``curve`` ``[steps, K]`` float32 (per-direction loss per step).

    Raises:
      ValueError: ``steps < 1`` or a NaN/Inf loss (naming the step).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    chunk = max(1, min(chunk, steps))

    @jax.jit
    def run_chunk(p, s, consts_, t0):
        def one(carry, t):
            p, s = carry
            (_, per), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                p, consts_, jax.random.fold_in(key, t))
            upd, s2 = tx.update(grads, s, p)
            keep = t < steps     # the last chunk may run past `steps`: those steps are no-ops
            p2 = jax.tree.map(lambda a, b: jnp.where(keep, a, b), optax.apply_updates(p, upd), p)
            s2 = jax.tree.map(lambda a, b: jnp.where(keep, a, b), s2, s)
            return (p2, s2), per
        return jax.lax.scan(one, (p, s), t0 + jnp.arange(chunk))

    state = tx.init(params)
    curve = []
    with reporter(total=steps, desc=desc, unit="step", disable=not progress) as bar:
        done = 0
        bar.compiling()
        while done < steps:
            (params, state), per = run_chunk(params, state, consts, done)
            per = np.asarray(per)[:steps - done]
            if not np.all(np.isfinite(per)):
                bad = done + int(np.argmax(~np.all(np.isfinite(per), axis=-1)))
                raise ValueError(f"{desc}: loss became NaN/Inf at step {bad}")
            curve.append(per)
            done += len(per)
            bar.update(len(per))
            bar.set_postfix(loss=float(per[-1].mean()))
    return params, np.concatenate(curve).astype(np.float32)
