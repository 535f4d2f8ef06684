"""The functional face of jaxgan: pure functions over explicit pytrees.

Images are ``[N, H, W, C]`` float32 in [-1, 1] everywhere inside jaxgan (the official
code's NCHW layout appears only in the converter and in ``--save-npz`` outputs).

Each function takes the network definition (a Flax module built from its config; static,
hashable) and its variables ``{'params': ..., 'buffers': ...}``. They compose with
``jax.jit`` (close over or ``static_argnums`` the module), ``jax.vmap`` and ``jax.grad``.

Precision: every function here computes in float32 by default, whatever ``num_fp16_res``
the network's config carries (released NVIDIA checkpoints say 4), so results match the
official float32 ones. ``precision='float16'`` reproduces the official mixed-precision
path (fp16 activations in the top blocks, clamped at ``conv_clamp``), ``'bfloat16'`` is
the TPU-friendly variant, and ``'config'`` is training's (``num_fp16_res`` blocks in the
config's ``low_precision_dtype``). See ``jaxgan.nets.configs.block_dtype``.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxgan.nets.configs import (PRECISIONS, DiscriminatorConfig, EncoderConfig,  # noqa: F401
                                 GeneratorConfig, check_precision)
from jaxgan.nets.discriminator import Discriminator
from jaxgan.nets.generator import ClassBoundGenerator, Generator, condition_ws, with_style_cond  # noqa: F401  (condition_ws re-exported for StylEx)
from jaxgan.nets.encoder import Encoder

Variables = dict[str, Any]


def default_fused_modconv() -> bool:
    """Fastest modulated-convolution path for the default backend (see benchmarks/).

    CPU: the unfused path (one shared-weight convolution over the batch) beats the fused one
    (a per-sample loop there; XLA:CPU runs grouped convolutions N times too slowly), e.g.
    84 vs 70 img/s for the R=32 benchmark generator. GPU/TPU: not benchmarked yet; unfused
    also avoids materialising N per-sample weight tensors, so it is the default everywhere.
    """
    return False


def init_generator(cfg: GeneratorConfig, key) -> tuple[Generator, Variables]:
    """Build a generator and initialise its variables as the official code does."""
    G = Generator(cfg)
    z = jnp.zeros((1, cfg.z_dim))
    c = jnp.zeros((1, cfg.c_dim)) if cfg.c_dim else None
    variables = jax.jit(lambda k: G.init({"params": k}, z, c))(key)   # eager init is slow
    return G, dict(variables)


def init_discriminator(cfg: DiscriminatorConfig, key) -> tuple[Discriminator, Variables]:
    """Build a discriminator and initialise its parameters."""
    D = Discriminator(cfg)
    img = jnp.zeros((max(cfg.mbstd_group_size or 1, 1), cfg.img_resolution, cfg.img_resolution,
                     cfg.img_channels))
    c = jnp.zeros((img.shape[0], cfg.c_dim)) if cfg.c_dim else None
    variables = jax.jit(lambda k: D.init({"params": k}, img, c))(key)
    return D, dict(variables)


def variables_shape(module, cfg=None):
    """Shapes of a module's variables without allocating them (``jax.eval_shape``)."""
    if isinstance(module, Generator):
        return jax.eval_shape(lambda k: init_generator(module.cfg, k)[1], jax.random.key(0))
    if isinstance(module, Discriminator):
        return jax.eval_shape(lambda k: init_discriminator(module.cfg, k)[1], jax.random.key(0))
    if isinstance(module, Encoder):
        return jax.eval_shape(lambda k: init_encoder(module.cfg, k)[1], jax.random.key(0))
    raise TypeError(f"unknown network type {type(module).__name__}")


def mapping(G: Generator, variables: Variables, z, c=None, truncation_psi=1.0,
            truncation_cutoff=None):
    """z ``[N, z_dim]`` (+ c ``[N, c_dim]``) -> ws ``[N, num_ws, w_dim]``."""
    return G.apply(variables, z, c, truncation_psi, truncation_cutoff, method="mapping")


def mapping_update_w_avg(G: Generator, variables: Variables, z, c=None):
    """Training-mode mapping: returns ``(ws, variables)`` with w_avg moved toward the batch."""
    ws, upd = G.apply(variables, z, c, update_w_avg=True, method="mapping",
                      mutable=["buffers"])
    return ws, {**variables, "buffers": upd["buffers"]}


def styles(G: Generator, variables: Variables, ws):
    """ws ``[N, num_ws, w_dim]`` -> StyleSpace ``{f'b{res}': {layer: [N, C]}}``."""
    return G.apply(variables, ws, method=Generator.styles)


def synthesize(G: Generator, variables: Variables, ws=None, *, styles=None, noise_mode="const",
               noise=None, noise_key=None, fused: bool | None = None,
               precision: str | None = None, force_fp32: bool = False):
    """Render images from ws or from an explicit StyleSpace pytree.

    Args:
      G, variables: the generator.
      ws: ``[N, num_ws, w_dim]`` (or pass ``styles=``).
      styles: StyleSpace pytree as returned by :func:`styles` (edit it freely).
      noise_mode: 'const' | 'random' (needs ``noise_key``) | 'none'.
      noise: optional explicit unscaled noise maps ``{f'b{res}': {layer: [N, H, W]}}``.
      fused: modulated-convolution path; None picks the backend's fastest.
      precision: ``'float32'``, ``'float16'``, ``'bfloat16'`` or ``'config'`` (see the
        module docstring); None: ``G.precision`` (float32 unless set, see
        :func:`with_precision`).
      force_fp32: older spelling of ``precision='float32'`` (kept for callers).

    Returns:
      images ``[N, R, R, img_channels]`` float32.
    """
    if (ws is None) == (styles is None):
        raise ValueError("synthesize: pass exactly one of ws or styles")
    if styles is None:
        styles = G.apply(variables, ws, method=Generator.styles)
    fused = default_fused_modconv() if fused is None else fused
    return G.apply(variables, styles, noise_mode=noise_mode, noise=noise, noise_key=noise_key,
                   fused=fused, precision="float32" if force_fp32 else precision,
                   method=Generator.synthesis)


