"""Metrics during training: the ``cfg.metrics`` group and the per-tick hook.

``cfg.metrics = dict(names="", ticks=0, num_gen=2000, num_real=2000, num_ppl=1000,
batch_size=64, feature_net="")``: every ``ticks`` ticks (0 = off) the trainer evaluates
G_ema on ``names`` (comma-separated, e.g. ``"fd_classifier,ppl_wend"``) and adds the results
to that tick's row of ``metrics.jsonl`` (and TensorBoard). ``feature_net`` defaults to the
offline classifier of the training data (``out/classifier_shapes_shape`` /
``out/classifier_digits``). Dataset statistics are cached in ``RUN/metrics_cache``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import jax

from jaxgan.assets import DEFAULT_FEATURE_NETS
from jaxgan.metrics.features import make_feature_net
from jaxgan.metrics.runner import PPL_METRICS, compute_metrics, parse_metrics


def metrics_due(cfg, tick: int, final: bool) -> bool:
    """Whether the metrics hook runs at this tick (``cfg.metrics.ticks`` > 0 and names set)."""
    if "metrics" not in cfg:
        return False
    m = cfg.metrics
    return bool(str(m.names).strip()) and int(m.ticks) > 0 and (tick % int(m.ticks) == 0 or final)


def tick_metrics(cfg, G, g_ema, out_dir, step: int) -> dict:
    """Evaluate ``g_ema`` (host arrays) as configured; returns ``{name: value}``.

    Failures (e.g. no feature net trained yet) are reported on stderr and give ``{}``,
    so a metrics problem never stops a training run.
    """
    m = cfg.metrics
    try:
        names = parse_metrics(str(m.names))
        net = None
        if any(n not in PPL_METRICS for n in names):
            spec = str(m.feature_net) or DEFAULT_FEATURE_NETS.get(cfg.data.source, "")
            if not spec:
                raise ValueError(f"metrics.feature_net is needed for data source {cfg.data.source!r}")
            net = make_feature_net(spec)
        t0 = time.time()
        res = compute_metrics(
            G, g_ema, names, data_cfg=dict(cfg.data), feature_net=net,
            key=jax.random.fold_in(jax.random.key(cfg.seed), step), num_gen=int(m.num_gen),
            num_real=int(m.num_real), num_ppl=int(m.num_ppl), batch_size=int(m.batch_size),
            seed=cfg.seed, cache_dir=Path(out_dir) / "metrics_cache", progress=False)
        res = {k: v for k, v in res.items() if not k.startswith("_")}
        res["metrics_sec"] = round(time.time() - t0, 2)
        return res
    except (ValueError, OSError) as e:
        print(f"metrics at step {step} skipped: {e}", file=sys.stderr)
        return {}
