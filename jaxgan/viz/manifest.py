"""The results manifest: a small JSON file any command writes so ``jaxgan explore`` can show it.

A command that produces results a person would look at writes, next to them,
``OUT/explorer.json`` (:data:`MANIFEST_NAME`)::

    from jaxgan.viz import manifest as mf
    mf.write_manifest(out, kind="directions", title="GANalyze on shapes", sections=[
        mf.text("Edits along a learned direction, one row per seed."),
        mf.strip([mf.strip_row([mf.item(f"strips/s{s}_a{a}.png", value=a) for a in alphas],
                               label=f"seed {s}", facets={"assessor": "object_size"})
                  for s in seeds], axis="alpha"),
        mf.plot("accuracy_vs_alpha.png", caption="accuracy of the ensemble vs alpha"),
    ])

Schema (``schema_version`` :data:`SCHEMA_VERSION`)::

    {"format": "jaxgan-explorer", "schema_version": 1, "kind": str, "title": str,
     "description": str (optional), "facets": [facet names in UI order] (optional),
     "sections": [SECTION, ...]}

Sections (``"type"``):

- ``gallery``: ``{"items": [ITEM, ...]}``.
- ``strip``: ``{"axis": "alpha", "rows": [{"label", "facets", "images": [ITEM + "value"]}]}``,
  rows of images indexed by a numeric facet (the axis); the UI lets the user pick which
  axis values (columns) to show.
- ``table``: ``{"columns": [str], "rows": [[CELL, ...] | {"cells": [...], "facets": {...}}]}``;
  a cell is a string, a number, null, or ``{"image": path, "caption": str}``.
- ``plot``: ``{"image": path, "caption": str}`` (a PNG plot, e.g. from matplotlib).
- ``chart``: ``{"series": [{"name", "x": [...], "y": [...]}], "x_label", "y_label"}``,
  drawn by the page as an inline SVG line chart.
- ``text``: ``{"text": markdown}`` (headings, lists, ``code``, **bold**, *italic*).

Every section may have ``"title"``. An ITEM is ``{"image": path, "caption": str,
"facets": {name: str|number|bool}, "details": {key: JSON value},
"extra_images": [{"image": path, "caption": str}]}``; clicking it in the explorer opens a
details panel with the image enlarged, its facets and details. Facets are free-form
(e.g. ``{"method": "ganalyze", "assessor": "object_size", "class": "circle",
"alpha": 0.2}``); the explorer shows one selector per facet name ("Step 1: choose
assessor", ...). Image paths are relative to the manifest's folder, use ``/`` and must
exist; :func:`validate_manifest` checks all of it.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

#: File name of a manifest inside a command's output folder.
MANIFEST_NAME = "explorer.json"
#: The ``format`` field every manifest carries.
FORMAT = "jaxgan-explorer"
#: The schema version this code writes and reads.
SCHEMA_VERSION = 1
#: Section types and the fields each requires.
SECTION_TYPES: dict[str, tuple[str, ...]] = {
    "gallery": ("items",),
    "strip": ("axis", "rows"),
    "table": ("columns", "rows"),
    "plot": ("image",),
    "chart": ("series",),
    "text": ("text",),
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")


class ManifestError(ValueError):
    """A manifest that does not follow the schema; the message names the offending field."""


# ----------------------------------------------------------------------------- builders

def item(image, caption: str | None = None, facets: dict | None = None,
         details: dict | None = None, value: float | None = None,
         extra_images: list | None = None) -> dict:
    """One image entry of a gallery or strip.

    Args:
      image: path of the image, relative to the manifest's folder (or absolute, made
        relative by :func:`write_manifest`).
      caption: short text under the image.
      facets: ``{name: str | number | bool}`` used by the explorer's selectors.
      details: any JSON-serialisable ``{key: value}`` shown in the details panel
        (e.g. ``{"probabilities": {"circle": 0.9, "square": 0.1}}``).
      value: the strip-axis value (e.g. alpha) for an image of a strip row.
      extra_images: ``[(path, caption) | {"image", "caption"}]`` shown in the details panel
        (e.g. before/after pairs).

    Returns:
      The item dict.
    """
    out: dict[str, Any] = {"image": _path_str(image)}
    if caption is not None:
        out["caption"] = str(caption)
    if facets:
        out["facets"] = dict(facets)
    if details:
        out["details"] = dict(details)
    if value is not None:
        out["value"] = value
    if extra_images:
        out["extra_images"] = [
            {"image": _path_str(e["image"]), **({"caption": e["caption"]} if e.get("caption") else {})}
            if isinstance(e, dict) else {"image": _path_str(e[0]), "caption": str(e[1])}
            for e in extra_images]
    return out


def gallery(items: list[dict], title: str | None = None) -> dict:
    """A gallery section: images with captions and facets (see :func:`item`)."""
    return _titled({"type": "gallery", "items": list(items)}, title)


def strip_row(images: list[dict], label: str | None = None, facets: dict | None = None) -> dict:
    """One row of a strip: ``images`` are :func:`item` dicts each with a ``value``."""
    row: dict[str, Any] = {"images": list(images)}
    if label is not None:
        row["label"] = str(label)
    if facets:
        row["facets"] = dict(facets)
    return row


def strip(rows: list[dict], axis: str = "alpha", title: str | None = None) -> dict:
    """A strip section: rows of images indexed by the numeric facet ``axis`` (e.g. alpha)."""
    return _titled({"type": "strip", "axis": str(axis), "rows": list(rows)}, title)


def table(columns: list[str], rows: list, title: str | None = None,
          caption: str | None = None) -> dict:
    """A table section. ``rows``: lists of cells, or ``{"cells": [...], "facets": {...}}``."""
    sec = _titled({"type": "table", "columns": [str(c) for c in columns], "rows": list(rows)}, title)
    if caption:
        sec["caption"] = caption
    return sec


def plot(image, caption: str | None = None, title: str | None = None) -> dict:
    """A plot section: one image file (e.g. a matplotlib PNG) with a caption."""
    sec = _titled({"type": "plot", "image": _path_str(image)}, title)
    if caption:
        sec["caption"] = caption
    return sec


def chart(series: list[dict], title: str | None = None, x_label: str = "",
          y_label: str = "") -> dict:
    """A line chart drawn by the page. ``series``: ``[{"name", "x": [...], "y": [...]}]``."""
    clean = [{"name": str(s["name"]), "x": [_num_or_none(v) for v in s["x"]],
              "y": [_num_or_none(v) for v in s["y"]]} for s in series]
    return _titled({"type": "chart", "series": clean, "x_label": x_label, "y_label": y_label},
                   title)


def text(markdown: str, title: str | None = None) -> dict:
    """A text section (a small markdown subset)."""
    return _titled({"type": "text", "text": str(markdown)}, title)


# ----------------------------------------------------------------------------- writing

def write_manifest(out_dir, kind: str, title: str, sections: list[dict], *,
                   description: str | None = None, facets: list[str] | None = None,
                   name: str = MANIFEST_NAME) -> Path:
    """Validate and write ``out_dir/explorer.json``.

    Image paths are relative to ``out_dir``; absolute paths, and paths relative to the
    working directory that point inside ``out_dir`` (``out / "a.png"``), are rewritten so.
    Non-finite numbers (NaN, e.g. a concept absent from every sample) become null.

    Args:
      out_dir: the command's output folder (the manifest's folder).
      kind: the kind of result, e.g. ``"directions"``, ``"stylex"``, ``"dissection"``.
      title: a human title.
      sections: section dicts from :func:`gallery`, :func:`strip`, :func:`table`,
        :func:`plot`, :func:`chart`, :func:`text`.
      description: optional markdown shown under the title.
      facets: optional facet names in the order the explorer's steps should show them.
      name: file name (default :data:`MANIFEST_NAME`).

    Returns:
      The manifest's path.

    Raises:
      ManifestError: a section or image that does not follow the schema / does not exist.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ManifestError(f"manifest folder {out_dir} does not exist")
    data: dict[str, Any] = {"format": FORMAT, "schema_version": SCHEMA_VERSION,
                            "kind": kind, "title": title}
    if description:
        data["description"] = description
    if facets:
        data["facets"] = list(facets)
    data["sections"] = _relativize(_finite(json.loads(json.dumps(sections, default=_json_default))),
                                   out_dir.resolve())
    validate_manifest(data, out_dir)
    path = out_dir / name
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False))
    os.replace(tmp, path)
    return path


