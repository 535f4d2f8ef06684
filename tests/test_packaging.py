"""Packaging: built-in networks as package data, namespaced presets/scripts, no reads of tests/.

The wheel itself (build, install into a fresh venv, run from an empty directory) is checked by
``.ci/wheel_check.sh``, which ``.ci/run`` runs; these tests check the same promises in the
source tree, fast.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxgan import assets
from jaxgan.checkpoint import CheckpointError, load_network
from jaxgan.classify import load_model

ROOT = Path(__file__).resolve().parent.parent
TRAINED = ROOT / "tests" / "fixtures" / "trained"
FIELDS = {"version", "kind", "used_by", "command", "kimg", "measured", "sha256"}


def test_manifest_names_every_shipped_network_with_provenance_and_digest():
    shipped = sorted(p.name for p in Path(assets.path("segmenter_shapes")).parent.iterdir()
                     if p.is_dir() and not p.name.startswith("__"))
    assert assets.names() == shipped
    for name, entry in assets.manifest().items():
        assert set(entry) == FIELDS, name
        assert isinstance(entry["version"], int) and entry["command"] and entry["measured"]
        assert assets.digest(assets.path(name)) == entry["sha256"], f"{name} changed on disk"


def test_digest_sees_a_changed_byte(tmp_path):
    import shutil
    d = tmp_path / "net"
    shutil.copytree(assets.path("classifier_digits"), d)
    assert assets.digest(d) == assets.manifest()["classifier_digits"]["sha256"]
    f = d / "arch.json"
    f.write_text(f.read_text() + " ")
    assert assets.digest(d) != assets.manifest()["classifier_digits"]["sha256"]


@pytest.mark.parametrize("name", [n for n in assets.names() if (TRAINED / n).is_dir()])
def test_builtin_network_equals_the_test_fixture_it_was_copied_from(name):
    """Independent reference: the committed fixture of the same name (tests/fixtures/trained)."""
    kind = assets.manifest()[name]["kind"]
    parts = ["G_ema", "E", "classifier"] if kind == "stylex" else [""]   # a StylEx export
    for part in parts:
        load = load_model if kind in ("classifier", "segmenter") or part == "classifier" \
            else load_network
        m1, v1 = load(Path(assets.path(name)) / part)
        m2, v2 = load(TRAINED / name / part)
        assert m1.cfg == m2.cfg
        a, b = jax.tree.leaves_with_path(v1), jax.tree.leaves_with_path(v2)
        assert [p for p, _ in a] == [p for p, _ in b] and len(a) > 0
        for (path, x), (_, y) in zip(a, b):
            assert np.array_equal(np.asarray(x), np.asarray(y)), (name, part,
                                                                  jax.tree_util.keystr(path))


def test_builtin_stylex_loads_by_name():
    from jaxgan.stylex.explainer import load_stylex
    sx = load_stylex("builtin:stylex_shapes")
    assert sx.clf.cfg.num_classes == sx.G.cfg.style_cond_dim == 2


def test_builtin_prefix_errors_name_the_choices():
    with pytest.raises(FileNotFoundError, match="no built-in network 'nope'.*G_shapes32_60k"):
        load_network("builtin:nope")
    with pytest.raises(FileNotFoundError, match="segmenter_shapes"):
        load_model("builtin:nope")
    assert assets.resolve("some/dir") == "some/dir"
    with pytest.raises(CheckpointError):
        load_network(ROOT / "no_such_dir")


def test_cli_generate_from_a_builtin_generator(tmp_path, capsys):
    from jaxgan.cli import main
    from jaxgan.model import mapping, synthesize
    assert main(["generate", "--ckpt", "builtin:G_shapes32_60k", "--seeds", "3", "--outdir",
                 str(tmp_path), "--save-npz"]) == 0
    G, g = load_network(TRAINED / "G_shapes32_60k")
    z = np.random.RandomState(3).randn(1, G.cfg.z_dim).astype(np.float32)
    ref = np.asarray(synthesize(G, g, mapping(G, g, z), noise_mode="const"))   # [1, 32, 32, 3]
    got = np.load(tmp_path / "images.npz")["img"].transpose(0, 2, 3, 1)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    capsys.readouterr()
    assert main(["generate", "--ckpt", "builtin:G_nope", "--seeds", "0", "--outdir",
                 str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no built-in network 'G_nope'" in err[0]


def _string_leaves(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _string_leaves(v, f"{prefix}{k}.")
        elif isinstance(v, str):
            yield f"{prefix}{k}", v


def test_presets_and_defaults_name_builtin_networks_that_exist():
    from jaxgan import demo
    from jaxgan.commands.metrics import DEFAULT_FEATURE_NETS
    from jaxgan.stylex import pipeline
    from jaxgan.training.config import available_presets, load_config
    refs = [demo.CLASSIFIER, demo.SEGMENTER, pipeline.SEGMENTER, pipeline.SHAPE_CLASSIFIER,
            *DEFAULT_FEATURE_NETS.values()]
    for name in available_presets():
        refs += [v for _, v in _string_leaves(load_config(name).to_dict())
                 if v.startswith(assets.PREFIX)]
    assert len(refs) >= 12
    for ref in refs:
        assert ref.startswith(assets.PREFIX)
        assert (Path(assets.path(ref)) / "arch.json").is_file(), ref


def test_nothing_installed_reads_tests_fixtures():
    hits = []
    for folder in ("jaxgan", "configs", "train", "eval"):
        for f in (ROOT / folder).rglob("*"):
            if f.is_file() and f.suffix in (".py", ".json", ".txt"):
                if "tests/fixtures" in f.read_text(errors="replace"):
                    hits.append(str(f.relative_to(ROOT)))
    assert hits == []


def test_presets_and_scripts_import_under_the_jaxgan_namespace():
    import jaxgan.configs.stylex_shapes_red as red
    import jaxgan.eval.generate
    import jaxgan.train.classifier
    assert Path(red.__file__) == ROOT / "configs" / "stylex_shapes_red.py"
    assert Path(jaxgan.train.classifier.__file__) == ROOT / "train" / "classifier.py"
    assert Path(jaxgan.eval.generate.__file__) == ROOT / "eval" / "generate.py"
    assert red.get_config().stylex.classifier == "builtin:classifier_shapes_red_high_horizon"


def test_train_entry_points_from_another_directory(tmp_path):
    """``python -m jaxgan.train`` and ``jaxgan train`` run outside the checkout; bad overrides
    are one line and exit code 2 in every training entry point (one override syntax)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}

    def run(*argv):
        return subprocess.run([sys.executable, *argv], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)

    r = run("-m", "jaxgan.train", "--help")
    assert r.returncode == 0 and "KEY=VALUE" in r.stdout
    for argv in (["-m", "jaxgan.cli", "train", "--config", "tiny", "--out", "o", "bogus.key=1"],
                 ["-m", "jaxgan.cli", "train-classifier", "--task", "digits", "--no-save",
                  "bogus=1"],
                 ["-m", "jaxgan.cli", "train-segmenter", "--no-save", "model.bogus=1"]):
        r = run(*argv)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and re.search("bogus", lines[0]), (argv, r.stderr)
    assert not (tmp_path / "o").exists()
