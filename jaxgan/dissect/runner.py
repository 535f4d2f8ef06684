"""End-to-end dissection run (behind ``jaxgan dissect``): tables, sheets, curves, JSON.

Writes into ``out``::

    dissection.json / dissection.md        every unit of every layer: concept, IoU, t_u, k_u
    units_<layer>.png                      top units by IoU, top-activating samples + masks
    study_<concept>.json                   ACE per unit, orders, curves, removal, insertion
    curve_<concept>.png                    concept area remaining vs units ablated (IoU vs ACE)
    ablate_<concept>.png / insert_<concept>.png   original / edited sheets
    alpha_<concept>.json                   optimised alpha (with alpha_steps > 0)
    artifacts.json                         artifact units, FD before/after (when asked)
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

from jaxgan.dissect import report
from jaxgan.dissect.characterize import dissect
from jaxgan.dissect.intervene import ablation_curve, intervene_images
from jaxgan.dissect.study import (concept_study, default_counts, insertion_study, removal_effect,
                                  ws_batches)
from jaxgan.dissect.artifacts import artifact_study
from jaxgan.dissect.alpha_opt import optimize_alpha


def best_layer(results: dict, concept: str) -> str:
    """The layer holding the unit with the highest IoU for ``concept``."""
    return max(results, key=lambda n: results[n].iou[:, results[n].concepts.index(concept)].max())


@dataclasses.dataclass(frozen=True)
class DissectConfig:
    """Options of :func:`run_dissection`.

    Attributes:
      concepts: concepts to study causally (ACE, curves, removal, insertion, alpha).
      num_samples, batch_size, quantile: the dissection pass (``quantile``: a float or a
        tuple of them).
      seed: dissection latents use ``key(seed)``, held-out studies ``fold_in(key(seed), 1)``.
      truncation_psi: latent truncation.
      num_units: the top-k ACE units ablated / inserted.
      study_samples: held-out samples for ACE and curves.
      max_units: longest point of the ablation curves.
      sheet_units: units shown per layer sheet.
      alpha_steps: > 0 runs alpha optimisation of the removal objective (needs
        ``soft_segment_fn`` returning probabilities); its top-alpha units (the paper's
        ranking) then replace the per-unit-ACE ranking for removal and insertion.
      alpha_lam: the alpha objective's sparsity weight.
      study_layer: layer of the causal studies (default: per concept, the layer with the
        highest-IoU unit). With the skip architecture a concept drawn by an early block's
        ToRGB cannot be removed at a later layer: prefer early layers (e.g. ``b8.conv1``).
    """
    concepts: tuple[str, ...] = ()
    num_samples: int = 1000
    batch_size: int = 50
    quantile: Any = 0.01
    seed: int = 0
    truncation_psi: float = 1.0
    num_units: int = 8
    study_samples: int = 64
    max_units: int = 16
    sheet_units: int = 12
    alpha_steps: int = 0
    alpha_lam: float = 0.01
    study_layer: str | None = None


def run_dissection(G, variables, segment_fn: Callable, layers, out,
                   cfg: DissectConfig = DissectConfig(), *, soft_segment_fn=None,
                   artifacts: dict | None = None, progress: bool = True) -> dict:
    """Dissect ``layers``, then study each of ``concepts`` at its best layer.

    Args:
      G, variables: the generator.
      segment_fn: images -> ``{concept: bool [N, S, S]}``.
      layers: layer names.
      out: output folder.
      cfg: the run's options (:class:`DissectConfig`).
      soft_segment_fn: images -> ``{concept: probabilities [N, S, S]}`` (alpha optimisation).
      artifacts: kwargs for :func:`jaxgan.dissect.artifacts.artifact_study` (plus
        ``layer``), or None.

    Returns:
      the summary dict (also in ``out/summary.json``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    key = jax.random.key(cfg.seed)
    held = jax.random.fold_in(key, 1)
    res = dissect(G, variables, segment_fn, layers, num_samples=cfg.num_samples,
                  batch_size=cfg.batch_size, key=key, quantile=cfg.quantile,
                  truncation_psi=cfg.truncation_psi, progress=progress)
    summary = {"tables": report.write_tables(res, out)["summary"], "studies": {}}
    for n, d in res.items():
        units = np.argsort(-d.best_iou, kind="stable")[:cfg.sheet_units]
        report.unit_sheet(G, variables, d, units, out / f"units_{n}.png", key,
                          cfg.truncation_psi)
    for c in cfg.concepts:
        missing = [n for n in res if c not in res[n].concepts]
        if missing:
            raise ValueError(f"concept {c!r} is not produced by the segmenter "
                             f"(concepts: {list(res[layers[0]].concepts)})")
        if cfg.study_layer is not None and cfg.study_layer not in res:
            raise ValueError(f"study_layer {cfg.study_layer!r} was not dissected "
                             f"({list(res)})")
        layer = cfg.study_layer or best_layer(res, c)
        d = res[layer]
        n_units = min(cfg.num_units, cfg.max_units)
        counts = sorted(set(default_counts(cfg.max_units)) | {n_units})
        st = concept_study(G, variables, segment_fn, d, c, key=held,
                           num_samples=cfg.study_samples,
                           batch_size=min(cfg.batch_size, cfg.study_samples),
                           max_units=cfg.max_units, truncation_psi=cfg.truncation_psi,
                           counts=counts, progress=progress)
        others = [o for o in ("sky", "ground", "object", "sun") if o in d.concepts and o != c]
        entry = {"layer": layer, "best_iou": float(d.iou[:, d.concepts.index(c)].max()),
                 "ace": st["ace"], "order_ace": st["order_ace"], "order_iou": st["order_iou"],
                 "curve_ace": st["curve_ace"], "curve_iou": st["curve_iou"]}
        curves = {"units by ACE": (counts, st["curve_ace"]["remaining"][c]),
                  "units by IoU": (counts, st["curve_iou"]["remaining"][c])}
        top, chosen = st["order_ace"][:n_units], "ace"
        if cfg.alpha_steps > 0:
            if soft_segment_fn is None:
                raise ValueError("alpha optimisation needs soft_segment_fn (probabilities)")
            alpha, hist = optimize_alpha(G, variables, layer, soft_segment_fn, c, d.high_mean,
                                         key=jax.random.fold_in(key, 3), steps=cfg.alpha_steps,
                                         lam=cfg.alpha_lam, objective="ablate",
                                         truncation_psi=cfg.truncation_psi, progress=progress)
            (out / f"alpha_{c}.json").write_text(json.dumps(report.to_jsonable(
                {"layer": layer, "alpha": alpha, "history": hist})))
            order_alpha = np.argsort(-alpha, kind="stable")
            batches = ws_batches(G, variables, held, cfg.study_samples,
                                 min(cfg.batch_size, cfg.study_samples), cfg.truncation_psi)
            entry["order_alpha"] = order_alpha
            entry["curve_alpha"] = ablation_curve(G, variables, batches, layer, segment_fn,
                                                  tuple(d.concepts), order_alpha, counts)
            curves["units by optimised alpha"] = (counts, entry["curve_alpha"]["remaining"][c])
            top, chosen = order_alpha[:n_units], "alpha"
        entry["removal"] = removal_effect(entry[f"curve_{chosen}"], c, n_units, others)
        entry["removal"]["ranking"] = chosen
        ws = ws_batches(G, variables, jax.random.fold_in(key, 2), 16, 16, cfg.truncation_psi)[0]
        x = np.asarray(intervene_images(G, variables, ws, layer, "ablate", top, alpha=0.0))
        xa = np.asarray(intervene_images(G, variables, ws, layer, "ablate", top))
        report.intervention_sheet({"original": x[:8], f"ablate {n_units} units": xa[:8]},
                                  out / f"ablate_{c}.png",
                                  f"{layer}: ablate top {chosen} units for {c}")
        report.plot_curves(curves, out / f"curve_{c}.png", f"{layer}: ablating units for {c!r}",
                           ylabel=f"{c} area remaining")
        if "sky" in d.concepts:
            try:
                ins = insertion_study(G, variables, segment_fn, layer, top, d.high_mean, c, ws)
            except ValueError as e:
                entry["insertion"] = {"error": str(e)}
            else:
                report.intervention_sheet(
                    {"original": ins["original"][:8],
                     "region": report.overlay(ins["original"][:8], ins["regions"][:8]),
                     f"insert {n_units} units": ins["inserted"][:8]},
                    out / f"insert_{c}.png", f"{layer}: insert top {chosen} units for {c} in the sky")
                entry["insertion"] = {k: ins[k] for k in ("used", "before", "after",
                                                          "before_outside", "after_outside")}
        (out / f"study_{c}.json").write_text(json.dumps(report.to_jsonable(entry), indent=1))
        summary["studies"][c] = report.to_jsonable(
            {k: entry[k] for k in ("layer", "best_iou", "removal")}
            | {"insertion_mean_after": float(np.mean(entry["insertion"]["after"]))
               if "after" in entry.get("insertion", {}) else None})
    if artifacts is not None:
        kw = dict(artifacts)
        layer = kw.pop("layer", layers[0])
        a = artifact_study(G, variables, layer, truncation_psi=cfg.truncation_psi,
                           key=jax.random.fold_in(key, 4), **kw)
        (out / "artifacts.json").write_text(json.dumps(report.to_jsonable(
            {"layer": layer, **a}), indent=1))
        summary["artifacts"] = report.to_jsonable(
            {k: v for k, v in a.items() if k not in ("order", "score")})
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
