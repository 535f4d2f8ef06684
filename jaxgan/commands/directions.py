"""``jaxgan directions {ganalyze,steer,interfacegan,ganspace,sefa}``: fit latent directions.

Every method writes into ``--out``: ``directions.npz`` (:meth:`Directions.save`), strip
images over alpha (``strips*.png``), its plots and ``results.json`` (the settings and the
measured figures: steerability Spearman/slope, GANalyze held-out slope, InterFaceGAN
held-out accuracy, explained variance, eigenvalues). Held-out latents come from
``fold_in(key(seed), 1)``, training from ``fold_in(key(seed), 0)``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from jaxgan.commands.base import (Command, UsageError, add_precision_argument, check_finite,
                                  with_precision)
from jaxgan.commands.conditional import add_class_arguments, bound_generator
from jaxgan.outputs import guard_outputs, write_atomic

METHODS = ("ganalyze", "steer", "interfacegan", "ganspace", "sefa")

#: What each method writes into ``--out`` (glob patterns: names follow the directions).
OUTPUTS = ("directions.npz", "results.json", "explorer.json", "strips_*.png", "tiles/strips_*")
METHOD_OUTPUTS = {"ganalyze": ("score_vs_alpha.png", "loss.png"),
                  "steer": ("loss.png", "steerability.png"), "interfacegan": ("accuracy.png",),
                  "ganspace": ("explained_variance.png",), "sefa": ("eigenvalues.png",)}


def _floats(spec: str, flag: str) -> list[float]:
    try:
        vals = [float(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{flag} {spec!r}: expected comma-separated numbers") from None
    if not vals:
        raise UsageError(f"{flag} is empty")
    return vals


def _common(p: argparse.ArgumentParser, space: bool = True) -> None:
    p.add_argument("--ckpt", required=True, help="generator checkpoint directory")
    add_precision_argument(p)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--overwrite", action="store_true",
                   help="replace this command's files in --out (only those)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--psi", type=float, default=1.0, help="truncation of sampled latents")
    p.add_argument("--layers", default=None, help="ws indices the directions move, e.g. 0-3 "
                                                  "(default all)")
    p.add_argument("--num-strip", type=int, default=6, help="latents shown in the strips")
    add_class_arguments(p, infer=False)
    if space:
        p.add_argument("--space", choices=["z", "w", "wp"], default="w", help="latent space")


def _train_args(p, steps=300, lr=0.01):
    p.add_argument("--steps", type=int, default=steps, help=f"Adam steps (default {steps})")
    p.add_argument("--batch", type=int, default=16, help="latents per step (default 16)")
    p.add_argument("--lr", type=float, default=lr, help=f"learning rate (default {lr})")
    p.add_argument("--num-eval", type=int, default=64, help="held-out latents (default 64)")


def _arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="_method", metavar="METHOD", required=True)
    g = sub.add_parser("ganalyze", help="direction supervised by an assessor (GANalyze)")
    _common(g)
    _train_args(g)
    g.add_argument("--assessor", default="object_size",
                   help="object_size | object_area | object_x | object_y | sun_area | "
                        "class_logit | class_margin | class_prob | brightness, or your assessor "
                        "package.module:factory (images -> [N] scores; docs/own-data.md)")
    g.add_argument("--segmenter", help="segmenter checkpoint or package.module:factory "
                                       "(segmenter-based assessors)")
    g.add_argument("--classifier", help="classifier checkpoint or package.module:factory "
                                        "(class_* assessors)")
    g.add_argument("--class-idx", type=int, default=1, help="class of class_* assessors")
    g.add_argument("--scale", type=float, default=1.0, help="multiply the assessor's score")
    g.add_argument("--alpha-range", type=float, default=0.5, help="alpha ~ U[-r, r] (0.5)")
    g.add_argument("--alphas", default="-0.2,-0.1,0,0.1,0.2", help="strip / evaluation alphas")
    s = sub.add_parser("steer", help="directions supervised by image edits (steerability)")
    _common(s)
    _train_args(s, lr=0.02)
    s.add_argument("--edits", default="zoom,shift_x,shift_y",
                   help="comma-separated: zoom, shift_x, shift_y, rotate, color_r, color_g, "
                        "color_b, brightness (trained at once)")
    s.add_argument("--walk", choices=["linear", "nonlinear"], default="linear")
    s.add_argument("--loss", choices=["l2", "lpips"], default="l2",
                   help="masked L2, or masked L2 + LPIPS (vgg16)")
    s.add_argument("--segmenter", help="segmenter checkpoint: measure object size / centre")
    s.add_argument("--steps-eval", default="-1,-0.75,-0.5,-0.25,0,0.25,0.5,0.75,1",
                   help="normalised steps of the curves and strips")
    i = sub.add_parser("interfacegan", help="boundary of a labelled attribute (InterFaceGAN)")
    _common(i, space=False)
    i.add_argument("--space", choices=["z", "w", "wp"], default="w")
    i.add_argument("--labeller", default="class_margin",
                   help="a built-in assessor name (see ganalyze) scoring the attribute, or "
                        "your assessor package.module:factory")
    i.add_argument("--labels", help="your labels instead of a labeller: a CSV with columns "
                                    "image,label (label a number; 0/1 split at 0.5, else at "
                                    "--threshold), for the images inverted in --latents")
    i.add_argument("--latents", help="latents.npz of `jaxgan invert` over those images "
                                     "(names matched to the CSV's image column)")
    i.add_argument("--segmenter", help="segmenter checkpoint or package.module:factory")
    i.add_argument("--classifier", help="classifier checkpoint or package.module:factory "
                                        "(class_* labellers: --class-idx's logit/margin/prob)")
    i.add_argument("--class-idx", type=int, default=1)
    i.add_argument("--threshold", type=float, default=0.0,
                   help="score above which a held-out latent has the attribute (default 0)")
    i.add_argument("--num", type=int, default=2000, help="labelled samples (default 2000)")
    i.add_argument("--ratio", type=float, default=0.3, help="top/bottom share kept (0.3)")
    i.add_argument("--select", choices=["percentile", "threshold"], default="percentile",
                   help="training labels: top/bottom --ratio of the scores (the paper), or "
                        "score > --threshold for every sample (binary factors)")
    i.add_argument("--method", choices=["svm", "logistic"], default="svm",
                   help="linear classifier: LinearSVC's squared hinge, or logistic regression")
    i.add_argument("--C", type=float, default=1.0)
    i.add_argument("--num-eval", type=int, default=500, help="held-out latents (default 500)")
    i.add_argument("--alphas", default="-3,-2,-1,0,1,2,3")
    a = sub.add_parser("ganspace", help="PCA directions of W (GANSpace)")
    _common(a, space=False)
    a.add_argument("--num", type=int, default=5000)
    a.add_argument("--components", type=int, default=10)
    a.add_argument("--feature-block", default=None, help="PCA of this block's activations")
    a.add_argument("--alphas", default="-2,-1,0,1,2", help="strip steps in standard deviations")
    f = sub.add_parser("sefa", help="closed-form factorisation of style affines (SeFa)")
    _common(f, space=False)
    f.add_argument("--components", type=int, default=10)
    f.add_argument("--include-torgb", action="store_true")
    f.add_argument("--alphas", default="-3,-1.5,0,1.5,3")


def _load(args):
    import jax  # noqa: PLC0415
    from jaxgan.checkpoint import load_network  # noqa: PLC0415
    from jaxgan.directions.apply import parse_layers  # noqa: PLC0415
    from jaxgan.nets.generator import Generator  # noqa: PLC0415
    G, g = load_network(args.ckpt)
    G = with_precision(G, args)
    if not isinstance(G, Generator):
        raise UsageError(f"--ckpt {args.ckpt} holds a {type(G).__name__}, not a generator")
    G, _ = bound_generator(args, G, args.ckpt)   # a conditional G: fixed to --class
    layers = parse_layers(args.layers, G.cfg.num_ws)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return G, g, layers, out, jax.random.key(args.seed)


def _instrument(path, flag):
    """A checkpoint or a user's ``package.module:factory`` (``jaxgan.contract``)."""
    if path is None:
        return None
    from jaxgan import contract  # noqa: PLC0415
    kind = "segmenter" if flag == "--segmenter" else "classifier"
    if not contract.is_reference(path) and not Path(contract.assets.resolve(path)).is_dir():
        raise UsageError(f"{flag} {path}: no such directory (nor a package.module:factory)")
    return contract.load_model(path, kind)


