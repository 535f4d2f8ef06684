"""The static HTML explorer: every result under an output folder in one offline page.

:func:`build_explorer` scans a folder recursively for result manifests
(``explorer.json``, see :mod:`jaxgan.viz.manifest`), also turns plain result folders
without a manifest into results where it is obvious how (a training run: ``metrics.jsonl``
-> loss curves, ``samples/*.png`` -> a gallery by kimg; any other folder of images -> a
gallery; small ``*.json`` summaries -> text), and writes ``OUT/explorer/index.html``: one
self-contained page (inline CSS/JS, the data embedded as a JS object, images linked
relatively into the results; nothing copied, nothing fetched) that works from ``file://``.
:func:`make_server` serves the folder on 127.0.0.1 for ``jaxgan explore --serve``.
"""
from __future__ import annotations

import datetime
import functools
import http.server
import json
import math
import os
import re
import sys
import urllib.parse
from pathlib import Path

from jaxgan.viz import manifest as mf
from jaxgan.viz.explorer_template import render_page

#: Folder (inside the scanned folder) the page is written to.
EXPLORER_DIR = "explorer"
#: Folder names never scanned (checkpoints, datasets, logs).
SKIP_DIRS = frozenset({EXPLORER_DIR, "checkpoints", "tb", "dataset", "datasets", "__pycache__",
                       "node_modules"})
MAX_AUTO_IMAGES = 200   # images per auto-detected gallery
MAX_CHART_POINTS = 400  # points per auto-detected curve
MAX_JSON_BYTES = 32_000  # small JSON summaries shown as text
_FAKES_RE = re.compile(r"fakes0*(\d+(?:\.\d+)?)\.png$")


def build_explorer(out_dir, *, strict: bool = False) -> Path:
    """Write ``out_dir/explorer/index.html`` from the results found under ``out_dir``.

    Args:
      out_dir: a results folder (e.g. ``out/``); scanned recursively.
      strict: raise on the first invalid manifest instead of showing it as an error card.

    Returns:
      The path of ``index.html``.

    Raises:
      FileNotFoundError: ``out_dir`` does not exist or is not a folder.
      ManifestError: ``strict`` and a manifest is invalid.
    """
    return build_explorer_results(out_dir, strict=strict)[0]


def build_explorer_results(out_dir, *, strict: bool = False) -> tuple[Path, list[dict]]:
    """:func:`build_explorer`, also returning the results shown (see :func:`collect_results`)."""
    root = Path(out_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"results folder {out_dir} does not exist (or is not a folder)")
    root = root.resolve()
    page_dir = root / EXPLORER_DIR
    results = collect_results(root, strict=strict)
    data = {"root": root.name, "generated": datetime.datetime.now(datetime.timezone.utc)
            .strftime("%Y-%m-%d %H:%M UTC"),
            "results": [_page_result(r, page_dir, root, i) for i, r in enumerate(results)]}
    page_dir.mkdir(exist_ok=True)
    index = page_dir / "index.html"
    tmp = index.with_suffix(".html.tmp")
    tmp.write_text(render_page(data), encoding="utf-8")
    os.replace(tmp, index)
    return index, results


def collect_results(root, *, strict: bool = False) -> list[dict]:
    """All results under ``root``: manifests plus auto-detected folders, in path order.

    Manifests are collected at any depth; folders inside a manifest's folder or a training
    run are not auto-detected (their images belong to that result).

    Args:
      root: the folder to scan.
      strict: raise on an invalid manifest (default: keep it as ``{"error": message}``).

    Returns:
      ``[{"dir": Path, "source": Path, "manifest": dict | None, "error": str | None}]``
      where ``manifest`` follows :mod:`jaxgan.viz.manifest` with paths relative to ``dir``.
    """
    root = Path(root)
    results: list[dict] = []
    covered: list[Path] = []  # folders owned by a manifest or a training run: no auto-detection
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        dirnames[:] = sorted(n for n in dirnames if n not in SKIP_DIRS and not n.startswith("."))
        if mf.MANIFEST_NAME in filenames:  # manifests are collected at any depth
            covered.append(d)
            src = d / mf.MANIFEST_NAME
            try:
                results.append({"dir": d, "source": src, "manifest": mf.load_manifest(src),
                                "error": None})
            except mf.ManifestError as e:
                if strict:
                    raise
                print(f"jaxgan explore: skipping invalid manifest: {e}", file=sys.stderr)
                results.append({"dir": d, "source": src, "manifest": None, "error": str(e)})
            continue
        if any(d == c or c in d.parents for c in covered):
            continue
        auto = None
        if "metrics.jsonl" in filenames:
            covered.append(d)
            auto = _training_run(d, root)
        elif any(f.lower().endswith((".png", ".jpg", ".jpeg")) for f in filenames):
            auto = _image_folder(d, sorted(filenames), root)
        if auto is not None:
            results.append({"dir": d, "source": d, "manifest": auto, "error": None})
    return results


def make_server(out_dir, port: int = 0) -> tuple[http.server.ThreadingHTTPServer, str]:
    """An HTTP server for ``out_dir`` bound to 127.0.0.1 only (not started).

    Args:
      out_dir: the results folder that holds ``explorer/index.html``.
      port: TCP port; 0 picks a free one.

    Returns:
      ``(server, url of the explorer page)``; call ``server.serve_forever()`` (and
      ``server.shutdown()`` from another thread to stop).
    """
    handler = functools.partial(_QuietHandler, directory=str(Path(out_dir).resolve()))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), handler)
    host, real_port = server.server_address[:2]
    return server, f"http://{host}:{real_port}/{EXPLORER_DIR}/index.html"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


