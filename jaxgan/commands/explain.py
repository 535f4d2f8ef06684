"""``jaxgan explain``: StylEx — train a classifier-specific StyleGAN and explain the classifier.

::

    jaxgan explain train --config stylex_shapes --out OUT [KEY=VALUE ...]
    jaxgan explain attfind --ckpt OUT/network --out EXPL [--num-images 250] [--shift 1]
    jaxgan explain eigenfind --ckpt OUT/network --out EXPL [--degree 3]
    jaxgan explain attack --ckpt OUT/network --out EXPL [--space S|W+] [--l2 0.05]
    jaxgan explain report --ckpt OUT/network --out EXPL [--k 4]   # AttFind + sheets + JSON
    jaxgan explain compare --ckpt OUT/network --vanilla-g G --vanilla-e E --out CMP
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from jaxgan.commands.base import Command, UsageError, add_precision_argument, with_precision
from jaxgan.outputs import guard_outputs

#: What each subcommand writes into ``--out``.
OUTPUTS = {"attack": ("attack.png", "attack.json"), "eigenfind": ("eigenfind.json",),
           "attfind": ("attfind.npz", "attfind.json"),
           "report": ("attfind.npz", "attfind.json", "report.json", "explorer.json",
                      "sufficiency.png", "class_*.png", "images/class_*.png")}


def _add_common(p):
    p.add_argument("--ckpt", required=True, help="StylEx export (OUT/network) or run directory")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--overwrite", action="store_true",
                   help="replace this command's files in --out (only those)")
    p.add_argument("--num-images", type=int, default=250, help="held-out images to explain")
    p.add_argument("--seed", type=int, default=0, help="seed of the held-out scenes")
    p.add_argument("--task", default=None, help="shapes task (default: the classifier's)")
    p.add_argument("--data", default=None, help="explain your images instead of shapes scenes: "
                   "folder:PATH (one sub-folder per class; --num-images of them, stratified)")
    p.add_argument("--classifier", default=None, help="override the classifier: a checkpoint "
                   "or package.module:factory (docs/own-data.md)")
    p.add_argument("--no-progress", action="store_true")
    add_precision_argument(p)


def _arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="explain_cmd", required=True)
    t = sub.add_parser("train", help="train a StylEx (the StyleGAN2 trainer with a stylex config)")
    t.add_argument("--config", default="stylex_shapes", help="preset name or path")
    t.add_argument("--out", required=True, help="run directory (resumes)")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    for name, hlp in (("attfind", "AttFind: effect tensor and per-class top attributes"),
                      ("report", "AttFind + explanation report (PNG sheets + JSON per class)")):
        a = sub.add_parser(name, help=hlp)
        _add_common(a)
        a.add_argument("--shift", type=float, default=2.0, help="s + shift * (extreme - s): "
                       "1 = the dataset min/max of the coordinate; 2 = the official notebook's "
                       "shift_size")
        a.add_argument("--measure", default="prob", choices=("prob", "logit"))
        a.add_argument("--num-indices", type=int, default=8, help="attributes per class")
        a.add_argument("--max-image-effect", type=float, default=0.2)
        a.add_argument("--chunk", type=int, default=512, help="renders per jitted call")
        a.add_argument("--disc-threshold", type=float, default=None,
                       help="reject attributes whose changed images D scores below this")
        a.add_argument("--k", type=int, default=4, help="attributes for flip rates and sheets")
        a.add_argument("--reuse", action="store_true", help="reuse OUT/attfind.npz if present")
        a.add_argument("--prefilter", type=int, default=None, help="exact effects only for this "
                       "many coordinates kept by a first-order (Jacobian) screen; default: all")
        a.add_argument("--layers", default=None, help="comma list of style vectors to search: "
                       "layer kinds (conv0,conv1 leaves out the ToRGB colour channels) or "
                       "block.layer names (b8.conv1); default: every coordinate")
    at = sub.add_parser("attack", help="counterfactual attacks on W+/S vs. a pixel attack, "
                        "attributed to the planted-factor estimates")
    _add_common(at)
    at.add_argument("--space", default="S", choices=("S", "W+"))
    at.add_argument("--n", type=int, default=64, help="images attacked")
    at.add_argument("--steps", type=int, default=100)
    at.add_argument("--l2", type=float, default=0.05, help="L2 penalty on the latent change")
    at.add_argument("--l1", type=float, default=0.0, help="L1 (sparsity) penalty")
    c = sub.add_parser("compare", help="sufficiency curves (k = 1..10, bootstrap intervals): "
                       "StylEx vs AttFind in a vanilla StyleGAN2's StyleSpace vs random coordinates")
    c.add_argument("--ckpt", required=True, help="StylEx export (OUT/network) or run directory")
    c.add_argument("--vanilla-g", default=None, help="the vanilla generator of the baseline "
                   "(a G_ema export or builtin:NAME); omit for the random baseline alone")
    c.add_argument("--vanilla-e", default=None, help="an inversion encoder of --vanilla-g "
                   "(`jaxgan train-encoder`)")
    c.add_argument("--out", required=True, help="output directory (compare.json, compare.md, "
                   "sufficiency.png)")
    c.add_argument("--num-attfind", type=int, default=128, help="held-out images AttFind ranks on")
    c.add_argument("--num-eval", type=int, default=250, help="other held-out images the "
                   "sufficiency curves are measured on")
    c.add_argument("--kmax", type=int, default=10, help="curves for k = 1..kmax")
    c.add_argument("--shift", type=float, default=2.0, help="as attfind (official: 2)")
    c.add_argument("--prefilter", type=int, default=96, help="as attfind (0: every coordinate)")
    c.add_argument("--chunk", type=int, default=256, help="renders per jitted call")
    c.add_argument("--seed", type=int, default=0, help="scenes and the random baseline")
    c.add_argument("--task", default=None, help="shapes task (default: the classifier's)")
    c.add_argument("--classifier", default=None, help="override the classifier checkpoint")
    c.add_argument("--overwrite", action="store_true", help="replace compare.json, compare.md "
                   "and sufficiency.png in --out (nothing else)")
    c.add_argument("--no-progress", action="store_true")
    e = sub.add_parser("eigenfind", help="EigenFind: SeFa directions ranked by logit change")
    _add_common(e)
    e.add_argument("--degree", type=float, default=3.0, help="± step along each eigenvector")
    e.add_argument("--num-directions", type=int, default=16)
    e.add_argument("--num-indices", type=int, default=8)


def _task_of(clf, args) -> str:
    task = args.task or clf.cfg.task
    if not task or not task.startswith("shapes:"):
        raise UsageError(f"explain needs a shapes task (--task shapes:NAME); the classifier's is "
                         f"{clf.cfg.task!r}")
    return task


def _folder_images(args, g_cfg):
    """``--num-images`` images of a ``folder:PATH`` (stratified, seeded) in [-1, 1]."""
    from jaxgan.data import to_float  # noqa: PLC0415
    from jaxgan.data.labelled import load_labelled_folder, split_folder  # noqa: PLC0415
    kind, _, path = args.data.partition(":")
    if kind != "folder" or not path:
        raise UsageError(f"--data {args.data!r}: expected folder:PATH")
    data, _ = load_labelled_folder(path, g_cfg.img_resolution, g_cfg.img_channels)
    n = min(args.num_images, len(data["label"]))
    return np.asarray(to_float(split_folder(data, {"x": n}, args.seed)["x"]["image"]))


def _run(args) -> int:
    if args.explain_cmd == "train":
        from jaxgan.commands.train import train_config_group  # noqa: PLC0415
        res = train_config_group(args, "stylex", "stylex_shapes")
        print(f"done: {res['step']} iterations; StylEx exported to {args.out}/network",
              file=sys.stderr)
        return 0
    if args.explain_cmd == "compare":
        return _compare(args)
    reused = ("attfind.npz",) if getattr(args, "reuse", False) else ()   # read, not replaced
    guard_outputs(args.out, [n for n in OUTPUTS[args.explain_cmd] if n not in reused],
                  args.overwrite)
    import jax  # noqa: PLC0415
    from jaxgan.stylex.explainer import load_stylex  # noqa: PLC0415
    from jaxgan.stylex import pipeline  # noqa: PLC0415
    if args.explain_cmd in ("attack", "eigenfind") and jax.process_count() > 1:
        raise UsageError(f"explain {args.explain_cmd} runs in one process; under `jaxgan launch` "
                         "only attfind and report are sharded across processes")
    sx = load_stylex(args.ckpt, args.classifier)
    sx = sx._replace(G=with_precision(sx.G, args))
    if getattr(args, "data", None):               # a user's labelled folder
        images = _folder_images(args, sx.G.cfg)
    else:
        task = _task_of(sx.clf, args)
        images, _, _ = pipeline.task_images(task, args.num_images, sx.G.cfg.img_resolution,
                                            args.seed)
    enc = pipeline.encode_dataset(sx, images)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.explain_cmd == "attack":
        if getattr(args, "data", None):
            raise UsageError("explain attack measures the shapes factors: no --data folder")
        from jaxgan.stylex.attack import attack_study  # noqa: PLC0415
        from jaxgan.stylex.metrics import shapes_estimators  # noqa: PLC0415
        from jaxgan.viz.grid import save_image_grid  # noqa: PLC0415
        est, thr, _ = shapes_estimators(pipeline.SEGMENTER, pipeline.SHAPE_CLASSIFIER)
        res = attack_study(sx, enc, images, est, thr, space=args.space, n=args.n,
                           steps=args.steps, l2=args.l2, l1=args.l1)
        ims = res.pop("images")
        m = min(8, args.n)
        save_image_grid(np.concatenate([ims["real"][:m], ims["before"][:m], ims["after"][:m],
                                        ims["pixel_adv"][:m]]), out / "attack.png", ncols=m)
        (out / "attack.json").write_text(json.dumps(res, indent=2) + "\n")
        print(json.dumps(res))
        return 0
    if args.explain_cmd == "eigenfind":
        from jaxgan.stylex.eigenfind import run_eigenfind  # noqa: PLC0415
        res = run_eigenfind(sx, enc, degree=args.degree, num_directions=args.num_directions,
                            num_indices=args.num_indices)
        (out / "eigenfind.json").write_text(json.dumps(res["json"], indent=2) + "\n")
        print(json.dumps(res["json"]["ranking"]))
        return 0
    mesh = None
    if jax.process_count() > 1:            # `jaxgan launch -n N -- explain attfind|report ...`
        from jaxgan.sharding import make_data_mesh  # noqa: PLC0415
        mesh = make_data_mesh()
        if args.num_images % jax.process_count():
            raise UsageError(f"--num-images {args.num_images} must divide over the "
                             f"{jax.process_count()} processes")
    result = pipeline.load_or_run_attfind(sx, enc, out, args, mesh=mesh)
    if jax.process_index() != 0:           # process 0 alone writes
        return 0
    summary = pipeline.attfind_json(result, enc["layout"], list(sx.clf.cfg.class_names))
    (out / "attfind.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.explain_cmd == "attfind":
        print(json.dumps(summary["ranking"]))
        return 0
    rep = pipeline.report(sx, enc, result, images, out, k=args.k,
                          **({"segmenter": ""} if getattr(args, "data", None) else {}))
    from jaxgan.stylex.report import write_manifest  # noqa: PLC0415
    write_manifest(out)                                   # explorer.json for `jaxgan explore`
    print(f"report: {out}/report.json; flip rate top-{args.k}: {rep['flip_rate_top_k']:.3f}")
    return 0


COMPARE_OUTPUTS = ("compare.json", "compare.md", "sufficiency.png")


def _compare(args) -> int:
    """``explain compare``: StylEx vs the vanilla StyleSpace baseline vs random coordinates."""
    if args.kmax < 1 or args.num_attfind < 2 or args.num_eval < 2:
        raise UsageError("--kmax must be >= 1 and --num-attfind/--num-eval >= 2")
    if (args.vanilla_g is None) != (args.vanilla_e is None):
        raise UsageError("--vanilla-g and --vanilla-e go together (a vanilla generator and an "
                         "inversion encoder trained on it)")
    out = guard_outputs(args.out, COMPARE_OUTPUTS, args.overwrite)
    from jaxgan.stylex import compare, sufficiency  # noqa: PLC0415
    from jaxgan.stylex.explainer import load_stylex  # noqa: PLC0415
    sx = load_stylex(args.ckpt, args.classifier)
    task = _task_of(sx.clf, args)
    vanilla = None
    if args.vanilla_g:
        vanilla = compare.vanilla_explainer(args.vanilla_g, args.vanilla_e, sx.clf, sx.clf_vars)
    res = compare.compare(sx, vanilla, task, num_attfind=args.num_attfind,
                          num_eval=args.num_eval, seed=args.seed,
                          ks=tuple(range(1, args.kmax + 1)), shift=args.shift,
                          prefilter=args.prefilter or None, chunk=args.chunk,
                          progress=not args.no_progress,
                          log=lambda m: print(m, file=sys.stderr, flush=True))
    res.update(ckpt=args.ckpt, vanilla_g=args.vanilla_g, vanilla_e=args.vanilla_e)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(res, indent=2) + "\n")
    table = compare.markdown_table(res)
    (out / "compare.md").write_text(table)
    sufficiency.save_plot(out / "sufficiency.png", res["methods"],
                          title=f"sufficiency, {task} (held-out images, 95% bootstrap)")
    print(table)
    return 0


COMMANDS = (
    Command("explain", "StylEx: train a classifier-specific StyleGAN; AttFind, EigenFind, "
            "counterfactual report", _arguments, _run),
)