def _file_name(name: str) -> str:
    """An assessor name fit for file names (``pkg.mod:factory`` -> ``factory``)."""
    return name.rpartition(":")[2]


def _assessor(args, name):
    from jaxgan import contract  # noqa: PLC0415
    from jaxgan.directions.assessors import builtin_assessor  # noqa: PLC0415
    if contract.is_reference(name):         # the user's assessor: images -> [N] scores
        module, params = contract.load_model(name, "assessor")
        scale = getattr(args, "scale", 1.0)
        return lambda images: scale * module.apply(params, images)
    return builtin_assessor(name, segmenter=_instrument(args.segmenter, "--segmenter"),
                            classifier=_instrument(args.classifier, "--classifier"),
                            scale=getattr(args, "scale", 1.0), class_idx=args.class_idx)


def _strips(G, g, d, latents, steps, out: Path, prefix: str, psi: float):
    """One PNG per direction: rows = latents, columns = steps."""
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from jaxgan.directions.apply import apply, render  # noqa: PLC0415
    from jaxgan.directions.plots import save_strips  # noqa: PLC0415
    from jaxgan.viz.grid import save_image  # noqa: PLC0415
    rend = jax.jit(lambda g_, lat: render(G, g_, lat, d.space, psi))
    paths = []
    tiles = out / "tiles"
    tiles.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(d.names):
        moved = apply(d[k], latents, jnp.asarray(steps, jnp.float32))[0]        # [A, N, ...]
        imgs = np.stack([np.asarray(rend(g, m)) for m in moved])               # [A, N, R, R, C]
        paths.append(str(save_strips(imgs, out / f"{prefix}_{name}.png", steps)))
        for a in range(imgs.shape[0]):        # one PNG per (latent, alpha): the explorer's strips
            for n in range(imgs.shape[1]):
                save_image(imgs[a, n], tiles / f"{prefix}_{name}_n{n}_a{a}.png")
        (tiles / f"{prefix}_{name}.json").write_text(json.dumps(
            {"prefix": prefix, "direction": name, "latents": int(imgs.shape[1]),
             "alphas": [float(v) for v in np.asarray(steps)]}))
    return paths


