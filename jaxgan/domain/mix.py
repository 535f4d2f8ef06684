"""Mixing StyleDomain directions and morphing from the source to a target domain.

Domain parameters of the same parameterisation and source G form a vector space:
``mix(d1, d2, t) = (1 - t) d1 + t d2`` (``t`` may leave [0, 1] to extrapolate), and a
StyleSpace offset of the source G is ``t · offset`` for the morph source -> target. For
parameterisations that change G itself (full, Affine+), the morph interpolates the
parameters, ``g_src + t (g_adapted - g_src)``.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxgan import model
from jaxgan.domain.params import effective_params


def _check_same(d1, d2):
    s1, s2 = jax.tree.structure(d1), jax.tree.structure(d2)
    if s1 != s2:
        raise ValueError(f"mix: the two domains have different structures ({s1} vs {s2}); "
                         "mix domains of the same parameterisation and layers")
    bad = [(a.shape, b.shape) for a, b in zip(jax.tree.leaves(d1), jax.tree.leaves(d2))
           if a.shape != b.shape]
    if bad:
        raise ValueError(f"mix: leaf shapes differ: {bad[:3]}")


def zeros_like_domain(dom):
    """The identity domain (the source G) with ``dom``'s structure."""
    return jax.tree.map(jnp.zeros_like, dom)


def mix(d1, d2, t):
    """``(1 - t) · d1 + t · d2`` leaf by leaf (``t`` a float or a 0-d array).

    Args:
      d1, d2: domain-parameter pytrees of the same structure (or G ``params`` trees).

    Returns:
      the mixed tree; ``t=0`` gives ``d1``, ``t=1`` gives ``d2`` exactly.
    """
    _check_same(d1, d2)
    t = jnp.asarray(t, jnp.float32)
    return jax.tree.map(lambda a, b: jnp.where(t == 1, b, (1 - t) * a + t * b).astype(a.dtype),
                        d1, d2)


def domain_generator(g_src, dom=None, g_adapted=None, t=1.0):
    """Generator variables at position ``t`` between the source and an adapted domain.

    Args:
      g_src: source generator variables ``{'params', 'buffers'}``.
      dom: domain parameters applied to ``g_src`` (offset / low-rank), scaled by ``t``.
      g_adapted: alternatively, adapted generator variables (full / Affine+ runs, or a
        baked export): the params are interpolated.
      t: 0 = source, 1 = target.

    Returns:
      variables ``{'params', 'buffers'}`` (the source's buffers).
    """
    if (dom is None) == (g_adapted is None):
        raise ValueError("domain_generator: pass exactly one of dom or g_adapted")
    if dom is not None:
        return {**g_src, "params": effective_params(g_src["params"],
                                                    mix(zeros_like_domain(dom), dom, t))}
    return {**g_src, "params": mix(g_src["params"], g_adapted["params"], t)}


@functools.lru_cache(maxsize=16)
def generator_fn(G, truncation_psi: float = 1.0):
    """Jitted ``(variables, z [N, z_dim]) -> images`` (const noise), one per ``(G, psi)``."""
    return jax.jit(lambda v, z: model.generate(G, v, z, truncation_psi=truncation_psi,
                                               noise_mode="const"))


def morph_strip(G, g_src, z, ts, *, dom=None, g_adapted=None, truncation_psi=1.0):
    """Images of the same latents across ``ts`` (source -> target domain).

    Args:
      G: generator module; g_src: source variables; z: ``[N, z_dim]``.
      ts: sequence of positions (e.g. ``np.linspace(0, 1, 6)``).
      dom / g_adapted: the target domain (see :func:`domain_generator`).

    Returns:
      images ``[N, len(ts), R, R, C]`` (const noise).
    """
    gen = generator_fn(G, float(truncation_psi))
    rows = [gen(domain_generator(g_src, dom=dom, g_adapted=g_adapted, t=t), z) for t in ts]
    return jnp.stack(rows, axis=1)
