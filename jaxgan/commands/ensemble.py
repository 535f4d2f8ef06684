"""``jaxgan ensemble``: classify with generative views (gan-ensembling) on a built-in task.

Writes into ``--out``: ``results.json`` / ``results.md`` (test accuracy of the classifier
alone, the image-jitter ensembles and every GAN-view ensemble, alpha chosen on val, with
bootstrap intervals), ``alpha_<classifier>.png`` (accuracy vs alpha per perturbation type),
``views/<method>.png`` (example views) and ``cache/`` (inverted latents, reused by later
runs with the same generator, images and inversion settings).
"""
from __future__ import annotations

import argparse
import sys

from jaxgan.commands.base import (Command, UsageError, add_precision_argument, check_finite,
                                  with_precision)
from jaxgan.commands.conditional import add_class_arguments, bound_generator
from jaxgan.outputs import guard_outputs

#: What an experiment writes into ``--out`` (``cache/`` is content-addressed and reused).
OUTPUTS = ("results.json", "results.md", "explorer.json", "alpha_*.png", "views/*.png")


class _D:   # EnsembleConfig's defaults (mirrored here so that --help does not import JAX)
    task, encoder_steps, num_train, num_val, num_test = "shapes:shape", 300, 24, 200, 400
    classifier_steps, num_views, jitter, inv_steps, inv_lr = 150, 32, ("color", "crop",
                                                                        "color+crop"), 100, 0.03
    inv_lpips, chunk, num_boot, inv_batch, block = 0.0, 8, 2000, 100, 50


_DEFAULTS = _D


