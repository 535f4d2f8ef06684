"""Outputs of the ensembling experiment: results JSON + Markdown table, accuracy-vs-alpha
plots per perturbation type, example view grids."""
from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from jaxgan.data import to_float
from jaxgan.ensemble.conditional import per_class
from jaxgan.ensemble.views import JitterSpec, make_views, params_for
from jaxgan.viz.grid import save_image_grid
from jaxgan.viz import manifest as mf


def _pct(x) -> str:
    return f"{100 * x:.1f}"


def markdown_table(results: dict) -> str:
    """The Markdown report: per classifier, one row per method (alpha from val; test accuracy
    and the paired gain over the classifier alone with bootstrap intervals)."""
    cfg = results["config"]
    lvl = int(round(100 * cfg["level"]))
    lines = [f"# Ensembling with generative views: {cfg['task']}", "",
             f"train {cfg['num_train']} / val {cfg['num_val']} / test {cfg['num_test']} images; "
             f"K = {results['num_views']} views; alpha chosen on val over "
             f"{len(results['alphas'])} values; {lvl}% percentile bootstrap intervals "
             f"({cfg['num_boot']} resamples; gain intervals paired). Encoder: "
             f"{results['encoder']}. Reconstruction MSE (test): "
             f"{results['reconstruction_mse']['test']:.4f}.", ""]
    for cname, cres in results["classifiers"].items():
        lo, hi = cres["test_ci"]
        lines += [f"## classifier `{cname}`: alone {_pct(cres['test_acc'])}% "
                  f"[{_pct(lo)}, {_pct(hi)}] test", "",
                  "| method | type | alpha | val acc % | test acc % | CI | gain (pts) | gain CI "
                  "| views only % |", "|---|---|---|---|---|---|---|---|---|"]
        rows = sorted(results["methods"][cname].items(), key=lambda kv: -kv[1]["val_acc"])
        for m, r in rows:
            glo, ghi = r["gain_ci"]
            flag = " **+**" if glo > 0 else " **-**" if ghi < 0 else ""
            lines.append(f"| {m} | {results['kinds'][m]} | {r['alpha']:.2f} | "
                         f"{_pct(r['val_acc'])} | {_pct(r['test_acc'])} | [{_pct(r['test_ci'][0])}, "
                         f"{_pct(r['test_ci'][1])}] | {100 * r['gain']:+.1f}{flag} | "
                         f"[{100 * glo:+.1f}, {100 * ghi:+.1f}] | "
                         f"{_pct(r['views_only_test_acc'])} |")
        best = rows[0]
        verdict = ("an improvement (interval above 0)" if best[1]["gain_ci"][0] > 0 else
                   "a loss (interval below 0)" if best[1]["gain_ci"][1] < 0 else
                   "no significant change (interval contains 0)")
        lines += ["", f"Best on val: `{best[0]}` (alpha {best[1]['alpha']:.2f}): test gain "
                  f"{100 * best[1]['gain']:+.1f} pts, {verdict}.", ""]
    lines += ["**+** / **-**: the gain interval excludes 0. Rows sorted by val accuracy.", ""]
    return "\n".join(lines)


def write_results(results: dict, out) -> None:
    """``out/results.json`` and ``out/results.md``."""
    out = Path(out)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=float) + "\n")
    (out / "results.md").write_text(markdown_table(results))


def save_alpha_plots(results: dict, out) -> list[Path]:
    """``out/alpha_<classifier>.png``: test (solid) and val (dotted) accuracy vs alpha, one
    panel per perturbation type, the chosen alpha marked."""
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    kinds = ["isotropic", "pca", "stylemix", "image jitter"]
    alphas = np.asarray(results["alphas"])
    paths = []
    for cname, methods in results["methods"].items():
        present = [k for k in kinds if any(results["kinds"][m] == k for m in methods)]
        fig, axes = plt.subplots(1, len(present), figsize=(4.2 * len(present), 3.6),
                                 squeeze=False, sharey=True)
        alone = results["classifiers"][cname]["test_acc"]
        for ax, kind in zip(axes[0], present):
            ms = [m for m in methods if results["kinds"][m] == kind]
            if "reconstruction" in methods:
                ms.append("reconstruction")
            colors = plt.cm.viridis(np.linspace(0, 0.9, len(ms)))
            for m, c in zip(ms, colors):
                r = methods[m]
                ls = "--" if m == "reconstruction" else "-"
                ax.plot(alphas, 100 * np.asarray(r["test_curve"]), ls, color=c, lw=1.3, label=m)
                ax.plot(alphas, 100 * np.asarray(r["val_curve"]), ":", color=c, lw=0.8)
                i = int(np.argmin(np.abs(alphas - r["alpha"])))
                ax.plot([r["alpha"]], [100 * r["test_curve"][i]], "o", color=c, ms=4)
            ax.axhline(100 * alone, color="k", lw=0.6)
            ax.set_title(kind)
            ax.set_xlabel("alpha (weight of the views)")
            ax.legend(fontsize=6, loc="lower left")
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("accuracy % (test solid, val dotted)")
        fig.suptitle(f"classifier '{cname}': ensemble accuracy vs alpha "
                     f"(black: classifier alone on test; dots: alpha chosen on val)", fontsize=9)
        fig.tight_layout()
        p = Path(out) / f"alpha_{cname.replace('+', '_')}.png"
        fig.savefig(p, dpi=120)
        plt.close(fig)
        paths.append(p)
    return paths


