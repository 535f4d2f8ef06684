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
from jaxgan.viz.grid import save_image
from jaxgan.stylex import metrics
from jaxgan.viz import manifest as mf
from jaxgan.sharding import map_rows
import jax


def _save_pair_images(out: Path, stem: str, original, changed) -> dict:
    """Single PNGs of one counterfactual row: ``images/<stem>_original.png`` and
    ``images/<stem>_attr<r>.png`` per attribute rank ``r`` (for the explorer)."""
    (out / "images").mkdir(exist_ok=True)
    orig = f"images/{stem}_original.png"
    save_image(original, out / orig)
    files = []
    for r, img in enumerate(changed, 1):
        files.append(f"images/{stem}_attr{r}.png")
        save_image(img, out / files[-1])
    return {"original": orig, "changed": files}


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
                per_image.append({"file": fname, "p_before": pb, "p_after": [float(x) for x in pa],
                                  **_save_pair_images(out, f"class_{cname}_image{n_i}", o, ch)})
            # Class sheet: first example image with every top attribute, plus all k at once.
            o, ch, pb, pa = cf.counterfactuals(m.render, m.classify, flat[src[0]], attrs[:k],
                                               smin, smax, shift, c)
            allk = apply_attributes(jnp.asarray(flat[src[0]])[None], attrs[:k], smin, smax, shift)
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
                return map_rows(m.render, np.asarray(fl), batch=250)
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


def manifest_sections(out_dir, rep: dict | None = None) -> list[dict]:
    """Explorer sections of a StylEx report folder (:mod:`jaxgan.viz.manifest`).

    Per class and attribute rank, each example image's counterfactual (facets ``class``,
    ``rank``, ``example``; details: the attribute, P(class) before and after), the flip-rate
    and attribute tables, the class sheets and strips.

    Args:
      out_dir: the folder :func:`write_report` wrote.
      rep: its JSON (default: read ``out_dir/report.json``).

    Returns:
      the section list.
    """
    out = Path(out_dir)
    rep = json.loads((out / "report.json").read_text()) if rep is None else rep
    k = rep["k"]
    flips = [[c, round(float(r), 4)] for c, r in rep["flip_rate_per_class"].items()]
    sections = [mf.table(["class", f"flip rate (top-{k} attributes together)"],
                         flips + [["all", round(float(rep["flip_rate_top_k"]), 4)]],
                         title="Flip rate",
                         caption="share of images whose predicted class flips when the class's "
                                 f"top-{k} attributes are applied")]
    attr_rows, items, sheets = [], [], []
    for cname, entry in rep["classes"].items():
        changes = entry.get("factor_changes") or []
        for i, a in enumerate(entry["attributes"]):
            ch = changes[i]["mean_delta"] if i < len(changes) else {}
            attr_rows.append({"cells": [cname, a["rank"], f"{a['direction']}:{a['name']}",
                                        a["coordinate"], _round(a.get("score")),
                                        ", ".join(f"{f} {v:+.3f}" for f, v in ch.items()) or None],
                              "facets": {"class": cname}})
        for n_i, ex in enumerate(entry.get("examples", [])):
            for r, (img, p_after) in enumerate(zip(ex.get("changed", []), ex["p_after"]), 1):
                a = entry["attributes"][r - 1]
                items.append(mf.item(
                    img, caption=f"#{r} {a['direction']}:{a['name']}: P {ex['p_before']:.2f} -> "
                                 f"{p_after:.2f}",
                    facets={"class": cname, "rank": r, "example": n_i},
                    details={"attribute": f"{a['direction']}:{a['name']}",
                             "coordinate": a["coordinate"], "score": a.get("score"),
                             f"P({cname}) before": round(ex["p_before"], 4),
                             f"P({cname}) after": round(float(p_after), 4),
                             "change": round(float(p_after) - ex["p_before"], 4),
                             "sheet": ex["file"]},
                    extra_images=[(ex["original"], f"original P({cname})={ex['p_before']:.2f}"),
                                  (img, f"changed P({cname})={p_after:.2f}")]))
        for key, what in (("sheet", "an example with each top attribute and all together"),
                          ("strips", "each top attribute across images")):
            if (out / entry[key]).is_file():
                sheets.append(mf.plot(entry[key], caption=f"class {cname}: {what}"))
    table = mf.table(["class", "rank", "attribute", "coordinate", "score",
                      "factor change (mean)"], attr_rows, title="Top attributes per class")
    gallery = [mf.gallery(items, title="Counterfactuals: one attribute changed (click for the "
                                       "original and P(class) before/after)")] if items else []
    return gallery + [table] + sections + sheets


def write_manifest(out_dir, rep: dict | None = None) -> Path:
    """``out_dir/explorer.json`` for a StylEx report (see :func:`manifest_sections`)."""
    out = Path(out_dir)
    rep = json.loads((out / "report.json").read_text()) if rep is None else rep
    agree = rep.get("agreement_C(G(E(x)))=C(x)")
    desc = (f"AttFind over {rep['num_images']} encoded images (shift {rep['shift']}, measure "
            f"{rep['measure']})" + (f"; C(G(E(x))) = C(x) for {100 * agree:.0f}%" if agree
                                    is not None else "") + ". Step 1: choose a class, step 2: "
            "an attribute rank.")
    return mf.write_manifest(out, "stylex", "StylEx: what the classifier attends to",
                             manifest_sections(out, rep), description=desc,
                             facets=["class", "rank", "example"])


def _round(v, n: int = 4):
    return None if v is None else round(float(v), n)
