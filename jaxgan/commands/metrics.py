"""``jaxgan metrics``: FD/KD/PR (on a pluggable feature net) and PPL for a generator checkpoint.

    jaxgan metrics --ckpt out/shapes32/network --metrics fd_classifier,kd_classifier,pr_classifier,ppl_wend \\
        --data shapes [--feature-net out/classifier_shapes_shape] [--num-gen 10000] --out out/eval
    jaxgan metrics --ckpt out/ffhq --metrics fid,kid,pr --data folder --data-path /data/ffhq \\
        --feature-net inception:/weights/pt_inception-2015-12-05-6726825d.pth --out out/eval

Writes ``OUT/metrics.json`` (this run) and appends the same record to ``OUT/metrics-log.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from jaxgan.assets import DEFAULT_FEATURE_NETS
from jaxgan.commands.base import (Command, UsageError, add_precision_argument, check_finite,
                                  with_precision)
from jaxgan.outputs import guard_outputs, write_atomic

#: What a run replaces in ``--out`` (``metrics-log.jsonl`` is appended to, never replaced).
OUTPUTS = ("metrics.json", "explorer.json")



def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ckpt", required=True, help="generator checkpoint (e.g. RUN/network or RUN/network/G_ema)")
    add_precision_argument(p)
    p.add_argument("--metrics", default="fd_classifier,kd_classifier,pr_classifier,ppl_wend",
                   help="comma-separated: fd_<net>, kd_<net>, pr_<net> (fid, kid, pr with the "
                        "Inception net), ppl_wend, ppl_wfull, ppl_wend_crop")
    p.add_argument("--data", default="shapes",
                   help="shapes | digits | folder | tfds, or a training run's config.json")
    p.add_argument("--data-path", default="", help="image folder (--data folder)")
    p.add_argument("--tfds-name", default="", help="prepared tfds dataset name (--data tfds)")
    p.add_argument("--data-dir", default="", help="tfds data_dir (--data tfds)")
    p.add_argument("--task", default="", help="shapes task (as the training data config)")
    p.add_argument("--resolution", type=int, default=None, help="data resolution (default: G's)")
    p.add_argument("--feature-net", default=None,
                   help="classifier checkpoint dir ('classifier:DIR'), FID Inception weights "
                        "('inception:FILE', .pth/.npz) or your feature net package.module:factory "
                        "(docs/own-data.md; metrics fd_<its name>); default: the built-in "
                        "builtin:classifier_shapes_shape or builtin:classifier_digits")
    p.add_argument("--num-gen", type=int, default=10000, help="generated images (official: 50000)")
    p.add_argument("--num-real", type=int, default=10000, help="dataset images (at most)")
    p.add_argument("--num-ppl", type=int, default=10000, help="PPL samples (official: 50000)")
    p.add_argument("--batch", type=int, default=64, help="images per jitted call")
    p.add_argument("--psi", type=float, default=1.0, help="truncation psi for generation")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--data-seed", type=int, default=0, help="shapes renderer seed (the run's seed)")
    p.add_argument("--cache-dir", default="out/metrics_cache", help="dataset statistics cache ('' = off)")
    p.add_argument("--out", default="out/metrics", help="output directory (metrics.json, metrics-log.jsonl)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--overwrite", action="store_true",
                   help="replace metrics.json in --out (the log is appended to either way)")


def _data_cfg(args, resolution: int) -> dict:
    if args.data.endswith(".json"):
        path = Path(args.data)
        if not path.is_file():
            raise UsageError(f"--data {path}: no such config.json")
        cfg = json.loads(path.read_text())
        if "data" not in cfg:
            raise UsageError(f"--data {path}: no 'data' group in that config")
        return dict(cfg["data"])
    if args.data not in ("shapes", "digits", "folder", "tfds"):
        raise UsageError(f"--data must be shapes, digits, folder, tfds or a config.json, got {args.data!r}")
    if args.data == "folder" and not args.data_path:
        raise UsageError("--data folder needs --data-path")
    return dict(source=args.data, resolution=args.resolution or resolution, task=args.task,
                path=args.data_path, tfds_name=args.tfds_name, data_dir=args.data_dir, split="train")


def _run(args) -> int:
    import jax  # noqa: PLC0415

    from jaxgan.checkpoint import load_network  # noqa: PLC0415
    from jaxgan.metrics.features import make_feature_net  # noqa: PLC0415
    from jaxgan.metrics.runner import PPL_METRICS, compute_metrics, parse_metrics  # noqa: PLC0415

    try:
        names = parse_metrics(args.metrics)
    except ValueError as e:
        raise UsageError(str(e)) from None
    for name in ("num_gen", "num_real", "num_ppl", "batch"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    check_finite(args.psi, "--psi")
    out = guard_outputs(args.out, OUTPUTS, args.overwrite)
    G, g = load_network(args.ckpt)
    G = with_precision(G, args)
    if not hasattr(G, "cfg") or not hasattr(G.cfg, "z_dim"):
        raise UsageError(f"--ckpt {args.ckpt} is not a generator")
    data_cfg = _data_cfg(args, G.cfg.img_resolution)
    net = None
    if any(n not in PPL_METRICS for n in names):
        spec = args.feature_net or DEFAULT_FEATURE_NETS.get(data_cfg["source"])
        if spec is None:
            hint = (f"train one with `jaxgan train-classifier --task {data_cfg['source']}"
                    f"{':shape' if data_cfg['source'] == 'shapes' else ''}` or "
                    if data_cfg["source"] in DEFAULT_FEATURE_NETS else "")
            raise UsageError(f"metrics {names} need --feature-net ({hint}pass a classifier "
                             "checkpoint, or inception:pt_inception-2015-12-05-6726825d.pth)")
        net = make_feature_net(spec)
    t0 = time.time()
    results = compute_metrics(
        G, g, names, data_cfg=data_cfg, feature_net=net, key=jax.random.key(args.seed),
        num_gen=args.num_gen, num_real=args.num_real, num_ppl=args.num_ppl, batch_size=args.batch,
        seed=args.data_seed, truncation_psi=args.psi, cache_dir=args.cache_dir or None,
        progress=not args.no_progress)
    record = {"ckpt": str(args.ckpt), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
              "seconds": round(time.time() - t0, 2), "data": data_cfg,
              "feature_net": None if net is None else {"name": net.name, "fingerprint": net.fingerprint,
                                                      "spec": args.feature_net},
              "num_gen": args.num_gen, "num_real": args.num_real, "num_ppl": args.num_ppl,
              "psi": args.psi, "seed": args.seed, "results": results}
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "metrics.json", lambda p: p.write_text(json.dumps(record, indent=2) + "\n"))
    with open(out / "metrics-log.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    from jaxgan.metrics.report import write_manifest  # noqa: PLC0415
    write_manifest(out)                                   # explorer.json for `jaxgan explore`
    for k, v in results.items():
        if not k.startswith("_"):
            print(f"{k}: {v:.6g}")
    print(f"wrote {out / 'metrics.json'}", file=sys.stderr)
    return 0


COMMANDS = (
    Command("metrics", "FD/KD/precision-recall on a feature net, and PPL, for a generator",
            _arguments, _run),
)
