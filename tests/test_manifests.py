"""Explorer manifests of every result-producing command: StylEx report, ensembling,
dissection, inversion, metrics. Each writer runs on a small result folder; the manifest must
validate, its images must exist and show what the report computed (decoded PNG pixels vs an
independent rendering), and its facets/values must match the report's numbers."""
from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxgan.viz import manifest as mf
from jaxgan.viz.explorer import collect_results
from jaxgan.viz.grid import save_image, save_image_grid, to_uint8


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _sections(m, typ):
    return [s for s in m["sections"] if s["type"] == typ]


# ----------------------------------------------------------------------------- StylEx

S, R = 6, 4   # style coordinates, image size


def _toy_attfind():
    """A linear 'generator' (styles -> images) and a linear classifier on the mean pixel."""
    from jaxgan.stylex.attfind import AttFindModel, StyleLayout
    w = jnp.asarray(np.random.default_rng(0).normal(size=(S, R * R * 3)), jnp.float32) * 0.5

    def render(flat):
        return jnp.tanh(jnp.asarray(flat) @ w).reshape(-1, R, R, 3)

    def classify(img):
        m = jnp.mean(img, axis=(1, 2, 3))
        return jnp.stack([-4 * m, 4 * m], -1)

    return AttFindModel(render, classify, StyleLayout((("b4", "conv1", 4), ("b4", "torgb", 2))))


def test_stylex_manifest_matches_report(tmp_path):
    from jaxgan.stylex.attfind import apply_attributes
    from jaxgan.stylex.report import write_manifest, write_report
    m = _toy_attfind()
    flat = np.random.default_rng(1).normal(size=(10, S)).astype(np.float32)
    labels = np.asarray(jnp.argmax(m.classify(m.render(flat)), -1))
    assert 0 < labels.sum() < len(labels)                       # both classes present
    smin, smax = flat.min(0), flat.max(0)
    ranking = {0: [(0, 1, 0.4), (1, 3, 0.2)], 1: [(1, 0, 0.5), (0, 5, 0.1)]}
    result = {"smin": smin, "smax": smax, "shift": 1.0, "ranking": ranking}
    rep = write_report(tmp_path, m, flat, labels, result, class_names=["no", "yes"], k=2,
                       num_examples=3)
    path = write_manifest(tmp_path)
    man = mf.load_manifest(path)                               # validates, images exist
    assert man["kind"] == "stylex" and man["facets"][:2] == ["class", "rank"]
    items = _sections(man, "gallery")[0]["items"]
    n_ex = {c: len(e["examples"]) for c, e in rep["classes"].items()}
    assert len(items) == sum(n * 2 for n in n_ex.values())
    for it in items:
        f = it["facets"]
        c = ["no", "yes"].index(f["class"])
        ex = rep["classes"][f["class"]]["examples"][f["example"]]
        others = np.nonzero(labels != c)[0]
        src = flat[others[f["example"]]]
        attr = ranking[c][f["rank"] - 1]
        # independent: the changed image and P(class) recomputed from the toy model
        changed = np.asarray(m.render(apply_attributes(src[None], [attr], smin, smax, 1.0)))[0]
        p_after = float(jax.nn.softmax(m.classify(changed[None]), -1)[0, c])
        p_before = float(jax.nn.softmax(m.classify(m.render(src[None])), -1)[0, c])
        d = it["details"]
        assert d[f"P({f['class']}) after"] == pytest.approx(p_after, abs=1e-4)
        assert d[f"P({f['class']}) before"] == pytest.approx(p_before, abs=1e-4)
        assert d["coordinate"] == attr[1]
        assert np.array_equal(_png(tmp_path / it["image"]), to_uint8(changed))
        orig = it["extra_images"][0]["image"]
        assert np.array_equal(_png(tmp_path / orig), to_uint8(np.asarray(m.render(src[None]))[0]))
        assert ex["changed"][f["rank"] - 1] == it["image"]
    flips = _sections(man, "table")[1]["rows"]
    assert flips[-1] == ["all", round(rep["flip_rate_top_k"], 4)]
    attrs = _sections(man, "table")[0]["rows"]
    assert [(r["facets"]["class"], r["cells"][3]) for r in attrs] == \
        [(n, a[1]) for c, n in enumerate(["no", "yes"]) for a in ranking[c]]


# ----------------------------------------------------------------------------- ensemble

