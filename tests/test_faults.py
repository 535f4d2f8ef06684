"""Faults during training, each through ``python -m train --config tiny`` in subprocesses:

* kill -9 while compiling, then again mid-run (after a checkpoint), then a rerun: the
  result equals the uninterrupted run bit for bit;
* a second trainer on a directory in use refuses (one line, exit 2);
* damaged latest checkpoints (truncated array data, a truncated data-iterator file) are
  moved aside and the run resumes from the newest good one, saying so, again ending bit
  for bit equal; when none is readable (a zero-filled ``_METADATA`` too) it stops cleanly;
* a rerun with other data or incompatible settings refuses and names the change, leaving
  the run directory as it was;
* a checkpoint that cannot be written (a file-size limit set in the child with
  ``RLIMIT_FSIZE``, failing writes with EFBIG; a real full disk, a small tmpfs, in the slow
  variant, where the test may mount one) stops the run with one line, the last good
  checkpoint intact, and without the limit it resumes to the same result;
* one process of a 2-process job killed: the survivor stops within a bounded time with one
  line on stderr (no C++ stack dump, no traceback), whether it was waiting on a collective
  or idle, and whether the dead one was the coordinator.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
LOSS_KEYS = ("step", "loss/G/main", "loss/D/main", "loss/D/r1", "loss/G/pl")
#: ``python -c LIMITED N ARGS...`` = ``python -m train ARGS...`` with every file the process
#: writes limited to N bytes (``RLIMIT_FSIZE``: like a full disk, but needing no root); a
#: write past it fails with EFBIG instead of killing the process (SIGXFSZ ignored).
LIMITED = ("import resource, runpy, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
           "n = int(sys.argv.pop(1)); resource.setrlimit(resource.RLIMIT_FSIZE, (n, n)); "
           "sys.argv[0] = 'train'; runpy.run_module('train', run_name='__main__', alter_sys=True)")


def _env():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    env.pop("JAXGAN_DEBUG", None)
    return env


def _cmd(out: Path, *overrides: str, extra=()) -> list[str]:
    return [sys.executable, "-m", "train", "--config", "tiny", "--out", str(out),
            "--no-progress", *extra, *overrides]


def _train(out: Path, *overrides: str, extra=(), timeout=600,
           file_size_limit: int | None = None) -> subprocess.CompletedProcess:
    cmd = _cmd(out, *overrides, extra=extra)
    if file_size_limit is not None:     # `python -c LIMITED N -m train ...` (no preexec_fn:
        cmd[1:3] = ["-c", LIMITED, str(file_size_limit)]   # forking a threaded process)
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=timeout)


def _rows(run: Path) -> list[dict]:
    return [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]


def _assert_bit_for_bit(ref: Path, run: Path) -> None:
    """Same logged losses (exactly) and the same exported networks (every byte of every
    array)."""
    a = [{k: r.get(k) for k in LOSS_KEYS} for r in _rows(ref)]
    b = [{k: r.get(k) for k in LOSS_KEYS} for r in _rows(run)]
    assert a == b
    from jaxgan.checkpoint import load_network
    import jax
    for net in ("G_ema", "G", "D"):
        _, va = load_network(ref / "network" / net)
        _, vb = load_network(run / "network" / net)
        jax.tree.map(np.testing.assert_array_equal, va, vb)


def _one_line_error(p: subprocess.CompletedProcess, *needles: str) -> str:
    assert p.returncode == 2, p.stderr[-3000:]
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
    lines = [s for s in p.stderr.splitlines() if s.startswith("train: error:")]
    assert len(lines) == 1, p.stderr[-3000:]
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def _steps(run: Path) -> list[int]:
    ck = run / "checkpoints"
    return sorted(int(p.name) for p in ck.iterdir() if p.name.isdigit()) if ck.is_dir() else []


def _digest(run: Path) -> dict[str, str]:
    """sha256 of every file under ``run`` except the datasets."""
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file() and "dataset" not in p.parts
            and p.name != ".lock"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted tiny run (8 iterations, checkpoints at 4, 6, 8)."""
    out = tmp_path_factory.mktemp("faults") / "ref"
    p = _train(out)
    assert p.returncode == 0, p.stderr[-3000:]
    assert _steps(out) == [4, 6, 8]
    return out