def save_view_grids(G, g, data, ws, recon_u8, specs, basis, key, cfg, out, num_images: int = 6,
                    num_views: int = 8, classes=None) -> list[Path]:
    """``out/<method>.png``: one row per test image: image, reconstruction, ``num_views`` views
    (the same keys as the experiment's first views); ``classes`` ``[N]``: a conditional G's
    class of each image (GAN views rendered with it)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n = min(num_images, len(ws))
    x = to_float(data["image"][:n])
    idx = jnp.arange(n) + cfg.num_val
    max_shift = max([s.shift for s in specs if isinstance(s, JitterSpec)] + [0])
    fns, paths = {}, []
    for spec in specs:
        kind = "jitter" if isinstance(spec, JitterSpec) else "gan"
        if kind not in fns:
            fns[kind] = make_views(G, kind, cfg.num_views, min(cfg.chunk, n), max_shift)
        src = jnp.asarray(x if kind == "jitter" else ws[:n])
        params = params_for(spec, G.cfg.num_ws)
        if classes is not None and kind == "gan":
            v = per_class(G, np.asarray(classes)[:n], lambda Gk, i: np.asarray(make_views(
                Gk, kind, cfg.num_views, min(cfg.chunk, len(i)), max_shift)(
                g, src[i], key, idx[i], params, basis))[:, :num_views])
        else:
            v = np.asarray(fns[kind](g, src, key, idx, params, basis))[:, :num_views]
        # v: [n, V, R, R, C]
        rows = np.concatenate([x[:, None], to_float(recon_u8[:n])[:, None], v], 1)
        paths.append(save_image_grid(rows.reshape(-1, *rows.shape[2:]), out / f"{spec.name}.png",
                                     ncols=rows.shape[1]))
    return paths


def _view_file_name(method: str) -> str:
    """File of a method's view grid under ``views/`` (as :func:`save_view_grids` names it)."""
    return f"{method}.png"


def manifest_sections(results: dict, out) -> list[dict]:
    """Explorer sections of an ensembling folder: per classifier the results table (facets
    ``classifier``, ``type``), the accuracy-vs-alpha chart (test curves, drawn by the page)
    and plot, and the view grids (facet ``type``; details: the method's figures).

    Args:
      results: :func:`jaxgan.ensemble.experiment.run_experiment`'s dict (``results.json``).
      out: the folder it was written to.

    Returns:
      the section list (:mod:`jaxgan.viz.manifest`).
    """
    out = Path(out)
    kinds, alphas = results["kinds"], results["alphas"]
    sections = []
    for cname, methods in results["methods"].items():
        alone = results["classifiers"][cname]
        order = sorted(methods.items(), key=lambda kv: -kv[1]["val_acc"])
        rows = [{"cells": ["classifier alone", "-", None, round(100 * alone["val_acc"], 2),
                           round(100 * alone["test_acc"], 2), _ci(alone["test_ci"]), 0.0, None,
                           None], "facets": {"classifier": cname}}]
        rows += [{"cells": [m, kinds.get(m, "?"), round(r["alpha"], 3),
                            round(100 * r["val_acc"], 2), round(100 * r["test_acc"], 2),
                            _ci(r["test_ci"]), round(100 * r["gain"], 2), _ci(r["gain_ci"]),
                            round(100 * r["views_only_test_acc"], 2)],
                  "facets": {"classifier": cname, "type": kinds.get(m, "?")}} for m, r in order]
        sections.append(mf.table(["method", "type", "alpha (val)", "val acc %", "test acc %",
                                  "test CI %", "gain (pts)", "gain CI (pts)", "views only %"],
                                 rows, title=f"classifier '{cname}': accuracy with generative "
                                             "views (rows sorted by val accuracy)"))
        series = [{"name": "classifier alone", "x": [alphas[0], alphas[-1]],
                   "y": [100 * alone["test_acc"]] * 2}]
        series += [{"name": m, "x": alphas, "y": [100 * v for v in r["test_curve"]]}
                   for m, r in order]
        sections.append(mf.chart(series, title=f"classifier '{cname}': test accuracy vs alpha "
                                               "(weight of the views)",
                                 x_label="alpha", y_label="test accuracy %"))
        plot = out / f"alpha_{cname.replace('+', '_')}.png"
        if plot.is_file():
            sections.append(mf.plot(plot.name, caption=f"'{cname}': test (solid) and val (dotted) "
                                                       "accuracy vs alpha per perturbation type"))
    items = []
    first = next(iter(results["methods"].values()), {})
    for m, kind in kinds.items():
        f = out / "views" / _view_file_name(m)
        if f.is_file():
            r = first.get(m, {})
            items.append(mf.item(f"views/{f.name}", caption=f"{m} ({kind})",
                                 facets={"type": kind},
                                 details={k: round(float(r[k]), 4) for k in
                                          ("alpha", "val_acc", "test_acc", "gain") if k in r}))
    if items:
        sections.append(mf.gallery(items, title="Views: one row per test image (image, "
                                                "reconstruction, views)"))
    return sections


def write_manifest(out, results: dict | None = None) -> Path:
    """``out/explorer.json`` for an ensembling folder (see :func:`manifest_sections`).

    Args:
      out: the folder :func:`write_results` wrote (``results`` default: its results.json).
    """
    out = Path(out)
    results = json.loads((out / "results.json").read_text()) if results is None else results
    cfg = results["config"]
    desc = (f"Task `{cfg['task']}`: train {cfg['num_train']} / val {cfg['num_val']} / test "
            f"{cfg['num_test']} images, K = {results['num_views']} views; alpha chosen on val. "
            f"Reconstruction MSE (test) {results['reconstruction_mse']['test']:.4f}.")
    return mf.write_manifest(out, "ensemble", f"Ensembling with generative views: {cfg['task']}",
                             manifest_sections(results, out), description=desc,
                             facets=["classifier", "type"])


def _ci(ci) -> str:
    return f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"
