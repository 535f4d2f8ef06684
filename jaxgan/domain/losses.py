"""Consistency regularisation toward the frozen source generator (few-shot adaptation).

With 1-100 target images the adversarial loss alone collapses the generator onto the
training images. Two terms keep the adapted G tied to the source G for the same latents:

* ``'cdc'`` (cross-domain correspondence, Ojha et al. 2021): for a batch of latents, the
  softmax over the *other* samples of the cosine similarities of intermediate feature maps
  is a distribution per sample; ``KL(p_source || p_adapted)`` keeps the relative layout of
  the batch (which sample resembles which) while allowing an absolute change of style.
* ``'feat'``: mean squared distance between the channel-normalised feature maps of the
  source and adapted generators (a direct feature distance; stronger: ties the content).

Both are pure functions of explicit variables; the source features are stop-gradiented.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxgan import model
from jaxgan.nets.generator import Generator

KINDS = ("cdc", "feat")


class ConsistencyConfig(NamedTuple):
    """Weight (0 = off), kind (:data:`KINDS`), feature maps (synthesis ``capture`` names,
    e.g. ``('b8.conv1', 'b16.conv1')``), CDC softmax temperature and batch size used."""
    weight: float = 0.0
    kind: str = "cdc"
    layers: tuple[str, ...] = ("b8.conv1", "b16.conv1")
    temperature: float = 1.0
    batch: int = 8

    def check(self) -> "ConsistencyConfig":
        if self.kind not in KINDS:
            raise ValueError(f"domain.consistency.kind must be one of {KINDS}, got {self.kind!r}")
        if self.weight < 0 or self.temperature <= 0 or self.batch < 2:
            raise ValueError(f"bad domain.consistency {self._asdict()}: need weight >= 0, "
                             "temperature > 0, batch >= 2")
        return self


def features(G: Generator, g_vars, z, layers) -> list[jax.Array]:
    """Feature maps ``[N, res, res, C]`` of ``layers`` for latents ``z`` (const noise, no
    truncation), in the order of ``layers``."""
    ws = model.mapping(G, g_vars, z)
    ws = model.with_style_cond(G.cfg, ws)
    st = model.styles(G, g_vars, ws)
    _, feats = G.apply(g_vars, st, noise_mode="const", fused=False, capture=tuple(layers),
                       method=Generator.synthesis)
    return [feats[name] for name in layers]


def _offdiag_log_softmax(sim, temperature):
    n = sim.shape[0]
    logits = jnp.where(jnp.eye(n, dtype=bool), -jnp.inf, sim / temperature)
    return jax.nn.log_softmax(logits, axis=1)


def cdc_term(f_src, f_tgt, temperature: float = 1.0):
    """``mean_i KL(p_src[i] || p_tgt[i])`` of off-diagonal softmaxed cosine similarities.

    Args:
      f_src, f_tgt: ``[N, ...]`` features of the same N latents (N >= 2).

    Returns:
      a scalar (0 when the similarity structures agree).
    """
    def cos(f):
        f = f.reshape(f.shape[0], -1)
        f = f / (jnp.linalg.norm(f, axis=1, keepdims=True) + 1e-8)
        return f @ f.T                                                       # [N, N]
    lp_s = _offdiag_log_softmax(cos(f_src), temperature)
    lp_t = _offdiag_log_softmax(cos(f_tgt), temperature)
    n = f_src.shape[0]
    off = ~jnp.eye(n, dtype=bool)
    kl = jnp.where(off, jnp.exp(lp_s) * (lp_s - lp_t), 0.0)
    return jnp.sum(kl) / n


def feat_term(f_src, f_tgt):
    """Mean squared distance of channel-normalised feature maps ``[N, H, W, C]``."""
    def norm(f):
        return f / (jnp.sqrt(jnp.mean(jnp.square(f), axis=-1, keepdims=True)) + 1e-8)
    return jnp.mean(jnp.square(norm(f_src) - norm(f_tgt)))


def consistency_loss(cfg: ConsistencyConfig, G: Generator, g_src, g_adapted, z):
    """The weighted consistency term for latents ``z`` ``[N, z_dim]`` (first ``cfg.batch``).

    Args:
      g_src: the frozen source generator's variables (no gradient flows into them).
      g_adapted: the adapted generator's variables (differentiate through these).

    Returns:
      ``cfg.weight * mean over cfg.layers of the term`` (0.0 when ``cfg.weight == 0``).
    """
    if not cfg.weight:
        return jnp.zeros((), jnp.float32)
    z = z[:cfg.batch]
    fs = [jax.lax.stop_gradient(f) for f in features(G, g_src, z, cfg.layers)]
    ft = features(G, g_adapted, z, cfg.layers)
    if cfg.kind == "cdc":
        terms = [cdc_term(a, b, cfg.temperature) for a, b in zip(fs, ft)]
    else:
        terms = [feat_term(a, b) for a, b in zip(fs, ft)]
    return cfg.weight * sum(terms) / len(terms)
