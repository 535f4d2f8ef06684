"""``jaxgan demo``: the README main job.

Default tests check the orchestration with a recording runner (every stage's command line
parses with the real ``jaxgan`` parser, order, resume by skipping finished stages, ``redo``,
errors) and that the explorer page collects the stages' manifests. The end-to-end run of the
real pipeline with ``--quick`` (no training: a few steps of every other stage on the built-in
networks) is ``slow``; ``.ci/wheel_check.sh`` runs it from an installed wheel.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from jaxgan import demo
from jaxgan.viz import manifest as mf

STAGE_KINDS = {"train": "training", "invert": "inversion", "directions": "directions",
               "dissect": "dissection"}


def _kind(argv):
    if argv[0] == "explain":
        return "training" if argv[1] == "train" else "stylex"
    return STAGE_KINDS[argv[0]]


class Recorder:
    """Runs nothing: writes the stage's output file and a one-image manifest beside it."""

    def __init__(self, out, fail_on=None, skip_output=False, **mode):
        self.calls, self.out, self.fail_on, self.skip_output = [], Path(out), fail_on, skip_output
        self.by_argv = {st.argv: st for st in demo.stages(out, **mode)}

    def __call__(self, argv):
        self.calls.append(tuple(argv))
        if self.fail_on and argv[0] == self.fail_on:
            return 3
        st = self.by_argv[tuple(argv)]
        done = self.out / st.done
        if self.skip_output:
            return 0
        done.parent.mkdir(parents=True, exist_ok=True)
        done.write_text("{}")
        folder = self.out / st.done.split("/")[0]
        from jaxgan.viz.grid import save_image
        save_image(np.zeros((4, 4, 3)), folder / "thumb.png")
        if _kind(argv) != "training":
            mf.write_manifest(folder, _kind(argv), st.name, [mf.gallery([mf.item("thumb.png")])])
        return 0


MODES = {"builtin": {}, "classifier": {"classifier": "builtin:classifier_shapes_shape"},
         "from_scratch": {"from_scratch": True}, "quick": {"quick": True}}


def test_stage_command_lines_parse_with_the_real_cli(tmp_path):
    from jaxgan.cli import build_parser
    parser = build_parser()
    first = {"builtin": [], "classifier": ["explain"], "from_scratch": ["train", "explain"],
             "quick": []}
    for mode, kw in MODES.items():
        sts = demo.stages(tmp_path / "o", seed=3, **kw)
        assert [s.argv[0] for s in sts] == first[mode] + [
            "invert", "directions", "explain", "dissect"], mode
        for st in sts:
            args = parser.parse_args(list(st.argv))           # SystemExit on a bad flag
            assert getattr(args, "seed", 3) == 3 or "seed=3" in st.argv
            out = getattr(args, "out", None)
            assert out is None or Path(out).is_relative_to(tmp_path / "o")
    quick = {s.name: s.argv for s in demo.stages(tmp_path, quick=True)}
    full = {s.name: s.argv for s in demo.stages(tmp_path)}
    assert quick.keys() == full.keys() and all(quick[k] != full[k] for k in quick)

    def ckpts(sts):
        return {a[a.index("--ckpt") + 1] for a in (s.argv for s in sts) if "--ckpt" in a}
    # the default and quick runs train nothing and read only the built-in networks
    for kw in (MODES["builtin"], MODES["quick"]):
        assert ckpts(demo.stages(tmp_path, **kw)) == {demo.BUILTIN_GENERATOR,
                                                      demo.BUILTIN_STYLEX}
    # a classifier of one's own: a StylEx for it from the built-in generator, then explained
    sts = demo.stages(tmp_path, **MODES["classifier"])
    assert "--config" in sts[0].argv and "stylex_shapes" in sts[0].argv
    assert "stylex.classifier=builtin:classifier_shapes_shape" in sts[0].argv
    assert ckpts(sts) == {demo.BUILTIN_GENERATOR, str(tmp_path / "stylex" / "network")}
    # from scratch: nothing built-in but the classifier and segmenter
    sts = demo.stages(tmp_path, **MODES["from_scratch"])
    assert f"stylex.classifier={demo.CLASSIFIER}" in sts[1].argv
    assert not any(a.startswith("builtin:G") or a == demo.BUILTIN_STYLEX
                   for s in sts for a in s.argv)
    with pytest.raises(ValueError, match="--quick trains nothing"):
        demo.stages(tmp_path, quick=True, from_scratch=True)