def _kill9_while_compiling(out: Path) -> None:
    """Start a run and kill -9 it once set up (data prepared, ``samples/reals.png`` written),
    while it compiles the training step: before any step or checkpoint."""
    a = subprocess.Popen(_cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env=_env(), text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not (out / "samples" / "reals.png").is_file():
            assert a.poll() is None, a.stderr.read()
            time.sleep(0.02)
        os.kill(a.pid, signal.SIGKILL)
        a.wait(timeout=60)
    finally:
        if a.poll() is None:
            a.kill()
            a.wait()
    assert _steps(out) == [] and not (out / "metrics.jsonl").exists()


def test_kill9_resumes_bit_for_bit_and_second_run_refuses(reference, tmp_path):
    out = tmp_path / "killed"
    _kill9_while_compiling(out)         # first a run killed before its first step: no trace
    a = subprocess.Popen(_cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env=_env(), text=True)
    try:
        deadline = time.time() + 300
        lock = out / ".lock"
        while time.time() < deadline and not (lock.is_file() and f"pid {a.pid} " in lock.read_text()):
            assert a.poll() is None, a.stderr.read()
            time.sleep(0.1)
        # A second trainer on the same directory, while the first holds it: refused. The
        # first is paused meanwhile (it keeps its lock), so that with a warm compilation
        # cache it cannot finish all 8 iterations before it is killed.
        os.kill(a.pid, signal.SIGSTOP)
        try:
            b = _train(out)
        finally:
            os.kill(a.pid, signal.SIGCONT)
        _one_line_error(b, "in use by pid", str(a.pid))
        while time.time() < deadline and not any(s >= 4 for s in _steps(out)):
            assert a.poll() is None, a.stderr.read()
            time.sleep(0.05)
        assert a.poll() is None, "finished before it could be killed"
        os.kill(a.pid, signal.SIGKILL)                 # mid-step (or mid-save) after step 4
        a.wait(timeout=60)
    finally:
        if a.poll() is None:
            a.kill()
            a.wait()
    assert not (out / "network").exists()
    p = _train(out)                                    # the lock died with its process
    assert p.returncode == 0, p.stderr[-3000:]
    _assert_bit_for_bit(reference, out)


def _corrupt(run: Path, step: int, how: str) -> None:
    d = run / "checkpoints" / str(step)
    if how == "truncate-array-data":
        data = max((d / "state" / "ocdbt.process_0" / "d").iterdir(), key=lambda p: p.stat().st_size)
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    elif how == "truncate-iterator":
        f = d / "data" / "metadata"
        f.write_bytes(f.read_bytes()[:7])
    elif how == "zero-metadata":
        f = d / "state" / "_METADATA"
        f.write_bytes(b"\0" * f.stat().st_size)


def test_damaged_latest_checkpoints_fall_back_to_the_newest_good_one(reference, tmp_path):
    run = tmp_path / "damaged"
    shutil.copytree(reference, run, ignore=shutil.ignore_patterns("network", ".lock"))
    _corrupt(run, 8, "truncate-array-data")
    _corrupt(run, 6, "truncate-iterator")
    p = _train(run)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "checkpoint step 8" in p.stderr and "checkpoint step 6" in p.stderr
    assert "resuming from step 4" in p.stderr
    assert sorted(x.name.split("-")[0] for x in (run / "checkpoints.damaged").iterdir()) == ["6", "8"]
    _assert_bit_for_bit(reference, run)

    # Nothing readable at all: one clean line, exit 2.
    run2 = tmp_path / "ruined"
    shutil.copytree(reference, run2, ignore=shutil.ignore_patterns("network", ".lock"))
    for step, how in ((8, "truncate-array-data"), (6, "truncate-iterator"), (4, "zero-metadata")):
        _corrupt(run2, step, how)
    _one_line_error(_train(run2), "no readable checkpoint", "[8, 6, 4]")


@pytest.mark.parametrize("overrides, needle", [
    (["data.num_images=128"], "data content changed"),
    (["seed=1"], "seed 0 -> 1"),
    (["G.z_dim=8"], "G.z_dim 16 -> 8"),
])
def test_resume_with_other_data_or_settings_refuses(reference, tmp_path, overrides, needle):
    before = _digest(reference)
    line = _one_line_error(_train(reference, *overrides), "--allow-changed", needle)
    assert "started with other data or settings" in line
    assert _digest(reference) == before                    # config.json, checkpoints, logs


def test_resume_on_other_images_of_the_same_count_refuses(reference, tmp_path):
    """Same config, same number of images, other pixels (e.g. another folder of the same
    size and name): the data fingerprint tells them apart. The run here records the
    fingerprint of other images, as if it had been started on them."""
    run = tmp_path / "other_images"
    shutil.copytree(reference, run, ignore=shutil.ignore_patterns(".lock"))
    rec = json.loads((run / "run.json").read_text())
    rec["data"]["sha256"] = hashlib.sha256(b"other images").hexdigest()
    (run / "run.json").write_text(json.dumps(rec))
    before = _digest(run)
    _one_line_error(_train(run), "data content changed (256 -> 256 images")
    assert _digest(run) == before
    p = _train(run, extra=("--allow-changed",))              # explicitly: continue anyway
    assert p.returncode == 0, p.stderr[-3000:]
    assert "resuming with a change (--allow-changed): data content changed" in p.stdout
    assert json.loads((run / "run.json").read_text())["data"] == \
        json.loads((reference / "run.json").read_text())["data"]


def test_resume_allows_schedule_changes(reference, tmp_path):
    """Changing only the schedule (``run.total_kimg``) is not a mismatch."""
    run = tmp_path / "longer"
    shutil.copytree(reference, run, ignore=shutil.ignore_patterns(".lock"))
    p = _train(run, "run.total_kimg=0.032", "run.image_ticks=4")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "resuming with a change" not in p.stdout + p.stderr


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True)
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                           capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def _resumable_from_step_4(reference, run: Path) -> None:
    """``run``: a copy of the reference with its checkpoints 6 and 8 removed (the next save,
    step 6, is the one that will fail)."""
    shutil.copytree(reference, run, ignore=shutil.ignore_patterns("network", ".lock"))
    shutil.rmtree(run / "checkpoints" / "8")
    shutil.rmtree(run / "checkpoints" / "6")


