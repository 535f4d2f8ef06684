"""Few-shot domain adaptation as a configuration of the StyleGAN2 trainer.

A training config with a ``domain`` group (``configs/domain_shapes.py``) makes
:func:`jaxgan.training.loop.build_run` call :func:`attach`, which

* loads the source generator (``domain.init_from``) into ``state.g``/``state.g_ema`` and
  the source discriminator (``domain.init_d_from``) into ``state.d`` (D is fine-tuned);
* creates the domain parameters (``state.dom``, EMA in ``state.dom_ema``) of the chosen
  parameterisation (:mod:`jaxgan.domain.params`);
* replaces G's optimiser by a masked one over ``{'g': G params, 'dom': dom}``: only the
  trained leaves have optimiser state, the others stay bit-identical;
* keeps a frozen copy of the source generator in ``state.frozen['g_src']`` (never
  checkpointed, rebuilt from ``init_from``) for the consistency term.

``domain`` keys: ``param`` ('full' | 'offset' | 'affine_plus' | 'affine_light_plus'),
``rank`` (AffineLight+), ``layers`` (style layers, '' = all; or ``{param: layers}``),
``lr`` (G-side learning rate: a float or ``{param: lr}``; 0 = ``optim.g_lr``), ``init_from``,
``init_d_from``, ``seed``, ``consistency`` (:class:`~jaxgan.domain.losses.ConsistencyConfig`
fields) and ``domain``/``eval_*`` (used by the report, not the trainer).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import assets
from jaxgan.domain import params as P
from jaxgan.domain.losses import ConsistencyConfig, consistency_loss

DOMAIN_FILE = "domain.json"
DOMAIN_PARAMS = "domain_params.npz"


@dataclasses.dataclass(frozen=True, eq=False)
class DomainDefs:
    """Static domain-run pieces held in ``TrainDefs.domain``.

    Attributes:
      param: the parameterisation (:data:`jaxgan.domain.params.PARAMS`).
      mask: static bool tree over ``{'g': G params, 'dom': dom}`` (True = trained).
      consistency: the consistency-term configuration.
      update_buffers: let training move G's buffers (``w_avg``); False keeps the source's.
      layers, rank, init_from: recorded in the export.
      num_trained: number of trained scalars (G side).
    """
    param: str
    mask: Any
    consistency: ConsistencyConfig
    update_buffers: bool = False
    layers: tuple = ()
    rank: int = 1
    init_from: str = ""
    num_trained: int = 0

    def effective(self, g_params, dom):
        """G params that render the adapted domain (pure)."""
        return P.effective_params(g_params, dom)

    def apply_updates(self, tree, updates):
        """Masked ``tree + updates`` over ``{'g', 'dom'}`` (frozen leaves untouched)."""
        return P.apply_masked_updates(tree, updates, self.mask)

    def consistency_term(self, G, frozen, g_params_eff, g_vars, z):
        """Weighted consistency loss between the frozen source G and the adapted params."""
        return consistency_loss(self.consistency, G, frozen["g_src"],
                                {**g_vars, "params": g_params_eff}, z)


def options(cfg) -> dict:
    """The ``domain`` group as a plain dict (ConfigDict or dict)."""
    d = cfg.domain
    return d.to_dict() if hasattr(d, "to_dict") else dict(d)


def _copy(t):
    return jax.tree.map(lambda x: jnp.array(x, copy=True), t)


def _load_source(path: str, what: str, like):
    from jaxgan.checkpoint import load_network  # noqa: PLC0415
    if not path or not Path(assets.resolve(path)).is_dir():
        raise FileNotFoundError(f"domain.{what}={path!r} does not exist (a pretrained network "
                                "checkpoint: a run's network/G_ema or a fixture)")
    _, v = load_network(path)
    if jax.tree.map(jnp.shape, v["params"]) != jax.tree.map(jnp.shape, like["params"]):
        raise ValueError(f"domain.{what}={path!r}: the network does not fit the config's "
                         "G/D settings (set G.*/D.* as in the run that trained it)")
    return v


def layer_option(layers, param: str) -> tuple:
    """``domain.layers`` for ``param``: a comma string / sequence of style-layer names for
    every parameterisation, or a ``{param: layers}`` mapping (missing params: all layers)."""
    if hasattr(layers, "items"):                       # dict or ConfigDict
        layers = dict(layers.items()).get(param, "")
    layers = layers or ()
    return tuple(v.strip() for v in layers.split(",") if v.strip()) if isinstance(layers, str) \
        else tuple(layers)


def attach(cfg, defs, state):
    """Turn a plain ``(TrainDefs, TrainState)`` into a domain-adaptation run (see module doc).

    Raises:
      ValueError: bad options, StylEx together with a domain group, shapes mismatch.
      FileNotFoundError: missing ``init_from`` / ``init_d_from``.
    """
    o = options(cfg)
    if defs.stylex is not None:
        raise ValueError("a config cannot have both a 'stylex' and a 'domain' group")
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
    if lr:                                 # per-parameterisation learning rate
        from jaxgan.training.state import make_optimizer  # noqa: PLC0415
        oc = cfg.optim
        base_tx = make_optimizer(lr, tuple(oc.betas), oc.eps, oc.g_reg_interval)
    g_tx = P.make_masked_optimizer(base_tx, mask)
    n_trained = P.count_trained_params(tree, mask)
    dd = DomainDefs(param=param, mask=mask, consistency=cons,
                    update_buffers=bool(o.get("update_buffers", False)),
                    layers=layers, rank=rank, init_from=str(o.get("init_from", "")),
                    num_trained=n_trained)
    state = state._replace(g=g, g_ema=_copy(g), g_opt=g_tx.init(tree), dom=dom,
                           dom_ema=_copy(dom) if dom is not None else None,
                           frozen={"g_src": _copy(g)})
    return dataclasses.replace(defs, g_tx=g_tx, domain=dd), state


# ----------------------------------------------------------------------------- export

def _flat(tree) -> dict[str, np.ndarray]:
    if tree is None:
        return {}
    return {"/".join(P._path_keys(p)): np.asarray(v)
            for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _unflat(flat: dict) -> dict | None:
    if not flat:
        return None
    out: dict = {}
    for k, v in flat.items():
        node = out
        parts = k.split("/")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = jnp.asarray(v)
    return out


def save_domain(path, dom, info: dict) -> Path:
    """Write ``path/domain_params.npz`` (the domain parameters, flattened by '/'-joined
    paths) and ``path/domain.json`` (``info``: param, layers, counts, source)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    np.savez(path / DOMAIN_PARAMS, **_flat(dom))
    (path / DOMAIN_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return path


def load_domain(path) -> tuple[dict | None, dict]:
    """Read what :func:`save_domain` wrote (``path`` or ``path/network``).

    Returns:
      ``(dom pytree or None, info dict)``.
    """
    path = Path(path)
    if not (path / DOMAIN_FILE).is_file() and (path / "network" / DOMAIN_FILE).is_file():
        path = path / "network"
    if not (path / DOMAIN_FILE).is_file():
        raise FileNotFoundError(f"{path} holds no {DOMAIN_FILE} (written by a domain run's export)")
    with np.load(path / DOMAIN_PARAMS) as z:
        dom = _unflat({k: z[k] for k in z.files})
    return dom, json.loads((path / DOMAIN_FILE).read_text())


def export(path, defs, state) -> None:
    """Beside the run's baked G_ema/G/D: the EMA domain parameters and ``domain.json``."""
    dd = defs.domain
    save_domain(path, state.dom_ema, {"param": dd.param, "layers": list(dd.layers),
                                      "rank": dd.rank, "init_from": dd.init_from,
                                      "num_trained": dd.num_trained})
