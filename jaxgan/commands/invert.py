"""``jaxgan invert`` (images -> latents, sheet, metrics) and ``jaxgan train-encoder``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from jaxgan.commands.base import Command, UsageError, add_precision_argument, with_precision
from jaxgan.errors import WrongKindError
from jaxgan.outputs import check_outputs, ensure_writable_dir, write_atomic
from jaxgan.commands.conditional import add_class_arguments, image_classes


def _add_data_arguments(p, required: bool) -> None:
    src = p.add_mutually_exclusive_group(required=required)
    src.add_argument("--images", help="folder of images (resized to G's resolution)")
    src.add_argument("--data", choices=["shapes", "digits"], help="built-in dataset")
    p.add_argument("--split", choices=["train", "test"], default="test",
                   help="split of --data (shapes test = indices from 1,000,000; default test)")
    p.add_argument("--num", type=int, default=16, help="images taken from --data (default 16)")


def load_images(args, G, folders: list | None = None) -> tuple[list[str], np.ndarray]:
    """-> (names, float32 images [N, R, R, C] in [-1, 1]) from --images or --data.

    Names of --images files are their paths below the folder without the extension
    (``cats/img01``); ``folders`` (a list, when given) receives each file's first
    sub-folder (None at the top level)."""
    from jaxgan.data import load_digits_dataset, load_image_folder, render_shapes, to_float  # noqa: PLC0415
    from jaxgan.invert.report import SHAPES_HELDOUT_START  # noqa: PLC0415
    r, ch = G.cfg.img_resolution, G.cfg.img_channels
    if args.num < 1:
        raise UsageError(f"--num must be >= 1, got {args.num}")
    if args.images is not None:
        d = load_image_folder(args.images, r, labels_from_subfolders=False, channels=ch)
        rel = [Path(f).relative_to(args.images) for f in d["files"]]
        if folders is not None:
            folders += [p.parts[0] if len(p.parts) > 1 else None for p in rel]
        return [p.with_suffix("").as_posix() for p in rel], to_float(d["image"])
    if args.data == "shapes":
        if ch != 3:
            raise UsageError("--data shapes needs an RGB generator (img_channels=3)")
        start = SHAPES_HELDOUT_START if args.split == "test" else 0
        img = render_shapes(args.num, r, seed=0, start=start)["image"]
        return [f"shapes_{args.split}{start + i:07d}" for i in range(args.num)], to_float(img)
    d = load_digits_dataset(args.split, r, channels=ch)
    img = d["image"][:args.num]
    return [f"digits_{args.split}{int(i):04d}" for i in d["index"][:args.num]], to_float(img)


def _load_generator(path):
    from jaxgan.checkpoint import load_network  # noqa: PLC0415
    from jaxgan.nets.generator import Generator  # noqa: PLC0415
    G, g = load_network(path)
    if not isinstance(G, Generator):
        raise WrongKindError(f"--ckpt {path} holds a {type(G).__name__}, not a generator")
    return G, g


# ----------------------------------------------------------------------------- invert

def _invert_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ckpt", required=True, help="generator checkpoint directory")
    add_precision_argument(p)
    _add_data_arguments(p, required=True)
    p.add_argument("--encoder", help="encoder checkpoint (from train-encoder): encoder init + "
                                     "in-domain optimisation (--steps 0: encoder only)")
    p.add_argument("--space", choices=["w", "wplus", "z", "s"], default=None,
                   help="latent space (default w; wplus with --encoder)")
    p.add_argument("--steps", type=int, default=None,
                   help="optimisation steps (default 1000; 100 with --encoder)")
    p.add_argument("--optimizer", choices=["adam", "lbfgs"], default="adam")
    p.add_argument("--lr", type=float, default=None, help="initial learning rate "
                   "(default 0.1; 0.01 with --encoder)")
    p.add_argument("--lpips", type=float, default=1.0, help="LPIPS weight (default 1)")
    p.add_argument("--l1", type=float, default=0.0, help="pixel L1 weight (default 0)")
    p.add_argument("--l2", type=float, default=0.0, help="pixel L2 weight (default 0; 1 with "
                                                         "--encoder)")
    p.add_argument("--lpips-resolution", type=int, default=None,
                   help="resize both images to this before LPIPS")
    p.add_argument("--no-noise-opt", action="store_true",
                   help="keep G's const noise instead of optimising noise maps")
    p.add_argument("--batch", type=int, default=16, help="images per jitted batch (default 16; "
                   "multi-process: the global batch, rounded up to a multiple of the device count and "
                   "split over the processes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output directory")
    add_class_arguments(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace this command's files already in --out (only those)")


def invert_outputs(names: list[str]) -> list[str]:
    """The files ``jaxgan invert`` writes into ``--out`` for images ``names``."""
    out = ["latents.npz", "sheet.png", "metrics.json", "explorer.json"]
    for i, nm in enumerate(names):
        sub, _, base = str(nm).rpartition("/")      # as jaxgan.invert.report.write_manifest
        stem = f"images/{sub + '/' if sub else ''}{i:04d}_{base}"
        out += [f"{stem}.png", f"{stem}_target.png", f"{stem}_reconstruction.png"]
    return out


def _invert_run(args) -> int:
    import jax  # noqa: PLC0415
    from jaxgan.checkpoint import load_network  # noqa: PLC0415
    from jaxgan.invert.batch import invert_batches, latents_arrays  # noqa: PLC0415
    from jaxgan.invert import indomain  # noqa: PLC0415
    from jaxgan.invert.losses import DistanceWeights  # noqa: PLC0415
    from jaxgan.invert.projector import ProjectConfig, latent_stats  # noqa: PLC0415
    from jaxgan.invert.report import reconstruction_metrics, save_sheet  # noqa: PLC0415
    from jaxgan.nets.lpips import load_lpips  # noqa: PLC0415
    if args.batch < 1:
        raise UsageError(f"--batch must be >= 1, got {args.batch}")
    if args.steps is not None and args.steps < 0:
        raise UsageError(f"--steps must be >= 0, got {args.steps}")
    if args.lr is not None and not (np.isfinite(args.lr) and args.lr > 0):
        raise UsageError(f"--lr must be a finite number > 0, got {args.lr}")
    for flag in ("lpips", "l1", "l2"):
        v = getattr(args, flag)
        if not (np.isfinite(v) and v >= 0):
            raise UsageError(f"--{flag} must be a finite number >= 0, got {v}")
    out = ensure_writable_dir(args.out, "--out")
    G, g = _load_generator(args.ckpt)
    G = with_precision(G, args)
    folders: list = []
    names, x = load_images(args, G, folders)
    check_outputs(out, invert_outputs(names), args.overwrite, "--out")
    c, classes, class_from = image_classes(args, G, args.ckpt, x, folders if args.images else
                                           None)
    E = e_vars = None
    if args.encoder:
        E, e_vars = load_network(args.encoder)
        if type(E).__name__ != "Encoder":
            raise WrongKindError(f"--encoder {args.encoder} holds a {type(E).__name__}, "
                                 "not an encoder")
        steps = 100 if args.steps is None else args.steps
        cfg = indomain.indomain_config(max(steps, 1), args.lr or 0.01, args.lpips,
                                       l2=args.l2 or 1.0, lpips_resolution=args.lpips_resolution)
        cfg = cfg.replace(space=args.space or "wplus", optimizer=args.optimizer)
        if cfg.space == "z":
            raise UsageError("--encoder predicts W+: use --space w, wplus or s")
    else:
        steps = 1000 if args.steps is None else args.steps
        if steps == 0:
            raise UsageError("--steps 0 needs --encoder")
        cfg = ProjectConfig(
            space=args.space or "w", num_steps=steps, optimizer=args.optimizer,
            initial_learning_rate=args.lr or 0.1,
            optimize_noise=not args.no_noise_opt and args.optimizer == "adam",
            noise_init="const" if args.no_noise_opt else "random",
            distance=DistanceWeights(lpips=args.lpips, l1=args.l1, l2=args.l2,
                                             lpips_resolution=args.lpips_resolution))
    lp = load_lpips("vgg16")
    stats = latent_stats(G, g, cfg.space, cfg.w_avg_samples)
    key = jax.random.key(args.seed)
    if jax.process_index() == 0:
        out.mkdir(parents=True, exist_ok=True)
    res = invert_batches(G, g, x, cfg, key=key, lp=lp, stats=stats, c=c, E=E, e_vars=e_vars,
                         encoder_only=E is not None and steps == 0, batch=args.batch,
                         desc=f"invert ({cfg.space}, {steps} steps)")
    if jax.process_index() != 0:             # process 0 alone writes
        return 0
    rec = res["images"]
    metrics = reconstruction_metrics(x, rec, lp)
    arrays = latents_arrays(res, cfg.space, names, c)
    write_atomic(out / "latents.npz", lambda p: np.savez(p, **arrays))
    save_sheet(x, rec, out / "sheet.png")
    per = [{"name": nm, **({"class": classes[i]} if classes else {}),
            **{k: float(v[i]) for k, v in metrics.items()}} for i, nm in enumerate(names)]
    summary = {k: float(np.mean(v)) for k, v in metrics.items()}
    report = {"ckpt": str(args.ckpt), "encoder": args.encoder, "space": cfg.space,
              "steps": steps if not (E is not None and steps == 0) else 0,
              "optimizer": cfg.optimizer, "class_from": class_from, "mean": summary,
              "images": per}
    write_atomic(out / "metrics.json",
                 lambda p: p.write_text(json.dumps(report, indent=2) + "\n"))
    from jaxgan.invert.report import write_manifest  # noqa: PLC0415 - explorer.json
    write_manifest(out, x, rec, names, metrics, res.get("curve"), f"Inversion ({cfg.space})")
    print(f"inverted {len(x)} image(s): mean MSE {summary['mse']:.5f}, PSNR {summary['psnr']:.2f} dB, "
          f"LPIPS {summary['lpips']:.4f} -> {out}", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- train-encoder

def _train_encoder_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ckpt", required=True, help="generator checkpoint directory")
    p.add_argument("--out", required=True, help="encoder checkpoint directory to write")
    p.add_argument("--data", choices=["shapes", "digits", "none"], default="shapes",
                   help="real training images (train split); 'none': generated only")
    p.add_argument("--num-real", type=int, default=5000, help="real images (shapes; default 5000)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lpips", type=float, default=1.0, help="LPIPS weight")
    p.add_argument("--l2", type=float, default=1.0, help="pixel L2 weight")
    p.add_argument("--latent", type=float, default=1.0, help="latent cycle weight")
    p.add_argument("--real", type=float, default=1.0, help="weight of the real-image terms")
    p.add_argument("--channel-base", type=int, default=4096)
    p.add_argument("--channel-max", type=int, default=128)
    p.add_argument("--num-test", type=int, default=64, help="held-out images for the report")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")


def _train_encoder_run(args) -> int:
    import jax  # noqa: PLC0415
    from jaxgan.checkpoint import save_network  # noqa: PLC0415
    from jaxgan.invert import encoder as enc, indomain  # noqa: PLC0415
    from jaxgan.invert.report import reconstruction_metrics  # noqa: PLC0415
    from jaxgan.nets.lpips import load_lpips  # noqa: PLC0415
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise UsageError(f"--out {out} exists; pass --overwrite to replace it")
    G, g = _load_generator(args.ckpt)
    cfg = enc.EncoderTrainConfig(steps=args.steps, batch_size=args.batch, learning_rate=args.lr,
                                 l2=args.l2, lpips=args.lpips, latent=args.latent,
                                 real=0.0 if args.data == "none" else args.real,
                                 channel_base=args.channel_base, channel_max=args.channel_max)
    real = None
    if args.data != "none":
        ns = argparse.Namespace(images=None, data=args.data, split="train", num=args.num_real)
        real = load_images(ns, G)[1]
    lp = load_lpips("vgg16") if args.lpips else None
    E, e_vars, hist = enc.train_encoder(G, g, real, cfg, key=jax.random.key(args.seed), lp=lp)
    save_network(out, E, e_vars, overwrite=args.overwrite, companions=("metrics.json",))
    report = {"train": {k: v for k, v in vars(args).items() if not callable(v)},
              "final": hist[-1]}
    if args.data != "none":
        ns = argparse.Namespace(images=None, data=args.data, split="test", num=args.num_test)
        x = load_images(ns, G)[1]
        rec = indomain.encoder_invert(G, g, x, E, e_vars)[1]
        m = reconstruction_metrics(x, rec, load_lpips("vgg16"))
        report["heldout"] = {k: float(np.mean(v)) for k, v in m.items()}
        print("held-out encoder reconstruction: " + ", ".join(
            f"{k} {v:.4f}" for k, v in report["heldout"].items()), file=sys.stderr)
    (out / "metrics.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


COMMANDS = (
    Command("invert", "invert images through a generator (latents .npz, sheet PNG, metrics "
            "JSON)", _invert_arguments, _invert_run),
    Command("train-encoder", "train an image -> W+ encoder for a generator",
            _train_encoder_arguments, _train_encoder_run),
)