def _ensemble_results():
    alphas = [0.0, 0.25, 0.5, 0.75, 1.0]
    methods = {
        "isotropic_fine_0.2": dict(alpha=0.5, val_acc=0.9, test_acc=0.88, test_ci=[0.85, 0.91],
                                   gain=0.02, gain_ci=[0.0, 0.04], views_only_test_acc=0.8,
                                   test_curve=[0.86, 0.87, 0.88, 0.84, 0.8],
                                   val_curve=[0.85, 0.88, 0.9, 0.86, 0.8]),
        "color": dict(alpha=0.25, val_acc=0.87, test_acc=0.86, test_ci=[0.83, 0.89], gain=0.0,
                      gain_ci=[-0.01, 0.01], views_only_test_acc=0.82,
                      test_curve=[0.86, 0.86, 0.85, 0.84, 0.82],
                      val_curve=[0.85, 0.87, 0.86, 0.84, 0.83]),
    }
    return {"config": {"task": "shapes:shape", "num_train": 24, "num_val": 20, "num_test": 40,
                       "num_boot": 100, "level": 0.95},
            "encoder": "none", "reconstruction_mse": {"val": 0.01, "test": 0.012},
            "num_views": 4, "alphas": alphas,
            "classifiers": {"weak": {"test_acc": 0.86, "test_ci": [0.83, 0.89], "val_acc": 0.85}},
            "methods": {"weak": methods},
            "kinds": {"reconstruction": "reconstruction", "isotropic_fine_0.2": "isotropic",
                      "color": "image jitter"}}


def test_ensemble_manifest_table_chart_views(tmp_path):
    from jaxgan.ensemble.report import save_alpha_plots, write_manifest, write_results
    res = _ensemble_results()
    write_results(res, tmp_path)
    save_alpha_plots(res, tmp_path)
    (tmp_path / "views").mkdir()
    for name in ("isotropic_fine_0.2", "color"):
        save_image_grid(np.zeros((6, 4, 4, 3), np.float32), tmp_path / "views" / f"{name}.png")
    man = mf.load_manifest(write_manifest(tmp_path))
    table = _sections(man, "table")[0]
    methods = res["methods"]["weak"]
    order = sorted(methods, key=lambda m: -methods[m]["val_acc"])
    assert [r["cells"][0] for r in table["rows"]] == ["classifier alone", *order]
    for r in table["rows"][1:]:
        src = methods[r["cells"][0]]
        assert r["cells"][2:5] == [src["alpha"], 100 * src["val_acc"], 100 * src["test_acc"]]
        assert r["facets"] == {"classifier": "weak", "type": res["kinds"][r["cells"][0]]}
    chart = _sections(man, "chart")[0]
    by_name = {s["name"]: s for s in chart["series"]}
    for m in methods:
        assert by_name[m]["x"] == res["alphas"]
        assert by_name[m]["y"] == pytest.approx([100 * v for v in methods[m]["test_curve"]])
    assert _sections(man, "plot")[0]["image"] == "alpha_weak.png"
    views = _sections(man, "gallery")[0]["items"]
    assert {(v["image"], v["facets"]["type"]) for v in views} == {
        ("views/isotropic_fine_0.2.png", "isotropic"), ("views/color.png", "image jitter")}


# ----------------------------------------------------------------------------- dissection

def test_dissection_manifest_units_and_study(tmp_path):
    from jaxgan.dissect.report import unit_image_path, write_manifest
    rng = np.random.default_rng(0)
    concepts = ["sky", "object", "sun"]
    iou = rng.uniform(0, 0.5, size=(5, 3))
    units = [{"unit": u, "concept": concepts[int(iou[u].argmax())], "iou": float(iou[u].max()),
              "threshold": float(u), "high_mean": 2.0 * u,
              "iou_per_concept": dict(zip(concepts, iou[u].tolist()))} for u in range(5)]
    data = {"summary": {}, "layers": {"b8.conv1": {"quantiles": [0.1], "num_samples": 20,
                                                   "concepts": concepts, "units": units}}}
    (tmp_path / "dissection.json").write_text(json.dumps(data))
    save_image(np.zeros((4, 4, 3)), tmp_path / "units_b8.conv1.png")
    shown = [1, 3]                         # only these units got an overlay row
    (tmp_path / "units_b8.conv1").mkdir()
    for u in shown:
        save_image(np.zeros((4, 4, 3)), unit_image_path(tmp_path / "units_b8.conv1.png", u))
    study = {"layer": "b8.conv1", "best_iou": 0.4,
             "curve_ace": {"counts": [0, 1, 2], "remaining": {"sun": [1.0, 0.6, 0.3]}},
             "curve_iou": {"counts": [0, 1, 2], "remaining": {"sun": [1.0, 0.9, 0.8]}},
             "removal": {"units": 2, "removed": 0.7, "other_change": {"sky": 0.01},
                         "ranking": "ace"}, "insertion": {"after": [float("nan")]}}
    (tmp_path / "study_sun.json").write_text(json.dumps(study))
    save_image(np.zeros((4, 4, 3)), tmp_path / "curve_sun.png")
    man = mf.load_manifest(write_manifest(tmp_path))
    table = [s for s in _sections(man, "table") if "unit" in s["columns"]][0]
    assert [r["cells"][1] for r in table["rows"]] == list(np.argsort(-iou.max(1), kind="stable"))
    for r in table["rows"]:
        u = r["cells"][1]
        assert r["facets"] == {"layer": "b8.conv1", "concept": concepts[int(iou[u].argmax())]}
        assert r["cells"][3] == pytest.approx(iou[u].max(), abs=1e-4)
        assert (r["cells"][6] is not None) == (u in shown)
    cells = [r["cells"][6] for r in table["rows"] if r["cells"][6] is not None]
    assert sorted(c["details"]["unit"] for c in cells) == shown
    for c in cells:
        u = c["details"]["unit"]
        assert c["details"]["iou per concept"] == pytest.approx(dict(zip(concepts, iou[u])),
                                                               abs=1e-4)
    chart = _sections(man, "chart")[0]
    assert {s["name"]: s["y"] for s in chart["series"]} == {
        "units by ace": [1.0, 0.6, 0.3], "units by iou": [1.0, 0.9, 0.8]}
    study_row = [s for s in _sections(man, "table") if "share removed" in s["columns"]][0]
    assert study_row["rows"][0][5] == 0.7
    assert study_row["rows"][0][7] is None      # NaN (concept absent) -> null, not invalid JSON
    assert any(s["image"] == "curve_sun.png" for s in _sections(man, "plot"))