def test_demo_runs_stages_in_order_resumes_and_builds_the_explorer(tmp_path):
    out = tmp_path / "demo"
    rec = Recorder(out, from_scratch=True)
    log = io.StringIO()
    res = demo.run_demo(out, runner=rec, log=log, from_scratch=True)
    assert [c[:2] for c in rec.calls] == [("train", "--config"), ("explain", "train"),
                                         ("invert", "--ckpt"), ("directions", "ganalyze"),
                                         ("explain", "report"), ("dissect", "--ckpt")]
    assert [s["status"] for s in res["stages"]] == ["ran"] * 6
    assert res["explorer"] == (out / "explorer" / "index.html").resolve()
    html = res["explorer"].read_text()
    for st in demo.stages(out, from_scratch=True)[2:]:
        assert st.name in html                              # every manifest on the page
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("[1/7] train generator") and "elapsed" in lines[0]
    assert lines[-1].startswith("[7/7] explorer")
    # resume: nothing runs again; redo runs everything
    rec2 = Recorder(out, from_scratch=True)
    res2 = demo.run_demo(out, runner=rec2, log=io.StringIO(), from_scratch=True)
    assert rec2.calls == [] and {s["status"] for s in res2["stages"]} == {"skipped"}
    (out / demo.stages(out, from_scratch=True)[3].done).unlink()  # interrupted: reruns alone
    rec3 = Recorder(out, from_scratch=True)
    demo.run_demo(out, runner=rec3, log=io.StringIO(), from_scratch=True)
    assert [c[0] for c in rec3.calls] == ["directions"]
    rec4 = Recorder(out, from_scratch=True)
    demo.run_demo(out, runner=rec4, log=io.StringIO(), redo=True, from_scratch=True)
    assert len(rec4.calls) == 6
    # the default run starts from the built-in networks: the four analysis stages only
    out2 = tmp_path / "builtin"
    rec5 = Recorder(out2)
    res5 = demo.run_demo(out2, runner=rec5, log=io.StringIO())
    assert [c[0] for c in rec5.calls] == ["invert", "directions", "explain", "dissect"]
    assert res5["explorer"].is_file()


def test_demo_errors(tmp_path):
    out = tmp_path / "d"
    with pytest.raises(RuntimeError, match="invert held-out scenes.*exit code 3"):
        demo.run_demo(out, runner=Recorder(out, fail_on="invert"), log=io.StringIO())
    with pytest.raises(RuntimeError, match="without writing"):
        demo.run_demo(tmp_path / "e", runner=Recorder(tmp_path / "e", skip_output=True),
                      log=io.StringIO())
    with pytest.raises(FileNotFoundError, match="classifier checkpoint nope"):
        demo.run_demo(out, classifier="nope", runner=Recorder(out), log=io.StringIO())
    from jaxgan.cli import main
    assert main(["demo", "--out", str(out), "--segmenter", str(tmp_path / "none")]) == 2
    assert main(["demo", "--out", str(out), "--quick", "--from-scratch"]) == 2
    assert not (tmp_path / "d" / "explorer").exists()


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path):
    """The real pipeline, tiny: every stage writes a valid manifest, the page shows them."""
    from jaxgan.viz.explorer import collect_results
    out = tmp_path / "demo"
    res = demo.run_demo(out, quick=True, log=io.StringIO())
    assert res["explorer"].is_file()
    results = collect_results(out)
    assert all(r["error"] is None for r in results), [r["error"] for r in results]
    for p in out.rglob(mf.MANIFEST_NAME):
        mf.validate_manifest(mf.load_manifest(p), p.parent)
    kinds = {r["manifest"]["kind"] for r in results}
    assert {"inversion", "directions", "stylex", "dissection"} <= kinds
    sections = {s["type"] for r in results for s in r["manifest"]["sections"]}
    assert {"gallery", "table", "plot", "chart"} <= sections
    html = res["explorer"].read_text()
    for r in results:
        assert r["manifest"]["title"] in html
