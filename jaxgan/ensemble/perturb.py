"""Latent perturbations of gan-ensembling (Chai et al., CVPR 2021), restricted to W+ layers.

Every perturbation is a pure function of ONE inverted latent ``w* [num_ws, w_dim]`` and one
PRNG key returning one perturbed latent ``[num_ws, w_dim]``; :func:`perturb_batch` lifts it
with ``vmap`` to ``[N, K, num_ws, w_dim]`` (image i, view k uses
``fold_in(fold_in(key, indices[i]), k)``, so a view does not depend on which batch its image
came in). Kinds (:class:`PerturbSpec`):

* ``isotropic``: ``w~ = w* + sigma * eps``, ``eps ~ N(0, I)`` on the chosen layers;
* ``pca``: ``w~ = w* + s * beta * std_d * v_d`` on the chosen layers, with ``d`` uniform
  over the top-``k`` principal components ``v_d`` of sampled ``w = mapping(z)`` (std
  ``std_d``: the square root of its explained variance; GANSpace's unit) and a random sign
  ``s = +-1``;
* ``stylemix``: the chosen layers of ``w*`` replaced by those of a random
  ``w_r = mapping(z_r)``.

Layer ranges (:func:`layer_ranges`): the paper's 256^2 StyleGAN2 (``num_ws = 14``) uses
coarse = layers ``[0, 4)`` and fine = layers ``[10, 14)``. For another ``num_ws`` the bounds
scale linearly: ``coarse_end = round(4 * num_ws / 14)``, ``fine_start = round(10 * num_ws /
14)``, clamped so both ranges hold at least one layer (32^2: num_ws 8 -> [0, 2), [6, 8)).
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxgan import model

KINDS = ("isotropic", "pca", "stylemix")
LAYERS = ("coarse", "fine", "all")
#: The paper's layer bounds at 256^2 (num_ws = 14).
PAPER_NUM_WS, PAPER_COARSE_END, PAPER_FINE_START = 14, 4, 10


def layer_ranges(num_ws: int) -> dict[str, tuple[int, int]]:
    """Half-open W+ layer ranges ``{'coarse', 'fine', 'all'}`` for a generator with ``num_ws``.

    Args:
      num_ws: number of W+ layers (>= 2).

    Returns:
      ``{'coarse': (0, c), 'fine': (f, num_ws), 'all': (0, num_ws)}`` with
      ``c = round(4 num_ws / 14)``, ``f = round(10 num_ws / 14)`` clamped to ``1 <= c <= f <=
      num_ws - 1``.
    """
    if not isinstance(num_ws, int) or num_ws < 2:
        raise ValueError(f"layer_ranges: num_ws must be an int >= 2, got {num_ws!r}")
    c = min(max(1, round(PAPER_COARSE_END * num_ws / PAPER_NUM_WS)), num_ws - 1)
    f = max(min(num_ws - 1, round(PAPER_FINE_START * num_ws / PAPER_NUM_WS)), c)
    return {"coarse": (0, c), "fine": (f, num_ws), "all": (0, num_ws)}


def layer_mask(num_ws: int, layers: str):
    """``[num_ws]`` float mask, 1 on the layers of ``layers`` ('coarse' | 'fine' | 'all')."""
    if layers not in LAYERS:
        raise ValueError(f"layers must be one of {LAYERS}, got {layers!r}")
    lo, hi = layer_ranges(num_ws)[layers]
    idx = jnp.arange(num_ws)
    return ((idx >= lo) & (idx < hi)).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class PerturbSpec:
    """One perturbation type (frozen, hashable: a static jit argument).

    Attributes:
      kind: 'isotropic' | 'pca' | 'stylemix'.
      layers: 'coarse' | 'fine' | 'all'.
      magnitude: sigma (isotropic), beta (pca); ignored by stylemix.
      top_k: number of principal components (pca).
      psi: truncation of the random ``w_r`` (stylemix).
    """
    kind: str
    layers: str = "all"
    magnitude: float = 0.0
    top_k: int = 20
    psi: float = 1.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"PerturbSpec.kind must be one of {KINDS}, got {self.kind!r}")
        if self.layers not in LAYERS:
            raise ValueError(f"PerturbSpec.layers must be one of {LAYERS}, got {self.layers!r}")
        if self.kind != "stylemix" and not self.magnitude > 0:
            raise ValueError(f"PerturbSpec({self.kind}): magnitude must be > 0, "
                             f"got {self.magnitude!r}")
        if self.kind == "pca" and not (isinstance(self.top_k, int) and self.top_k >= 1):
            raise ValueError(f"PerturbSpec(pca): top_k must be an int >= 1, got {self.top_k!r}")

    @property
    def name(self) -> str:
        """Short label, e.g. ``isotropic_fine_0.2``, ``pca20_all_2``, ``stylemix_fine``."""
        if self.kind == "stylemix":
            return f"stylemix_{self.layers}" + (f"_psi{self.psi:g}" if self.psi != 1 else "")
        head = f"pca{self.top_k}" if self.kind == "pca" else self.kind
        return f"{head}_{self.layers}_{self.magnitude:g}"


def parse_spec(text: str) -> PerturbSpec:
    """``'isotropic:fine:0.2'``, ``'pca:all:2[:k]'``, ``'stylemix:fine'`` -> :class:`PerturbSpec`."""
    parts = text.strip().split(":")
    try:
        kind, layers = parts[0], parts[1] if len(parts) > 1 else "all"
        if kind == "stylemix":
            if len(parts) > 3:
                raise ValueError
            return PerturbSpec(kind, layers, psi=float(parts[2]) if len(parts) > 2 else 1.0)
        if len(parts) not in (3, 4):
            raise ValueError
        k = int(parts[3]) if len(parts) == 4 else 20
        return PerturbSpec(kind, layers, float(parts[2]), top_k=k)
    except (ValueError, IndexError) as e:
        raise ValueError(f"bad perturbation {text!r}: expected 'isotropic:LAYERS:SIGMA', "
                         f"'pca:LAYERS:BETA[:K]' or 'stylemix:LAYERS[:PSI]' with LAYERS in "
                         f"{LAYERS} ({e})") from None


def paper_specs(top_k: int = 20) -> tuple[PerturbSpec, ...]:
    """The paper's grid: isotropic sigma {0.1, 0.2, 0.3}, PCA top-k beta {1, 2, 3}, style-mixing,
    each on coarse, fine and all layers (21 specs)."""
    out = []
    for layers in ("coarse", "fine", "all"):
        out += [PerturbSpec("isotropic", layers, s) for s in (0.1, 0.2, 0.3)]
        out += [PerturbSpec("pca", layers, b, top_k=top_k) for b in (1.0, 2.0, 3.0)]
        out.append(PerturbSpec("stylemix", layers))
    return tuple(out)


class PCABasis(NamedTuple):
    """Principal components of sampled ``w``: ``components [k, w_dim]`` (orthonormal rows,
    decreasing variance), ``stds [k]`` (sqrt explained variance), ``mean [w_dim]``."""
    components: jax.Array
    stds: jax.Array
    mean: jax.Array


def pca_basis(G, g, key, num_samples: int = 10000, top_k: int = 20) -> PCABasis:
    """PCA of ``num_samples`` mapped latents ``w = mapping(z)`` (GANSpace's basis in W).

    Args:
      G, g: the generator.
      key: PRNG key for ``z``.
      num_samples: number of ``z`` samples (> top_k).
      top_k: components kept (<= w_dim).

    Returns:
      :class:`PCABasis` (components from the SVD of the centred samples, sign as SVD gives).
    """
    w_dim = G.cfg.w_dim
    if not 1 <= top_k <= w_dim or num_samples <= top_k:
        raise ValueError(f"pca_basis: need 1 <= top_k <= w_dim ({w_dim}) and num_samples > "
                         f"top_k, got top_k={top_k}, num_samples={num_samples}")
    z = jax.random.normal(key, (num_samples, G.cfg.z_dim))
    c = model.sample_classes(G, jax.random.fold_in(key, 1), num_samples)  # conditional G
    w = jax.jit(lambda g, z, c: model.mapping(G, g, z, c)[:, 0])(g, z, c)  # [S, w_dim]
    return pca_of(w, top_k)


def pca_of(samples, top_k: int) -> PCABasis:
    """PCA of ``samples [S, D]`` (as ``sklearn.decomposition.PCA(top_k)``: components are the
    top right-singular vectors of the centred data, variance with ``S - 1`` dof)."""
    x = jnp.asarray(samples, jnp.float32)
    mean = x.mean(0)
    _, s, vt = jnp.linalg.svd(x - mean, full_matrices=False)
    stds = s[:top_k] / jnp.sqrt(x.shape[0] - 1.0)
    return PCABasis(vt[:top_k], stds, mean)


def spec_params(spec: PerturbSpec, num_ws: int) -> dict:
    """A :class:`PerturbSpec` as traced arrays, so that ONE compiled program serves every
    perturbation type: ``kind`` int32 (index in :data:`KINDS`), ``mask [num_ws]``,
    ``magnitude``, ``top_k`` int32, ``psi`` float32."""
    return {"kind": jnp.int32(KINDS.index(spec.kind)), "mask": layer_mask(num_ws, spec.layers),
            "magnitude": jnp.float32(spec.magnitude), "top_k": jnp.int32(spec.top_k),
            "psi": jnp.float32(spec.psi)}


def dummy_basis(w_dim: int, top_k: int = 1) -> PCABasis:
    """A zero :class:`PCABasis` for programs that run no ``pca`` perturbation."""
    return PCABasis(jnp.zeros((top_k, w_dim)), jnp.zeros((top_k,)), jnp.zeros((w_dim,)))


def perturb_with(G, g, w, key, params: dict, basis: PCABasis):
    """:func:`perturb_one` with the spec given as traced :func:`spec_params` (all three kinds
    are computed and the one of ``params['kind']`` is selected; each draws from its own
    sub-key of ``key``)."""
    num_ws, w_dim = w.shape
    m = params["mask"][:, None]                                           # [num_ws, 1]
    k_iso, k_pca, k_mix = jax.random.split(key, 3)
    iso = w + m * params["magnitude"] * jax.random.normal(k_iso, (num_ws, w_dim))
    kd, ks = jax.random.split(k_pca)
    top_k = jnp.minimum(params["top_k"], basis.components.shape[0])
    d = jax.random.randint(kd, (), 0, top_k)
    sign = jnp.where(jax.random.bernoulli(ks), 1.0, -1.0)
    pca = w + m * (sign * params["magnitude"] * basis.stds[d] * basis.components[d])[None, :]
    z = jax.random.normal(k_mix, (1, G.cfg.z_dim))
    w_r = model.mapping(G, g, z, truncation_psi=params["psi"])[0]          # [num_ws, w_dim]
    mix = m * w_r + (1 - m) * w
    return jnp.where(params["kind"] == 0, iso, jnp.where(params["kind"] == 1, pca, mix))


def perturb_one(G, g, w, key, spec: PerturbSpec, basis: PCABasis | None = None):
    """One perturbed latent.

    Args:
      G, g: the generator (for ``stylemix``'s random ``w_r``).
      w: ``[num_ws, w_dim]`` the inverted latent ``w*``.
      key: PRNG key of this view.
      spec: the :class:`PerturbSpec`.
      basis: :class:`PCABasis` (``pca`` only; at least ``spec.top_k`` components).

    Returns:
      ``[num_ws, w_dim]`` perturbed latent (unchanged outside ``spec.layers``).
    """
    num_ws, w_dim = w.shape
    if spec.kind == "pca":
        if basis is None or basis.components.shape[0] < spec.top_k:
            raise ValueError(f"perturb {spec.name}: needs a PCABasis with >= {spec.top_k} "
                             "components (pca_basis(G, g, key, top_k=...))")
    elif basis is None:
        basis = dummy_basis(w_dim)
    return perturb_with(G, g, w, key, spec_params(spec, num_ws), basis)


def view_keys(key, indices, num_views: int):
    """``[N, K]`` keys: ``fold_in(fold_in(key, indices[i]), k)``."""
    per_img = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(indices))
    return jax.vmap(lambda k: jax.vmap(lambda v: jax.random.fold_in(k, v))(
        jnp.arange(num_views)))(per_img)


def perturb_batch(G, g, ws, key, spec: PerturbSpec, num_views: int, basis=None, indices=None):
    """:func:`perturb_one` vmapped over ``N`` images x ``K`` views.

    Args:
      G, g: the generator.
      ws: ``[N, num_ws, w_dim]`` inverted latents.
      key: PRNG key; indices: ``[N]`` image ids for the keys (default ``arange(N)``).
      spec: the :class:`PerturbSpec`; num_views: ``K``; basis: for ``pca``.

    Returns:
      ``[N, K, num_ws, w_dim]``.
    """
    ws = jnp.asarray(ws, jnp.float32)
    if ws.ndim != 3:
        raise ValueError(f"perturb_batch: ws must be [N, num_ws, w_dim], got {ws.shape}")
    indices = jnp.arange(ws.shape[0]) if indices is None else indices
    keys = view_keys(key, indices, num_views)                             # [N, K]
    if spec.kind == "pca" and (basis is None or basis.components.shape[0] < spec.top_k):
        raise ValueError(f"perturb {spec.name}: needs a PCABasis with >= {spec.top_k} components")
    return perturb_batch_with(G, g, ws, keys, spec_params(spec, ws.shape[1]),
                              dummy_basis(ws.shape[2]) if basis is None else basis)


def perturb_batch_with(G, g, ws, keys, params: dict, basis: PCABasis):
    """``[N, num_ws, w_dim]`` x keys ``[N, K]`` -> ``[N, K, num_ws, w_dim]`` (traced spec)."""
    one = lambda w, k: perturb_with(G, g, w, k, params, basis)            # noqa: E731
    return jax.vmap(lambda w, ks: jax.vmap(lambda k: one(w, k))(ks))(ws, keys)
