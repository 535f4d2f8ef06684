"""InterFaceGAN (Shen, Gu, Tang, Zhou 2020): attribute boundaries in latent space.

Sample latents, score their images with a labeller (a classifier's logit, a segmenter
statistic, a planted factor), keep the top and bottom ``ratio`` of the scores as the two
classes (the paper's percentile selection), fit a linear classifier on device and use
its unit normal as the editing direction (``offset`` = signed distance of the boundary
from the origin). W (one boundary on ``w``) and per-layer W+ (one boundary per ws index;
the boundaries are identical unless the latents come from W+ inversions or mixing).

Solvers (pure jnp, jitted, ``lax.fori_loop`` Newton with backtracking line search):

* ``'svm'``: the L2-regularised squared-hinge linear SVM that scikit-learn's
  ``LinearSVC`` (liblinear) solves, with the intercept as a regularised feature of value 1
  (``intercept_scaling=1``): ``0.5 |beta|^2 + C sum max(0, 1 - y x~ beta)^2``.
* ``'logistic'``: ``0.5 |w|^2 + C sum log(1 + exp(-y (x w + b)))`` (intercept not
  regularised), as ``LogisticRegression``.

:func:`conditional_direction` projects one boundary's normal off others (edit one
attribute, keep the others).
"""
from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.directions.apply import Directions, render, sample_latents

METHODS = ("svm", "logistic")


def _objective(method: str, C: float):
    def f(beta, xt, y, reg):
        m = y * (xt @ beta)                                                     # [N]
        if method == "svm":
            data = jnp.sum(jnp.square(jnp.maximum(0.0, 1.0 - m)))
        else:
            data = jnp.sum(jax.nn.softplus(-m))
        return 0.5 * jnp.sum(reg * beta * beta) + C * data
    return f


@functools.partial(jax.jit, static_argnames=("method", "C", "iters"))
def _newton(xt, y, reg, *, method: str, C: float, iters: int):
    """Newton's method with backtracking: ``xt [N, D+1], y [N] in {-1, 1}, reg [D+1] -> beta``."""
    f = _objective(method, C)
    steps = 2.0 ** -jnp.arange(16)
    d = xt.shape[1]

    def body(_, beta):
        m = y * (xt @ beta)
        if method == "svm":
            act = (m < 1).astype(xt.dtype)
            grad = reg * beta - 2 * C * xt.T @ (act * y * (1 - m))
            hess = jnp.diag(reg) + 2 * C * (xt * act[:, None]).T @ xt
        else:
            s = jax.nn.sigmoid(-m)
            grad = reg * beta - C * xt.T @ (y * s)
            hess = jnp.diag(reg) + C * (xt * (s * (1 - s))[:, None]).T @ xt
        hess = hess + 1e-6 * jnp.eye(d)
        delta = -jnp.linalg.solve(hess, grad)
        f0, slope = f(beta, xt, y, reg), grad @ delta
        vals = jax.vmap(lambda t: f(beta + t * delta, xt, y, reg))(steps)
        ok = vals <= f0 + 1e-4 * steps * slope
        t = jnp.where(jnp.any(ok), steps[jnp.argmax(ok)], 0.0)
        return beta + t * delta

    return jax.lax.fori_loop(0, iters, body, jnp.zeros((d,), xt.dtype))


