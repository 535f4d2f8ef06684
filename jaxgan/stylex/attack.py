"""Counterfactual attacks (Goldwasser & Hooker): flip the classifier by gradient steps on an
image's latent (W+ or StyleSpace S) with an L2 and/or L1 (sparsity) penalty on the change,
so the counterfactual stays on the generator's manifold; attribute the change to auxiliary
image descriptors (on the built-in data: the planted factors estimated by the segmenter and
the shape classifier) and aggregate over many images into a global explanation. The
pixel-space attack on the same images is the contrast: it flips the label with a small,
unstructured change that leaves the descriptors alone.

Every attack is an optax problem over the latent offset whose loss closes over the frozen
generator and classifier; the whole optimisation is one jitted ``lax.scan``.
"""
from __future__ import annotations

from typing import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxgan import model
from jaxgan.stylex.attfind import unflatten_styles


def latent_attack(render: Callable, classify: Callable, latent0, target, *, steps: int = 100,
                  lr: float = 0.05, l2: float = 0.05, l1: float = 0.0, margin: float = 0.0):
    """Gradient counterfactual on a latent.

    Minimises ``CE(C(render(latent0 + δ)), target) + l2 ||δ||² + l1 |δ|₁`` per example with
    Adam (one jitted scan). Once an example's target logit beats the others by ``margin`` its
    classification term is switched off, so the penalty then only shrinks δ.

    Args:
      render: ``latent [N, ...] -> images``; classify: ``images -> logits [N, K]``.
      latent0: ``[N, ...]`` starting latents (W+ ``[N, L, w_dim]`` or flat styles ``[N, S]``).
      target: ``[N]`` int classes to reach.

    Returns:
      ``(delta [N, ...], logits [N, K] at the end, loss history [steps])``.
    """
    latent0 = jnp.asarray(latent0)
    target = jnp.asarray(target)
    if not bool(jnp.all(jnp.isfinite(latent0))):
        raise ValueError("latent_attack: latent0 contains NaN/Inf")
    if target.shape != latent0.shape[:1]:
        raise ValueError(f"latent_attack: target must be [{latent0.shape[0]}], got {target.shape}")
    tx = optax.adam(lr)

    def loss_fn(delta):
        logits = classify(render(latent0 + delta))
        other = jnp.max(jnp.where(jax.nn.one_hot(target, logits.shape[-1]) > 0, -jnp.inf, logits), -1)
        reached = jax.lax.stop_gradient(
            jnp.take_along_axis(logits, target[:, None], 1)[:, 0] - other > margin)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, target)
        axes = tuple(range(1, delta.ndim))
        pen = l2 * jnp.sum(delta ** 2, axis=axes) + l1 * jnp.sum(jnp.abs(delta), axis=axes)
        return jnp.sum(jnp.where(reached, 0.0, ce) + pen), logits

    @jax.jit
    def run(delta):
        def body(carry, _):
            d, st = carry
            (loss, _), g = jax.value_and_grad(loss_fn, has_aux=True)(d)
            upd, st = tx.update(g, st, d)
            return (optax.apply_updates(d, upd), st), loss
        (d, _), hist = jax.lax.scan(body, (delta, tx.init(delta)), None, length=steps)
        return d, classify(render(latent0 + d)), hist

    return run(jnp.zeros_like(latent0))


def pixel_attack(classify: Callable, images, target, *, steps: int = 100, lr: float = 0.01,
                 l2: float = 0.05, margin: float = 0.0):
    """The same attack in pixel space (images stay in [-1, 1]).

    Returns:
      ``(adversarial images [N, R, R, C], logits [N, K], loss history)``.
    """
    x0 = jnp.asarray(images)
    render = lambda d: jnp.clip(d, -1.0, 1.0)  # noqa: E731
    delta, logits, hist = latent_attack(render, classify, x0, target, steps=steps, lr=lr, l2=l2,
                                        margin=margin)
    return jnp.clip(x0 + delta, -1, 1), logits, hist