def _arguments(p: argparse.ArgumentParser) -> None:
    d = _DEFAULTS
    p.add_argument("--ckpt", required=True, help="generator checkpoint directory")
    add_precision_argument(p)
    p.add_argument("--task", "--data", default=d.task, dest="task",
                   help=f"shapes:<task>, or folder:PATH (your images, one sub-folder per class, "
                        f"split by --num-train/--num-val/--num-test) (default {d.task})")
    p.add_argument("--classifier", default=None,
                   help="your classifier instead of the weak one trained here: a checkpoint "
                        "(jaxgan train-classifier) or package.module:factory (docs/own-data.md)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--overwrite", action="store_true",
                   help="replace this command's files in --out (only those)")
    p.add_argument("--encoder", help="encoder checkpoint (jaxgan train-encoder); default: "
                                     "train one for --encoder-steps (cached)")
    p.add_argument("--encoder-steps", type=int, default=d.encoder_steps,
                   help=f"steps of the encoder trained when --encoder is absent; 0: invert "
                        f"from the mean latent (default {d.encoder_steps})")
    p.add_argument("--cache", help="latent cache directory (default OUT/cache)")
    p.add_argument("--num-train", type=int, default=d.num_train,
                   help=f"training images of the weak classifier (default {d.num_train})")
    p.add_argument("--num-val", type=int, default=d.num_val, help=f"default {d.num_val}")
    p.add_argument("--num-test", type=int, default=d.num_test, help=f"default {d.num_test}")
    p.add_argument("--classifier-steps", type=int, default=d.classifier_steps,
                   help=f"default {d.classifier_steps}")
    p.add_argument("--views", type=int, default=d.num_views,
                   help=f"views per image K (default {d.num_views})")
    p.add_argument("--perturb", help="comma-separated perturbations, e.g. "
                                     "'isotropic:fine:0.2,pca:all:2,stylemix:fine' (default: "
                                     "the paper's grid on coarse/fine/all layers)")
    p.add_argument("--jitter", default=",".join(d.jitter),
                   help="image-space baselines, comma-separated combos of color+crop+flip "
                        "('' for none)")
    p.add_argument("--inv-steps", type=int, default=d.inv_steps, help=f"default {d.inv_steps}")
    p.add_argument("--inv-lr", type=float, default=d.inv_lr, help=f"default {d.inv_lr}")
    p.add_argument("--lpips", type=float, default=d.inv_lpips,
                   help="LPIPS weight in the inversion distance (default 0: pixel L1 + L2)")
    p.add_argument("--no-mitigate", action="store_true",
                   help="skip the classifier trained on real + GAN reconstructions")
    p.add_argument("--chunk", type=int, default=d.chunk, help="images per lax.map step")
    p.add_argument("--block", type=int, default=d.block,
                   help=f"images per jitted view call (default {d.block})")
    p.add_argument("--inv-batch", type=int, default=d.inv_batch,
                   help=f"images per jitted inversion call (default {d.inv_batch})")
    p.add_argument("--num-boot", type=int, default=d.num_boot, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_class_arguments(p, infer=False)
    p.add_argument("--infer-class", action="store_true",
                   help="conditional generator: invert each image and render its views with the "
                        "class the weak classifier predicts for it (task classes matched to "
                        "the network's class names, else by index)")


def _run(args) -> int:
    from jaxgan.checkpoint import load_class_names, load_network  # noqa: PLC0415
    from jaxgan.ensemble.experiment import EnsembleConfig, run_experiment  # noqa: PLC0415
    from jaxgan.nets.generator import Generator  # noqa: PLC0415
    kw = {}
    if args.perturb is not None:
        kw["perturbations"] = tuple(s for s in args.perturb.split(",") if s.strip())
    try:
        cfg = EnsembleConfig(task=args.task, num_train=args.num_train, num_val=args.num_val,
                             num_test=args.num_test, classifier_steps=args.classifier_steps,
                             num_views=args.views, inv_steps=args.inv_steps, inv_lr=args.inv_lr,
                             inv_lpips=args.lpips, encoder_steps=args.encoder_steps,
                             jitter=tuple(s for s in args.jitter.split(",") if s.strip()),
                             mitigate=not args.no_mitigate, chunk=args.chunk,
                             block=args.block, inv_batch=args.inv_batch,
                             num_boot=args.num_boot, seed=args.seed,
                             infer_class=args.infer_class, **kw)
    except ValueError as e:
        raise UsageError(str(e)) from None
    check_finite(args.inv_lr, "--inv-lr")
    check_finite(args.lpips, "--lpips")
    guard_outputs(args.out, OUTPUTS, args.overwrite)
    G, g = load_network(args.ckpt)
    G = with_precision(G, args)
    if not isinstance(G, Generator):
        raise UsageError(f"--ckpt {args.ckpt} holds a {type(G).__name__}, not a generator")
    names = load_class_names(args.ckpt)
    if args.infer_class:
        if not G.cfg.c_dim or args.cls is not None:
            raise UsageError("--infer-class needs a conditional generator and no --class")
    else:
        G, _ = bound_generator(args, G, args.ckpt)   # a conditional G: fixed to --class
    data = clf = None
    if args.task.startswith("folder:"):          # a user's labelled folder at G's resolution
        from jaxgan.data.labelled import load_labelled_folder, split_folder  # noqa: PLC0415
        full, cnames = load_labelled_folder(args.task.partition(":")[2], G.cfg.img_resolution)
        data = {**split_folder(full, {"train": cfg.num_train, "val": cfg.num_val,
                                      "test": cfg.num_test}, cfg.seed),
                "class_names": cnames, "source": args.task}
    if args.classifier:                           # a checkpoint or package.module:factory
        from jaxgan.contract import load_model as load_contract_model  # noqa: PLC0415
        clf = load_contract_model(args.classifier, "classifier",
                                  resolution=G.cfg.img_resolution)
    r = run_experiment(G, g, cfg, out=args.out, encoder=args.encoder, cache_dir=args.cache,
                       class_names=names, data=data, classifier=clf)
    from jaxgan.ensemble.report import write_manifest  # noqa: PLC0415
    write_manifest(args.out)                              # explorer.json for `jaxgan explore`
    for cname, c in r["classifiers"].items():
        best = max(r["methods"][cname].items(), key=lambda kv: kv[1]["val_acc"])
        print(f"{cname}: alone {100 * c['test_acc']:.1f}% | best on val {best[0]} "
              f"(alpha {best[1]['alpha']:.2f}): {100 * best[1]['test_acc']:.1f}%, gain "
              f"{100 * best[1]['gain']:+.1f} [{100 * best[1]['gain_ci'][0]:+.1f}, "
              f"{100 * best[1]['gain_ci'][1]:+.1f}] pts", file=sys.stderr)
    print(f"wrote {args.out}/results.md", file=sys.stderr)
    return 0


COMMANDS = (
    Command("ensemble", "classify with GAN views (gan-ensembling): alpha on val, test accuracy "
            "with bootstrap intervals", _arguments, _run),
)
