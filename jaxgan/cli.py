"""The ``jaxgan`` command line.

Usage::

    jaxgan convert SRC OUT [--net G|D|G_ema] [--allow-pickle] [--override KEY=VALUE ...]
                           [--overwrite]
    jaxgan generate --ckpt DIR (--seeds 0-3,7 | --z-file F.npz | --w-file F.npz)
                    [--psi 1] [--truncation-cutoff N] [--noise-mode const|random|none]
                    [--class IDX] [--outdir DIR] [--save-npz] [--grid] [--batch 16] [--seed 0]
                    [--precision float32|float16|bfloat16]

Subcommands are the entries of :data:`COMMANDS` (name, help, argument setup, runner) plus
the ``COMMANDS`` of every module named in :data:`jaxgan.commands.MODULES` (one module per
capability: ``jaxgan/commands/<name>.py``). Runners import their heavy dependencies lazily. User errors
(bad paths, specs, shapes) print one line to stderr and exit with code 2; set
``JAXGAN_DEBUG=1`` to get the traceback instead.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import zipfile
from pathlib import Path

import numpy as np

from jaxgan.commands.base import (PRECISION_CHOICES, Command, add_precision_argument,  # noqa: F401
                                  check_finite, check_finite_array, with_precision)
from jaxgan.errors import (USER_ERRORS, MissingKeyError, UsageError, WrongKindError,  # noqa: F401
                           one_line)
from jaxgan.outputs import check_outputs, ensure_writable_dir, write_atomic


# ----------------------------------------------------------------------------- helpers

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


def parse_override(text: str) -> tuple[str, object]:
    """``'key=value'`` -> ``(key, value)``; the value is parsed as JSON when it can be."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"bad --override {text!r}: expected KEY=VALUE, e.g. conv_clamp=256")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


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


# ----------------------------------------------------------------------------- convert

def _convert_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", help="official .npz state dict (keys optionally prefixed G./D./G_ema.) "
                               "or .pkl network pickle")
    p.add_argument("out", help="output checkpoint directory (several nets: OUT/<name>)")
    p.add_argument("--net", choices=["G", "D", "G_ema"], help="convert only this network, into OUT")
    p.add_argument("--allow-pickle", action="store_true",
                   help="read .pkl network pickles (official snapshots, TF-era releases). The "
                   "reader never runs code from the file: a restricted unpickler maps only the "
                   "known torch/numpy/dnnlib names to NumPy stand-ins and refuses any other "
                   "global by name, and the embedded network source is never executed")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="set a config field, e.g. conv_clamp=256 or D.mbstd_group_size=8 "
                        "(VALUE parsed as JSON when possible); repeatable")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing checkpoints written by jaxgan (never other files)")


def _convert_run(args: argparse.Namespace) -> int:
    from jaxgan.convert import convert  # noqa: PLC0415
    overrides = dict(parse_override(o) for o in args.override)
    ensure_writable_dir(Path(args.out).parent, "OUT's parent")
    try:
        paths = convert(args.src, args.out, net=args.net, overrides=overrides,
                        allow_pickle=args.allow_pickle, overwrite=args.overwrite)
    except KeyError as e:       # the converter indexes the source's state dict by name
        if isinstance(e, MissingKeyError):
            raise
        raise MissingKeyError(f"{args.src} lacks tensor {e.args[0]!r}: not a complete "
                              "stylegan2-ada-pytorch network of this architecture") from None
    for path in paths:
        print(path)
    return 0


# ----------------------------------------------------------------------------- generate

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


