"""``python -m jaxgan.train --config PRESET --out DIR [key=value ...]`` (= ``jaxgan train``): train or resume a StyleGAN2.

Presets live in ``configs/`` (installed as ``jaxgan.configs``) (tiny, shapes32, digits32, paper256, stylegan2) or pass a
path to any ``.py`` file with ``get_config()``. Overrides use dotted keys, e.g.
``batch_size=32 data.path=/imgs augment.mode=fixed augment.p=0.2``; unknown keys fail.
"""
from __future__ import annotations

import argparse
import os
import sys

from jaxgan.errors import USER_ERRORS, one_line


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="python -m jaxgan.train", description=__doc__,
                                          formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="shapes32", help="preset name or path (default shapes32)")
    p.add_argument("--out", required=True, help="run directory (resumes if it has checkpoints)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--allow-changed", action="store_true",
                   help="resume although the data or settings differ from those the run "
                        "directory was started with (by default that is refused)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    return p


def run(args) -> int:
    from jaxgan.training.config import load_config  # noqa: PLC0415
    from jaxgan.training.loop import train  # noqa: PLC0415
    cfg = load_config(args.config, args.overrides)
    result = train(cfg, args.out, progress=not args.no_progress,
                   allow_changed=args.allow_changed)
    last = result["history"][-1] if result["history"] else {}
    print(f"done: {result['step']} iterations, {last.get('kimg', 0):.1f} kimg; "
          f"G_ema exported to {args.out}/network/G_ema")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from jaxgan.distributed import exit_on_peer_failure, initialize  # noqa: PLC0415
    from jaxgan.xla_cache import enable_persistent_cache  # noqa: PLC0415
    enable_persistent_cache()           # before anything compiles (JAXGAN_COMPILATION_CACHE=0: off)
    try:
        with exit_on_peer_failure("train"):         # another process died: one line, exit 1
            initialize(prog="train")                # multi-process jobs (no-op otherwise)
            return run(args)
    except USER_ERRORS as e:                        # one line, exit 2 (as the jaxgan CLI)
        if os.environ.get("JAXGAN_DEBUG"):
            raise
        print(f"train: error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:                       # Ctrl-C: one line, no traceback
        from jaxgan.training.loop import interrupted_message  # noqa: PLC0415
        print(f"train: {interrupted_message(args.out)}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    rc = main()
    if rc in (2, 130):      # a user error or Ctrl-C: skip teardown, whose interrupted async
                            # checkpoint I/O (orbax's event loop) only adds tracebacks after the line
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    sys.exit(rc)