def load_manifest(path) -> dict:
    """Read and validate a manifest file.

    Raises:
      ManifestError: unreadable JSON or a schema violation (the message names the file).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ManifestError(f"{path}: cannot read manifest ({e})") from None
    try:
        return validate_manifest(data, path.parent)
    except ManifestError as e:
        raise ManifestError(f"{path}: {e}") from None


# ----------------------------------------------------------------------------- validation

def validate_manifest(data: Any, base_dir) -> dict:
    """Check a manifest dict against the schema; image files must exist under ``base_dir``.

    Args:
      data: the parsed manifest.
      base_dir: the folder image paths are relative to (the manifest's folder).

    Returns:
      ``data`` unchanged.

    Raises:
      ManifestError: naming the first problem, e.g. ``sections[1].rows[0].images[2].image:
        file 'a.png' does not exist``.
    """
    base = Path(base_dir)
    _expect(isinstance(data, dict), "manifest", "must be a JSON object")
    _expect(data.get("format") == FORMAT, "format", f"must be {FORMAT!r}, got {data.get('format')!r}")
    ver = data.get("schema_version")
    _expect(ver == SCHEMA_VERSION, "schema_version",
            f"unknown schema version {ver!r} (this jaxgan reads version {SCHEMA_VERSION})")
    for key in ("kind", "title"):
        _expect(isinstance(data.get(key), str) and data[key].strip() != "", key,
                "must be a non-empty string")
    if "description" in data:
        _expect(isinstance(data["description"], str), "description", "must be a string")
    if "facets" in data:
        _expect(isinstance(data["facets"], list) and all(isinstance(f, str) for f in data["facets"]),
                "facets", "must be a list of facet names")
    secs = data.get("sections")
    _expect(isinstance(secs, list), "sections", "must be a list")
    for i, sec in enumerate(secs):
        _check_section(sec, f"sections[{i}]", base)
    return data


def _check_section(sec, where: str, base: Path) -> None:
    _expect(isinstance(sec, dict), where, "must be an object")
    typ = sec.get("type")
    _expect(typ in SECTION_TYPES, f"{where}.type",
            f"unknown section type {typ!r} (expected one of {sorted(SECTION_TYPES)})")
    for key in SECTION_TYPES[typ]:
        _expect(key in sec, f"{where}.{key}", f"missing (a {typ} section needs {SECTION_TYPES[typ]})")
    if "title" in sec:
        _expect(isinstance(sec["title"], str), f"{where}.title", "must be a string")
    if typ == "gallery":
        _expect(isinstance(sec["items"], list), f"{where}.items", "must be a list")
        for j, it in enumerate(sec["items"]):
            _check_item(it, f"{where}.items[{j}]", base)
    elif typ == "strip":
        _expect(isinstance(sec["axis"], str) and sec["axis"], f"{where}.axis",
                "must be a facet name")
        _expect(isinstance(sec["rows"], list), f"{where}.rows", "must be a list")
        for r, row in enumerate(sec["rows"]):
            w = f"{where}.rows[{r}]"
            _expect(isinstance(row, dict) and isinstance(row.get("images"), list), w,
                    "must be an object with an 'images' list")
            _check_facets(row.get("facets", {}), f"{w}.facets")
            for j, it in enumerate(row["images"]):
                _check_item(it, f"{w}.images[{j}]", base)
                v = it.get("value")
                _expect(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
                        f"{w}.images[{j}].value", f"must be a finite number (the {sec['axis']}), got {v!r}")
    elif typ == "table":
        _expect(isinstance(sec["columns"], list), f"{where}.columns", "must be a list")
        _expect(isinstance(sec["rows"], list), f"{where}.rows", "must be a list")
        for r, row in enumerate(sec["rows"]):
            w = f"{where}.rows[{r}]"
            cells = row.get("cells") if isinstance(row, dict) else row
            _expect(isinstance(cells, list), w, "must be a list of cells or {'cells': [...]}")
            if isinstance(row, dict):
                _check_facets(row.get("facets", {}), f"{w}.facets")
            for c, cell in enumerate(cells):
                if isinstance(cell, dict):
                    _check_image(cell.get("image"), f"{w}[{c}].image", base)
                else:
                    _expect(cell is None or isinstance(cell, (str, int, float, bool)), f"{w}[{c}]",
                            "must be a string, number, null or {'image': path}")
    elif typ == "plot":
        _check_image(sec["image"], f"{where}.image", base)
    elif typ == "chart":
        _expect(isinstance(sec["series"], list), f"{where}.series", "must be a list")
        for s, ser in enumerate(sec["series"]):
            w = f"{where}.series[{s}]"
            _expect(isinstance(ser, dict) and isinstance(ser.get("x"), list)
                    and isinstance(ser.get("y"), list), w, "must have lists 'x' and 'y'")
            _expect(len(ser["x"]) == len(ser["y"]), w,
                    f"'x' and 'y' differ in length ({len(ser['x'])} vs {len(ser['y'])})")
    elif typ == "text":
        _expect(isinstance(sec["text"], str), f"{where}.text", "must be a string")


def _check_item(it, where: str, base: Path) -> None:
    _expect(isinstance(it, dict), where, "must be an object with an 'image'")
    _check_image(it.get("image"), f"{where}.image", base)
    _check_facets(it.get("facets", {}), f"{where}.facets")
    if "details" in it:
        _expect(isinstance(it["details"], dict), f"{where}.details", "must be an object")
    for k, e in enumerate(it.get("extra_images", [])):
        _expect(isinstance(e, dict), f"{where}.extra_images[{k}]", "must be an object")
        _check_image(e.get("image"), f"{where}.extra_images[{k}].image", base)


def _check_facets(facets, where: str) -> None:
    _expect(isinstance(facets, dict), where, "must be an object {name: value}")
    for k, v in facets.items():
        ok = isinstance(v, (str, bool)) or (isinstance(v, (int, float)) and math.isfinite(v))
        _expect(ok, f"{where}.{k}", f"must be a string, finite number or bool, got {v!r}")


def _check_image(p, where: str, base: Path) -> None:
    _expect(isinstance(p, str) and p != "", where, "must be a relative image path")
    _expect("://" not in p and not p.startswith(("data:", "//")), where,
            f"{p!r} is a URL; the explorer works offline, give a file path")
    _expect(not os.path.isabs(p) and "\\" not in p, where,
            f"{p!r} must be relative to the manifest's folder, with '/' separators")
    _expect(p.lower().endswith(IMAGE_SUFFIXES), where,
            f"{p!r} is not an image (expected one of {IMAGE_SUFFIXES})")
    _expect((base / p).is_file(), where, f"file {p!r} does not exist (under {base})")


def _expect(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise ManifestError(f"{where}: {msg}")


# ----------------------------------------------------------------------------- helpers

def _titled(sec: dict, title: str | None) -> dict:
    if title:
        sec["title"] = str(title)
    return sec


def _path_str(p) -> str:
    return os.fspath(p).replace(os.sep, "/") if isinstance(p, os.PathLike) else str(p)


def _num_or_none(v):
    v = float(v) if v is not None else None
    return v if v is not None and math.isfinite(v) else None


def _json_default(o):
    if isinstance(o, os.PathLike):
        return _path_str(o)
    if hasattr(o, "tolist"):  # numpy scalars/arrays
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _finite(obj):
    """NaN/inf numbers -> None (JSON null: a table cell shows it as missing; a facet or strip
    value that becomes None fails validation with its field named)."""
    if isinstance(obj, list):
        return [_finite(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _relativize(obj, root: Path):
    """Rewrite ``image`` paths given absolute, or relative to the working directory and
    inside ``root`` (e.g. ``out / "a.png"``), as ``/`` paths relative to ``root``."""
    if isinstance(obj, list):
        return [_relativize(o, root) for o in obj]
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k == "image" and isinstance(v, str) and "://" not in v:
                p = Path(v)
                if p.is_absolute() or (not (root / p).exists() and p.exists()
                                       and root in p.resolve().parents):
                    v = Path(os.path.relpath(p.resolve(), root)).as_posix()
            out[k] = _relativize(v, root)
        return out
    return obj
