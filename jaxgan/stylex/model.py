"""StylEx wiring: the classifier-conditioned generator, the encoder and the frozen classifier
as a configuration of the StyleGAN2 trainer (:mod:`jaxgan.training`), and loading a trained
StylEx for explaining.

A training config with a ``stylex`` group (``configs/stylex_shapes.py``) makes
:func:`jaxgan.training.loop.build_run` call :func:`prepare` (which adds
``style_cond_dim = num_classes`` to the generator) and :meth:`StylexSetup.attach` (encoder,
its optimiser, the frozen classifier/LPIPS weights in ``TrainState.frozen`` and the
encoder-path phase ``e_main``). The run's ``network/`` export then holds ``G_ema``, ``G``,
``D``, ``E`` and ``stylex.json`` (the classifier path); :func:`load_stylex` reads it back.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan import assets, contract, model
from jaxgan.nets.configs import EncoderConfig
from jaxgan.stylex.losses import StylexLossConfig

STYLEX_FILE = "stylex.json"
MODES = ("alternate", "combined")


@dataclasses.dataclass(frozen=True)
class StylexDefs:
    """Static StylEx pieces held in ``TrainDefs.stylex``.

    Attributes:
      classifier_fn: ``(clf_variables, images [N, R, R, C]) -> logits [N, K]`` (frozen).
      E: the encoder module.
      e_tx: the encoder's optimiser.
      loss: encoder-path loss weights.
      mode: ``'alternate'`` (encoder path replaces Gmain every other step) or ``'combined'``.
      d_on_rec: on even steps D's fakes are the reconstructions ``G(E(x), C(x))`` instead of
        ``G(z)`` (the reproducibility study's alternating training).
    """
    classifier_fn: Callable
    E: Any
    e_tx: optax.GradientTransformation
    loss: StylexLossConfig = StylexLossConfig()
    mode: str = "alternate"
    classifier_path: str = ""
    d_on_rec: bool = True

    def logits(self, frozen, x):
        """Frozen classifier logits ``[N, K]`` of images ``x``."""
        return self.classifier_fn(frozen["clf"], x)


def classifier_fn_of(module) -> Callable:
    """``(variables, images) -> logits`` for a :class:`jaxgan.nets.classifier.Classifier`."""
    from jaxgan.nets.classifier import classifier_logits  # noqa: PLC0415
    return partial(classifier_logits, module)


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


class StylexSetup(NamedTuple):
    """What :func:`prepare` found: the classifier and the options of the ``stylex`` group."""
    num_classes: int
    clf_module: Any
    clf_vars: Any
    options: dict

    def attach(self, defs, state, data_info: dict):
        """Add the encoder, frozen networks and the encoder path to ``(TrainDefs, TrainState)``."""
        o = self.options
        g_cfg = defs.G.cfg
        e_cfg = EncoderConfig(img_resolution=g_cfg.img_resolution, img_channels=g_cfg.img_channels,
                              w_dim=g_cfg.w_dim, num_ws=g_cfg.num_ws,
                              channel_base=int(o.get("e_channel_base", 2048)),
                              channel_max=int(o.get("e_channel_max", 64)))
        seed_key = jax.random.fold_in(jax.random.key(int(o.get("seed", 0))), 7)
        E, e_vars = model.init_encoder(e_cfg, seed_key)
        if o.get("init_from"):
            state, e_vars = _init_from(o["init_from"], o.get("init_d_from", ""), defs, state,
                                       E, e_vars)
        if o.get("init_e_from"):
            e_vars = _init_encoder_from(o["init_e_from"], e_vars)
        from jaxgan.training.state import make_optimizer  # noqa: PLC0415
        e_tx = make_optimizer(float(o.get("e_lr", 0.0025)), tuple(o.get("betas", (0.0, 0.99))))
        lp = None
        if o.get("lpips") and float(o.get("loss", {}).get("lpips", 0.1)):
            from jaxgan.nets.lpips import load_lpips  # noqa: PLC0415
            lp = load_lpips(o["lpips"])
        sx = StylexDefs(classifier_fn=classifier_fn_of(self.clf_module), E=E, e_tx=e_tx,
                        loss=StylexLossConfig(**dict(o.get("loss", {}))),
                        mode=o.get("mode", "alternate"), classifier_path=str(o["classifier"]),
                        d_on_rec=bool(o.get("d_on_rec", True)))
        frozen = {"clf": self.clf_vars}
        if lp is not None:
            frozen["lpips"] = lp
        state = state._replace(e=e_vars, e_opt=e_tx.init(e_vars["params"]), frozen=frozen)
        return dataclasses.replace(defs, stylex=sx), state


def prepare(cfg, data_info: dict) -> StylexSetup:
    """Load the frozen classifier named by ``cfg.stylex.classifier`` and check it fits the data.

    Raises:
      ValueError: bad mode, or a classifier whose input size/channels differ from the data.
    """
    o = cfg.stylex.to_dict() if hasattr(cfg.stylex, "to_dict") else dict(cfg.stylex)
    if o.get("mode", "alternate") not in MODES:
        raise ValueError(f"stylex.mode must be one of {MODES}, got {o.get('mode')!r}")
    if not o.get("classifier"):
        raise ValueError("stylex.classifier must name a classifier checkpoint directory or "
                         "package.module:factory")
    res, ch = data_info["resolution"], data_info["channels"]
    # a checkpoint, or a user's function through the contract's adapter (any size / range)
    module, variables = contract.load_model(o["classifier"], "classifier", resolution=res)
    if not isinstance(module, contract.AdaptedModel) and \
            (module.cfg.img_resolution, module.cfg.img_channels) != (res, ch):
        raise ValueError(f"stylex.classifier {o['classifier']} takes {module.cfg.img_resolution}px "
                         f"x{module.cfg.img_channels} images, the data is {res}px x{ch}")
    return StylexSetup(module.cfg.num_classes, module, variables, o)


def _init_encoder_from(path, e_vars):
    """The whole encoder from an inversion encoder of the initial G (``jaxgan train-encoder``
    with the same widths): the encoder path then starts from E ~ G^-1 instead of learning
    inversion from the StylEx losses alone."""
    from jaxgan.checkpoint import load_network  # noqa: PLC0415
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
    from jaxgan.checkpoint import load_network, resolve_checkpoint  # noqa: PLC0415
    from jaxgan.nets.encoder import backbone_from_discriminator  # noqa: PLC0415
    if not Path(assets.resolve(path)).is_dir():
        raise FileNotFoundError(f"stylex.init_from={path!r} does not exist (a pretrained G "
                                "checkpoint); set stylex.init_from='' to train from scratch")
    _, g_src = load_network(path)
    copy = lambda t: jax.tree.map(lambda x: jnp.array(x, copy=True), t)  # noqa: E731
    # (fresh buffers everywhere: the state is donated, so no two leaves may share one)
    g = {"params": copy(transplant(state.g["params"], g_src["params"])),
         "buffers": copy(transplant(state.g["buffers"], g_src["buffers"]))}
    state = state._replace(g=g, g_ema=copy(g))
    from jaxgan.checkpoint import CheckpointError  # noqa: PLC0415
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


def export(path, defs, state) -> None:
    """Write the encoder (``path/E``), a copy of the classifier (``path/classifier``) and
    ``path/stylex.json`` beside the run's G/D export."""
    import shutil  # noqa: PLC0415
    from jaxgan.checkpoint import save_network  # noqa: PLC0415
    path = Path(path)
    save_network(path / "E", defs.stylex.E, jax.device_get(state.e), overwrite=True)
    sx = defs.stylex
    if sx.classifier_path and Path(assets.resolve(sx.classifier_path)).is_dir():
        shutil.rmtree(path / "classifier", ignore_errors=True)
        shutil.copytree(assets.resolve(sx.classifier_path), path / "classifier")
    (path / STYLEX_FILE).write_text(json.dumps(
        {"classifier": sx.classifier_path, "mode": sx.mode, "loss": sx.loss._asdict()},
        indent=2) + "\n")


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
        from jaxgan.nets.classifier import classifier_logits  # noqa: PLC0415
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
    from jaxgan.checkpoint import load_network  # noqa: PLC0415
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
