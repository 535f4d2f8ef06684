"""Data++: an image together with its latent, the generator and the inverter.

``DataPlus`` is a pytree ``{x, ws, noise, g, inverter}`` (the generator module ``G`` is static)
so a batch of Data++ can pass through ``jit``/``vmap``. Operations are pure functions
returning new objects:

* :func:`invert` ``(G, g, x, inverter, key) -> DataPlus``  (G^-1; :class:`Inverter` picks
  the method: encoder only, optimisation, or encoder-initialised optimisation);
* :meth:`DataPlus.reconstruct` -> ``G(ws, noise)``;
* :meth:`DataPlus.edit` ``(direction, alpha, layers)`` -> ``ws + alpha * direction`` on the
  chosen W+ layers;
* :meth:`DataPlus.perturb` ``(kind, n, key)`` -> ``n`` variants per item ('gaussian' in W+,
  'coarse' / 'fine' style mixing with random samples, as gan-ensembling's views);
* :meth:`DataPlus.interpolate` ``(other, t)`` -> linear interpolation of ws (and noise).

``x`` is always the observation the latent was derived from (edits and perturbations keep
their source's ``x``; render them with ``reconstruct``). Latents live in W+ ``[N, num_ws,
w_dim]``; ``noise`` is the per-image noise pytree ``{f'b{res}': {layer: [N, H, W]}}`` or None
(G's const buffers).
"""
from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from jaxgan import model
from jaxgan.invert import indomain
from jaxgan.invert.projector import project

PERTURB_KINDS = ("gaussian", "coarse", "fine")


@flax.struct.dataclass
class Inverter:
    """How :func:`invert` maps images to W+.

    Attributes:
      cfg: a :class:`jaxgan.invert.ProjectConfig` (space z, w or wplus) or None (encoder only).
      E: the encoder module (static) or None; with ``cfg`` it initialises the optimisation.
      e_vars: the encoder variables (with ``E``).
      lp: the LPIPS network when ``cfg.distance.lpips > 0``.
    """
    cfg: Any = flax.struct.field(pytree_node=False, default=None)
    E: Any = flax.struct.field(pytree_node=False, default=None)
    e_vars: Any = None
    lp: Any = None

    def __call__(self, G, g, x, key=None):
        """Images ``[N, R, R, C]`` -> ``(ws [N, num_ws, w_dim], noise or None)``."""
        if self.cfg is None:
            if self.E is None:
                raise ValueError("Inverter: give a ProjectConfig, an encoder, or both")
            return indomain.encoder_invert(G, g, x, self.E, self.e_vars)[0], None
        if self.cfg.space == "s":
            raise ValueError("Inverter: Data++ keeps W+ latents; use space z, w or wplus")
        if self.E is not None:
            r = indomain.invert_indomain(G, g, x, self.E, self.e_vars, self.cfg, lp=self.lp,
                                         key=key)
        else:
            r = project(G, g, x, self.cfg, lp=self.lp, key=key)
        return r.ws, r.noise


