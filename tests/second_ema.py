"""A trainer extension in one page (the worked example of docs/architecture.md): a second
exponential moving average of G with its own half-life, exported as ``network/G_ema2``.

Turn it on with a config group that names this module (an extension outside jaxgan)::

    c.ema2 = dict(module="second_ema", ema_kimg=1.0)

The trainer imports ``second_ema``, calls :func:`trainer_extension` and then the hooks this
class overrides: :meth:`attach` (add state), :meth:`finish` (update it at the end of every
iteration, inside the jitted ``finish`` phase) and :meth:`export`. Every other hook keeps the
plain trainer's behaviour, so the run is otherwise unchanged (tests/test_extension.py).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp

from jaxgan.checkpoint import save_network
from jaxgan.training.extension import TrainerExtension


@dataclasses.dataclass(frozen=True, eq=False)
class SecondEma(TrainerExtension):
    """``state.ext['g_ema2']``: G's params averaged with half-life ``ema_kimg`` (no ramp-up).

    Attributes:
      ema_kimg: half-life in thousands of images.
    """
    ema_kimg: float = 50.0

    name = "ema2"

    def attach(self, cfg, defs, state):
        """Start the average at G's initial params (a copy: the state is donated)."""
        del cfg
        g_ema2 = jax.tree.map(lambda x: jnp.array(x, copy=True), state.g["params"])
        return defs, state._replace(ext={**(state.ext or {}), "g_ema2": g_ema2})

    def beta(self, batch_size: int) -> float:
        """Decay per iteration: ``0.5 ** (batch / (ema_kimg * 1000))``."""
        return 0.5 ** (batch_size / (self.ema_kimg * 1000.0))

    def finish(self, defs, state, beta):
        """``g_ema2 <- g + beta2 * (g_ema2 - g)`` with this extension's ``beta2``."""
        del beta                                     # G_ema's decay; ours is our own
        b = self.beta(defs.batch_size)
        g_ema2 = jax.tree.map(lambda p, e: p + b * (e - p), state.g["params"], state.ext["g_ema2"])
        return state._replace(ext={**state.ext, "g_ema2": g_ema2})

    def export(self, path, defs, state) -> None:
        """``path/G_ema2``: a generator checkpoint like ``path/G_ema``."""
        g = jax.device_get({**state.g_ema, "params": state.ext["g_ema2"]})
        save_network(Path(path) / "G_ema2", defs.G, g, overwrite=True)


def trainer_extension(cfg, data_info: dict) -> SecondEma:
    """The extension of a config's ``ema2`` group."""
    del data_info
    return SecondEma(ema_kimg=float(cfg.ema2.get("ema_kimg", 50.0)))