def make_renderer(G, kind: str, psi: float = 1.0, cutoff=None, noise_mode: str = "const",
                  seed: int = 0):
    """One jitted ``render(variables, x, c, idx) -> images [B, R, R, C]``.

    Args:
      G: the generator module.
      kind: ``'z'`` (x = z ``[B, z_dim]``) or ``'w'`` (x = ws ``[B, num_ws, w_dim]``).
      psi, cutoff: truncation (z only).
      noise_mode: 'const' | 'random' | 'none'; 'random' draws each image's noise from
        ``fold_in(key(seed), idx[i])``, so an image does not depend on its batch.
      seed: the noise seed.
    """
    import jax  # noqa: PLC0415
    from jaxgan import model  # noqa: PLC0415

    def render(variables, x, c, idx):
        ws = x if kind == "w" else model.mapping(G, variables, x, c, psi, cutoff)
        if noise_mode != "random":
            return model.synthesize(G, variables, ws, noise_mode=noise_mode)
        keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(idx)
        one = lambda w, k: model.synthesize(G, variables, w[None], noise_mode="random",  # noqa: E731
                                            noise_key=k)[0]
        return jax.vmap(one)(ws, keys)

    return jax.jit(render)


def _pad(a, n):
    return a if a is None or len(a) == n else np.concatenate([a, np.repeat(a[-1:], n - len(a), 0)])


def _generate_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm  # noqa: PLC0415
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
    n, bs = len(x), min(args.batch, len(x))
    keep = args.grid or args.save_npz
    images = []
    with tqdm(total=n, unit="img", desc="generate", disable=None) as bar:
        for start in range(0, n, bs):
            m = min(bs, n - start)
            idx = np.arange(start, start + bs, dtype=np.uint32)
            img = np.asarray(render(variables, _pad(x[start:start + m], bs),
                                    _pad(None if c is None else c[start:start + m], bs), idx))[:m]
            for i in range(m):
                save_image(img[i], outdir / f"{names[start + i]}.png")
            if keep:
                images.append(img)
            bar.update(m)
    if keep:
        images = np.concatenate(images).astype(np.float32)
        if args.grid:
            save_image_grid(images, outdir / "grid.png")
        if args.save_npz:
            write_atomic(outdir / "images.npz",
                         lambda p: np.savez(p, img=images.transpose(0, 3, 1, 2), **extra))
    print(f"wrote {n} image(s) to {outdir}", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- main

COMMANDS: tuple[Command, ...] = (
    Command("convert", "convert official stylegan2-ada-pytorch weights (.npz/.pkl) to a "
            "jaxgan checkpoint", _convert_arguments, _convert_run),
    Command("generate", "render images from a generator checkpoint (like the official "
            "generate.py)", _generate_arguments, _generate_run),
)


def all_commands() -> tuple[Command, ...]:
    """The built-in commands plus those of the modules listed in ``jaxgan.commands.MODULES``.

    Each listed module defines ``COMMANDS: tuple[Command, ...]`` and imports its heavy
    dependencies inside its runners, so building the parser stays cheap.
    """
    import importlib

    from jaxgan.commands import MODULES
    extra: list[Command] = []
    for name in MODULES:
        extra.extend(importlib.import_module(name).COMMANDS)
    return COMMANDS + tuple(extra)


def build_parser(commands=None) -> argparse.ArgumentParser:
    """The ``jaxgan`` argument parser with one subparser per entry of ``commands``
    (default :func:`all_commands`)."""
    commands = all_commands() if commands is None else commands
    parser = argparse.ArgumentParser(
        prog="jaxgan", description="StyleGAN2 in pure JAX/Flax, numerically matching "
        "NVIDIA's stylegan2-ada-pytorch.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for cmd in commands:
        sp = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.add_arguments(sp)
        sp.set_defaults(_run=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI.

    Args:
      argv: arguments without the program name (default ``sys.argv[1:]``).

    Returns:
      The exit code: 0 on success, 2 on a usage or input error.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or an argparse error (2, already printed)
        return e.code if isinstance(e.code, int) else 2
    from jaxgan.distributed import exit_on_peer_failure, initialize  # noqa: PLC0415
    try:
        with exit_on_peer_failure(f"jaxgan {args.command}"):   # another process died: 1 line
            if args.command != "launch":   # multi-process jobs: join before touching devices
                initialize(prog=f"jaxgan {args.command}")
            return int(args._run(args) or 0)
    except USER_ERRORS as e:
        if os.environ.get("JAXGAN_DEBUG"):
            raise
        print(f"jaxgan {args.command}: error: {one_line(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
