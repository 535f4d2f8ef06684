"""Parameterisations of few-shot domain adaptation (StyleDomain, Alanov et al. 2023).

A domain run trains the tree ``T = {'g': G params, 'dom': domain params}``; which leaves
of ``T`` move is the parameterisation's *mask* (the optimiser is an
``optax.multi_transform`` over it, so frozen leaves have no optimiser state), and the
generator that renders is ``effective_params(T['g'], T['dom'])``:

* ``'full'``: every G parameter trains (the fine-tuning baseline); ``dom`` is None.
* ``'offset'`` (a *StyleDomain direction*): G frozen; ``dom = {'offset': {b: {layer: [C]}}}``
  is added to the StyleSpace styles of the selected layers,
  ``s' = A(w) + offset``. With the affines' unit bias gain this is ``bias += offset``.
* ``'affine_plus'`` (Affine+): the affine (w -> style) layers of the selected synthesis
  layers and every ToRGB layer train; the rest of G is frozen; ``dom`` is None.
* ``'affine_light_plus'`` (AffineLight+): each selected affine's weight ``W [w_dim, C]`` gets
  a rank-``r`` update ``W + down @ up`` (``down [w_dim, r]``, ``up [r, C]``, LoRA init:
  ``down`` random, ``up`` zero) in ``dom = {'lowrank': {b: {layer: {'down', 'up'}}}}``; the
  ToRGB convolutions (weight, bias) train too.

StyleSpace layers are named ``'b{res}.{conv0|conv1|torgb}'``; ``layers`` selects them by
name or block prefix (``('b4', 'b8.conv1')``), empty = all.

Everything here is a pure function of explicit pytrees (jit/grad friendly); masks are
Python bools (static).
"""
from __future__ import annotations

import numpy as np

import jax
import jax.numpy as jnp
import optax

PARAMS = ("full", "offset", "affine_plus", "affine_light_plus")
LAYER_KINDS = ("conv0", "conv1", "torgb")


def check_param(param: str) -> str:
    """Validate a parameterisation name (one of :data:`PARAMS`)."""
    if param not in PARAMS:
        raise ValueError(f"domain.param must be one of {PARAMS}, got {param!r}")
    return param


def style_layers(g_params) -> list[tuple[str, str]]:
    """``[(block, layer)]`` of every modulated layer (those with an ``affine``), input first."""
    syn = g_params["synthesis"]
    blocks = sorted(syn, key=lambda b: int(b[1:]))
    return [(b, l) for b in blocks for l in LAYER_KINDS if l in syn[b] and "affine" in syn[b][l]]


def select_layers(g_params, layers=()) -> list[tuple[str, str]]:
    """The style layers named by ``layers`` (``'b8'`` = the whole block, ``'b8.conv1'`` one
    layer; empty/None/'all' = every layer).

    Raises:
      ValueError: a name that matches no layer.
    """
    every = style_layers(g_params)
    if not layers or layers == "all" or tuple(layers) == ("all",):
        return every
    if isinstance(layers, str):
        layers = tuple(s.strip() for s in layers.split(",") if s.strip())
    out = []
    for name in layers:
        hit = [(b, l) for b, l in every if name in (b, f"{b}.{l}")]
        if not hit:
            valid = [f"{b}.{l}" for b, l in every]
            raise ValueError(f"domain.layers: {name!r} matches no style layer; valid: {valid}")
        out += [h for h in hit if h not in out]
    return [h for h in every if h in out]


def init_domain_params(g_params, param: str, *, rank: int = 1, layers=(), key=None):
    """Initial domain parameters (identity: the adapted G equals the source G).

    Args:
      g_params: the source generator's ``params``.
      param: one of :data:`PARAMS`.
      rank: rank of the AffineLight+ updates (>= 1).
      layers: style layers touched (see :func:`select_layers`).
      key: PRNG key for the low-rank ``down`` factors (AffineLight+ only).

    Returns:
      ``dom`` pytree, or None for ``'full'`` / ``'affine_plus'``.
    """
    check_param(param)
    sel = select_layers(g_params, layers)
    syn = g_params["synthesis"]
    if param == "offset":
        out: dict = {}
        for b, l in sel:
            out.setdefault(b, {})[l] = jnp.zeros_like(syn[b][l]["affine"]["bias"])   # [C]
        return {"offset": out}
    if param == "affine_light_plus":
        if int(rank) < 1:
            raise ValueError(f"domain.rank must be >= 1, got {rank!r}")
        if key is None:
            raise ValueError("affine_light_plus needs a key for its low-rank factors")
        out = {}
        for i, (b, l) in enumerate(sel):
            w = syn[b][l]["affine"]["weight"]                                       # [w_dim, C]
            down = jax.random.normal(jax.random.fold_in(key, i), (w.shape[0], int(rank)),
                                     w.dtype) / np.sqrt(w.shape[0])
            out.setdefault(b, {})[l] = {"down": down,                               # [w_dim, r]
                                        "up": jnp.zeros((int(rank), w.shape[1]), w.dtype)}
        return {"lowrank": out}
    return None