def _tile_rows(out: Path) -> list[dict]:
    """Strip rows (one per direction x latent, one image per alpha) from the saved tiles
    (``tiles/<prefix>_<direction>.json`` lists them)."""
    from jaxgan.viz import manifest as mf  # noqa: PLC0415
    rows = []
    for meta in sorted((out / "tiles").glob("*.json")):
        m = json.loads(meta.read_text())
        name, stem = m["direction"], f"{m['prefix']}_{m['direction']}"
        for n in range(m["latents"]):
            items = [mf.item(f"tiles/{stem}_n{n}_a{a}.png", caption=f"alpha {v:g}", value=v,
                             facets={"direction": name},
                             details={"direction": name, "latent": n, "alpha": v})
                     for a, v in enumerate(m["alphas"])]
            rows.append(mf.strip_row(items, label=f"{name}, latent {n}",
                                     facets={"direction": name}))
    return rows


def _scalars(metrics: dict, prefix: str = "") -> list[list]:
    """Flatten the scalar metrics into table rows ``[name, value]``."""
    rows = []
    for k, v in metrics.items():
        if isinstance(v, dict):
            rows += _scalars(v, f"{prefix}{k}.")
        elif isinstance(v, (int, float)):
            rows.append([f"{prefix}{k}", round(float(v), 5)])
    return rows


def _manifest(out: Path, results: dict) -> None:
    """``explorer.json`` for ``jaxgan explore`` (skipped when the explorer is not installed)."""
    try:
        from jaxgan.viz import manifest as mf  # noqa: PLC0415
    except ImportError:
        return
    sections = [mf.table(["metric", "value"], _scalars(results.get("metrics", {})),
                         title="measured")]
    rows = _tile_rows(out)
    if rows:
        sections.append(mf.strip(rows, axis="alpha", title="edits along each direction "
                                 "(choose the alphas to show)"))
    sections += [mf.plot(Path(f).name, caption=Path(f).stem) for f in results["files"]]
    mf.write_manifest(out, "directions", f"directions: {results['method']}", sections,
                      description="Rows of the strips: held-out latents; columns: alpha.")


def _write(out: Path, d, results: dict) -> int:
    write_atomic(out / "directions.npz", d.save)
    write_atomic(out / "results.json", lambda p: p.write_text(json.dumps(results, indent=2)))
    _manifest(out, results)
    print(json.dumps({k: v for k, v in results.items() if k in ("metrics", "files")}, indent=1))
    return 0