def test_failing_writes_stop_cleanly_and_the_run_resumes_later(reference, tmp_path):
    """A checkpoint that cannot be written (the file-size limit, like a full disk) stops the
    run with one line; the last good checkpoint stays and the run resumes, without the
    limit, to the uninterrupted run's result bit for bit."""
    run = tmp_path / "limited"
    _resumable_from_step_4(reference, run)
    ckpt4 = run / "checkpoints" / "4"
    sizes = sorted(p.stat().st_size for p in ckpt4.rglob("*") if p.is_file())
    others = [p.stat().st_size for p in run.rglob("*") if p.is_file() and "checkpoints" not in
              p.parts and "dataset" not in p.parts]              # what the resume appends to
    limit = sizes[-1] // 2                                        # the checkpoint's array data
    assert limit > 8 * max(others), (limit, others)
    before = _digest(run)
    p = _train(run, file_size_limit=limit)
    _one_line_error(p, "File too large")
    assert _steps(run) == [4]
    assert {k: v for k, v in _digest(run).items() if k.startswith("checkpoints/4/")} == \
        {k: v for k, v in before.items() if k.startswith("checkpoints/4/")}
    p = _train(run)
    assert p.returncode == 0, p.stderr[-3000:]
    _assert_bit_for_bit(reference, run)


@pytest.mark.slow
def test_full_disk_stops_cleanly_and_resumes_after_space_is_freed(reference, tmp_path):
    """The same with a real full disk (ENOSPC): a small tmpfs, where the test may mount one
    (root)."""
    mnt = tmp_path / "small_disk"
    if not _mount_tmpfs(mnt, "64m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        run = mnt / "run"
        _resumable_from_step_4(reference, run)   # resume with the disk full: step 6 fails
        filler = mnt / "filler"
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * (1 << 20))
                    f.flush()
            except OSError:
                pass
        p = _train(run)
        _one_line_error(p, "No space left on device")
        assert _steps(run) == [4]
        filler.unlink()
        p = _train(run)
        assert p.returncode == 0, p.stderr[-3000:]
        _assert_bit_for_bit(reference, run)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