def descriptor_changes(estimators: Mapping[str, Callable], before, after,
                       thresholds: Mapping[str, float]) -> dict:
    """Per-descriptor change between two image sets: ``{name: {'mean_delta',
    'mean_abs_delta', 'flip_frac'}}`` (flip = the binarised descriptor changed)."""
    out = {}
    for k, f in estimators.items():
        a = np.asarray(jax.jit(f)(jnp.asarray(before)))
        b = np.asarray(jax.jit(f)(jnp.asarray(after)))
        t = thresholds[k]
        out[k] = {"mean_delta": float(np.mean(b - a)), "mean_abs_delta": float(np.mean(np.abs(b - a))),
                  "flip_frac": float(np.mean((a > t) != (b > t)))}
    return out


def attack_study(sx, enc: dict, images, estimators, thresholds, *, space: str = "S",
                 n: int = 64, steps: int = 100, lr: float | None = None, l2: float = 0.05,
                 l1: float = 0.0, pixel_l2: float = 0.05, pixel_lr: float = 0.01) -> dict:
    """Latent counterfactual attack vs. pixel attack on ``n`` encoded images, attributed to
    the descriptors and aggregated into a global explanation (per source class).

    Args:
      sx: trained StylEx; enc: :func:`jaxgan.stylex.pipeline.encode_dataset` output.
      images: the real images that were encoded ``[N, R, R, C]``.
      space: ``'S'`` (flat StyleSpace) or ``'W+'``.

    Returns:
      JSON-able dict: flip rates, mean change sizes, descriptor changes per source class for
      both attacks, and the reconstructions' descriptor values.
    """
    layout = enc["layout"]
    cond = jnp.asarray(enc["cond_logits"][:n])
    y = np.argmax(np.asarray(cond), -1)
    k = cond.shape[-1]
    target = jnp.asarray((y + 1) % k)
    if space == "S":
        lat0 = jnp.asarray(enc["styles"][:n])
        render = lambda s: model.synthesize(sx.G, sx.g, styles=unflatten_styles(s, layout))  # noqa: E731
        lr = 0.05 if lr is None else lr
    elif space == "W+":
        lat0 = jnp.asarray(enc["ws"][:n])
        render = lambda w: model.synthesize(sx.G, sx.g, model.condition_ws(w, cond))  # noqa: E731
        lr = 0.02 if lr is None else lr
    else:
        raise ValueError(f"space must be 'S' or 'W+', got {space!r}")
    delta, logits, _ = latent_attack(render, sx.logits, lat0, target, steps=steps, lr=lr, l2=l2,
                                     l1=l1)
    before = np.asarray(jax.jit(render)(lat0))
    after = np.asarray(jax.jit(render)(lat0 + delta))
    lat_flip = np.argmax(np.asarray(logits), -1) == np.asarray(target)
    x = jnp.asarray(images[:n])
    adv, plog, _ = pixel_attack(sx.logits, x, target, steps=steps, lr=pixel_lr, l2=pixel_l2)
    pix_flip = np.argmax(np.asarray(plog), -1) == np.asarray(target)
    out = {"space": space, "n": n, "latent": {}, "pixel": {}}
    for c in range(k):
        sel = (y == c) & lat_flip
        psel = (y == c) & pix_flip
        out["latent"][str(c)] = {
            "flip_rate": float(lat_flip[y == c].mean()) if (y == c).any() else None,
            "mean_l2_latent": float(np.sqrt(np.sum(np.asarray(delta)[y == c] ** 2,
                                                   axis=tuple(range(1, delta.ndim)))).mean())
            if (y == c).any() else None,
            "mean_abs_pixel_change": float(np.abs(after - before)[sel].mean()) if sel.any() else None,
            "descriptors": descriptor_changes(estimators, before[sel], after[sel], thresholds)
            if sel.any() else {}}
        out["pixel"][str(c)] = {
            "flip_rate": float(pix_flip[y == c].mean()) if (y == c).any() else None,
            "mean_abs_pixel_change": float(np.abs(np.asarray(adv) - np.asarray(x))[psel].mean())
            if psel.any() else None,
            "descriptors": descriptor_changes(estimators, np.asarray(x)[psel], np.asarray(adv)[psel],
                                              thresholds) if psel.any() else {}}
    out["images"] = {"before": before, "after": after, "pixel_adv": np.asarray(adv),
                     "real": np.asarray(x)}
    return out
