"""Few-shot domain adaptation: the ``domain`` config group's options and the files of the
domain parameters.

The trainer extension (:mod:`jaxgan.domain.trainer`) reads the group: ``param`` ('full' |
'offset' | 'affine_plus' | 'affine_light_plus'), ``rank`` (AffineLight+), ``layers`` (style
layers, '' = all; or ``{param: layers}``), ``lr`` (G-side learning rate: a float or
``{param: lr}``; 0 = ``optim.g_lr``), ``init_from``, ``init_d_from``, ``seed``,
``consistency`` (:class:`~jaxgan.domain.losses.ConsistencyConfig` fields) and
``domain``/``eval_*`` (used by the report, not the trainer). A run's export holds the baked
G/G_ema/D and, written by :func:`save_domain`, the domain parameters (:func:`load_domain`).
"""
from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.domain import params as P

DOMAIN_FILE = "domain.json"
DOMAIN_PARAMS = "domain_params.npz"


def options(cfg) -> dict:
    """The ``domain`` group as a plain dict (ConfigDict or dict)."""
    d = cfg.domain
    return d.to_dict() if hasattr(d, "to_dict") else dict(d)


def layer_option(layers, param: str) -> tuple:
    """``domain.layers`` for ``param``: a comma string / sequence of style-layer names for
    every parameterisation, or a ``{param: layers}`` mapping (missing params: all layers)."""
    if hasattr(layers, "items"):                       # dict or ConfigDict
        layers = dict(layers.items()).get(param, "")
    layers = layers or ()
    return tuple(v.strip() for v in layers.split(",") if v.strip()) if isinstance(layers, str) \
        else tuple(layers)


# ----------------------------------------------------------------------------- export

def _flat(tree) -> dict[str, np.ndarray]:
    if tree is None:
        return {}
    return {"/".join(P._path_keys(p)): np.asarray(v)
            for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _unflat(flat: dict) -> dict | None:
    if not flat:
        return None
    out: dict = {}
    for k, v in flat.items():
        node = out
        parts = k.split("/")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = jnp.asarray(v)
    return out


def save_domain(path, dom, info: dict) -> Path:
    """Write ``path/domain_params.npz`` (the domain parameters, flattened by '/'-joined
    paths) and ``path/domain.json`` (``info``: param, layers, counts, source)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    np.savez(path / DOMAIN_PARAMS, **_flat(dom))
    (path / DOMAIN_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return path


def load_domain(path) -> tuple[dict | None, dict]:
    """Read what :func:`save_domain` wrote (``path`` or ``path/network``).

    Returns:
      ``(dom pytree or None, info dict)``.
    """
    path = Path(path)
    if not (path / DOMAIN_FILE).is_file() and (path / "network" / DOMAIN_FILE).is_file():
        path = path / "network"
    if not (path / DOMAIN_FILE).is_file():
        raise FileNotFoundError(f"{path} holds no {DOMAIN_FILE} (written by a domain run's export)")
    with np.load(path / DOMAIN_PARAMS) as z:
        dom = _unflat({k: z[k] for k in z.files})
    return dom, json.loads((path / DOMAIN_FILE).read_text())
