"""Few-shot domain adaptation as a trainer extension (:mod:`jaxgan.training.extension`).

A training config with a ``domain`` group (``configs/domain_shapes.py``; options in
:mod:`jaxgan.domain.setup`) makes the trainer call :func:`trainer_extension`; attached, the
extension

* loads the source generator (``domain.init_from``) into ``state.g``/``state.g_ema`` and
  the source discriminator (``domain.init_d_from``) into ``state.d`` (D is fine-tuned);
* creates the domain parameters of the chosen parameterisation (:mod:`jaxgan.domain.params`)
  in ``state.ext['dom']`` and their EMA in ``state.ext['dom_ema']`` (None for 'full');
* replaces G's optimiser by a masked one over ``{'g': G params, 'dom': dom}``: only the
  trained leaves have optimiser state, the others stay bit-identical; G renders with the
  domain applied (:func:`jaxgan.domain.params.effective_params`);
* keeps a frozen copy of the source generator in ``state.frozen['g_src']`` (never
  checkpointed, rebuilt from ``init_from``) for the consistency term added to Gmain;
* exports the adapted (baked) G_ema/G and the EMA domain parameters (``domain.json``).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from jaxgan import assets
from jaxgan.checkpoint import load_network
from jaxgan.domain import params as P
from jaxgan.domain.losses import ConsistencyConfig, consistency_loss
from jaxgan.domain.setup import layer_option, options, save_domain
from jaxgan.training.extension import TrainerExtension, replace_extension
from jaxgan.training.state import make_optimizer

#: Key salt of the consistency term's latents (folded into Gmain's key).
CONSISTENCY_SALT = 99


def _copy(t):
    """A fresh copy of every leaf (the state is donated: no two leaves may share a buffer)."""
    return jax.tree.map(lambda x: jnp.array(x, copy=True), t)


def _load_source(path: str, what: str, like):
    """The variables of the pretrained network ``domain.<what>`` (shapes as ``like``'s).

    Raises:
      FileNotFoundError: no checkpoint there; ValueError: it does not fit the config.
    """
    if not path or not Path(assets.resolve(path)).is_dir():
        raise FileNotFoundError(f"domain.{what}={path!r} does not exist (a pretrained network "
                                "checkpoint: a run's network/G_ema or a fixture)")
    _, v = load_network(path)
    if jax.tree.map(jnp.shape, v["params"]) != jax.tree.map(jnp.shape, like["params"]):
        raise ValueError(f"domain.{what}={path!r}: the network does not fit the config's "
                         "G/D settings (set G.*/D.* as in the run that trained it)")
    return v


@dataclasses.dataclass(frozen=True, eq=False)
class DomainExtension(TrainerExtension):
    """The domain-adaptation extension; :meth:`attach` fills the fields after the first.

    Attributes:
      options: the ``domain`` group as a dict.
      param: the parameterisation (:data:`jaxgan.domain.params.PARAMS`).
      mask: static bool tree over ``{'g': G params, 'dom': dom}`` (True = trained).
      consistency: the consistency-term configuration.
      update_buffers: let training move G's buffers (``w_avg``); False keeps the source's.
      layers, rank, init_from: recorded in the export.
      num_trained: number of trained scalars (G side).
    """
    options: dict
    param: str = ""
    mask: Any = None
    consistency: ConsistencyConfig = ConsistencyConfig()
    update_buffers: bool = False
    layers: tuple = ()
    rank: int = 1
    init_from: str = ""
    num_trained: int = 0

    name = "domain"
    exclusive = True
    owns_g_params = True

    # ------------------------------------------------------------------ build time
    def attach(self, cfg, defs, state):
        """Turn a plain run into a domain-adaptation run (module docstring).

        Raises:
          ValueError: bad options, shapes mismatch.
          FileNotFoundError: missing ``init_from`` / ``init_d_from``.
        """
        o = self.options
        param = P.check_param(o.get("param", "offset"))
        layers = layer_option(o.get("layers"), param)
        rank = int(o.get("rank", 1))
        cons = ConsistencyConfig(**{k: (tuple(v) if k == "layers" else v)
                                    for k, v in dict(o.get("consistency") or {}).items()}).check()
        g = state.g
        if o.get("init_from"):
            src = _load_source(o["init_from"], "init_from", state.g)
            g = {"params": _copy(src["params"]), "buffers": _copy(src["buffers"])}
        if o.get("init_d_from"):
            d_src = _load_source(o["init_d_from"], "init_d_from", state.d)
            state = state._replace(d={**state.d, "params": _copy(d_src["params"])})
        key = jax.random.fold_in(jax.random.key(int(o.get("seed", 0))), 11)
        dom = P.init_domain_params(g["params"], param, rank=rank, layers=layers, key=key)
        mask = P.trainable_mask(g["params"], dom, param, layers)
        tree = {"g": g["params"], "dom": dom}
        base_tx = defs.g_tx
        lr = o.get("lr", 0.0)
        lr = float(lr.get(param, 0.0) if isinstance(lr, dict) else lr)
        if lr:                             # per-parameterisation learning rate
            oc = cfg.optim
            base_tx = make_optimizer(lr, tuple(oc.betas), oc.eps, oc.g_reg_interval)
        g_tx = P.make_masked_optimizer(base_tx, mask)
        full = dataclasses.replace(
            self, param=param, mask=mask, consistency=cons,
            update_buffers=bool(o.get("update_buffers", False)), layers=layers, rank=rank,
            init_from=str(o.get("init_from", "")), num_trained=P.count_trained_params(tree, mask))
        state = state._replace(
            g=g, g_ema=_copy(g), g_opt=g_tx.init(tree),
            ext={**(state.ext or {}), "dom": dom,
                 "dom_ema": _copy(dom) if dom is not None else None},
            frozen={**(state.frozen or {}), "g_src": _copy(g)})
        defs = replace_extension(defs, self, full)
        return dataclasses.replace(defs, g_tx=g_tx), state

    # ------------------------------------------------------------------ jitted hooks
    def g_tree(self, state):
        return {"g": state.g["params"], "dom": state.ext["dom"]}

    def g_params(self, tree):
        return P.effective_params(tree["g"], tree["dom"])

    def g_store(self, state, tree, updates):
        new = P.apply_masked_updates(tree, updates, self.mask)   # frozen leaves untouched
        return state._replace(g={**state.g, "params": new["g"]}, ext={**state.ext, "dom": new["dom"]})

    def g_buffers(self, state, new_buffers):
        return new_buffers if self.update_buffers else state.g["buffers"]

    def g_main_term(self, defs, state, g_params, z, key):
        """Consistency toward the frozen source G, on latents of its own key."""
        z_c = jax.random.normal(jax.random.fold_in(key, CONSISTENCY_SALT), z.shape)
        cons = consistency_loss(self.consistency, defs.G, state.frozen["g_src"],
                                {**state.g, "params": g_params}, z_c)
        return cons, {"loss/G/consistency": cons}

    def finish(self, defs, state, beta):
        """The domain parameters follow the same EMA as G."""
        if state.ext["dom"] is None:
            return state
        dom_ema = jax.tree.map(lambda p, e: p + beta * (e - p), state.ext["dom"],
                               state.ext["dom_ema"])
        return state._replace(ext={**state.ext, "dom_ema": dom_ema})

    def ema_generator(self, state):
        return {**state.g_ema,
                "params": P.effective_params(state.g_ema["params"], state.ext["dom_ema"])}

    # ------------------------------------------------------------------ export
    def export(self, path, defs, state) -> None:
        """Beside the run's baked G_ema/G/D: the EMA domain parameters and ``domain.json``."""
        save_domain(path, state.ext["dom_ema"], {"param": self.param, "layers": list(self.layers),
                                                 "rank": self.rank, "init_from": self.init_from,
                                                 "num_trained": self.num_trained})


def trainer_extension(cfg, data_info: dict) -> DomainExtension:
    """The extension of a config's ``domain`` group (completed by :meth:`~DomainExtension.attach`)."""
    del data_info
    return DomainExtension(options(cfg))

