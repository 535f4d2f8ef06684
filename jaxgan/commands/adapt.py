"""``jaxgan adapt``: few-shot domain adaptation in StyleSpace (StyleDomain).

::

    jaxgan adapt train --config domain_shapes --out OUT [domain.param=offset ...]
    jaxgan adapt report --out out/domain_shapes [--params full,offset,...] [--mix-domain night]
    jaxgan adapt morph --src G_PATH --a RUN_A/network [--b RUN_B/network] --out strip.png
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from jaxgan.commands.base import Command, UsageError
from jaxgan.outputs import guard_file, guard_outputs

#: What ``adapt report`` writes into ``--out`` besides its training runs (``<param>/``,
#: run directories that resume and refuse other data or settings).
REPORT_OUTPUTS = ("results.json", "results.md", "compare.png", "targets.png", "morph_*.png",
                  "mix.png")


def _arguments(p) -> None:
    sub = p.add_subparsers(dest="adapt_cmd", required=True)
    t = sub.add_parser("train", help="adapt a trained G to a few target images (a trainer config "
                       "with a 'domain' group)")
    t.add_argument("--config", default="domain_shapes", help="preset name or path")
    t.add_argument("--out", required=True, help="run directory (resumes)")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    r = sub.add_parser("report", help="train every parameterisation, compare FD / mask IoU / "
                       "parameter counts (results.json, results.md, PNG grids)")
    r.add_argument("--out", required=True)
    r.add_argument("--config", default="domain_shapes")
    r.add_argument("--params", default="full,offset,affine_plus,affine_light_plus")
    r.add_argument("--num-eval", type=int, default=500)
    r.add_argument("--mix-domain", default="", help="second built-in domain for the mixing strip")
    r.add_argument("--no-progress", action="store_true")
    r.add_argument("--overwrite", action="store_true",
                   help="replace the report's files in --out (only those)")
    r.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    m = sub.add_parser("morph", help="source -> target strip, or a mix of two StyleDomain "
                       "directions (--b), for the same latents")
    m.add_argument("--src", required=True, help="source generator checkpoint")
    m.add_argument("--a", required=True, help="a domain run's network/ (domain_params.npz)")
    m.add_argument("--b", default="", help="second domain: strip mixes a -> b")
    m.add_argument("--out", required=True, help="PNG path")
    m.add_argument("--n", type=int, default=4, help="latents (rows)")
    m.add_argument("--steps", type=int, default=6, help="columns")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def _run(args) -> int:
    if args.adapt_cmd == "train":
        from jaxgan.commands.train import train_config_group  # noqa: PLC0415
        res = train_config_group(args, "domain", "domain_shapes")
        print(f"done: {res['step']} iterations; adapted G and domain parameters in "
              f"{args.out}/network", file=sys.stderr)
        return 0
    if args.adapt_cmd == "report":
        from jaxgan.domain.params import PARAMS  # noqa: PLC0415
        from jaxgan.domain.report import run_report  # noqa: PLC0415
        params = [s.strip() for s in args.params.split(",") if s.strip()]
        bad = [s for s in params if s not in PARAMS]
        if bad:
            raise UsageError(f"--params: unknown {bad}; choose from {PARAMS}")
        guard_outputs(args.out, REPORT_OUTPUTS, args.overwrite)
        res = run_report(args.out, params=params, config=args.config, overrides=args.overrides,
                         num_eval=args.num_eval, mix_domain=args.mix_domain,
                         progress=not args.no_progress)
        print((Path(args.out) / "results.md").read_text())
        print(json.dumps({r["param"]: round(r["fd_target"], 3) for r in res["rows"]}))
        return 0
    if args.n < 1 or args.steps < 1:
        raise UsageError(f"--n and --steps must be >= 1, got {args.n} and {args.steps}")
    guard_file(args.out, args.overwrite)
    import jax  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from jaxgan.checkpoint import load_network  # noqa: PLC0415
    from jaxgan.domain.evaluate import generate  # noqa: PLC0415
    from jaxgan.domain.mix import domain_generator, mix, zeros_like_domain  # noqa: PLC0415
    from jaxgan.domain.setup import load_domain  # noqa: PLC0415
    from jaxgan.viz.grid import save_image_grid  # noqa: PLC0415
    G, g_src = load_network(args.src)
    d_a, _ = load_domain(args.a)
    if d_a is None:
        raise UsageError(f"{args.a}: this run has no domain parameters (full / affine_plus); "
                         "morph needs an offset or affine_light_plus run")
    d_b = zeros_like_domain(d_a)
    if args.b:
        d_b, _ = load_domain(args.b)
    else:                                           # source -> a
        d_a, d_b = d_b, d_a
    z = jax.random.normal(jax.random.key(args.seed), (args.n, G.cfg.z_dim))
    ts = np.linspace(0.0, 1.0, max(args.steps, 2))
    cols = [generate(G, domain_generator(g_src, dom=mix(d_a, d_b, t)), z) for t in ts]
    grid = np.stack(cols, axis=1)
    save_image_grid(grid.reshape(-1, *grid.shape[2:]), args.out, ncols=len(ts))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


COMMANDS = (
    Command("adapt", "few-shot domain adaptation in StyleSpace (StyleDomain): train, report, "
            "morph / mix", _arguments, _run),
)