@flax.struct.dataclass
class DataPlus:
    """x, its W+ latent and noise, the generator and the inverter (see the module docstring)."""
    x: Any                       # [N, R, R, C]
    ws: Any                      # [N, num_ws, w_dim]
    noise: Any                   # {f'b{res}': {layer: [N, H, W]}} or None
    g: Any                       # generator variables
    inverter: Any                # Inverter
    G: Any = flax.struct.field(pytree_node=False, default=None)

    def __len__(self) -> int:
        return self.ws.shape[0]

    def reconstruct(self):
        """``G(ws, noise)``: images ``[N, R, R, C]``."""
        return model.synthesize(self.G, self.g, self.ws, noise=self.noise)

    def edit(self, direction, alpha, layers=None) -> "DataPlus":
        """Move along ``direction`` (``[w_dim]``, ``[num_ws, w_dim]`` or ``[N, num_ws, w_dim]``)
        by ``alpha`` (scalar or ``[N]``) on W+ ``layers`` (indices; None = all)."""
        num_ws, w_dim = self.ws.shape[1:]
        d = jnp.asarray(direction, jnp.float32)
        if d.shape not in ((w_dim,), (num_ws, w_dim), self.ws.shape):
            raise ValueError(f"edit: direction must be [{w_dim}], [{num_ws}, {w_dim}] or "
                             f"{list(self.ws.shape)}, got {list(d.shape)}")
        a = jnp.reshape(jnp.asarray(alpha, jnp.float32), (-1, 1, 1))
        sel = jnp.ones((num_ws,), jnp.float32) if layers is None else \
            jnp.zeros((num_ws,), jnp.float32).at[jnp.asarray(layers)].set(1.0)
        return self.replace(ws=self.ws + a * sel[None, :, None] * d)

    def perturb(self, kind: str, n: int, key, scale: float = 0.5,
                cutoff: int | None = None) -> "DataPlus":
        """``n`` random variants of every item, image-major (item i -> rows ``i*n..i*n+n-1``).

        Args:
          kind: 'gaussian' (``ws + scale * N(0, I)``), 'coarse' (layers ``< cutoff`` from
            random samples ``mapping(z)``) or 'fine' (layers ``>= cutoff`` from random samples).
          n: variants per item; key: PRNG key; scale: gaussian std.
          cutoff: W+ layer split (default ``num_ws // 2``).
        """
        if kind not in PERTURB_KINDS:
            raise ValueError(f"perturb: kind must be one of {PERTURB_KINDS}, got {kind!r}")
        if n < 1:
            raise ValueError(f"perturb: n must be >= 1, got {n}")
        N, num_ws, w_dim = self.ws.shape
        rep = lambda a: jnp.repeat(a, n, axis=0)                          # noqa: E731
        ws = rep(self.ws)                                                 # [N*n, num_ws, w_dim]
        if kind == "gaussian":
            ws = ws + scale * jax.random.normal(key, ws.shape)
        else:
            cut = num_ws // 2 if cutoff is None else cutoff
            z = jax.random.normal(key, (N * n, self.G.cfg.z_dim))
            rnd = model.mapping(self.G, self.g, z)
            ws = model.style_mixing(rnd, ws, cut) if kind == "coarse" else \
                model.style_mixing(ws, rnd, cut)
        noise = None if self.noise is None else jax.tree.map(rep, self.noise)
        return self.replace(x=rep(self.x), ws=ws, noise=noise)

    def interpolate(self, other: "DataPlus", t) -> "DataPlus":
        """``(1 - t) * self + t * other`` in W+ (and noise maps when both have them); ``x``
        stays ``self.x``. ``t`` scalar or ``[N]``."""
        t = jnp.reshape(jnp.asarray(t, jnp.float32), (-1, 1, 1))
        ws = (1 - t) * self.ws + t * other.ws
        noise = None
        if self.noise is not None and other.noise is not None:
            noise = jax.tree.map(lambda a, b: (1 - t) * a + t * b, self.noise, other.noise)
        return self.replace(ws=ws, noise=noise)


def invert(G, g, x, inverter: Inverter, key=None) -> DataPlus:
    """G^-1: images ``[N, R, R, C]`` in [-1, 1] -> :class:`DataPlus`."""
    x = jnp.asarray(x, jnp.float32)
    ws, noise = inverter(G, g, x, key)
    return DataPlus(x=x, ws=ws, noise=noise, g=g, inverter=inverter, G=G)


def reconstruct(d: DataPlus):
    """``d.reconstruct()``."""
    return d.reconstruct()


def edit(d: DataPlus, direction, alpha, layers=None) -> DataPlus:
    """``d.edit(direction, alpha, layers)``."""
    return d.edit(direction, alpha, layers)


def perturb(d: DataPlus, kind: str, n: int, key, **kw) -> DataPlus:
    """``d.perturb(kind, n, key, **kw)``."""
    return d.perturb(kind, n, key, **kw)


def interpolate(a: DataPlus, b: DataPlus, t) -> DataPlus:
    """``a.interpolate(b, t)``."""
    return a.interpolate(b, t)
