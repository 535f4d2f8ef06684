"""The explorer manifest of a ``jaxgan metrics`` run: the values as a table, the settings
as text and, when ``metrics-log.jsonl`` holds several records, each metric's history."""
from __future__ import annotations

import json
import math
from pathlib import Path
from jaxgan.viz import manifest as mf


def manifest_sections(record: dict, history: list[dict] | None = None) -> list[dict]:
    """Explorer sections for one metrics record (what ``jaxgan metrics`` writes).

    Args:
      record: the ``metrics.json`` dict (``results``: ``{name: value}``, plus settings).
      history: earlier records (``metrics-log.jsonl``) for a per-metric chart.

    Returns:
      the section list (:mod:`jaxgan.viz.manifest`).
    """
    res = {k: v for k, v in record["results"].items() if not k.startswith("_")}
    rows = [[k, _num(v)] for k, v in res.items()]
    sections = [mf.table(["metric", "value"], rows, title="Metrics")]
    fn = record.get("feature_net") or {}
    lines = [f"- generator: `{record.get('ckpt')}`",
             f"- data: `{json.dumps(record.get('data'))}`",
             f"- feature net: `{fn.get('name', 'none')}`",
             f"- samples: {record.get('num_gen')} generated, {record.get('num_real')} real, "
             f"{record.get('num_ppl')} PPL; psi {record.get('psi')}; seed {record.get('seed')}",
             f"- computed {record.get('time')} in {record.get('seconds')} s"]
    sections.append(mf.text("\n".join(lines), title="Settings"))
    hist = [h for h in (history or []) if isinstance(h.get("results"), dict)]
    if len(hist) > 1:
        series = [{"name": k, "x": list(range(1, len(hist) + 1)),
                   "y": [_num(h["results"].get(k)) for h in hist]} for k in res]
        sections.append(mf.chart(series, title="Every run logged here (metrics-log.jsonl)",
                                 x_label="run", y_label="value"))
    return sections


def write_manifest(out_dir) -> Path:
    """``out_dir/explorer.json`` from ``metrics.json`` (and ``metrics-log.jsonl``)."""
    out = Path(out_dir)
    record = json.loads((out / "metrics.json").read_text())
    history = []
    log = out / "metrics-log.jsonl"
    if log.is_file():
        for line in log.read_text().splitlines():
            try:
                history.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return mf.write_manifest(out, "metrics", f"Metrics of {record.get('ckpt')}",
                             manifest_sections(record, history))


def _num(v):
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return round(float(v), 6) if math.isfinite(v) else None
    return None if v is None else str(v)
