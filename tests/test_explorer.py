"""The results manifest and the static explorer page (no browser; see test_explorer_browser)."""
from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jaxgan.cli import main
from jaxgan.viz import manifest as mf
from jaxgan.viz.explorer import build_explorer, collect_results


def solid_png(path: Path, rgb, size: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), rgb, np.uint8)).save(path)
    return path


def page_data(index: Path) -> dict:
    """The DATA object embedded in the page."""
    html = index.read_text()
    m = re.search(r"<script>const DATA = (.*?);</script>", html, re.S)
    assert m, "no embedded DATA"
    return json.loads(m.group(1))


def small_manifest(d: Path) -> Path:
    solid_png(d / "a.png", (255, 0, 0))
    solid_png(d / "img" / "b 1.png", (0, 255, 0))
    return mf.write_manifest(d, "directions", "a direction", [
        mf.text("# hello\nsome *text*"),
        mf.gallery([mf.item("a.png", "A", facets={"class": "circle"})]),
        mf.strip([mf.strip_row([mf.item(d / "img" / "b 1.png", value=0.5)], label="row",
                               facets={"assessor": "size"})], axis="alpha"),
        mf.table(["unit", "iou"], [[3, 0.25], {"cells": [{"image": "a.png"}, 0.5],
                                                "facets": {"class": "circle"}}]),
        mf.plot("a.png", caption="a plot"),
        mf.chart([{"name": "loss", "x": [0, 1], "y": [1.0, float("nan")]}]),
    ])


def test_write_and_load_manifest_roundtrip(tmp_path):
    path = small_manifest(tmp_path)
    assert path == tmp_path / mf.MANIFEST_NAME
    data = mf.load_manifest(path)
    assert data["schema_version"] == mf.SCHEMA_VERSION and data["kind"] == "directions"
    # the absolute strip image path was written relative to the manifest's folder
    assert data["sections"][2]["rows"][0]["images"][0]["image"] == "img/b 1.png"
    assert data["sections"][5]["series"][0]["y"] == [1.0, None]  # NaN -> null


@pytest.mark.parametrize("mutate, message", [
    (lambda m: m["sections"][1]["items"][0].update(image="missing.png"), "does not exist"),
    (lambda m: m["sections"].append({"type": "carousel"}), "unknown section type 'carousel'"),
    (lambda m: m.update(schema_version=99), "unknown schema version 99"),
    (lambda m: m["sections"][2]["rows"][0]["images"][0].update(value="big"), "finite number"),
    (lambda m: m["sections"][4].update(image="https://example.com/x.png"), "URL"),
    (lambda m: m["sections"][1]["items"][0].update(facets={"alpha": [1]}), "facets.alpha"),
    (lambda m: m["sections"][3].pop("columns"), "sections[3].columns: missing"),
])
def test_manifest_validation_errors(tmp_path, mutate, message):
    data = json.loads(small_manifest(tmp_path).read_text())
    mutate(data)
    with pytest.raises(mf.ManifestError, match=re.escape(message)):
        mf.validate_manifest(data, tmp_path)
    (tmp_path / mf.MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(mf.ManifestError, match=re.escape(str(tmp_path / mf.MANIFEST_NAME))):
        mf.load_manifest(tmp_path / mf.MANIFEST_NAME)


def test_write_manifest_accepts_paths_relative_to_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = Path("out") / "steer"
    solid_png(out / "strip" / "e.png", (1, 1, 1))
    mf.write_manifest(out, "directions", "t", [mf.gallery([mf.item(out / "strip" / "e.png")]),
                                                mf.plot("strip/e.png")])
    data = mf.load_manifest(out / mf.MANIFEST_NAME)
    assert data["sections"][0]["items"][0]["image"] == "strip/e.png"
    assert data["sections"][1]["image"] == "strip/e.png"


def test_write_manifest_rejects_missing_image(tmp_path):
    with pytest.raises(mf.ManifestError, match=r"sections\[0\]\.items\[0\]\.image: file 'nope.png'"):
        mf.write_manifest(tmp_path, "x", "x", [mf.gallery([mf.item("nope.png")])])
    assert not (tmp_path / mf.MANIFEST_NAME).exists()


def make_tree(root: Path) -> dict[str, Path]:
    """Nested manifests, a training run, an image folder, and folders that must be ignored."""
    dirs = {"a": root / "a", "deep": root / "b" / "c" / "deep", "run": root / "run",
            "imgs": root / "gen"}
    small_manifest(dirs["a"])
    solid_png(dirs["a"] / "sub" / "inside.png", (1, 2, 3))  # covered by a's manifest
    dirs["nested"] = dirs["a"] / "sub" / "nested"  # a manifest inside a manifest's folder
    small_manifest(dirs["nested"])
    small_manifest(dirs["deep"])
    run = dirs["run"]
    run.mkdir()
    recs = [{"step": s, "kimg": s / 10, "loss/G/main": 1.0 / (s + 1), "loss/D/main": 0.5 + s,
             "scores/real": float(s)} for s in range(5)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs) + "{partial")
    solid_png(run / "samples" / "fakes00004.0.png", (9, 9, 9))
    solid_png(run / "samples" / "reals.png", (8, 8, 8))
    solid_png(run / "checkpoints" / "x.png", (7, 7, 7))   # never scanned
    solid_png(dirs["imgs"] / "seed0001.png", (6, 6, 6))
    (dirs["imgs"] / "summary.json").write_text('{"fid": 12.5}')
    solid_png(root / ".hidden" / "h.png", (5, 5, 5))
    return dirs


