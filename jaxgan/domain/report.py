"""The domain-adaptation experiment: train every parameterisation on the same few target
images, evaluate and write a report.

``run_report(out)`` trains ``OUT/<param>`` for each parameterisation (skipped when its
export exists, so a rerun only re-evaluates), then writes

* ``OUT/results.json`` and ``OUT/results.md``: trained-parameter count, FD (classifier
  features and colour statistics) to held-out target images, mask IoU source vs adapted
  (and its shuffled-pair chance level), training time; plus the source G's FDs to the
  target for reference;
* ``OUT/compare.png``: the source G's samples (top row) and each parameterisation's
  samples for the same latents (one row each), with ``OUT/targets.png`` (the training images);
* ``OUT/morph_<param>.png``: source -> target strips for the same latents (rows: latents,
  columns: ``t = 0 .. 1``);
* ``OUT/mix.png`` (when a second domain is given): StyleDomain offsets of two domains
  mixed, ``mix(d_a, d_b, t)`` for ``t = 0 .. 1``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import numpy as np

from jaxgan.domain import evaluate as ev
from jaxgan.domain.mix import domain_generator, mix, morph_strip
from jaxgan.domain.params import PARAMS
from jaxgan.domain.setup import load_domain
from jaxgan.training.config import load_config
from jaxgan.training.loop import train
from jaxgan.checkpoint import load_network
from jaxgan.classify import load_model
from jaxgan.metrics.features import classifier_features
from jaxgan.viz.grid import save_image_grid
from jaxgan.data import to_float
from jaxgan.data.shapes import render_domain, render_shapes

COLUMNS = ("param", "num_trained", "fd_target", "mask_iou", "mask_iou_shuffled", "train_s")


def _train(config: str, out: Path, overrides: list[str], progress: bool) -> float:
    if (out / "network" / "domain.json").is_file():
        return float(json.loads((out / "train_time.json").read_text())["sec"]) \
            if (out / "train_time.json").is_file() else float("nan")
    t = time.time()
    train(load_config(config, overrides), out, progress=progress)
    sec = time.time() - t
    (out / "train_time.json").write_text(json.dumps({"sec": sec}) + "\n")
    return sec


def markdown_table(rows: list[dict], source: dict) -> str:
    """The results as a Markdown table (source G first, for reference)."""
    head = ("| parameterisation | trained params | FD classifier to target ↓ | FD colour to "
            "target ↓ | layout IoU vs source (sky, ground) ↑ | chance | IoU 4 concepts | chance "
            "| sky-area corr ↑ | train s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    lines = [f"| source G (no adaptation) | 0 | {source['fd_target']:.1f} | "
             f"{source['fd_colour']:.3f} | 1.000 | {source['layout_iou_shuffled']:.3f} | 1.000 | "
             f"{source['mask_iou_shuffled']:.3f} | 1.000 | - |"]
    for r in rows:
        lines.append(f"| {r['param']} | {r['num_trained']:,} | {r['fd_target']:.1f} | "
                     f"{r['fd_colour']:.3f} | {r['layout_iou']:.3f} | "
                     f"{r['layout_iou_shuffled']:.3f} | {r['mask_iou']:.3f} | "
                     f"{r['mask_iou_shuffled']:.3f} | {r['sky_corr']:.3f} | {r['train_s']:.0f} |")
    return head + "\n".join(lines) + "\n"


def run_report(out, *, params=PARAMS, config: str = "domain_shapes", overrides=(),
               num_eval: int = 500, mix_domain: str = "", progress: bool = False) -> dict:
    """Train and evaluate every parameterisation (see the module docstring).

    Args:
      out: output directory.
      params: parameterisations to run.
      config: training preset; overrides: ``key=value`` for every run.
      num_eval: generated / held-out images for FD and IoU.
      mix_domain: a second built-in domain for the mixing strip ('' = none).

    Returns:
      the results dict written to ``results.json``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = load_config(config, list(overrides))
    domain = cfg.data.get("domain", "")
    G, g_src = load_network(cfg.domain.init_from)
    net = classifier_features(cfg.domain.get("feature_net", "")
                              or "builtin:classifier_shapes_shape")
    seg = load_model(cfg.domain.get("segmenter", "") or "builtin:segmenter_shapes")
    tgt, _ = ev.target_images(domain, num_eval, cfg.data.resolution)
    tgt_stats = ev.image_stats(net, tgt)
    tgt_colour = ev.colour_stats(tgt)
    cache: dict = {}
    rows, samples = [], {}
    key = jax.random.key(2024)
    for p in params:
        sec = _train(config, out / p, [*overrides, f"domain.param={p}"], progress)
        _, info = load_domain(out / p / "network")
        _, g_ad = load_network(out / p / "network", "G_ema")
        r = ev.evaluate_adapted(G, g_src, g_ad, net=net, target_stats=tgt_stats, seg=seg,
                                domain=domain, num=num_eval, key=key, src_cache=cache,
                                target_colour=tgt_colour)
        samples[p] = r.pop("images")
        rows.append({"param": p, "num_trained": int(info["num_trained"]), "train_s": sec, **r})
    shuf = ev.shuffled_iou(cache["masks"], cache["masks"], per_concept=True)
    source = {"fd_target": cache["fd_target"], "fd_colour": cache["fd_colour"],
              "mask_iou_shuffled": ev.shuffled_iou(cache["masks"], cache["masks"]),
              "layout_iou_shuffled": float(np.mean([shuf["sky"], shuf["ground"]]))}
    ncol = 8
    save_image_grid(np.concatenate([cache["images"][:ncol]] + [samples[p][:ncol] for p in params]),
                    out / "compare.png", ncols=ncol)
    n_img = int(cfg.data.num_images)
    train_imgs = (render_domain(n_img, cfg.data.resolution, cfg.seed, domain=domain) if domain
                  else render_shapes(n_img, cfg.data.resolution, cfg.seed))["image"]
    save_image_grid(to_float(train_imgs), out / "targets.png", ncols=min(n_img, 10))
    z = jax.random.normal(jax.random.key(7), (4, G.cfg.z_dim))
    ts = np.linspace(0.0, 1.0, 6)
    for p in params:
        dom, _ = load_domain(out / p / "network")
        kw = {"dom": dom} if p in ("offset", "affine_light_plus") and dom is not None else \
            {"g_adapted": load_network(out / p / "network", "G_ema")[1]}
        if "dom" in kw:   # the EMA domain parameters on the (frozen) source G
            strip = morph_strip(G, g_src, z, ts, dom=kw["dom"])
        else:
            strip = morph_strip(G, g_src, z, ts, g_adapted=kw["g_adapted"])
        strip = np.asarray(strip)
        save_image_grid(strip.reshape(-1, *strip.shape[2:]), out / f"morph_{p}.png", ncols=len(ts))
    result = {"domain": domain, "num_images": n_img, "num_eval": num_eval, "source": source,
              "rows": [{k: v for k, v in r.items()} for r in rows], "config": config,
              "overrides": list(overrides)}
    if mix_domain and "offset" in params:
        name = f"offset_{mix_domain}"
        sec = _train(config, out / name, [*overrides, "domain.param=offset",
                                          f"data.domain={mix_domain}"], progress)
        d_a, _ = load_domain(out / "offset" / "network")
        d_b, _ = load_domain(out / name / "network")
        rows_mix = [np.asarray(ev.generate(G, domain_generator(g_src, dom=mix(d_a, d_b, t)), z))
                    for t in ts]
        grid = np.stack(rows_mix, axis=1)                                # [4, T, R, R, C]
        save_image_grid(grid.reshape(-1, *grid.shape[2:]), out / "mix.png", ncols=len(ts))
        result["mix"] = {"domains": [domain, mix_domain], "ts": ts.tolist(), "train_s": sec}
    (out / "results.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    md = (f"Target domain **{domain}** from {n_img} images; FD (classifier features; colour "
          f"statistics) against {num_eval} held-out target images; mask IoU of the segmenter's "
          f"masks, source vs adapted sample of the same latent ({num_eval} latents; layout = "
          f"sky and ground, 4 concepts = + object, sun); chance = the IoU of shuffled pairs."
          "\n\n")
    (out / "results.md").write_text(md + markdown_table(rows, source))
    return result