def _path_keys(path) -> tuple[str, ...]:
    return tuple(str(getattr(p, "key", getattr(p, "name", getattr(p, "idx", p)))) for p in path)


def trainable_mask(g_params, dom, param: str, layers=()) -> dict:
    """Boolean mask (static Python bools) over ``T = {'g': g_params, 'dom': dom}``.

    Returns:
      ``{'g': bool tree like g_params, 'dom': bool tree like dom (all True)}``.
    """
    check_param(param)
    sel = set(select_layers(g_params, layers))

    def g_leaf(path, _):
        k = _path_keys(path)
        if param == "full":
            return True
        if param == "offset" or k[0] != "synthesis" or len(k) < 4:
            return False
        b, l = k[1], k[2]
        if param == "affine_plus":
            return l == "torgb" or (k[3] == "affine" and (b, l) in sel)
        return l == "torgb" and k[3] != "affine"                  # affine_light_plus: ToRGB conv

    return {"g": jax.tree_util.tree_map_with_path(g_leaf, g_params),
            "dom": jax.tree.map(lambda _: True, dom)}


def effective_params(g_params, dom):
    """G params with the domain applied (pure): offsets added to the affine biases,
    low-rank products added to the affine weights. ``dom=None`` returns ``g_params``.

    (The synthesis affines have lr multiplier 1, so their bias enters the style unscaled:
    ``bias + offset`` shifts the style by exactly ``offset``.)
    """
    if not dom:
        return g_params
    syn = dict(g_params["synthesis"])

    def touch(b, l, fn):
        syn[b] = dict(syn[b])
        syn[b][l] = dict(syn[b][l])
        syn[b][l]["affine"] = fn(dict(syn[b][l]["affine"]))

    for b, layers in dom.get("offset", {}).items():
        for l, off in layers.items():
            touch(b, l, lambda a, off=off: {**a, "bias": a["bias"] + off})
    for b, layers in dom.get("lowrank", {}).items():
        for l, f in layers.items():
            touch(b, l, lambda a, f=f: {**a, "weight": a["weight"] + f["down"] @ f["up"]})
    unknown = set(dom) - {"offset", "lowrank"}
    if unknown:
        raise ValueError(f"unknown domain parameter groups {sorted(unknown)}")
    return {**g_params, "synthesis": syn}


def offset_styles(styles, dom):
    """StyleSpace view of an offset domain: ``styles + offset`` for the offset layers
    (others unchanged). ``styles``: ``{b: {layer: [N, C]}}``."""
    off = (dom or {}).get("offset", {})
    return {b: {l: s + off[b][l] if b in off and l in off[b] else s for l, s in layers.items()}
            for b, layers in styles.items()}


def count_trained_params(tree, mask) -> int:
    """Number of scalars in the leaves of ``tree`` whose ``mask`` leaf is True."""
    sizes = jax.tree.leaves(jax.tree.map(lambda x, m: int(np.size(x)) if m else 0, tree, mask))
    return int(sum(sizes))


def make_masked_optimizer(tx: optax.GradientTransformation, mask) -> optax.GradientTransformation:
    """``tx`` on the True leaves of ``mask``; the False leaves get zero updates and no state
    (``optax.multi_transform`` with ``set_to_zero``)."""
    labels = jax.tree.map(lambda m: "train" if m else "freeze", mask)
    return optax.multi_transform({"train": tx, "freeze": optax.set_to_zero()}, labels)


def apply_masked_updates(tree, updates, mask):
    """``tree + updates`` on the trained leaves; frozen leaves are returned as they are
    (bit-identical, no ``+ 0``)."""
    return jax.tree.map(lambda p, u, m: p + u.astype(p.dtype) if m else p, tree, updates, mask)
