"""``jaxgan generate``: render images from a generator checkpoint, like the official
``generate.py``.

::

    jaxgan generate --ckpt DIR (--seeds 0-3,7 | --z-file F.npz | --w-file F.npz)
                    [--psi 1] [--truncation-cutoff N] [--noise-mode const|random|none]
                    [--class IDX|NAME] [--outdir DIR] [--save-npz] [--grid] [--batch 16]
                    [--seed 0] [--precision float32|float16|bfloat16] [--overwrite]

The rendering itself is :mod:`jaxgan.render`; this module parses the inputs and writes files.
"""
from __future__ import annotations

import argparse
import re
import sys
import zipfile
from pathlib import Path

import numpy as np

from jaxgan.commands.base import (Command, UsageError, add_precision_argument, check_finite,
                                  check_finite_array, with_precision)
from jaxgan.errors import WrongKindError
from jaxgan.outputs import check_outputs, ensure_writable_dir, write_atomic


def parse_seeds(spec: str) -> list[int]:
    """``'0-3,7'`` -> ``[0, 1, 2, 3, 7]`` (inclusive ranges, as the official generate.py).

    Raises:
      UsageError: malformed spec or a seed outside ``[0, 2**32)``.
    """
    seeds: list[int] = []
    for part in spec.replace(" ", "").split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise UsageError(f"bad seed spec {spec!r}: expected e.g. '0-3,7' "
                             f"(comma-separated seeds or inclusive ranges a-b), got {part!r}")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise UsageError(f"bad seed spec {spec!r}: empty range {part!r}")
        if hi >= 2 ** 32:
            raise UsageError(f"bad seed spec {spec!r}: seeds must be < 2**32")
        seeds.extend(range(lo, hi + 1))
    dup = sorted({s for s in seeds if seeds.count(s) > 1}) if len(set(seeds)) < len(seeds) else []
    if dup:
        raise UsageError(f"bad seed spec {spec!r}: seed(s) {dup[:5]} given more than once "
                         "(each seed names one output file)")
    return seeds


def _load_npz(path: str, flag: str) -> dict[str, np.ndarray]:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{flag} {path}: file does not exist")
    if not zipfile.is_zipfile(p):
        raise UsageError(f"{flag} {path}: not an .npz (zip) archive")
    try:
        with np.load(p, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception as e:  # noqa: BLE001 - numpy raises several types for bad files
        raise UsageError(f"{flag} {path}: cannot read as .npz ({e})") from None


def _generate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ckpt", required=True, help="generator checkpoint directory (from convert)")
    p.add_argument("--net", choices=["G", "G_ema"], help="sub-checkpoint (default: G_ema, else G)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--seeds", help="seeds, e.g. 0-3,7; z = RandomState(seed).randn(1, z_dim)")
    src.add_argument("--z-file", help=".npz with 'z' [N, z_dim] and optional 'c' [N, c_dim]")
    src.add_argument("--w-file", help=".npz with 'w' [N, w_dim] or [N, num_ws, w_dim] "
                                      "(e.g. the official projected_w.npz)")
    p.add_argument("--psi", type=float, default=1.0, help="truncation psi (default 1)")
    add_precision_argument(p)
    p.add_argument("--truncation-cutoff", type=int, default=None,
                   help="truncate only the first N ws (default: all)")
    p.add_argument("--noise-mode", choices=["const", "random", "none"], default="const",
                   help="noise: const buffers (default), random, or none")
    p.add_argument("--class", dest="class_idx", default=None,
                   help="class of a conditional network: a name (saved with the network) or "
                        "an index")
    p.add_argument("--outdir", default="out", help="output directory (default: out)")
    p.add_argument("--save-npz", action="store_true",
                   help="also write images.npz: 'img' float32 NCHW unclipped, plus the z/w used")
    p.add_argument("--grid", action="store_true", help="also write grid.png")
    p.add_argument("--batch", type=int, default=16, help="images per device batch (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random noise (default 0)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace files of the same names in --outdir (only those)")


def _generate_inputs(args, cfg):
    """-> (names, kind 'z'|'w', x, c, extra arrays for images.npz)."""
    if args.w_file is not None:
        if args.class_idx is not None:
            raise UsageError("--class does not apply to --w-file (w already encodes the class)")
        if args.psi != 1.0 or args.truncation_cutoff is not None:
            raise UsageError("--psi/--truncation-cutoff apply to z inputs, not to --w-file")
        d = _load_npz(args.w_file, "--w-file")
        if "w" not in d:
            raise UsageError(f"--w-file {args.w_file}: no 'w' array (keys: {sorted(d)})")
        w = check_finite_array(np.asarray(d["w"], np.float32), f"--w-file {args.w_file}: 'w'")
        if w.ndim == 2:
            w = w[:, None]
        ok = (w.ndim == 3 and w.shape[0] > 0 and w.shape[1] in (1, cfg.num_ws)
              and w.shape[2] == cfg.w_dim)
        if not ok:
            raise UsageError(f"--w-file {args.w_file}: 'w' has shape {d['w'].shape}; expected "
                             f"[N, {cfg.w_dim}] or [N, {cfg.num_ws}, {cfg.w_dim}]")
        w = np.ascontiguousarray(np.broadcast_to(w, (w.shape[0], cfg.num_ws, cfg.w_dim)))
        return [f"img{i:04d}" for i in range(len(w))], "w", w, None, {"w": w}
    c = None
    if args.seeds is not None:
        seeds = parse_seeds(args.seeds)
        z = np.stack([np.random.RandomState(s).randn(cfg.z_dim) for s in seeds]).astype(np.float32)
        names, extra = [f"seed{s:04d}" for s in seeds], {"seeds": np.asarray(seeds, np.int64)}
    else:
        d = _load_npz(args.z_file, "--z-file")
        if "z" not in d:
            raise UsageError(f"--z-file {args.z_file}: no 'z' array (keys: {sorted(d)})")
        z = np.asarray(d["z"], np.float32)
        if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] != cfg.z_dim:
            raise UsageError(f"--z-file {args.z_file}: 'z' has shape {d['z'].shape}; expected "
                             f"[N, {cfg.z_dim}]")
        check_finite_array(z, f"--z-file {args.z_file}: 'z'")
        names, extra = [f"img{i:04d}" for i in range(len(z))], {}
        if "c" in d and np.size(d["c"]):
            c = check_finite_array(np.asarray(d["c"], np.float32), f"--z-file {args.z_file}: 'c'")
            if c.shape != (len(z), cfg.c_dim):
                raise UsageError(f"--z-file {args.z_file}: 'c' has shape {c.shape}; expected "
                                 f"[{len(z)}, {cfg.c_dim}]")
    if args.class_idx is not None:
        if cfg.c_dim == 0:
            raise UsageError("--class given, but the network is unconditional (c_dim=0)")
        if c is not None:
            raise UsageError("pass either --class or a 'c' array in --z-file, not both")
        if not 0 <= args.class_idx < cfg.c_dim:
            raise UsageError(f"--class {args.class_idx} out of range [0, {cfg.c_dim})")
        c = np.zeros((len(z), cfg.c_dim), np.float32)
        c[:, args.class_idx] = 1
    elif cfg.c_dim and c is None:
        raise UsageError(f"the network is conditional (c_dim={cfg.c_dim}): pass --class IDX "
                         "(or 'c' in --z-file)")
    extra = {**extra, "z": z, **({"c": c} if c is not None else {})}
    return names, "z", z, c, extra