PEER_LINE = "another process of this multi-process job died or stopped responding"


def _peer_job(victim: int, mode: str, heartbeat_s: int = 4) -> tuple[int | None, float, str]:
    """A 2-process ``tests/scripts/peer_job.py`` job; kill process ``victim`` once both are
    up. Returns the survivor's exit code (None: still running after 60 s), the seconds it
    took to stop, and its stderr."""
    from jaxgan.distributed import free_port, process_env
    base = {**_env(), "JAXGAN_HEARTBEAT_S": str(heartbeat_s)}
    port = free_port()
    script = str(ROOT / "tests" / "scripts" / "peer_job.py")
    procs = [subprocess.Popen([sys.executable, script, mode], env=process_env(r, 2, port, 1, base),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True) for r in range(2)]
    try:
        for p in procs:                       # (gloo prints a line of its own first)
            while (line := p.stdout.readline()) and line.strip() != "ready":
                pass
            assert line, "a process ended before it was ready"
        time.sleep(0.5)
        os.kill(procs[victim].pid, signal.SIGKILL)
        t0 = time.time()
        survivor = procs[1 - victim]
        try:
            rc = survivor.wait(timeout=60)
        except subprocess.TimeoutExpired:
            rc = None
        return rc, time.time() - t0, survivor.stderr.read() if rc is not None else ""
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.mark.parametrize("victim, mode", [(1, "idle"), (0, "idle"), (1, "collective")])
def test_peer_death_ends_the_survivor_with_one_line(victim, mode):
    rc, seconds, err = _peer_job(victim, mode)
    assert rc is not None, "the surviving process hung after its peer died"
    assert rc != 0 and seconds < 30
    lines = [s for s in err.splitlines() if s.strip()]
    assert len(lines) == 1, err[-3000:]
    assert PEER_LINE in lines[0] and f"process {1 - victim} stops too" in lines[0], lines[0]
    assert "Traceback" not in err and "Check failure" not in err


def test_stylex_reports_what_it_does_with_an_automatically_found_discriminator(tmp_path, capsys):
    """``stylex.init_from`` without ``init_d_from`` looks for D next to G: none there is said
    (D from scratch), a readable one is copied, a damaged one is an error naming it (not a
    silently fresh D, as before)."""
    import jax
    from typing import NamedTuple
    from jaxgan import model
    from jaxgan.checkpoint import CheckpointError, save_network
    from jaxgan.nets.configs import DiscriminatorConfig, EncoderConfig, GeneratorConfig
    from jaxgan.stylex.explainer import _init_from

    class State(NamedTuple):
        g: dict
        g_ema: dict
        d: dict

    kw = dict(img_resolution=16, channel_base=64, channel_max=16)
    G, g = model.init_generator(GeneratorConfig(z_dim=8, w_dim=8, mapping_layers=1, **kw),
                                jax.random.key(0))
    D, d = model.init_discriminator(DiscriminatorConfig(**kw), jax.random.key(1))
    E, e = model.init_encoder(EncoderConfig(w_dim=8, num_ws=G.cfg.num_ws, **kw), jax.random.key(2))
    fresh = jax.tree.map(np.zeros_like, d)            # the run's own (untrained) D
    state = State(g, g, fresh)
    save_network(tmp_path / "alone", G, g)
    out, _ = _init_from(str(tmp_path / "alone"), "", None, state, E, e)
    assert "no discriminator found next to stylex.init_from" in capsys.readouterr().err
    jax.tree.map(np.testing.assert_array_equal, out.d, fresh)

    net = tmp_path / "network"
    save_network(net / "G_ema", G, g)
    save_network(net / "D", D, d)
    out, _ = _init_from(str(net), "", None, state, E, e)
    jax.tree.map(np.testing.assert_array_equal, out.d["params"], d["params"])

    meta = net / "D" / "variables" / "_METADATA"
    meta.write_bytes(b"\0" * meta.stat().st_size)
    with pytest.raises(CheckpointError, match=f"cannot read variables in {net / 'D'}"):
        _init_from(str(net), "", None, state, E, e)