def _ganalyze(args):
    import jax  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from jaxgan.directions.apply import sample_latents  # noqa: PLC0415
    from jaxgan.directions.ganalyze import assessor_curve, fit_ganalyze, fit_slope  # noqa: PLC0415
    from jaxgan.directions.plots import plot_curves, plot_score_vs_alpha  # noqa: PLC0415
    G, g, layers, out, key = _load(args)
    assessor = _assessor(args, args.assessor)
    alphas = _floats(args.alphas, "--alphas")
    d = fit_ganalyze(G, g, assessor, jax.random.fold_in(key, 0), space=args.space, layers=layers,
                     steps=args.steps, batch=args.batch, learning_rate=args.lr,
                     alpha_range=args.alpha_range, psi=args.psi, name=_file_name(args.assessor))
    held = sample_latents(G, g, jax.random.fold_in(key, 1), args.num_eval, args.space, args.psi)
    scores = assessor_curve(G, g, d, assessor, held, alphas, psi=args.psi)[0]     # [A, N]
    fit = fit_slope(alphas, scores)
    files = [str(plot_score_vs_alpha(alphas, scores, out / "score_vs_alpha.png",
                                     label=args.assessor, title=f"slope {fit['slope']:.3f}")),
             str(plot_curves(d.extras["loss_curve"], d.names, out / "loss.png"))]
    files += _strips(G, g, d, held[:args.num_strip], alphas, out, "strips", args.psi)
    res = {"method": "ganalyze", "args": {k: v for k, v in vars(args).items() if k[0] != "_"},
           "metrics": {**fit, "target_slope": 1.0, "slope_ratio": fit["slope"]},
           "alphas": alphas, "mean_score": scores.mean(axis=1).tolist(), "files": files,
           "final_loss": float(np.mean(d.extras["loss_curve"][0, -20:]))}
    return _write(out, d, res)


def _steer(args):
    import jax  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from jaxgan.directions.apply import sample_latents  # noqa: PLC0415
    from jaxgan.directions.assessors import edit_statistic  # noqa: PLC0415
    from jaxgan.directions.edits import EDITS  # noqa: PLC0415
    from jaxgan.directions.evaluate import steer_metrics  # noqa: PLC0415
    from jaxgan.directions.plots import plot_curves, plot_steerability  # noqa: PLC0415
    from jaxgan.directions.steer import fit_steer, steerability  # noqa: PLC0415
    G, g, layers, out, key = _load(args)
    edits = [e.strip() for e in args.edits.split(",") if e.strip()]
    unknown = [e for e in edits if e not in EDITS]
    if unknown or not edits:
        raise UsageError(f"--edits: unknown edit(s) {unknown}; choose from {sorted(EDITS)}")
    lpips = None
    if args.loss == "lpips":
        from jaxgan.nets.lpips import load_lpips, lpips_distance  # noqa: PLC0415
        lpips = (lpips_distance, load_lpips("vgg16"))
    d = fit_steer(G, g, jax.random.fold_in(key, 0), edits, space=args.space, layers=layers,
                  steps=args.steps, batch=args.batch, learning_rate=args.lr, walk=args.walk,
                  lpips=lpips, psi=args.psi)
    steps = _floats(args.steps_eval, "--steps-eval")
    held = sample_latents(G, g, jax.random.fold_in(key, 1), args.num_eval, args.space, args.psi)
    files = [str(plot_curves(d.extras["loss_curve"], d.names, out / "loss.png"))]
    files += _strips(G, g, d, held[:args.num_strip], steps, out, "strips", args.psi)
    seg = _instrument(args.segmenter, "--segmenter")
    metrics = {}
    keep = [k for k, e in enumerate(edits)
            if e != "rotate" and (seg is not None or e.startswith(("color_", "brightness")))]
    if keep:
        sub = d[keep]
        measures = [edit_statistic(e, *(seg or (None, None))) for e in sub.names]
        curves = steerability(G, g, sub, measures, held, steps, psi=args.psi)
        metrics = steer_metrics(curves, sub.names)
        files.append(str(plot_steerability(curves["natural"], curves["achieved"], curves["target"],
                                           sub.names, out / "steerability.png",
                                           [EDITS[e].unit for e in sub.names])))
    res = {"method": "steer", "args": {k: v for k, v in vars(args).items() if k[0] != "_"},
           "metrics": metrics, "steps": steps, "files": files,
           "final_loss": {e: float(np.mean(np.asarray(d.extras["loss_curve"][k, -20:])))
                          for k, e in enumerate(edits)}}
    return _write(out, d, res)


