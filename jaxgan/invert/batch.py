"""Invert a set of images in batches: one jitted program per batch size (the last batch is
padded), optimisation (:func:`~jaxgan.invert.projector.project`), in-domain (encoder
initialisation + optimisation) or the encoder alone, on one process or sharded over the
devices of every process of a multi-process job (each process optimises its rows; results
are gathered to every process). ``jaxgan invert`` is this plus file writing.
"""
from __future__ import annotations

import jax
import numpy as np

from jaxgan.invert import indomain
from jaxgan.invert.projector import project
from jaxgan.progress import progress as progress_bar
from jaxgan.sharding import (make_data_mesh, mesh_processes, one_device_mesh, pad_rows,
                             process_rows, to_host)


def global_batch_size(batch: int, n: int, n_dev: int) -> int:
    """Images per jitted call: ``min(batch, n)`` rounded up to a multiple of ``n_dev``."""
    bs = min(batch, n)
    return -(-bs // n_dev) * n_dev


def invert_batches(G, g, x, cfg, *, key, lp, stats, c=None, E=None, e_vars=None,
                   encoder_only: bool = False, batch: int = 8, show_progress: bool = True,
                   desc: str = "invert") -> dict:
    """Invert every image of ``x``.

    Args:
      G, g: the generator and its variables.
      x: ``[N, R, R, C]`` images in [-1, 1]; c: ``[N, c_dim]`` or None.
      cfg: a :class:`~jaxgan.invert.projector.ProjectConfig` (or the in-domain config).
      key: PRNG key; image ``i`` uses its index ``i`` (``indices``), so results do not depend on
        the batch an image falls in.
      lp, stats: LPIPS weights and latent statistics (as :func:`project`).
      E, e_vars: an encoder: in-domain inversion (``encoder_only``: the encoder's W+ alone).
      batch: images per jitted call (on several processes: a multiple of the device count).

    Returns:
      The :class:`~jaxgan.invert.projector.ProjectionResult` fields as NumPy arrays over all
      ``N`` images (``{'ws', 'images'}`` for ``encoder_only``), on every process.
    """
    n = len(x)
    mesh = make_data_mesh() if jax.process_count() > 1 else one_device_mesh()
    bs = global_batch_size(batch, n, mesh.devices.size)
    rows = process_rows(bs, *mesh_processes(mesh))                # this process's rows
    parts = []
    main = jax.process_index() == 0
    with progress_bar(total=n, unit="img", desc=desc,
                      disable=not (show_progress and main)) as bar:
        for s in range(0, n, bs):
            if s == 0:
                bar.units_per_run = bs                # an ETA from the in-program steps
                bar.compiling(f"the {bs}-image batch program")
            m = min(bs, n - s)
            xb, cb = pad_rows(x[s:s + m], bs), pad_rows(None if c is None else c[s:s + m], bs)
            idx = np.arange(s, s + bs)
            if encoder_only:
                ws, rec = indomain.encoder_invert(G, g, xb, E, e_vars)
                part = {"ws": ws, "images": rec}
            else:
                mine = (xb[rows], idx[rows], None if cb is None else cb[rows])
                kw = dict(key=key, indices=mine[1], lp=lp, stats=stats, mesh=mesh, c=mine[2],
                          progress=True)
                if E is not None:
                    r = indomain.invert_indomain(G, g, mine[0], E, e_vars, cfg, **kw)
                else:
                    r = project(G, g, mine[0], cfg, **kw)
                part = to_host(r._asdict())           # multi-process: a collective
            parts.append(jax.tree.map(lambda a, m=m: np.asarray(a)[:m], part))
            bar.update(m)
    return jax.tree.map(lambda *a: np.concatenate(a), *parts)


def latents_arrays(res: dict, space: str, names, c=None) -> dict[str, np.ndarray]:
    """The arrays of ``latents.npz``: ``names``, ``c``, the latent (S: one array per style
    vector ``s/b<res>/<layer>``), ``ws`` (and ``w``, what ``jaxgan generate --w-file`` reads),
    losses and curves, noise maps (``noise/...``).

    Args:
      res: :func:`invert_batches` output; space: the inverted space.
    """
    arrays = {"names": np.asarray(names), **({"c": c} if c is not None else {})}
    for k in ("latent", "ws", "loss", "dist", "curve", "dist_curve"):
        if res.get(k) is not None:
            if k == "latent" and space == "s":
                for path, leaf in jax.tree_util.tree_flatten_with_path(res[k])[0]:
                    arrays["s/" + "/".join(p.key for p in path)] = leaf
            else:
                arrays[k] = res[k]
    if res.get("noise"):
        for path, leaf in jax.tree_util.tree_flatten_with_path(res["noise"])[0]:
            arrays["noise/" + "/".join(p.key for p in path)] = leaf
    if "ws" in arrays:
        arrays["w"] = arrays["ws"]
    return arrays