def _generate_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm  # noqa: PLC0415
    from jaxgan.render import make_renderer, render_batches  # noqa: PLC0415
    from jaxgan.checkpoint import load_network  # noqa: PLC0415
    from jaxgan.nets.generator import Generator  # noqa: PLC0415
    from jaxgan.viz.grid import save_image, save_image_grid  # noqa: PLC0415
    if args.batch < 1:
        raise UsageError(f"--batch must be >= 1, got {args.batch}")
    if args.truncation_cutoff is not None and args.truncation_cutoff < 0:
        raise UsageError(f"--truncation-cutoff must be >= 0, got {args.truncation_cutoff}")
    check_finite(args.psi, "--psi")
    outdir = ensure_writable_dir(args.outdir, "--outdir")
    G, variables = load_network(args.ckpt, args.net)
    if not isinstance(G, Generator):
        raise WrongKindError(f"--ckpt {args.ckpt} holds a {type(G).__name__}, not a generator")
    G = with_precision(G, args)
    if args.class_idx is not None and G.cfg.c_dim:       # a class name or index
        from jaxgan.checkpoint import load_class_names, resolve_class  # noqa: PLC0415
        try:
            args.class_idx = resolve_class(args.class_idx, load_class_names(args.ckpt, args.net),
                                           G.cfg.c_dim, "--class")
        except ValueError as e:
            raise UsageError(str(e)) from None
    names, kind, x, c, extra = _generate_inputs(args, G.cfg)
    files = [f"{nm}.png" for nm in names] + (["grid.png"] if args.grid else []) + (
        ["images.npz"] if args.save_npz else [])
    check_outputs(outdir, files, args.overwrite, "--outdir")
    render = make_renderer(G, kind, args.psi, args.truncation_cutoff, args.noise_mode, args.seed)
    outdir.mkdir(parents=True, exist_ok=True)
    keep = args.grid or args.save_npz
    images = []
    with tqdm(total=len(x), unit="img", desc="generate", disable=None) as bar:
        for start, img in render_batches(render, variables, x, c, args.batch):
            for i in range(len(img)):
                save_image(img[i], outdir / f"{names[start + i]}.png")
            if keep:
                images.append(img)
            bar.update(len(img))
    if keep:
        images = np.concatenate(images).astype(np.float32)
        if args.grid:
            save_image_grid(images, outdir / "grid.png")
        if args.save_npz:
            write_atomic(outdir / "images.npz",
                         lambda p: np.savez(p, img=images.transpose(0, 3, 1, 2), **extra))
    print(f"wrote {len(x)} image(s) to {outdir}", file=sys.stderr)
    return 0


COMMANDS = (
    Command("generate", "render images from a generator checkpoint (like the official "
            "generate.py)", _generate_arguments, _generate_run),
)