def _csv_labels(args):
    """``--labels CSV`` matched to ``--latents``: ``(ws [N, num_ws, w_dim], scores [N], thr)``."""
    import csv  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    if not args.latents:
        raise UsageError("--labels needs --latents (latents.npz of `jaxgan invert` over the images)")
    for flag, path in (("--labels", args.labels), ("--latents", args.latents)):
        if not Path(path).is_file():
            raise UsageError(f"{flag} {path}: no such file")
    with open(args.labels, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"image", "label"} <= set(rows[0]):
        raise UsageError(f"--labels {args.labels}: expected a header with columns image,label")
    try:
        table = {Path(r["image"]).name: float(r["label"]) for r in rows}
    except ValueError as e:
        raise UsageError(f"--labels {args.labels}: labels must be numbers ({e})") from None
    lat = np.load(args.latents)
    if "ws" not in lat or "names" not in lat:
        raise UsageError(f"--latents {args.latents}: no 'ws'/'names' (write it with jaxgan invert)")
    names = [Path(str(n)).name for n in lat["names"]]
    keep = [i for i, n in enumerate(names) if n in table]
    missing = sorted(set(table) - set(names))
    if missing:
        raise UsageError(f"--labels: {len(missing)} image(s) not in --latents, e.g. {missing[0]!r}")
    scores = np.array([table[names[i]] for i in keep], np.float32)
    binary = set(np.unique(scores).tolist()) <= {0.0, 1.0}
    thr = 0.5 if binary else args.threshold
    if not 0 < np.sum(scores > thr) < len(scores):
        raise UsageError(f"--labels: every image is on one side of the threshold {thr}")
    return np.asarray(lat["ws"])[keep], scores, thr


def _interfacegan_csv(args):
    """InterFaceGAN on a user's labelled, inverted images (``--labels`` + ``--latents``)."""
    from jaxgan.directions.interfacegan import fit_boundary  # noqa: PLC0415
    if args.space == "z":
        raise UsageError("--labels: inverted latents are in W; use --space w or wp")
    G, g, layers, out, _ = _load(args)
    ws, scores, thr = _csv_labels(args)
    d = fit_boundary(ws, scores, method=args.method, C=args.C, space=args.space,
                     name=Path(args.labels).stem, threshold=thr).replace(layers=layers)
    metrics = {"num_labelled": int(len(scores)), "positive_rate": float((scores > thr).mean()),
               "threshold": thr, "val_accuracy": float(d.extras["val_accuracy"].mean())}
    alphas = _floats(args.alphas, "--alphas")
    files = _strips(G, g, d, ws[:args.num_strip], alphas, out, "strips", args.psi)
    res = {"method": "interfacegan", "labels": "csv",
           "args": {k: v for k, v in vars(args).items() if k[0] != "_"},
           "metrics": metrics, "files": files}
    return _write(out, d, res)


def _interfacegan(args):
    if getattr(args, "labels", None):
        return _interfacegan_csv(args)
    import jax  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from jaxgan.directions.evaluate import accuracy  # noqa: PLC0415
    from jaxgan.directions.interfacegan import fit_interfacegan, label_latents  # noqa: PLC0415
    from jaxgan.directions.plots import plot_bars  # noqa: PLC0415
    G, g, layers, out, key = _load(args)
    labeller = _assessor(args, args.labeller)
    d = fit_interfacegan(G, g, labeller, jax.random.fold_in(key, 0), num=args.num,
                         ratio=args.ratio, method=args.method, C=args.C, space=args.space,
                         psi=args.psi, name=_file_name(args.labeller),
                         threshold=args.threshold if args.select == "threshold" else None)
    d = d.replace(layers=layers)
    held, scores = label_latents(G, g, labeller, jax.random.fold_in(key, 1), args.num_eval,
                                 space=args.space, psi=args.psi)
    x = np.asarray(held if args.space == "z" else held[:, 0])
    n, off = np.asarray(d.vectors[0]), np.asarray(d.extras["offset"][0])
    if args.space == "wp":
        n, off, x = n[0], off[0], np.asarray(held[:, 0])
    pred = x @ n + off > 0
    lab = scores > args.threshold
    acc = accuracy(pred, lab)
    margin = np.abs(scores - args.threshold)
    conf = margin >= np.quantile(margin, 0.4)
    both = 0 < lab.sum() < len(lab)
    balanced = None
    if both:
        balanced = 0.5 * (accuracy(pred[lab], lab[lab]) + accuracy(pred[~lab], lab[~lab]))
    metrics = {"heldout_accuracy": acc, "heldout_balanced_accuracy": balanced,
               "heldout_positive_rate": float(lab.mean()),
               "heldout_accuracy_confident60": accuracy(pred[conf], lab[conf]),
               "val_accuracy": float(np.asarray(d.extras["val_accuracy"]).mean())}
    alphas = _floats(args.alphas, "--alphas")
    files = _strips(G, g, d, held[:args.num_strip], alphas, out, "strips", args.psi)
    files.append(str(plot_bars([metrics["heldout_accuracy"], metrics["val_accuracy"]],
                               ["held-out", "validation"], out / "accuracy.png", "accuracy")))
    res = {"method": "interfacegan", "args": {k: v for k, v in vars(args).items() if k[0] != "_"},
           "metrics": metrics, "files": files}
    return _write(out, d, res)