def test_scan_finds_nested_manifests_and_plain_folders(tmp_path):
    dirs = make_tree(tmp_path)
    res = collect_results(tmp_path)
    by_dir = {r["dir"]: r for r in res}
    assert set(by_dir) == set(dirs.values())
    assert by_dir[dirs["deep"]]["manifest"]["title"] == "a direction"
    assert by_dir[dirs["run"]]["manifest"]["kind"] == "training"
    assert by_dir[dirs["imgs"]]["manifest"]["kind"] == "images"
    # the training curves are the file's values (x = kimg), the partial last line skipped
    recs = [json.loads(x) for x in (dirs["run"] / "metrics.jsonl").read_text().splitlines()[:-1]]
    charts = [s for s in by_dir[dirs["run"]]["manifest"]["sections"] if s["type"] == "chart"]
    loss = {s["name"]: s for c in charts for s in c["series"]}
    assert loss["loss/G/main"]["x"] == [r["kimg"] for r in recs]
    assert loss["loss/D/main"]["y"] == [r["loss/D/main"] for r in recs]
    gal = [s for s in by_dir[dirs["run"]]["manifest"]["sections"] if s["type"] == "gallery"][0]
    assert {(i["image"], i["facets"].get("kimg")) for i in gal["items"]} == {
        ("samples/fakes00004.0.png", 4.0), ("samples/reals.png", None)}


def test_page_is_self_contained_and_links_resolve(tmp_path):
    make_tree(tmp_path)
    index = build_explorer(tmp_path)
    assert index == tmp_path.resolve() / "explorer" / "index.html"
    html = index.read_text()
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<(script|img|link)[^>]+(src|href)=", html)  # nothing loaded from outside
    assert "fetch(" not in html and "XMLHttpRequest" not in html
    data = page_data(index)
    assert len(data["results"]) == 5
    images = []

    def walk(o):
        if isinstance(o, dict):
            images.extend(v for k, v in o.items() if k == "image")
            [walk(v) for v in o.values()]
        elif isinstance(o, list):
            [walk(v) for v in o]
    walk(data)
    assert len(images) > 10
    for url in images:  # every link, relative to the page, is an existing file in the results
        target = (index.parent / urllib.parse.unquote(url)).resolve()
        assert target.is_file(), url
        assert tmp_path.resolve() in target.parents
    assert any("b%201.png" in u for u in images)


def test_script_injection_is_escaped(tmp_path):
    solid_png(tmp_path / "r" / "x.png", (0, 0, 0))
    mf.write_manifest(tmp_path / "r", "k", "</script><script>alert(1)</script>",
                      [mf.gallery([mf.item("x.png")])])
    html = build_explorer(tmp_path).read_text()
    assert "<script>alert(1)" not in html
    assert page_data(tmp_path / "explorer" / "index.html")["results"][0]["title"].startswith("</script>")


def test_invalid_manifest_is_an_error_card_or_raises_when_strict(tmp_path):
    small_manifest(tmp_path / "ok")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / mf.MANIFEST_NAME).write_text(json.dumps({"format": mf.FORMAT, "schema_version": 2}))
    data = page_data(build_explorer(tmp_path))
    errs = [r for r in data["results"] if r["error"]]
    assert len(errs) == 1 and "unknown schema version 2" in errs[0]["error"]
    with pytest.raises(mf.ManifestError, match="schema version"):
        build_explorer(tmp_path, strict=True)


def test_empty_and_missing_folders(tmp_path, capsys):
    data = page_data(build_explorer(tmp_path))
    assert data["results"] == []
    assert "No results yet" in (tmp_path / "explorer" / "index.html").read_text()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_explorer(tmp_path / "missing")
    assert main(["explore", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["explore", str(tmp_path), "--port", "8000"]) == 2  # --port without --serve
    assert main(["explore", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path.resolve() / "explorer" / "index.html")
