"""Multi-process training on localhost: 2 processes (gloo collectives between them) vs one
process with 2 fake CPU devices; kill one process mid-run, relaunch, continue exactly.

Every process started here is killed in ``finally`` blocks (``jaxgan.distributed.launch``
kills its process groups on exit), so a failing test leaves nothing running.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxgan.distributed import launch, process_env
from conftest import xla_flags_with_devices

ROOT = Path(__file__).resolve().parents[1]
TRAIN = [sys.executable, "-m", "train", "--config", "tiny", "--no-progress"]


def _env(devices: int = 1) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["XLA_FLAGS"] = xla_flags_with_devices(devices)
    env["JAXGAN_HEARTBEAT_S"] = "10"
    for k in ("JAXGAN_COORDINATOR", "JAXGAN_NUM_PROCESSES", "JAXGAN_PROCESS_ID"):
        env.pop(k, None)
    return env


def _single(out: Path, *overrides: str) -> None:
    r = subprocess.run([*TRAIN, "--out", str(out), *overrides], env=_env(2), cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]


def _multi(out: Path, *overrides: str, **kw) -> int:
    return launch(2, [*TRAIN, "--out", str(out), *overrides], env=_env(1), timeout_s=600,
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def _params(run: Path):
    from jaxgan.checkpoint import load_network
    return {n: load_network(run / "network" / n)[1] for n in ("G_ema", "G", "D")}


def _losses(run: Path):
    rows = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    assert len({r["step"] for r in rows}) == len(rows), "a step was logged twice"
    return np.array([[r["step"], r["loss/G/main"], r["loss/D/main"]] for r in rows])


def _assert_same_run(a: Path, b: Path) -> None:
    np.testing.assert_allclose(_losses(a), _losses(b), rtol=1e-4, atol=1e-5)
    pa, pb = _params(a), _params(b)
    for n in pa:
        jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5),
                     pa[n], pb[n])


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "run"
    _single(out)
    return out


def test_two_processes_equal_one_process_with_two_devices(reference_run, tmp_path):
    out = tmp_path / "multi"
    assert _multi(out) == 0
    _assert_same_run(reference_run, out)
    # Process 0 alone writes logs and images; both processes saw the same stop step.
    assert (out / "samples" / "reals.png").exists() and (out / "network" / "G_ema").is_dir()
    assert len((out / "metrics.jsonl").read_text().splitlines()) == len(
        (reference_run / "metrics.jsonl").read_text().splitlines())


def test_env_of_launched_processes():
    env = process_env(1, 2, 12345, devices_per_process=3, base={"XLA_FLAGS": "--foo "
                      "--xla_force_host_platform_device_count=8"})
    assert env["JAXGAN_COORDINATOR"] == "127.0.0.1:12345" and env["JAXGAN_PROCESS_ID"] == "1"
    assert env["XLA_FLAGS"].split() == ["--foo", "--xla_force_host_platform_device_count=3"]


def _procs_with(marker: str) -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if marker in (p / "cmdline").read_bytes().decode(errors="ignore"):
                    pids.append(int(p.name))
            except OSError:
                pass
    return pids


@pytest.mark.slow
def test_killed_process_stops_job_and_relaunch_resumes_exactly(reference_run, tmp_path):
    out = tmp_path / "killed"
    longer = "run.total_kimg=0.064"          # 16 steps; the reference runs 8 of them
    ref = tmp_path / "ref16"
    _single(ref, longer)
    # Start the job, wait for a checkpoint past step 4, SIGKILL one process.
    import threading
    result = {}
    t = threading.Thread(target=lambda: result.update(code=_multi(out, longer, grace_s=40)))
    t.start()
    try:
        deadline = time.time() + 400
        ck = out / "checkpoints"
        while time.time() < deadline:
            steps = [int(p.name) for p in ck.iterdir() if p.name.isdigit()] if ck.is_dir() else []
            if steps and max(steps) >= 4:
                break
            time.sleep(0.5)
        victims = _procs_with(str(out))
        assert victims, "the launched processes were not found"
        os.kill(max(victims), signal.SIGKILL)
        t0 = time.time()
        t.join(timeout=300)
        assert not t.is_alive(), "the surviving process hung after its peer died"
        assert result["code"] != 0
        assert time.time() - t0 < 120
        assert not _procs_with(str(out)), "orphaned processes left behind"
    finally:
        for pid in _procs_with(str(out)):
            os.kill(pid, signal.SIGKILL)
        t.join(timeout=30)
    # Relaunch: resumes from the last good checkpoint and ends exactly as the uninterrupted run.
    assert _multi(out, longer) == 0
    _assert_same_run(ref, out)
