"""StylEx against its baselines, as the paper measures it.

One protocol for every generator: AttFind on one set of held-out real images (encoded through
the generator's encoder), then the sufficiency curve (:mod:`.sufficiency`) on a *second*,
disjoint set of held-out images, with bootstrap intervals; and per top attribute, which
planted factor it changes (the shapes estimators). Methods:

* ``stylex``: AttFind in the StylEx generator's (classifier-conditioned) StyleSpace;
* ``vanilla``: AttFind in a vanilla StyleGAN2's StyleSpace (Wu et al.'s StyleSpace method)
  with an inversion encoder trained on that generator, the same classifier;
* ``random``: random style coordinates of the StylEx generator (and ``vanilla_random``).
"""
from __future__ import annotations

from typing import Callable

import jax
import numpy as np

from jaxgan.checkpoint import load_network
from jaxgan.stylex import attfind as af
from jaxgan.stylex import pipeline, sufficiency
from jaxgan.stylex.metrics import attribute_factor_changes, shapes_estimators
from jaxgan.stylex.explainer import Stylex

#: Scene indices of the two held-out sets (training sets use the first indices).
ATTFIND_START = 10 ** 6
EVAL_START = 2 * 10 ** 6


def vanilla_explainer(g_path: str, e_path: str, clf, clf_vars) -> Stylex:
    """A vanilla generator with its inversion encoder, as a :class:`Stylex` without a
    condition (``style_cond_dim = 0``) and without D.

    Args:
      g_path: a generator checkpoint (``G_ema`` export, ``builtin:NAME``).
      e_path: an encoder checkpoint of that generator (`jaxgan train-encoder`).
      clf, clf_vars: the classifier being explained.

    Raises:
      ValueError: the generator is conditioned, or the encoder does not fit it.
    """
    G, g = load_network(g_path)
    E, e = load_network(e_path)
    if getattr(G.cfg, "style_cond_dim", 0):
        raise ValueError(f"{g_path} is a StylEx (classifier-conditioned) generator, not a "
                         "vanilla one")
    if (E.cfg.num_ws, E.cfg.w_dim) != (G.cfg.num_ws, G.cfg.w_dim):
        raise ValueError(f"encoder {e_path} outputs W+ [{E.cfg.num_ws}, {E.cfg.w_dim}] but "
                         f"generator {g_path} takes [{G.cfg.num_ws}, {G.cfg.w_dim}]")
    return Stylex(G, g, E, e, None, None, clf, clf_vars)


def evaluate(sx: Stylex, images_attfind, images_eval, *, key, ks=sufficiency.KS,
             shift: float = 2.0, prefilter: int | None = 96, chunk: int = 256,
             progress: bool = True, estimators=None, thresholds=None, k_factors: int = 4,
             class_names=()) -> dict:
    """AttFind on ``images_attfind``, the sufficiency curves on ``images_eval``.

    Args:
      sx: the explainer (StylEx or :func:`vanilla_explainer`).
      images_attfind, images_eval: ``[N, R, R, C]`` in [-1, 1], disjoint sets.
      key: PRNG key of the random baseline.
      ks, shift, prefilter, chunk: as :func:`jaxgan.stylex.pipeline.run_attfind`.
      estimators, thresholds: shapes factor estimators (optional) for the factor table.
      k_factors: top attributes per class in the factor table.

    Returns:
      dict: ``curve`` and ``random_curve`` (:func:`.sufficiency.curve`), the flip matrices
      ``flipped`` / ``random_flipped`` ``[len(ks), N_stable]``, ``ranking``, ``num_stable``,
      ``num_eval``, ``agreement`` (regenerated class = classifier's on the eval images) and
      ``factors`` (per class, per top attribute: the estimators' flip fractions).
    """
    enc_a = pipeline.encode_dataset(sx, images_attfind)
    res = pipeline.run_attfind(sx, enc_a, shift=shift, num_indices=max(ks), chunk=chunk,
                               progress=progress, prefilter=prefilter)
    layout = enc_a["layout"]
    m = pipeline.attfind_model(sx, layout)
    enc_e = pipeline.encode_dataset(sx, images_eval)
    _, base_logits = af.base_outputs(m, enc_e["styles"])
    stable = af.stable_mask(base_logits, enc_e["cond_logits"])
    flat = enc_e["styles"][stable]
    labels = np.argmax(base_logits[stable], -1)
    smin, smax, ranking = res["smin"], res["smax"], res["ranking"]
    flipped = sufficiency.flipped_by_k(m.render, m.classify, flat, labels, ranking, smin, smax,
                                       shift, ks)
    rnd = sufficiency.flipped_by_k_random(m.render, m.classify, flat, labels, key, smin, smax,
                                          shift, ks)
    factors = None
    if estimators:
        factors = {}
        for c in sorted(ranking):
            others = np.nonzero(labels != c)[0]
            attrs = ranking[c][:k_factors]
            name = class_names[c] if c < len(class_names) else f"class{c}"
            if not len(others) or not attrs:      # no image to move toward c, or no attribute
                factors[name] = []
                continue
            ch = attribute_factor_changes(m.render, estimators, flat[others], attrs, smin, smax,
                                          shift, thresholds)
            factors[name] = [{"attribute": f"{'max' if r['direction'] else 'min'}:"
                                           f"{layout.name(r['coordinate'])}",
                              "flip_frac": r["flip_frac"]} for r in ch]
    return {"curve": sufficiency.curve(flipped, labels, ks, class_names),
            "random_curve": sufficiency.curve(rnd, labels, ks, class_names),
            "flipped": flipped, "random_flipped": rnd, "labels": labels,
            "ranking": {int(c): [[int(a[0]), int(a[1])] for a in v] for c, v in ranking.items()},
            "num_stable": int(stable.sum()), "num_eval": int(len(stable)),
            "agreement": float(stable.mean()), "factors": factors}


