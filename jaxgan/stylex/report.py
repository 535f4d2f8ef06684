"""The StylEx explanation report: one directory with, per class, a sheet of the top
attributes (original | changed with P(class) for example images), a sheet of strips (each
attribute across many images), per-image counterfactual sheets, and ``report.json``
(rankings with names and scores, flip rates, factor changes, the FID-style proxy)."""
from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from jaxgan.stylex import counterfactual as cf
from jaxgan.stylex.attfind import apply_attributes


def _name(c, class_names):
    return class_names[c] if class_names and c < len(class_names) else f"class{c}"


def write_report(out_dir, m, flat, labels, result: dict, *, class_names=(), k: int = 4,
                 num_examples: int = 8, estimators=None, thresholds=None, feature_fn=None,
                 real_images=None, extra: dict | None = None) -> dict:
    """Write PNG sheets + ``report.json`` per class.

    Args:
      out_dir: output directory.
      m: :class:`~jaxgan.stylex.attfind.AttFindModel` (render, classify, layout).
      flat: ``[N, S]`` styles of the (stable) images; labels: their classes ``[N]``.
      result: :func:`jaxgan.stylex.pipeline.run_attfind` output (ranking, smin, smax, shift).
      k: attributes used for flip rates and shown per class.
      estimators, thresholds: optional factor estimators (``images -> [B]``) to record what
        each top attribute changes (:func:`~jaxgan.stylex.metrics.attribute_factor_changes`).
      feature_fn, real_images: optional FID-style proxy (real vs. top-k changed).
      extra: merged into the JSON.

    Returns:
      the JSON dict.
    """
    from jaxgan.stylex import metrics  # noqa: PLC0415
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    smin, smax, shift = result["smin"], result["smax"], result["shift"]
    ranking = result["ranking"]
    layout = m.layout
    flip = metrics.flip_rate(m.render, m.classify, flat, labels, ranking, smin, smax, shift, k)
    rep = {"shift": shift, "measure": result.get("measure", "prob"), "k": k,
           "num_images": int(len(labels)), "flip_rate_top_k": flip["flip_rate"],
           "flip_rate_per_class": {_name(c, class_names): r for c, r in flip["per_class"].items()},
           "classes": {}}
    for c in sorted(ranking):
        cname = _name(c, class_names)
        attrs = ranking[c]
        names = [f"{'max' if d else 'min'}:{layout.name(j)}" for d, j, *_ in attrs]
        others = np.nonzero(np.asarray(labels) != c)[0]                 # images to move to c
        src = others[:num_examples]
        entry = {"attributes": [{"rank": i + 1, "direction": "max" if a[0] else "min",
                                 "coordinate": int(a[1]), "name": layout.name(int(a[1])),
                                 "score": float(a[2]) if len(a) > 2 else None}
                                for i, a in enumerate(attrs)],
                 "sheet": f"class_{cname}.png", "strips": f"class_{cname}_strips.png"}
        if len(src):
            strips = [cf.attribute_strip(m.render, m.classify, flat[src], a, smin, smax, shift, c)
                      for a in attrs[:k]]
            cf.save_strips(out / entry["strips"], strips, names[:k], cname)
            per_image = []
            for n_i, i in enumerate(src[:3]):
                o, ch, pb, pa = cf.counterfactuals(m.render, m.classify, flat[i], attrs[:k], smin,
                                                   smax, shift, c)
                fname = f"class_{cname}_image{n_i}.png"
                cf.save_image_explanation(out / fname, o, ch, pb, pa, names[:k], cname)
                per_image.append({"file": fname, "p_before": pb, "p_after": [float(x) for x in pa]})
            # Class sheet: first example image with every top attribute, plus all k at once.
            o, ch, pb, pa = cf.counterfactuals(m.render, m.classify, flat[src[0]], attrs[:k],
                                               smin, smax, shift, c)
            allk = apply_attributes(jnp.asarray(flat[src[0]])[None], attrs[:k], smin, smax, shift)
            import jax  # noqa: PLC0415
            img_all = np.asarray(m.render(allk))
            p_all = float(np.asarray(jax.nn.softmax(m.classify(jnp.asarray(img_all)), -1))[0, c])
            cf.save_image_explanation(out / entry["sheet"], o,
                                      np.concatenate([ch, img_all]), pb,
                                      np.concatenate([pa, [p_all]]),
                                      names[:k] + [f"top-{k} together"], cname)
            entry["examples"] = per_image
        if estimators:
            entry["factor_changes"] = metrics.attribute_factor_changes(
                m.render, estimators, flat[others] if len(others) else flat, attrs[:k], smin,
                smax, shift, thresholds)
        if feature_fn is not None and real_images is not None and len(others) > 1:
            def render_all(fl):
                return np.concatenate([np.asarray(m.render(jnp.asarray(fl[i:i + 250])))
                                       for i in range(0, len(fl), 250)])
            changed = np.asarray(apply_attributes(flat[others], attrs[:k], smin, smax, shift))
            entry["frechet_proxy"] = {
                "reconstructed": metrics.frechet_proxy(feature_fn, real_images,
                                                       render_all(flat[others])),
                f"top_{k}_changed": metrics.frechet_proxy(feature_fn, real_images,
                                                          render_all(changed))}
        rep["classes"][cname] = entry
    rep.update(extra or {})
    (out / "report.json").write_text(json.dumps(rep, indent=2, default=float) + "\n")
    return rep
