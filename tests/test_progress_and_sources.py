"""Progress reporting off a terminal, Ctrl-C during training, and the data-source rules
(a data path never silently becomes built-in data)."""
from __future__ import annotations

import io

import numpy as np
import pytest

from jaxgan.progress import LogProgress, progress, report_step
from jaxgan.training.config import load_config


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _lines(buf):
    return [ln for ln in buf.getvalue().splitlines() if ln]


def test_log_progress_lines_rate_excludes_compilation():
    buf, clock = io.StringIO(), _Clock()
    p = LogProgress(total=10, desc="invert", unit="img", every=30, file=buf, clock=clock)
    p.compiling("the batch program")
    assert _lines(buf) == ["invert: compiling the batch program..."]
    clock.t = 100.0                       # the first unit paid 100 s of compilation
    p.update(2)
    assert "2/10 img (20%)" in _lines(buf)[-1] and "ETA: measuring" in _lines(buf)[-1]
    clock.t = 110.0                       # within 30 s: no line
    p.update(2)
    assert len(_lines(buf)) == 2
    clock.t = 140.0                       # 6 more images in 40 s after compilation
    p.update(2)
    last = _lines(buf)[-1]
    assert "6/10 img (60%)" in last and "0.1 img/s" in last and "elapsed 2m20s" in last
    assert "ETA 0m40s" in last            # 4 left at 0.1/s; compile time not counted
    clock.t = 150.0
    report_step(7, 20)                     # innermost open reporter, rate-limited
    assert len(_lines(buf)) == 3
    clock.t = 171.0
    report_step(8, 20)
    assert "current: step 8/20" in _lines(buf)[-1]
    p.update(4)
    p.close()
    assert _lines(buf)[-1].endswith("done") and "10/10 img (100%)" in _lines(buf)[-1]
    report_step(1, 2)                      # closed: nothing more
    assert "10/10" in _lines(buf)[-1]


def test_log_progress_eta_from_in_program_steps():
    buf, clock = io.StringIO(), _Clock()
    p = LogProgress(total=12, desc="inv", unit="img", every=0, file=buf, clock=clock)
    p.units_per_run = 4                   # 3 runs of 4 images, 100 steps each
    clock.t = 50.0                        # compiled, first report at step 10
    report_step(10, 100)
    assert "ETA: measuring" in _lines(buf)[-1]
    clock.t = 60.0                        # 20 steps in 10 s: 0.5 s/step
    report_step(30, 100)
    # 70 steps left in this run + 2 more runs of 100 steps: 270 steps * 0.5 s
    assert "ETA 2m15s (step rate)" in _lines(buf)[-1]
    p.update(4)
    p.total = 10                          # a last, partial run costs a full run's steps
    clock.t = 70.0
    report_step(20, 100)
    clock.t = 80.0
    report_step(40, 100)
    assert "ETA 1m20s (step rate)" in _lines(buf)[-1]     # (60 + 100) * 0.5 s
    p.close()


def test_progress_logs_off_a_terminal_and_is_silent_when_disabled():
    buf = io.StringIO()
    with progress(range(3), desc="x", file=buf) as it:
        assert list(it) == [0, 1, 2]
    assert isinstance(it, LogProgress) and _lines(buf)[-1].startswith("x: 3/3 it")
    one = io.StringIO()                   # one unit that is the whole job: no ETA to measure
    p = LogProgress(total=6, desc="z", unit="img", file=one)
    p.update(6)
    assert "ETA" not in _lines(one)[-1]
    p.close()
    quiet = io.StringIO()
    p = progress(total=2, desc="y", disable=True, file=quiet)
    p.update(2)
    p.close()
    assert quiet.getvalue() == ""


# ----------------------------------------------------------------------------- Ctrl-C

def test_ctrl_c_names_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    import jaxgan.training.loop as loop
    from train.__main__ import main

    def interrupted(cfg, out, **kw):
        for s in (4, 12):
            (tmp_path / "run" / "checkpoints" / str(s)).mkdir(parents=True)
        (tmp_path / "run" / "checkpoints" / "16.orbax-checkpoint-tmp-1").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "train", interrupted)
    assert main(["--config", "tiny", "--out", str(tmp_path / "run")]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "step 12" in err[0] and str(tmp_path / "run") in err[0]

    def early(cfg, out, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "train", early)
    assert main(["--config", "tiny", "--out", str(tmp_path / "new")]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "before the first checkpoint" in err[0]


# ----------------------------------------------------------------------------- data sources

def test_data_path_selects_the_folder_source(caplog):
    cfg = load_config("digits32", ["data.path=/some/images"])
    assert cfg.data.source == "folder" and cfg.data.cond
    assert "data.source=folder" in caplog.text
    cfg = load_config("tiny", ["data.tfds_name=mnist", "data.data_dir=/d"])
    assert cfg.data.source == "tfds"
    assert load_config("digits32").data.source == "digits"


def test_data_path_with_another_explicit_source_is_an_error(tmp_path, capsys):
    with pytest.raises(ValueError, match="data.path.*data.source=folder"):
        load_config("digits32", ["data.source=digits", "data.path=/x"])
    with pytest.raises(ValueError, match="both set"):
        load_config("tiny", ["data.path=/x", "data.tfds_name=mnist"])
    from train.__main__ import main
    assert main(["--config", "digits32", "--out", str(tmp_path / "r"), "data.source=digits",
                 f"data.path={tmp_path}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data.source=folder" in err[0]
    assert not (tmp_path / "r").exists()


def _folder(root, subfolders):
    from jaxgan.viz.grid import save_image
    rng = np.random.default_rng(0)
    for i in range(4):
        d = root / (["ant", "bee"][i % 2] if subfolders else "")
        d.mkdir(parents=True, exist_ok=True)
        save_image(rng.uniform(-1, 1, (8, 8, 3)).astype(np.float32), d / f"i{i}.png")
    return root


def test_conditional_folder_needs_class_subfolders_and_keeps_their_names(tmp_path):
    from jaxgan.training.data import build_source
    flat = _folder(tmp_path / "flat", False)
    cfg = load_config("digits32", [f"data.path={flat}", "data.resolution=8"])
    with pytest.raises(ValueError, match="no class sub-folders"):
        build_source(cfg.data, tmp_path / "run1")
    labelled = _folder(tmp_path / "lab", True)
    cfg = load_config("digits32", [f"data.path={labelled}", "data.resolution=8"])
    src, info = build_source(cfg.data, tmp_path / "run2")
    assert info["class_names"] == ["ant", "bee"] and info["num_classes"] == 2
    assert src.metadata["class_names"] == ["ant", "bee"]       # saved with the dataset
    assert sorted(int(src[i]["label"]) for i in range(len(src))) == [0, 0, 1, 1]


def test_log_progress_warmup_delays_the_rate_clock():
    buf, clock = io.StringIO(), _Clock()
    p = LogProgress(total=100, desc="train", unit="img", every=0, file=buf, clock=clock,
                    warmup=20)
    for t, n in ((60.0, 10), (120.0, 10)):     # two compiling phases, 60 s each
        clock.t = t
        p.update(n)
    # the clock starts when the warmup's last unit is done (t = 120)
    assert "ETA: measuring" in _lines(buf)[-1]
    clock.t = 140.0
    p.update(20)                               # 20 img in 20 s, 60 left
    assert "1 img/s" in _lines(buf)[-1] and "ETA 1m00s" in _lines(buf)[-1]
    p.close()