def _ganspace(args):
    import jax  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from jaxgan.directions.apply import sample_latents  # noqa: PLC0415
    from jaxgan.directions.ganspace import fit_ganspace  # noqa: PLC0415
    from jaxgan.directions.plots import plot_bars  # noqa: PLC0415
    G, g, layers, out, key = _load(args)
    d = fit_ganspace(G, g, jax.random.fold_in(key, 0), num=args.num,
                     num_components=args.components, layers=layers,
                     feature_block=args.feature_block, psi=args.psi)
    held = sample_latents(G, g, jax.random.fold_in(key, 1), args.num_strip, "w", args.psi)
    alphas = np.asarray(_floats(args.alphas, "--alphas"))
    files = []
    for k in range(len(d)):           # steps in units of the component's standard deviation
        files += _strips(G, g, d[k], held, alphas * float(d.extras["stdev"][k]), out,
                         "strips", args.psi)
    files.append(str(plot_bars(d.extras["explained_variance_ratio"], d.names,
                               out / "explained_variance.png", "explained variance ratio")))
    res = {"method": "ganspace", "args": {k: v for k, v in vars(args).items() if k[0] != "_"},
           "metrics": {"explained_variance_ratio":
                       np.asarray(d.extras["explained_variance_ratio"]).tolist()},
           "files": files}
    return _write(out, d, res)


def _sefa(args):
    import jax  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from jaxgan.directions.apply import sample_latents  # noqa: PLC0415
    from jaxgan.directions.plots import plot_bars  # noqa: PLC0415
    from jaxgan.directions.sefa import fit_sefa  # noqa: PLC0415
    G, g, layers, out, key = _load(args)
    d = fit_sefa(G, g, layers=layers, num_components=args.components,
                 include_torgb=args.include_torgb)
    held = sample_latents(G, g, jax.random.fold_in(key, 1), args.num_strip, "w", args.psi)
    files = _strips(G, g, d, held, _floats(args.alphas, "--alphas"), out, "strips", args.psi)
    files.append(str(plot_bars(d.extras["eigenvalues"], d.names, out / "eigenvalues.png",
                               "eigenvalue")))
    res = {"method": "sefa", "args": {k: v for k, v in vars(args).items() if k[0] != "_"},
           "metrics": {"eigenvalues": np.asarray(d.extras["eigenvalues"]).tolist()},
           "files": files}
    return _write(out, d, res)


def _run(args: argparse.Namespace) -> int:
    for name in ("steps", "batch", "num_eval", "num", "components", "num_strip"):
        v = getattr(args, name, None)
        if v is not None and v < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    for name in ("psi", "lr", "alpha_range", "scale", "C", "threshold", "ratio"):
        if getattr(args, name, None) is not None:
            check_finite(getattr(args, name), f"--{name.replace('_', '-')}")
    guard_outputs(args.out, OUTPUTS + METHOD_OUTPUTS[args._method], args.overwrite)
    return {"ganalyze": _ganalyze, "steer": _steer, "interfacegan": _interfacegan,
            "ganspace": _ganspace, "sefa": _sefa}[args._method](args)


COMMANDS: tuple[Command, ...] = (
    Command("directions", "fit latent directions: ganalyze, steer, interfacegan, ganspace, "
            "sefa (writes directions.npz, strips, plots, results.json)", _arguments, _run),
)
