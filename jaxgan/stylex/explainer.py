"""A trained StylEx for explaining (:func:`load_stylex`), and the pretrained-weight helpers
its trainer extension (:mod:`jaxgan.stylex.trainer`) uses: :func:`transplant` into the wider
conditioned generator, the encoder from an inversion encoder or from D's backbone.

A StylEx run's ``network/`` export holds ``G_ema``, ``G``, ``D``, ``E``, ``classifier/`` and
``stylex.json`` (the classifier path); :func:`load_stylex` reads it back.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import assets, contract, model
from jaxgan.checkpoint import CheckpointError, load_network, resolve_checkpoint
from jaxgan.nets.classifier import classifier_logits
from jaxgan.nets.encoder import backbone_from_discriminator

STYLEX_FILE = "stylex.json"


def transplant(target, source, *, zero_new_rows: bool = True):
    """Copy a pretrained tree into a (wider) target tree, leaf by leaf.

    Leaves of equal shape are copied; a leaf whose first axis is larger in ``target`` (the
    affines of a conditioned generator read ``w_dim + K`` inputs) receives ``source`` in its
    first rows (times ``sqrt(new_in / old_in)``, undoing the equalised-learning-rate gain
    change) and zeros (or its own init) in the rest, so the pretrained network's output is
    unchanged at first. Missing leaves keep the target's value.

    Returns:
      the new tree (structure of ``target``).
    """
    src = {jax.tree_util.keystr(k): v for k, v in jax.tree_util.tree_flatten_with_path(source)[0]}

    def put(path, t):
        s = src.get(jax.tree_util.keystr(path))
        if s is None:
            return t
        s = jnp.asarray(s, t.dtype)
        if s.shape == t.shape:
            return s
        if s.ndim == t.ndim and s.shape[1:] == t.shape[1:] and s.shape[0] < t.shape[0]:
            # Equalised learning rate scales a [in, out] weight by 1/sqrt(in) at run time:
            # rescale the copied rows so that they contribute exactly as before.
            s = s * np.sqrt(t.shape[0] / s.shape[0]).astype(np.float32)
            rest = jnp.zeros_like(t[s.shape[0]:]) if zero_new_rows else t[s.shape[0]:]
            return jnp.concatenate([s, rest], axis=0)
        raise ValueError(f"transplant: {jax.tree_util.keystr(path)} has shape {s.shape} in the "
                         f"pretrained network but {t.shape} in the target")
    return jax.tree_util.tree_map_with_path(put, target)


def _init_encoder_from(path, e_vars):
    """The whole encoder from an inversion encoder of the initial G (``jaxgan train-encoder``
    with the same widths): the encoder path then starts from E ~ G^-1 instead of learning
    inversion from the StylEx losses alone."""
    if not Path(assets.resolve(path)).is_dir():
        raise FileNotFoundError(f"stylex.init_e_from={path!r} does not exist (an encoder "
                                "checkpoint written by `jaxgan train-encoder`)")
    _, src = load_network(path)
    shapes = lambda t: jax.tree.map(jnp.shape, t)  # noqa: E731
    if shapes(src["params"]) != shapes(e_vars["params"]):
        raise ValueError(f"stylex.init_e_from={path!r}: encoder does not fit the config "
                         "(train it with --channel-base/--channel-max = stylex.e_channel_base/"
                         "e_channel_max)")
    return {**e_vars, "params": jax.tree.map(lambda x: jnp.array(x, copy=True), src["params"])}


def _init_from(path, d_path, defs, state, E, e_vars):
    """Initialise G and G_ema from a pretrained plain generator (``path``: a checkpoint or a
    run's ``network/``), and D plus the encoder backbone from ``d_path`` (or ``path/D``)."""
    if not Path(assets.resolve(path)).is_dir():
        raise FileNotFoundError(f"stylex.init_from={path!r} does not exist (a pretrained G "
                                "checkpoint); set stylex.init_from='' to train from scratch")
    _, g_src = load_network(path)
    copy = lambda t: jax.tree.map(lambda x: jnp.array(x, copy=True), t)  # noqa: E731
    # (fresh buffers everywhere: the state is donated, so no two leaves may share one)
    g = {"params": copy(transplant(state.g["params"], g_src["params"])),
         "buffers": copy(transplant(state.g["buffers"], g_src["buffers"]))}
    state = state._replace(g=g, g_ema=copy(g))
    if d_path:
        _, d_src = load_network(d_path)
    else:
        try:
            d_ckpt = resolve_checkpoint(path, "D")
        except CheckpointError:            # only G was given: D (and E) train from scratch
            print(f"stylex: no discriminator found next to stylex.init_from={path!r}; D and "
                  "the encoder backbone start from scratch (set stylex.init_d_from to use one)",
                  file=sys.stderr, flush=True)
            return state, e_vars
        _, d_src = load_network(d_ckpt)    # a D that is there but unreadable is an error
    if jax.tree.map(jnp.shape, d_src["params"]) != jax.tree.map(jnp.shape, state.d["params"]):
        raise ValueError(f"stylex.init_d_from={d_path!r}: discriminator does not fit the config")
    state = state._replace(d={**state.d, "params": copy(d_src["params"])})
    try:
        e_vars = {**e_vars, "params": copy(backbone_from_discriminator(e_vars["params"],
                                                                       d_src["params"]))}
    except ValueError as e:                # encoder widths differ from D's: keep its init
        print(f"stylex: encoder backbone not copied from D ({e}); it starts from scratch",
              file=sys.stderr, flush=True)
    return state, e_vars


class Stylex(NamedTuple):
    """A trained StylEx for explaining: every network and its variables.

    ``G``/``g`` the conditioned generator (G_ema), ``E``/``e`` the encoder, ``D``/``d`` the
    discriminator (or None), ``clf``/``clf_vars`` the classifier.
    """
    G: Any
    g: Any
    E: Any
    e: Any
    D: Any
    d: Any
    clf: Any
    clf_vars: Any

    def logits(self, x):
        """Classifier logits ``[N, K]`` of images ``x`` ``[N, R, R, C]``."""
        return classifier_logits(self.clf, self.clf_vars, x)


def load_stylex(path, classifier: str | None = None) -> Stylex:
    """Load ``network/`` of a StylEx run (or a copy of it: G_ema, E, D?, stylex.json).

    Args:
      path: the export directory (``OUT/network``), the run directory ``OUT``, or
        ``builtin:stylex_shapes``.
      classifier: override the classifier checkpoint recorded in ``stylex.json``.

    Raises:
      FileNotFoundError: no ``stylex.json`` / ``E`` there.
    """
    path = Path(assets.resolve(path))
    if not (path / STYLEX_FILE).is_file() and (path / "network" / STYLEX_FILE).is_file():
        path = path / "network"
    if not (path / STYLEX_FILE).is_file() or not (path / "E").is_dir():
        raise FileNotFoundError(f"{path} is not a StylEx export: expected {STYLEX_FILE} and E/ "
                                "(written by `jaxgan explain train`)")
    opts = json.loads((path / STYLEX_FILE).read_text())
    G, g = load_network(path, "G_ema")
    E, e = load_network(path / "E")
    D = d = None
    if (path / "D").is_dir():
        D, d = load_network(path, "D")
    clf_path = classifier or (path / "classifier" if (path / "classifier").is_dir()
                              else opts["classifier"])
    clf, clf_vars = contract.load_model(clf_path, "classifier",   # checkpoint or reference
                                        resolution=G.cfg.img_resolution)
    if G.cfg.style_cond_dim != clf.cfg.num_classes:
        raise ValueError(f"generator has style_cond_dim={G.cfg.style_cond_dim} but the classifier "
                         f"{clf_path} has {clf.cfg.num_classes} classes")
    return Stylex(G, g, E, e, D, d, clf, clf_vars)


def encode_image(sx: Stylex, x):
    """Real images -> ``(ws [N, num_ws, w_dim], logits [N, K])`` via the encoder."""
    logits = sx.logits(x)
    return model.encode(sx.E, sx.e, x, sx.g["buffers"]["mapping"]["w_avg"]), logits


def styles_of(sx: Stylex, ws, logits):
    """StyleSpace of ``(ws, logits)``: ``synthesis.styles(condition_ws(ws, logits))``."""
    return model.styles(sx.G, sx.g, model.condition_ws(ws, logits))


def sample_latents(sx: Stylex, n: int, key, truncation_psi: float = 1.0):
    """Generated examples for explaining: ``ws`` from random z and their logits, taken from
    the classifier on the image rendered with a zero condition.

    Returns:
      ``(ws [n, num_ws, w_dim], logits [n, K])``.
    """
    z = jax.random.normal(key, (n, sx.G.cfg.z_dim))
    ws = model.mapping(sx.G, sx.g, z, truncation_psi=truncation_psi)
    k = sx.G.cfg.style_cond_dim
    img = model.synthesize(sx.G, sx.g, model.condition_ws(ws, jnp.zeros((n, k))))
    return ws, sx.logits(img)
