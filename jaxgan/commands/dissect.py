"""``jaxgan dissect``: GAN Dissection of a StyleGAN2 generator's layers.

    jaxgan dissect --ckpt G_DIR --segmenter SEG_DIR --layer b16.conv0 [--layer b8.conv1 ...]
                   [--concepts sun,object] [--samples 1000] [--batch 50] [--quantile 0.01,0.1]
                   [--units 8] [--study-samples 64] [--alpha-steps 0]
                   [--artifacts-layer L (--d-ckpt D_DIR | --bad-labels F.npy)
                    --classifier CLS_DIR] --out DIR

Writes the unit tables, sheets, curves and JSON described in :mod:`jaxgan.dissect.runner`.
Latents: dissection ``z_i = normal(fold_in(key(seed), i))``; studies use held-out keys.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from jaxgan.commands.base import (Command, UsageError, add_precision_argument, check_finite,
                                  with_precision)
from jaxgan.outputs import guard_outputs

#: What a dissection writes into ``--out`` (glob patterns: names follow layers and concepts).
OUTPUTS = ("dissection.json", "dissection.md", "summary.json", "artifacts.json",
           "explorer.json", "units_*.png", "units_*/unit*.png", "alpha_*.json", "ablate_*.png",
           "curve_*.png", "insert_*.png", "study_*.json")


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ckpt", required=True, help="generator checkpoint directory")
    add_precision_argument(p)
    p.add_argument("--net", choices=["G", "G_ema"], help="sub-checkpoint (default G_ema, else G)")
    p.add_argument("--segmenter", required=True,
                   help="segmenter checkpoint (jaxgan train-segmenter, or builtin:segmenter_shapes) "
                        "or your package.module:factory (docs/own-data.md)")
    p.add_argument("--layer", action="append", required=True, dest="layers",
                   help="layer to dissect, e.g. b16.conv0 (repeatable; 'all' for every layer)")
    p.add_argument("--concepts", default="", help="comma-separated concepts to study causally "
                                                  "(ACE, ablation curves, removal, insertion)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--overwrite", action="store_true",
                   help="replace this command's files in --out (only those)")
    p.add_argument("--samples", type=int, default=1000, help="dissection samples (default 1000)")
    p.add_argument("--batch", type=int, default=50, help="batch size (default 50)")
    p.add_argument("--quantile", default="0.01,0.02,0.05,0.1,0.2",
                   help="top quantile(s) of activations defining a unit's mask, comma-separated; "
                        "the first is primary (k, sheets), the IoU takes the best per unit and "
                        "concept (default 0.01,0.02,0.05,0.1,0.2)")
    p.add_argument("--study-layer", help="layer of the causal studies (one of --layer; default: "
                                         "the layer with the concept's best-IoU unit)")
    p.add_argument("--units", type=int, default=8, help="top-k ACE units ablated/inserted")
    p.add_argument("--max-units", type=int, default=16, help="longest ablation curve point")
    p.add_argument("--study-samples", type=int, default=64, help="held-out samples for ACE")
    p.add_argument("--alpha-steps", type=int, default=0, help="alpha optimisation steps (0: off)")
    p.add_argument("--alpha-lambda", type=float, default=0.01, help="L2 weight on alpha")
    p.add_argument("--artifacts-layer", help="also rank artifact units of this layer")
    p.add_argument("--d-ckpt", help="discriminator checkpoint (realism for artifact units)")
    p.add_argument("--realism-classifier", help="realism = this classifier's confidence (max "
                                                "class probability: recognisable samples)")
    p.add_argument("--bad-labels", help=".npy of 0/1 labels (1 = bad) for the first "
                                        "--artifact-samples artifact samples")
    p.add_argument("--classifier", help="features for the FD: a classifier checkpoint (its "
                   "pooled features) or a feature net package.module:factory (images -> [N, D])")
    p.add_argument("--artifact-samples", type=int, default=500, help="samples (default 500)")
    p.add_argument("--artifact-units", default="4",
                   help="artifact units ablated: a number or a comma list for an FD curve "
                        "(default 4)")
    p.add_argument("--artifact-ranking", choices=("correlation", "causal"), default="correlation",
                   help="rank units by correlation with badness or by the causal effect of "
                        "ablating each on realism (needs --d-ckpt or --realism-classifier)")
    p.add_argument("--psi", type=float, default=1.0, help="truncation psi (default 1)")
    p.add_argument("--seed", type=int, default=0, help="latent seed (default 0)")


def _int_list(text: str, flag: str) -> list[int]:
    try:
        return [int(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"{flag}: expected a number or a comma list of numbers, got {text!r}") from None


def _artifacts(args, G):
    if not args.artifacts_layer:
        return None
    import jax  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from jaxgan.checkpoint import load_network  # noqa: PLC0415
    from jaxgan.classify import load_model  # noqa: PLC0415
    from jaxgan.data import render_shapes, to_float  # noqa: PLC0415
    from jaxgan.dissect.artifacts import (  # noqa: PLC0415
        classifier_confidence, classifier_features, discriminator_realism)
    if sum(a is not None for a in (args.d_ckpt, args.bad_labels, args.realism_classifier)) != 1:
        raise UsageError("--artifacts-layer needs exactly one of --d-ckpt, --realism-classifier "
                         "or --bad-labels")
    if args.classifier is None:
        raise UsageError("--artifacts-layer needs --classifier (features for the FD)")
    kw = {"layer": args.artifacts_layer, "num_samples": args.artifact_samples,
          "num_ablate": _int_list(args.artifact_units, "--artifact-units"),
          "batch_size": args.batch, "ranking": args.artifact_ranking}
    if args.artifact_ranking == "causal" and args.bad_labels:
        raise UsageError("--artifact-ranking causal needs --d-ckpt or --realism-classifier "
                         "(labels exist only for the unablated samples)")
    if args.d_ckpt:
        D, d = load_network(args.d_ckpt, "D")
        D = with_precision(D, args)
        kw["realism_fn"] = discriminator_realism(D, d)
    elif args.realism_classifier:
        from jaxgan.contract import load_model as load_contract_model  # noqa: PLC0415
        rm, rv = load_contract_model(args.realism_classifier, "classifier",
                                     resolution=G.cfg.img_resolution)
        kw["realism_fn"] = classifier_confidence(rm, rv)
    else:
        if not Path(args.bad_labels).is_file():
            raise UsageError(f"--bad-labels {args.bad_labels}: file does not exist")
        kw["bad_labels"] = np.load(args.bad_labels)
    from jaxgan.contract import is_reference, load_model as load_contract_model  # noqa: PLC0415
    if is_reference(args.classifier):        # a user's feature net: images -> [N, D]
        fm, fv = load_contract_model(args.classifier, "features")
        kw["features_fn"] = jax.jit(lambda x: fm.apply(fv, x))
    else:                                    # a classifier checkpoint: its pooled features
        cm, cv = load_model(args.classifier)
        kw["features_fn"] = classifier_features(cm, cv)
    n = max(args.artifact_samples, 200)
    kw["real_images"] = to_float(render_shapes(n, G.cfg.img_resolution, seed=12345)["image"])
    return kw


def _run(args: argparse.Namespace) -> int:
    from functools import partial  # noqa: PLC0415
    from jaxgan.checkpoint import load_network  # noqa: PLC0415
    from jaxgan.contract import load_model as load_contract_model  # noqa: PLC0415
    from jaxgan.dissect.features import feature_names  # noqa: PLC0415
    from jaxgan.dissect.runner import DissectConfig, run_dissection  # noqa: PLC0415
    from jaxgan.nets.generator import Generator  # noqa: PLC0415
    from jaxgan.nets.segmenter import segment  # noqa: PLC0415
    if args.samples < 1 or args.batch < 1 or args.units < 1:
        raise UsageError("--samples, --batch and --units must be >= 1")
    try:
        quantiles = tuple(float(q) for q in args.quantile.split(",") if q.strip())
    except ValueError:
        raise UsageError(f"--quantile {args.quantile!r}: expected comma-separated numbers") from None
    if not quantiles or not all(0 < q < 1 for q in quantiles):
        raise UsageError(f"--quantile values must be in (0, 1), got {args.quantile!r}")
    check_finite(args.psi, "--psi")
    check_finite(args.alpha_lambda, "--alpha-lambda")
    guard_outputs(args.out, OUTPUTS, args.overwrite)
    G, g = load_network(args.ckpt, args.net)
    G = with_precision(G, args)
    if not isinstance(G, Generator):
        raise UsageError(f"--ckpt {args.ckpt} holds a {type(G).__name__}, not a generator")
    # a segmenter checkpoint or a user's package.module:factory (jaxgan.contract)
    sm, sv = load_contract_model(args.segmenter, "segmenter", resolution=G.cfg.img_resolution)
    names = feature_names(G)
    layers = list(names) if "all" in args.layers else args.layers
    bad = [n for n in layers if n not in names]
    if bad:
        raise UsageError(f"--layer {bad[0]!r} not in this generator; layers: {', '.join(names)}")
    concepts = [c for c in args.concepts.split(",") if c.strip()]
    unknown = [c for c in concepts if c not in sm.cfg.concepts]
    if unknown:
        raise UsageError(f"--concepts {unknown[0]!r} unknown; the segmenter knows "
                         f"{', '.join(sm.cfg.concepts)}")
    cfg = DissectConfig(concepts=tuple(concepts), num_samples=args.samples,
                        batch_size=args.batch, quantile=quantiles, seed=args.seed,
                        truncation_psi=args.psi, num_units=args.units, max_units=args.max_units,
                        study_samples=args.study_samples, alpha_steps=args.alpha_steps,
                        alpha_lam=args.alpha_lambda, study_layer=args.study_layer)
    summary = run_dissection(G, g, partial(segment, sm, sv), layers, args.out, cfg,
                             soft_segment_fn=partial(segment, sm, sv, threshold=None),
                             artifacts=_artifacts(args, G))
    from jaxgan.dissect.report import write_manifest  # noqa: PLC0415
    write_manifest(args.out)                              # explorer.json for `jaxgan explore`
    print(json.dumps(summary, indent=1))
    return 0


COMMANDS: tuple[Command, ...] = (
    Command("dissect", "GAN Dissection: unit-concept IoU tables, ACE, ablation/insertion, "
            "alpha optimisation, artifact units (writes tables, sheets, curves, JSON)",
            _arguments, _run),
)