def compare(sx: Stylex, vanilla: Stylex | None, task: str, *, num_attfind: int = 128,
            num_eval: int = 250, seed: int = 0, ks=sufficiency.KS, shift: float = 2.0,
            prefilter: int | None = 96, chunk: int = 256, progress: bool = True,
            segmenter: str = pipeline.SEGMENTER,
            shape_classifier: str = pipeline.SHAPE_CLASSIFIER,
            log: Callable[[str], None] = print) -> dict:
    """StylEx vs the vanilla StyleSpace baseline vs random coordinates, one protocol.

    Args:
      sx: the StylEx; vanilla: :func:`vanilla_explainer` output or None (random only).
      task: the shapes task whose held-out scenes are explained.
      num_attfind, num_eval: images of the two disjoint held-out sets.
      seed: scenes' seed and the random baseline's key.
      log: progress lines.

    Returns:
      JSON-able dict: per method its curve, ``num_stable``, ``agreement``, ``factors``;
      ``differences``: StylEx minus each baseline at every ``k`` with 95% bootstrap
      intervals.
    """
    res = sx.G.cfg.img_resolution
    img_a, _, _ = pipeline.task_images(task, num_attfind, res, seed, start=ATTFIND_START)
    img_e, _, _ = pipeline.task_images(task, num_eval, res, seed, start=EVAL_START)
    est, thr, _ = shapes_estimators(segmenter, shape_classifier)
    names = list(sx.clf.cfg.class_names)
    key = jax.random.key(seed)
    runs = {}
    for name, ex in (("stylex", sx), ("vanilla", vanilla)):
        if ex is None:
            continue
        log(f"compare: AttFind + sufficiency on the {name} generator ...")
        runs[name] = evaluate(ex, img_a, img_e, key=jax.random.fold_in(key, len(runs)), ks=ks,
                              shift=shift, prefilter=prefilter, chunk=chunk, progress=progress,
                              estimators=est, thresholds=thr, class_names=names)
    methods = {"stylex": runs["stylex"]["curve"], "random": runs["stylex"]["random_curve"]}
    flips = {"stylex": runs["stylex"]["flipped"], "random": runs["stylex"]["random_flipped"]}
    if "vanilla" in runs:
        methods.update(vanilla=runs["vanilla"]["curve"],
                       vanilla_random=runs["vanilla"]["random_curve"])
        flips.update(vanilla=runs["vanilla"]["flipped"],
                     vanilla_random=runs["vanilla"]["random_flipped"])
    diffs = {}
    for other in flips:
        if other == "stylex":
            continue
        rows = []
        for i, k in enumerate(ks):
            d, lo, hi = sufficiency.bootstrap_diff_ci(flips["stylex"][i], flips[other][i],
                                                      seed=seed + i)
            rows.append({"k": int(k), "difference": d, "low": lo, "high": hi})
        diffs[f"stylex-{other}"] = rows
    return {"task": task, "num_attfind": num_attfind, "num_eval": num_eval, "seed": seed,
            "shift": shift, "prefilter": prefilter, "methods": methods, "differences": diffs,
            "generators": {n: {"num_stable": r["num_stable"], "agreement": r["agreement"],
                               "ranking": r["ranking"], "factors": r["factors"]}
                           for n, r in runs.items()}}


def markdown_table(result: dict, ks=(1, 2, 4, 6, 10)) -> str:
    """The comparison as a Markdown table: rate [95% interval] per method and ``k``, then the
    differences StylEx minus each baseline."""
    kk = result["methods"]["stylex"]["k"]
    cols = [k for k in ks if k in kk]
    lines = ["| method | n | " + " | ".join(f"k={k}" for k in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for name, c in result["methods"].items():
        cells = [f"{c['overall'][kk.index(k)]['rate']:.3f} [{c['overall'][kk.index(k)]['low']:.2f},"
                 f" {c['overall'][kk.index(k)]['high']:.2f}]" for k in cols]
        lines.append(f"| {name} | {c['n']} | " + " | ".join(cells) + " |")
    lines += ["", "| difference | " + " | ".join(f"k={k}" for k in cols) + " |",
              "|---|" + "---|" * len(cols)]
    for name, rows in result["differences"].items():
        by_k = {r["k"]: r for r in rows}
        lines.append(f"| {name} | " + " | ".join(
            f"{by_k[k]['difference']:+.3f} [{by_k[k]['low']:+.2f}, {by_k[k]['high']:+.2f}]"
            for k in cols) + " |")
    return "\n".join(lines) + "\n"