# ----------------------------------------------------------------------------- inversion

def test_inversion_manifest_images_and_metrics(tmp_path):
    from jaxgan.invert.report import reconstruction_metrics, save_sheet, write_manifest
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(3, 8, 8, 3)).astype(np.float32)
    rec = np.clip(x + rng.normal(scale=[[[[0.05]]], [[[0.2]]], [[[0.5]]]], size=x.shape), -1,
                  1).astype(np.float32)
    names = ["a", "b", "c"]
    metrics = reconstruction_metrics(x, rec)
    curves = np.linspace(1, 0.1, 5)[None] * np.arange(1, 4)[:, None]
    save_sheet(x, rec, tmp_path / "sheet.png")
    man = mf.load_manifest(write_manifest(tmp_path, x, rec, names, metrics, curves))
    items = _sections(man, "gallery")[0]["items"]
    assert [it["details"]["image"] for it in items] == names
    for i, it in enumerate(items):
        mse = float(np.mean((x[i].astype(np.float64) - rec[i]) ** 2))
        assert it["details"]["mse"] == pytest.approx(mse, abs=1e-5)
        assert it["details"]["psnr"] == pytest.approx(10 * np.log10(4 / mse), abs=1e-4)
        assert it["details"]["final loss"] == pytest.approx(curves[i, -1], abs=1e-5)
        tgt, rc = (tmp_path / e["image"] for e in it["extra_images"])
        assert np.array_equal(_png(tgt), to_uint8(x[i]))
        assert np.array_equal(_png(rc), to_uint8(rec[i]))
    psnr = [it["details"]["psnr"] for it in items]
    assert psnr[0] > psnr[1] > psnr[2]          # noisier reconstructions score lower
    table = _sections(man, "table")[0]
    assert table["rows"][-1][1] == pytest.approx(np.mean(metrics["mse"]), abs=1e-5)
    assert _sections(man, "chart")[0]["series"][2]["y"] == pytest.approx(curves[2].tolist())
    with pytest.raises(ValueError, match="names"):
        write_manifest(tmp_path, x, rec, names[:2], metrics)


# ----------------------------------------------------------------------------- metrics + explorer

def test_metrics_manifest_and_explorer_finds_every_kind(tmp_path):
    from jaxgan.metrics.report import write_manifest
    out = tmp_path / "eval"
    out.mkdir()
    rec = {"ckpt": "G", "time": "t", "seconds": 1.0, "data": {"source": "shapes"},
           "feature_net": {"name": "clf"}, "num_gen": 10, "num_real": 10, "num_ppl": 0,
           "psi": 1.0, "seed": 0, "results": {"fd_classifier": 12.5, "kd_classifier": 0.25,
                                               "_internal": 1}}
    (out / "metrics.json").write_text(json.dumps(rec))
    log = [dict(rec, results={"fd_classifier": v, "kd_classifier": 0.1}) for v in (20.0, 12.5)]
    (out / "metrics-log.jsonl").write_text("\n".join(json.dumps(r) for r in log) + "\n")
    man = mf.load_manifest(write_manifest(out))
    assert _sections(man, "table")[0]["rows"] == [["fd_classifier", 12.5], ["kd_classifier", 0.25]]
    assert _sections(man, "chart")[0]["series"][0]["y"] == [20.0, 12.5]
    # the explorer collects manifests in sub-folders of any depth
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    save_image(np.zeros((4, 4, 3)), deep / "x.png")
    mf.write_manifest(deep, "directions", "d", [mf.gallery([mf.item("x.png")])])
    kinds = sorted(r["manifest"]["kind"] for r in collect_results(tmp_path))
    assert kinds == ["directions", "metrics"]