# ----------------------------------------------------------------------------- page data

def _page_result(res: dict, page_dir: Path, root: Path, index: int) -> dict:
    """A result as the page needs it: image paths relative to ``page_dir`` and URL-quoted."""
    rel_source = _rel(res["source"], root)
    out = {"id": f"r{index}", "source": rel_source or ".", "error": res["error"]}
    m = res["manifest"]
    if m is None:
        out.update(kind="error", title=rel_source or root.name, sections=[], facets=[])
        return out
    base = os.path.relpath(res["dir"], page_dir)
    out.update(kind=m["kind"], title=m["title"], description=m.get("description", ""),
               facets=m.get("facets", []), sections=_rebase(m["sections"], base))
    return out


def _rebase(obj, base: str):
    if isinstance(obj, list):
        return [_rebase(o, base) for o in obj]
    if isinstance(obj, dict):
        return {k: (_url(base, v) if k == "image" and isinstance(v, str) else _rebase(v, base))
                for k, v in obj.items()}
    return obj


def _url(base: str, path: str) -> str:
    joined = Path(base, path).as_posix()
    return urllib.parse.quote(joined, safe="/-_.~")


def _rel(p: Path, root: Path) -> str:
    r = os.path.relpath(p, root)
    return "" if r == "." else Path(r).as_posix()


# ----------------------------------------------------------------------------- auto-detection

def _training_run(d: Path, root: Path) -> dict:
    """A training run folder -> manifest: loss/score curves, last metrics, sample grids."""
    records = []
    with open(d / "metrics.jsonl", encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written
            if isinstance(rec, dict):
                records.append(rec)
    sections: list[dict] = []
    x_key = "kimg" if any("kimg" in r for r in records) else "step"
    for title, prefixes in (("Losses", ("loss/",)), ("Discriminator scores", ("scores/", "signs/"))):
        keys = sorted({k for r in records for k in r if k.startswith(prefixes)})
        series = [_series(records, x_key, k) for k in keys]
        series = [s for s in series if s["x"]]
        if series:
            sections.append(mf.chart(series, title=title, x_label=x_key, y_label="value"))
    other = sorted({k for r in records for k, v in r.items() if _is_num(v)} - {
        k for s in sections for k in (x["name"] for x in s["series"])} - {"step", "kimg", "sec"})
    if records:
        last = records[-1]
        rows = [[k, last[k]] for k in sorted(last)
                if (_is_num(last[k]) and math.isfinite(last[k])) or isinstance(last[k], str)]
        sections.append(mf.table(["metric", "value"], rows, title="Last logged metrics",
                                 caption=f"{len(records)} records; also logged: {', '.join(other)}"))
    charts, sections = sections, []
    samples = d / "samples"
    if samples.is_dir():
        items = []
        for p in sorted(samples.iterdir()):
            m = _FAKES_RE.match(p.name)
            if m:
                items.append(mf.item(f"samples/{p.name}", caption=f"{float(m.group(1)):g} kimg",
                                     facets={"set": "fakes", "kimg": float(m.group(1))}))
            elif p.suffix.lower() == ".png":
                items.append(mf.item(f"samples/{p.name}", caption=p.stem,
                                     facets={"set": p.stem}))
        if items:
            sections.append(mf.gallery(items[-MAX_AUTO_IMAGES:], title="Samples from fixed latents"))
    sections.extend(charts)
    for sub in ("network",):
        if (d / sub).is_dir():
            sections.append(mf.text(f"Networks: `{_rel(d / sub, root)}/`"))
    cfg = d / "config.json"
    if cfg.is_file() and cfg.stat().st_size <= MAX_JSON_BYTES:
        sections.append(mf.text("```\n" + cfg.read_text(errors="replace") + "\n```",
                                title="config.json"))
    return {"kind": "training", "title": _rel(d, root) or d.name, "sections": sections}


def _image_folder(d: Path, files: list[str], root: Path) -> dict | None:
    """A plain folder of images (and small JSON summaries) -> a gallery manifest."""
    images = [f for f in files if f.lower().endswith((".png", ".jpg", ".jpeg"))]
    items = [mf.item(f, caption=Path(f).stem) for f in images[:MAX_AUTO_IMAGES]]
    sections = [mf.gallery(items, title=f"{len(images)} image(s)"
                           + (f", first {MAX_AUTO_IMAGES} shown" if len(images) > MAX_AUTO_IMAGES else ""))]
    for f in files:
        p = d / f
        if f.endswith(".json") and p.stat().st_size <= MAX_JSON_BYTES:
            sections.append(mf.text("```\n" + p.read_text(errors="replace") + "\n```", title=f))
    return {"kind": "images", "title": _rel(d, root) or d.name, "sections": sections}


def _series(records: list[dict], x_key: str, key: str) -> dict:
    pts = [(r[x_key], r[key]) for r in records
           if _is_num(r.get(x_key)) and _is_num(r.get(key)) and math.isfinite(r[key])]
    stride = max(1, math.ceil(len(pts) / MAX_CHART_POINTS))
    pts = pts[::stride]
    return {"name": key, "x": [p[0] for p in pts], "y": [p[1] for p in pts]}


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