def fit_linear_boundary(x, y, *, method: str = "svm", C: float = 1.0, iters: int = 30):
    """Fit a linear classifier ``sign(x @ coef + intercept)`` on device.

    Args:
      x: ``[N, D]`` features; y: ``[N]`` labels (bool, {0, 1} or {-1, 1}).
      method: 'svm' (LinearSVC's objective) or 'logistic'.
      C: inverse regularisation strength (as scikit-learn).
      iters: Newton iterations.

    Returns:
      ``(coef [D], intercept [])``.

    Raises:
      ValueError: bad shapes, a single class, NaN/Inf features or a bad method.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    x = jnp.asarray(x, jnp.float32)
    y = jnp.asarray(y)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"fit_linear_boundary: x must be [N, D] and y [N], got {x.shape}, {y.shape}")
    if not isinstance(x, jax.core.Tracer):
        if not bool(jnp.all(jnp.isfinite(x))):
            raise ValueError("fit_linear_boundary: x contains NaN or Inf")
        if len(np.unique(np.asarray(y))) != 2:
            raise ValueError("fit_linear_boundary: y must hold exactly two classes")
    y = jnp.where(y > 0, 1.0, -1.0) if y.dtype != jnp.bool_ else jnp.where(y, 1.0, -1.0)
    xt = jnp.concatenate([x, jnp.ones((x.shape[0], 1), x.dtype)], axis=1)
    reg = jnp.ones((xt.shape[1],)).at[-1].set(1.0 if method == "svm" else 0.0)
    beta = _newton(xt, y, reg, method=method, C=float(C), iters=int(iters))
    return beta[:-1], beta[-1]


def select_extremes(scores, ratio: float):
    """Indices and labels of the top / bottom ``ratio`` of ``scores`` (paper's selection).

    Returns:
      ``(idx [2M], labels [2M] bool)`` with ``M = floor(ratio * N)``; True = top.
    """
    scores = np.asarray(scores)
    if not 0 < ratio <= 0.5:
        raise ValueError(f"ratio must be in (0, 0.5], got {ratio}")
    m = int(ratio * len(scores))
    if m < 2:
        raise ValueError(f"ratio {ratio} of {len(scores)} samples keeps fewer than 2 per class")
    order = np.argsort(scores, kind="stable")
    idx = np.concatenate([order[-m:], order[:m]])
    return idx, np.concatenate([np.ones(m, bool), np.zeros(m, bool)])


def fit_boundary(latents, scores, *, ratio: float = 0.3, method: str = "svm", C: float = 1.0,
                 val_fraction: float = 0.3, space: str = "w", name: str = "boundary",
                 seed: int = 0, iters: int = 30, threshold: float | None = None) -> Directions:
    """Boundary of an attribute from latents and their scores.

    Args:
      latents: ``[N, D]`` (space 'w' or 'z') or ``[N, num_ws, w_dim]`` ('w': the first ws
        is used; 'wp': one boundary per ws index).
      scores: ``[N]`` attribute scores (higher = more of the attribute).
      ratio: fraction kept at each end of the sorted scores.
      method, C, iters: the solver.
      val_fraction: share of the selected samples held out for ``extras['val_accuracy']``.
      space: 'z' | 'w' | 'wp'.
      name: the direction's name.
      seed: the train/validation split (a local NumPy generator).
      threshold: label every sample ``score > threshold`` instead of the percentile
        selection (binary planted factors, e.g. "has a sun"; ``ratio`` is then unused).

    Returns:
      :class:`Directions` with one unit normal (``[1, D]`` or per-layer ``[1, L, D]``);
      ``extras``: ``offset`` (``[1]`` or ``[1, L]``: boundary at ``n . x + offset = 0``),
      ``val_accuracy``, ``train_accuracy``.
    """
    x = np.asarray(latents, np.float32)
    if space == "wp":
        if x.ndim != 3:
            raise ValueError(f"space 'wp' needs latents [N, num_ws, w_dim], got {x.shape}")
    elif x.ndim == 3:
        x = x[:, 0]
    elif x.ndim != 2:
        raise ValueError(f"latents must be [N, D] or [N, num_ws, D], got {x.shape}")
    if np.shape(scores) != (x.shape[0],):
        raise ValueError(f"scores must be [N={x.shape[0]}], got {np.shape(scores)}")
    if threshold is None:
        idx, lab = select_extremes(scores, ratio)
    else:
        lab = np.asarray(scores) > threshold
        idx = np.arange(len(lab))
        if lab.all() or not lab.any():
            raise ValueError(f"threshold {threshold}: all {len(lab)} samples fall in one class")
    perm = np.random.default_rng(seed).permutation(len(idx))
    n_val = int(round(val_fraction * len(idx)))
    val, tr = perm[:n_val], perm[n_val:]
    xs = x[idx]

    def fit(xl):
        coef, b = fit_linear_boundary(xl[tr], lab[tr], method=method, C=C, iters=iters)
        norm = jnp.linalg.norm(coef)
        return coef / norm, b / norm

    def acc(n, off, xl, rows):
        if len(rows) == 0:
            return jnp.nan
        return jnp.mean(((xl[rows] @ n + off) > 0) == lab[rows])

    if space == "wp":
        res = [fit(xs[:, l]) for l in range(x.shape[1])]
        normal = jnp.stack([r[0] for r in res])                                   # [L, D]
        offset = jnp.stack([r[1] for r in res])                                   # [L]
        val_acc = jnp.stack([acc(normal[l], offset[l], xs[:, l], val) for l in range(len(res))])
        tr_acc = jnp.stack([acc(normal[l], offset[l], xs[:, l], tr) for l in range(len(res))])
    else:
        normal, offset = fit(xs)
        val_acc, tr_acc = acc(normal, offset, xs, val), acc(normal, offset, xs, tr)
    return Directions(normal[None], space=space, names=(name,),
                      extras={"offset": offset[None], "val_accuracy": jnp.asarray(val_acc)[None],
                              "train_accuracy": jnp.asarray(tr_acc)[None]})


def label_latents(G, g, labeller: Callable, key, num: int, *, space: str = "w", psi: float = 1.0,
                  batch: int = 250):
    """Sample ``num`` latents and score their images: ``(latents, scores [num])``.

    ``latents`` are z (space 'z') or ws ``[num, num_ws, w_dim]``.
    """
    lat = sample_latents(G, g, key, num, "z" if space == "z" else "w", psi)
    score = jax.jit(lambda g_, l: labeller(render(G, g_, l, "z" if space == "z" else "w", psi)))
    scores = np.concatenate([np.asarray(score(g, lat[s:s + batch])) for s in range(0, num, batch)])
    return lat, scores


def fit_interfacegan(G, g, labeller: Callable, key, *, num: int = 2000, ratio: float = 0.3,
                     method: str = "svm", C: float = 1.0, space: str = "w", psi: float = 1.0,
                     val_fraction: float = 0.3, name: str = "boundary", batch: int = 250,
                     threshold: float | None = None) -> Directions:
    """Sample, label (``labeller: images -> scores [N]``) and fit a boundary
    (percentile selection, or ``score > threshold`` labels: see :func:`fit_boundary`).

    Returns:
      :func:`fit_boundary`'s :class:`Directions` (``extras`` also ``scores [num]``).
    """
    lat, scores = label_latents(G, g, labeller, key, num, space=space, psi=psi, batch=batch)
    d = fit_boundary(lat, scores, ratio=ratio, method=method, C=C, val_fraction=val_fraction,
                     space=space, name=name, threshold=threshold)
    return d.replace(extras={**d.extras, "scores": jnp.asarray(scores)[None]})


def boundary_accuracy(d: Directions, latents, labels, k: int = 0, layer: int = 0) -> float:
    """Share of ``labels`` (bool ``[N]``) predicted by ``n . x + offset > 0``.

    Args:
      d: boundaries from :func:`fit_boundary`; k: which one; layer: ws index for 'wp'.
      latents: ``[N, D]`` or ``[N, num_ws, D]`` (for 'w' the first ws is used).
    """
    x = jnp.asarray(latents)
    n, off = d.vectors[k], d.extras["offset"][k]
    if d.space == "wp":
        n, off, x = n[layer], off[layer], x[:, layer]
    elif x.ndim == 3:
        x = x[:, 0]
    return float(jnp.mean(((x @ n + off) > 0) == jnp.asarray(labels, bool)))


def conditional_direction(primal, conditions):
    """Unit vector of ``primal`` with its components along ``conditions`` removed.

    Args:
      primal: ``[D]`` (the attribute to change); conditions: ``[M, D]`` or ``[D]``
        (the attributes to keep).

    Returns:
      ``[D]`` unit vector orthogonal to every condition.
    """
    p = jnp.asarray(primal, jnp.float32)
    c = jnp.atleast_2d(jnp.asarray(conditions, jnp.float32))
    if p.ndim != 1 or c.shape[1] != p.shape[0]:
        raise ValueError(f"conditional_direction: primal [D] and conditions [M, D], got "
                         f"{p.shape} and {c.shape}")
    q, _ = jnp.linalg.qr(c.T)                                                   # [D, M]
    r = p - q @ (q.T @ p)
    return r / jnp.maximum(jnp.linalg.norm(r), 1e-12)
