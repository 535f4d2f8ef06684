"""The one API shape of every latent-direction method.

Every ``fit_*`` function returns a :class:`Directions` (a pytree: the ``vectors`` are
leaves, the latent space, names and layer range are static), and every direction is used
through :func:`apply`::

    d = fit_ganspace(G, g, key, num_components=5)         # Directions, vectors [5, w_dim]
    ws2 = apply(d[0], ws, alpha=2.0)                      # [N, num_ws, w_dim]
    grid = apply(d, ws, jnp.linspace(-3, 3, 7))           # [5, 7, N, num_ws, w_dim]

Spaces (``space``) and latent layouts:

* ``'z'``: latents ``[N, z_dim]``, a direction ``[z_dim]``.
* ``'w'``: latents ``[N, num_ws, w_dim]`` (or ``[N, w_dim]``), a direction ``[w_dim]`` added
  to the ws listed in ``layers`` (all when None) - GANSpace/SeFa layer ranges.
* ``'wp'`` (W+): latents ``[N, num_ws, w_dim]``, a direction ``[num_ws, w_dim]``.

``alpha`` is a scalar (one edit), a vector ``[A]`` (an α sweep: a leading axis of size A)
or, through :func:`shift`, one value per sample ``[N]`` (training).
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from jaxgan import model
import json

SPACES = ("z", "w", "wp")


def _check_space(space: str) -> None:
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")


def _vec_ndim(space: str) -> int:
    """Dimensions of one direction in ``space``."""
    return 2 if space == "wp" else 1


@flax.struct.dataclass
class Directions:
    """A set of K latent directions of one method.

    Attributes:
      vectors: ``[K, D]`` (spaces 'z', 'w') or ``[K, num_ws, w_dim]`` ('wp').
      space: 'z' | 'w' | 'wp' (static).
      names: K names (static), e.g. ``('zoom', 'shift_x')`` or ``('pc0', 'pc1')``.
      layers: ws indices the directions act on ('w'/'wp'), None for all (static).
      extras: method-specific arrays (explained variance, eigenvalues, offsets, losses...);
        those with a leading axis of size K are per direction (indexing slices them),
        except the keys named in ``shared``.
      shared: extras keys that belong to the whole set (static), e.g. a PCA mean.
    """
    vectors: jax.Array
    space: str = flax.struct.field(pytree_node=False, default="w")
    names: tuple = flax.struct.field(pytree_node=False, default=())
    layers: tuple | None = flax.struct.field(pytree_node=False, default=None)
    extras: dict = flax.struct.field(default_factory=dict)
    shared: tuple = flax.struct.field(pytree_node=False, default=())

    def __post_init__(self):
        _check_space(self.space)
        v = self.vectors
        if not hasattr(v, "ndim"):      # placeholder leaves while JAX rebuilds the pytree
            return
        if v.ndim != 1 + _vec_ndim(self.space):
            raise ValueError(f"Directions.vectors in space {self.space!r} must be "
                             f"{'[K, num_ws, w_dim]' if self.space == 'wp' else '[K, D]'}, "
                             f"got shape {getattr(v, 'shape', None)}")
        if self.names and v.ndim and len(self.names) != v.shape[0]:
            raise ValueError(f"Directions: {len(self.names)} names for {v.shape[0]} vectors")

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def __getitem__(self, k):
        """One direction (``d[k]``, K = 1) or a sub-set (``d[[0, 2]]``, ``d[1:3]``)."""
        idx = np.atleast_1d(np.arange(len(self))[k])
        names = tuple(self.names[i] for i in idx) if self.names else ()
        extras = {key: v[idx] if key not in self.shared and _per_direction(v, len(self)) else v
                  for key, v in self.extras.items()}
        return self.replace(vectors=self.vectors[idx], names=names, extras=extras)

    def save(self, path) -> None:
        """Write ``vectors``, metadata and extras (``extra_<key>``) to an ``.npz``."""
        meta = dict(space=self.space, names=list(self.names), shared=list(self.shared),
                    layers=None if self.layers is None else [int(i) for i in self.layers])
        np.savez(path, vectors=np.asarray(self.vectors), meta=np.asarray(json.dumps(meta)),
                 **{f"extra_{k}": np.asarray(v) for k, v in self.extras.items()})

    @classmethod
    def load(cls, path) -> "Directions":
        """Read a file written by :meth:`save`.

        Raises:
          FileNotFoundError / ValueError: missing file or not a directions ``.npz``.
        """
        with np.load(path, allow_pickle=False) as f:
            if "vectors" not in f.files or "meta" not in f.files:
                raise ValueError(f"{path} is not a directions .npz (keys: {sorted(f.files)})")
            meta = json.loads(str(f["meta"]))
            extras = {k[6:]: jnp.asarray(f[k]) for k in f.files if k.startswith("extra_")}
            layers = meta.get("layers")
            return cls(jnp.asarray(f["vectors"]), space=meta["space"], names=tuple(meta["names"]),
                       layers=None if layers is None else tuple(layers), extras=extras,
                       shared=tuple(meta.get("shared", ())))


def _per_direction(v, k: int) -> bool:
    return getattr(v, "ndim", 0) >= 1 and v.shape[0] == k


def layer_mask(num_ws: int, layers: Sequence[int] | None) -> np.ndarray:
    """``[num_ws]`` float mask, 1 on the ws indices in ``layers`` (all when None).

    Raises:
      ValueError: an index outside ``[0, num_ws)`` or an empty selection.
    """
    if layers is None:
        return np.ones((num_ws,), np.float32)
    layers = [int(i) for i in np.atleast_1d(np.asarray(layers))]
    bad = [i for i in layers if not 0 <= i < num_ws]
    if bad or not layers:
        raise ValueError(f"layers must be non-empty ws indices in [0, {num_ws}), got {layers}")
    m = np.zeros((num_ws,), np.float32)
    m[layers] = 1
    return m


def parse_layers(spec: str | None, num_ws: int) -> tuple[int, ...] | None:
    """``'0-3,6'`` -> ``(0, 1, 2, 3, 6)``; None / ``'all'`` -> None (every ws)."""
    if spec is None or spec.strip() in ("", "all"):
        return None
    out: list[int] = []
    for part in spec.replace(" ", "").split(","):
        lo, _, hi = part.partition("-")
        try:
            out.extend(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            raise ValueError(f"bad layer spec {spec!r}: expected e.g. '0-3,6'") from None
    layer_mask(num_ws, out)
    return tuple(out)


def _check(direction, latents, space: str, layers) -> None:
    _check_space(space)
    vd = _vec_ndim(space)
    if direction.ndim != vd:
        raise ValueError(f"a direction in space {space!r} has {vd} dimension(s), got shape "
                         f"{direction.shape}")
    if space == "z":
        if latents.ndim != 2 or latents.shape[1] != direction.shape[0]:
            raise ValueError(f"space 'z': latents must be [N, {direction.shape[0]}], got "
                             f"{latents.shape}")
        if layers is not None:
            raise ValueError("layers apply to spaces 'w'/'wp', not 'z'")
    elif space == "w":
        if latents.ndim not in (2, 3) or latents.shape[-1] != direction.shape[0]:
            raise ValueError(f"space 'w': latents must be [N, num_ws, {direction.shape[0]}] "
                             f"(or [N, {direction.shape[0]}]), got {latents.shape}")
        if latents.ndim == 2 and layers is not None:
            raise ValueError("layers need latents [N, num_ws, w_dim]")
    elif latents.ndim != 3 or latents.shape[1:] != direction.shape:
        raise ValueError(f"space 'wp': latents must be [N, {direction.shape[0]}, "
                         f"{direction.shape[1]}], got {latents.shape}")


def shift(direction, latents, alpha, layers=None, space: str = "w"):
    """``latents + alpha * direction`` on the selected layers; ``alpha`` scalar or ``[N]``.

    Args:
      direction: one direction (``[D]``, or ``[num_ws, w_dim]`` for 'wp').
      latents: ``[N, ...]`` as the module docstring.
      alpha: scalar or ``[N]`` (one step per sample).
      layers: ws indices to move ('w'/'wp'); None for all.
      space: 'z' | 'w' | 'wp'.

    Returns:
      latents of the same shape.
    """
    direction, latents = jnp.asarray(direction), jnp.asarray(latents)
    _check(direction, latents, space, layers)
    a = jnp.asarray(alpha, latents.dtype)
    if a.ndim not in (0, 1) or (a.ndim == 1 and a.shape[0] != latents.shape[0]):
        raise ValueError(f"shift: alpha must be a scalar or [N={latents.shape[0]}], got {a.shape}")
    a = a.reshape((-1,) + (1,) * (latents.ndim - 1)) if a.ndim else a
    step = direction
    if latents.ndim == 3:
        step = jnp.broadcast_to(step, latents.shape[1:])
        step = step * jnp.asarray(layer_mask(latents.shape[1], layers))[:, None]
    return latents + a * step


def apply(direction, latents, alpha, layers=None, space: str | None = None):
    """Move latents along one direction or several, for one α or a sweep of α.

    Args:
      direction: one direction array (``[D]`` / ``[num_ws, w_dim]``), or a
        :class:`Directions` (its space and layers are used, and it may hold K vectors).
      latents: ``[N, ...]`` in the direction's space.
      alpha: scalar, or ``[A]`` for a sweep.
      layers: ws indices; default the Directions' own (or all).
      space: 'z' | 'w' | 'wp'; default the Directions' own, or 'w' for a plain array.

    Returns:
      ``latents.shape`` for one direction and a scalar α; a leading ``[A]`` axis for a
      sweep; a leading ``[K]`` axis for a :class:`Directions` (always, even for K = 1):
      ``[K, A, N, ...]`` in full.
    """
    if isinstance(direction, Directions):
        space = direction.space if space is None else space
        layers = direction.layers if layers is None else layers
        return jax.vmap(lambda d: apply(d, latents, alpha, layers, space))(direction.vectors)
    space = "w" if space is None else space
    alpha = jnp.asarray(alpha)
    if alpha.ndim == 0:
        return shift(direction, latents, alpha, layers, space)
    if alpha.ndim != 1:
        raise ValueError(f"apply: alpha must be a scalar or [A], got shape {alpha.shape}")
    return jax.vmap(lambda a: shift(direction, latents, a, layers, space))(alpha)


def unit(v, axis=None, eps: float = 1e-12):
    """``v / ||v||`` (over all of ``v``'s dims, or ``axis``)."""
    return v / jnp.maximum(jnp.linalg.norm(v, axis=axis, keepdims=axis is not None), eps)


# ----------------------------------------------------------------------------- latents

def sample_latents(G, g, key, n: int, space: str = "w", psi: float = 1.0, c=None):
    """``n`` random latents in ``space``: z ``[n, z_dim]`` or ws ``[n, num_ws, w_dim]``."""
    _check_space(space)
    z = jax.random.normal(key, (n, G.cfg.z_dim))
    if space == "z":
        return z
    return model.mapping(G, g, z, c, truncation_psi=psi)


def render(G, g, latents, space: str = "w", psi: float = 1.0, c=None, noise_mode: str = "const"):
    """Images ``[N, R, R, C]`` of latents in ``space`` (z through the mapping; ws directly)."""
    _check_space(space)
    if space == "z":
        return model.generate(G, g, latents, c, truncation_psi=psi, noise_mode=noise_mode)
    ws = latents
    if ws.ndim == 2:
        ws = jnp.broadcast_to(ws[:, None], (ws.shape[0], G.cfg.num_ws, ws.shape[1]))
    return model.synthesize(G, g, ws, noise_mode=noise_mode)


def latent_dim(G, space: str) -> tuple[int, ...]:
    """Shape of one direction in ``space`` for generator ``G``."""
    _check_space(space)
    cfg = G.cfg
    return {"z": (cfg.z_dim,), "w": (cfg.w_dim,), "wp": (cfg.num_ws, cfg.w_dim)}[space]


def check_finite(name: str, x: Any) -> None:
    """Raise ``ValueError`` naming ``name`` when a concrete array holds NaN/Inf."""
    a = np.asarray(x)
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or Inf")
