"""Trainer extensions: one small interface through which a method adds state, trains some
of G's parameters (or networks of its own), contributes loss terms and phases to the jitted
steps and exports what it trained, without the trainer naming it.

A training config's top-level groups are the trainer's own (:data:`CORE_GROUPS`) plus, at
most, extension groups. A group ``NAME`` that is not a core group names an extension: the
trainer imports ``jaxgan.NAME.trainer`` (or the module named by the group's ``module`` key,
``'pkg.module'``, for an extension outside jaxgan) and calls its ``trainer_extension(cfg,
data_info)``, which returns a :class:`TrainerExtension`. There is no registry to fill: the
config names the package, as ``config.model_name`` does in big_vision. Extensions import the
trainer; the trainer never imports an extension.

Every hook below defaults to the plain trainer's behaviour, so an extension overrides only
what it changes. The jitted hooks are pure functions of the state pytree (traced inside the
phases); the build-time hooks run once on the host.

State: an extension keeps what it trains or updates in ``state.ext`` (a flat dict shared by
the run's extensions; keys must not collide) and networks it never updates in
``state.frozen`` (rebuilt from the config on resume, never checkpointed). Checkpoints store
``state.ext``'s entries beside the core fields.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable

import optax

#: Config groups the plain trainer reads; every other group names an extension.
CORE_GROUPS = ("data", "G", "D", "loss", "optim", "augment", "mesh", "run", "metrics")

#: ``(defs, state, batch, key) -> (state, metrics)``: one phase, jitted by the trainer.
Phase = Callable[..., tuple[Any, dict]]


class TrainerExtension:
    """Base class of trainer extensions; subclass it (a frozen dataclass holding the static
    pieces: modules, optimisers, options) and override the hooks you need.

    Attributes:
      name: the config group (also what error messages name).
      exclusive: the extension cannot run beside another extension.
      owns_g_params: the extension decides what G's optimiser trains (:meth:`g_tree`,
        :meth:`g_params`, :meth:`g_store`, :meth:`ema_generator`); at most one per run.
    """
    name: str = ""
    exclusive: bool = False
    owns_g_params: bool = False

    # -------------------------------------------------------------- build time (host)
    def generator_config(self, g_kw: dict) -> dict:
        """Change the generator's config keys before G is created (e.g. a condition size).

        Args:
          g_kw: the ``G`` group as a dict (``GeneratorConfig`` fields).

        Returns:
          the (new) dict.
        """
        return g_kw

    def attach(self, cfg, defs, state) -> tuple[Any, Any]:
        """Add state (``state.ext``, ``state.frozen``), load pretrained weights, replace G's
        optimiser; return a new extension in ``defs.extensions`` if it learned static
        pieces (use :func:`replace_extension`).

        Returns:
          ``(defs, state)``.
        """
        del cfg
        return defs, state

    # -------------------------------------------------------------- jitted hooks
    def style_cond(self, state, x):
        """A condition appended to every w of the generated images (``[N, K]``), computed
        from real images ``x`` ``[N, R, R, C]`` (shuffled like the labels); None: none."""
        del state, x
        return None

    def g_tree(self, state):
        """What G's optimiser trains (owner only); default ``state.g['params']``."""
        return state.g["params"]

    def g_params(self, tree):
        """The G params that render, from :meth:`g_tree`'s tree (owner only)."""
        return tree

    def g_store(self, state, tree, updates):
        """Apply the optimiser's ``updates`` to ``tree`` and store it in ``state`` (owner
        only); G's buffers are set by the trainer afterwards."""
        return state._replace(g={**state.g, "params": optax.apply_updates(tree, updates)})

    def g_buffers(self, state, new_buffers):
        """G's buffers after a phase that ran G in training mode (``w_avg`` moved); return
        ``state.g['buffers']`` to keep them."""
        del state
        return new_buffers

    def g_main_term(self, defs, state, g_params, z, key) -> tuple[Any, dict]:
        """An extra term of Gmain's loss, differentiated w.r.t. ``g_params`` (the G params
        that render), with latents ``z`` ``[N, z_dim]`` of this step and the phase ``key``.

        Returns:
          ``(scalar or None, metrics)``; None adds nothing.
        """
        del defs, state, g_params, z, key
        return None, {}

    def finish(self, defs, state, beta):
        """End of iteration, after G_ema moved by ``beta`` and ``step`` advanced."""
        del defs, beta
        return state

    def ema_generator(self, state):
        """The generator variables that render samples and exports (owner only)."""
        return state.g_ema

    def phases(self) -> dict[str, Phase]:
        """Extra phases by name, jitted like the plain ones."""
        return {}

    def schedule(self, step: int, plan: list[str]) -> list[str]:
        """The phase names of iteration ``step`` (host); ``plan`` is what the trainer and
        the extensions before this one chose."""
        del step
        return plan

    # -------------------------------------------------------------- end of run
    def export(self, path, defs, state) -> None:
        """Write what the extension trained beside ``network/G_ema``, ``G``, ``D``."""
        del path, defs, state


def extension_groups(cfg) -> list[str]:
    """The config's groups that name extensions (sorted, so the order is the config's)."""
    return sorted(k for k, v in cfg.items() if hasattr(v, "items") and k not in CORE_GROUPS)


def module_name(cfg, group: str) -> str:
    """The module that defines the extension of ``group``."""
    return str(cfg[group].get("module") or f"jaxgan.{group}.trainer")


def load_extensions(cfg, data_info: dict) -> tuple[TrainerExtension, ...]:
    """Build the extensions a config names.

    Raises:
      ValueError: a group that names no importable extension module, or extensions that
        cannot be combined.
    """
    out = []
    for group in extension_groups(cfg):
        name = module_name(cfg, group)
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name is None or not (name == e.name or name.startswith(e.name + ".")):
                raise
            raise ValueError(f"config group {group!r} is not a trainer setting ({', '.join(CORE_GROUPS)})"
                             f" and names no trainer extension: no module {name}") from None
        factory = getattr(module, "trainer_extension", None)
        if factory is None:
            raise ValueError(f"config group {group!r}: module {name} has no trainer_extension")
        out.append(factory(cfg, data_info))
    check_combination(out)
    return tuple(out)


def check_combination(exts) -> None:
    """At most one extension owns G's params; an exclusive one runs alone.

    Raises:
      ValueError: naming the two groups.
    """
    for i, a in enumerate(exts):
        for b in exts[i + 1:]:
            if a.exclusive or b.exclusive or (a.owns_g_params and b.owns_g_params):
                raise ValueError(f"a config cannot have both a {a.name!r} and a {b.name!r} group")


def replace_extension(defs, old: TrainerExtension, new: TrainerExtension):
    """``defs`` with ``old`` replaced by ``new`` in ``defs.extensions``."""
    return dataclasses.replace(defs, extensions=tuple(new if e is old else e
                                                      for e in defs.extensions))


def owner(defs) -> TrainerExtension:
    """The extension that owns G's params, or the base class's plain behaviour."""
    for e in defs.extensions:
        if e.owns_g_params:
            return e
    return _PLAIN


_PLAIN = TrainerExtension()