def generate(G: Generator, variables: Variables, z, c=None, truncation_psi=1.0,
             truncation_cutoff=None, style_cond=None, **synthesis_kw):
    """z (+ c) -> images ``[N, R, R, C]``; keyword arguments as :func:`synthesize`.

    ``style_cond`` ``[N, K]``: a StylEx generator's (``cfg.style_cond_dim > 0``) style
    condition, e.g. classifier logits (zeros when omitted).
    """
    ws = with_style_cond(G.cfg, mapping(G, variables, z, c, truncation_psi, truncation_cutoff),
                         style_cond)
    return synthesize(G, variables, ws, **synthesis_kw)


def needs_class(G) -> bool:
    """True for a conditional generator without a bound class (``mapping`` needs ``c``)."""
    return bool(G.cfg.c_dim) and not getattr(G, "class_vector", ())


def class_vector(G, cls: int) -> jnp.ndarray:
    """One-hot condition ``[c_dim]`` of class index ``cls`` for conditional generator ``G``.

    Raises:
      ValueError: ``G`` is unconditional or ``cls`` is out of range.
    """
    if not G.cfg.c_dim:
        raise ValueError("class_vector: the generator is unconditional (c_dim=0)")
    if not 0 <= int(cls) < G.cfg.c_dim:
        raise ValueError(f"class {cls} out of range [0, {G.cfg.c_dim})")
    return jax.nn.one_hot(int(cls), G.cfg.c_dim)


def bind_class(G: Generator, c) -> ClassBoundGenerator:
    """``G`` with its condition fixed to ``c`` (a class index or a ``[c_dim]`` vector): its
    ``mapping(z)`` then needs no ``c``. Same variables; unconditional code runs on it.

    Raises:
      ValueError: ``G`` is unconditional, or ``c`` is out of range / the wrong shape.
    """
    if not G.cfg.c_dim:
        raise ValueError("bind_class: the generator is unconditional (c_dim=0)")
    vec = class_vector(G, c) if jnp.ndim(c) == 0 else jnp.asarray(c, jnp.float32)
    if vec.shape != (G.cfg.c_dim,):
        raise ValueError(f"bind_class: c must be a class index or [{G.cfg.c_dim}], got "
                         f"{vec.shape}")
    return ClassBoundGenerator(G.cfg, precision=G.precision, class_vector=tuple(float(v) for v in vec))


def unbind_class(G) -> Generator:
    """The plain :class:`Generator` of a (possibly class-bound) generator."""
    return Generator(G.cfg, precision=G.precision) if isinstance(G, ClassBoundGenerator) else G


def sample_classes(G, key, n: int):
    """Uniform one-hot classes ``[n, c_dim]`` for a generator that :func:`needs_class`;
    None otherwise (unconditional, or class-bound: its mapping fills ``c``)."""
    if not needs_class(G):
        return None
    return jax.nn.one_hot(jax.random.randint(key, (n,), 0, G.cfg.c_dim), G.cfg.c_dim)


def discriminate(D: Discriminator, variables: Variables, img, c=None,
                 precision: str | None = None, force_fp32: bool = False):
    """images ``[N, R, R, C]`` (+ c) -> logits ``[N, 1]``.

    Args:
      D, variables: the discriminator.
      img: ``[N, R, R, C]``; c: ``[N, c_dim]`` for a conditional D.
      precision: ``'float32'``, ``'float16'``, ``'bfloat16'`` or ``'config'`` (see the
        module docstring); None: ``D.precision`` (float32 unless set).
      force_fp32: older spelling of ``'float32'``.

    Returns:
      logits ``[N, 1]`` float32.
    """
    return D.apply(variables, img, c, precision="float32" if force_fp32 else precision)


def with_precision(module, precision: str):
    """The same network computing in ``precision`` by default (every function here and every
    capability given the returned module uses it; variables are unchanged).

    Args:
      module: a :class:`Generator` or :class:`Discriminator` (other networks, e.g. encoders,
        always compute in float32 and are returned as they are).
      precision: ``'float32'``, ``'float16'``, ``'bfloat16'`` or ``'config'``.

    Returns:
      The module, rebuilt with that precision.
    """
    check_precision(precision)
    if isinstance(module, (Generator, Discriminator)):
        return module.clone(precision=precision)
    return module


def init_encoder(cfg: EncoderConfig, key):
    """Build an encoder and initialise its parameters."""
    E = Encoder(cfg)
    img = jnp.zeros((1, cfg.img_resolution, cfg.img_resolution, cfg.img_channels))
    return E, dict(jax.jit(lambda k: E.init({"params": k}, img))(key))


def encode(E, variables: Variables, img, w_avg=None):
    """images ``[N, R, R, C]`` -> W+ ``[N, num_ws, w_dim]`` (plus ``w_avg`` when given)."""
    return E.apply(variables, img, w_avg)


def style_mixing(ws_a, ws_b, cutoff):
    """Layers ``< cutoff`` from ``ws_a``, the rest from ``ws_b`` (cutoff may be traced/per-sample).

    Args:
      ws_a, ws_b: ``[N, num_ws, w_dim]``; cutoff: int or ``[N]``.
    """
    idx = jnp.arange(ws_a.shape[1])[None, :, None]
    cutoff = jnp.reshape(jnp.asarray(cutoff), (-1, 1, 1))
    return jnp.where(idx < cutoff, ws_a, ws_b)
