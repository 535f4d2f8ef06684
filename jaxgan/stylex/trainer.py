"""StylEx as a trainer extension (:mod:`jaxgan.training.extension`): the classifier-
conditioned generator, the encoder path and the frozen classifier.

A training config with a ``stylex`` group (``configs/stylex_shapes.py``) makes the trainer
call :func:`trainer_extension`, which loads the frozen classifier and checks it fits the
data. The extension then

* adds ``style_cond_dim = num_classes`` to the generator (:meth:`generator_config`), and
  conditions every generated image on the classifier's logits of a shuffled real;
* creates the encoder E (optionally from a pretrained G/D/encoder, :mod:`.model`) and its
  optimiser: ``state.ext = {'e': E variables, 'e_opt': optax state}``, the classifier (and
  LPIPS) weights in ``state.frozen``;
* contributes the phases ``e_main`` (encoder path: reconstruction, cycle, classifier-KL and
  adversarial losses, :func:`jaxgan.stylex.losses.encoder_path_loss`; updates G and E) and
  ``d_main_rec`` (D on the reconstructions) and schedules them (``stylex.mode``);
* exports ``E``, a copy of the classifier and ``stylex.json`` beside the run's G/D.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from functools import partial
from pathlib import Path
from typing import Any, Callable

import jax
import optax

from jaxgan import assets, contract, model
from jaxgan.checkpoint import save_network
from jaxgan.nets.classifier import classifier_logits
from jaxgan.nets.configs import EncoderConfig
from jaxgan.nets.lpips import load_lpips
from jaxgan.stylex.losses import StylexLossConfig, encoder_path_loss, reconstruct
from jaxgan.stylex.explainer import STYLEX_FILE, _init_encoder_from, _init_from
from jaxgan.training.extension import Phase, TrainerExtension, replace_extension
from jaxgan.training.state import make_optimizer
from jaxgan.training.step import d_main, phase_key

MODES = ("alternate", "combined")
#: Key id of the encoder-path phase (after the plain recipe's 0-4).
E_MAIN_PHASE_ID = 5


@dataclasses.dataclass(frozen=True, eq=False)
class StylexExtension(TrainerExtension):
    """The StylEx extension; :func:`trainer_extension` builds it, :meth:`attach` completes it.

    Attributes:
      num_classes: the classifier's classes (G's ``style_cond_dim``).
      clf_module, clf_vars: the frozen classifier.
      options: the ``stylex`` group as a dict.
      classifier_fn: ``(clf_variables, images [N, R, R, C]) -> logits [N, K]`` (frozen).
      E: the encoder module; e_tx: its optimiser.
      loss: encoder-path loss weights.
      mode: ``'alternate'`` (encoder path replaces Gmain every other step) or ``'combined'``.
      d_on_rec: on even steps D's fakes are the reconstructions ``G(E(x), C(x))`` instead of
        ``G(z)`` (the reproducibility study's alternating training): without it the encoder
        path's adversarial term can be met by one scene that D rates real, which D never
        learns to reject (the encoder path collapses).
    """
    num_classes: int
    clf_module: Any
    clf_vars: Any
    options: dict
    classifier_fn: Callable | None = None
    E: Any = None
    e_tx: optax.GradientTransformation | None = None
    loss: StylexLossConfig = StylexLossConfig()
    mode: str = "alternate"
    classifier_path: str = ""
    d_on_rec: bool = True

    name = "stylex"

    def logits(self, frozen, x):
        """Frozen classifier logits ``[N, K]`` of images ``x``."""
        return self.classifier_fn(frozen["clf"], x)

    # ------------------------------------------------------------------ build time
    def generator_config(self, g_kw: dict) -> dict:
        return {**g_kw, "style_cond_dim": self.num_classes}

    def attach(self, cfg, defs, state):
        """Add the encoder, its optimiser and the frozen networks (module docstring)."""
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
        e_tx = make_optimizer(float(o.get("e_lr", 0.0025)), tuple(o.get("betas", (0.0, 0.99))))
        frozen = {"clf": self.clf_vars}
        if o.get("lpips") and float(o.get("loss", {}).get("lpips", 0.1)):
            frozen["lpips"] = load_lpips(o["lpips"])
        full = dataclasses.replace(
            self, classifier_fn=partial(classifier_logits, self.clf_module), E=E, e_tx=e_tx,
            loss=StylexLossConfig(**dict(o.get("loss", {}))), mode=o.get("mode", "alternate"),
            classifier_path=str(o["classifier"]), d_on_rec=bool(o.get("d_on_rec", True)))
        state = state._replace(ext={**(state.ext or {}), "e": e_vars,
                                    "e_opt": e_tx.init(e_vars["params"])},
                               frozen={**(state.frozen or {}), **frozen})
        return replace_extension(defs, self, full), state

    # ------------------------------------------------------------------ jitted hooks
    def style_cond(self, state, x):
        return self.logits(state.frozen, x)

    def e_main(self, defs, state, batch, key):
        """The encoder path x -> E(x) -> G(E(x), C(x)); updates G (with ``g_tx``, sharing
        ``g_opt``) and E (``e_tx``)."""
        key = phase_key(key, state, E_MAIN_PHASE_ID)
        e = state.ext["e"]

        def loss_fn(gp, ep):
            return encoder_path_loss(self, defs.G, defs.D, {**state.g, "params": gp},
                                     {**e, "params": ep}, state.d, state.frozen,
                                     batch["image"], key, augment=defs.augment, p=state.ada.p)

        (loss, metrics), (g_grads, e_grads) = jax.value_and_grad(
            loss_fn, argnums=(0, 1), has_aux=True)(state.g["params"], e["params"])
        g_upd, g_opt = defs.g_tx.update(g_grads, state.g_opt, state.g["params"])
        e_upd, e_opt = self.e_tx.update(e_grads, state.ext["e_opt"], e["params"])
        state = state._replace(
            g={**state.g, "params": optax.apply_updates(state.g["params"], g_upd)}, g_opt=g_opt,
            ext={**state.ext, "e": {**e, "params": optax.apply_updates(e["params"], e_upd)},
                 "e_opt": e_opt})
        return state, {"loss/E/total": loss, **metrics}

    def reconstructions(self, defs, state, g_vars, x):
        """D's fakes of ``d_main_rec``: ``G(E(x), C(x))`` ``[N, R, R, C]``."""
        return reconstruct(self, defs.G, g_vars, self.E, state.ext["e"], state.frozen, x)[2]

    def d_main_rec(self, defs, state, batch, key):
        """Dmain on the encoder path's reconstructions."""
        return d_main(defs, state, batch, key, fakes=self.reconstructions)

    def phases(self) -> dict[str, Phase]:
        out: dict[str, Phase] = {"e_main": self.e_main}
        if self.d_on_rec:
            out["d_main_rec"] = self.d_main_rec
        return out

    def schedule(self, step: int, plan: list[str]) -> list[str]:
        """'alternate' runs the encoder path instead of Gmain on even steps, 'combined'
        after it every step; with ``d_on_rec`` D sees the reconstructions on even steps."""
        e_path = self.mode == "combined" or step % 2 == 0
        out = []
        for name in plan:
            if name == "g_main" and e_path:
                out += ["e_main"] if self.mode == "alternate" else ["g_main", "e_main"]
            elif name == "d_main" and self.d_on_rec and step % 2 == 0:
                out.append("d_main_rec")
            else:
                out.append(name)
        return out

    # ------------------------------------------------------------------ export
    def export(self, path, defs, state) -> None:
        """Write the encoder (``path/E``), a copy of the classifier (``path/classifier``)
        and ``path/stylex.json`` beside the run's G/D export."""
        path = Path(path)
        save_network(path / "E", self.E, jax.device_get(state.ext["e"]), overwrite=True)
        if self.classifier_path and Path(assets.resolve(self.classifier_path)).is_dir():
            shutil.rmtree(path / "classifier", ignore_errors=True)
            shutil.copytree(assets.resolve(self.classifier_path), path / "classifier")
        (path / STYLEX_FILE).write_text(json.dumps(
            {"classifier": self.classifier_path, "mode": self.mode, "loss": self.loss._asdict()},
            indent=2) + "\n")


def trainer_extension(cfg, data_info: dict) -> StylexExtension:
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
    return StylexExtension(module.cfg.num_classes, module, variables, o)
