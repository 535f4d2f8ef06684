"""Run many command lines as separate processes without paying Python's start-up and the
imports of jax/flax/orbax for each: this driver imports the entry points once, then forks
one child process per command line, its stdout/stderr going to files, its exit code the
command's (an uncaught exception prints its traceback and exits 1, as ``python -m`` does).

Usage (from tests/test_bad_inputs.py)::

    python tests/scripts/cli_case_runner.py CASES.json RESULTS.json WORKERS TIMEOUT_S

``CASES.json``: ``[{"id", "entry": "jaxgan"|"train", "argv": [...], "cwd"}]``;
``RESULTS.json``: ``{id: {"rc": int | null (timed out), "stdout", "stderr"}}``.

The driver must not start a JAX backend before forking (a forked XLA client is unusable);
it only imports modules, and checks that no backend exists.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

import jax  # noqa: F401 - imported once here, inherited by every child
import jax._src.xla_bridge as xb

import jaxgan.checkpoint  # noqa: F401
import jaxgan.cli
import jaxgan.training.loop  # noqa: F401
import train.__main__

ENTRIES = {"jaxgan": jaxgan.cli.main, "train": train.__main__.main}


def _child(case: dict, out: Path, err: Path) -> None:
    """In the forked child: run the command, then exit the interpreter normally (atexit
    handlers and stream flushing run as in a real process)."""
    os.chdir(case["cwd"])
    for fd, path in ((1, out), (2, err)):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(f, fd)
        os.close(f)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    prog = "jaxgan" if case["entry"] == "jaxgan" else "python -m train"
    sys.argv = [prog, *case["argv"]]
    try:
        rc = ENTRIES[case["entry"]](case["argv"])
    except SystemExit as e:                      # argparse
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:                        # noqa: BLE001 - what `python -m` would show
        traceback.print_exc()
        rc = 1
    sys.exit(rc)


def main(cases_json: str, results_json: str, workers: str, timeout_s: str) -> None:
    cases = json.loads(Path(cases_json).read_text())
    if xb._backends:                             # noqa: SLF001
        raise RuntimeError("a JAX backend was started before forking")
    tmp = Path(tempfile.mkdtemp(prefix="cli_cases_"))
    pending, running, results = list(cases), {}, {}
    while pending or running:
        while pending and len(running) < int(workers):
            case = pending.pop(0)
            out, err = tmp / f"{case['id']}.out", tmp / f"{case['id']}.err"
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(case, out, err)           # never returns
            running[pid] = (case, out, err, time.time())
        for pid, (case, out, err, t0) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            rc = None
            if done:
                rc = os.waitstatus_to_exitcode(status)
            elif time.time() - t0 > float(timeout_s):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            else:
                continue
            results[case["id"]] = {"rc": rc, "stdout": out.read_text(errors="replace"),
                                   "stderr": err.read_text(errors="replace")}
            del running[pid]
        time.sleep(0.05)
    Path(results_json).write_text(json.dumps(results))


if __name__ == "__main__":
    main(*sys.argv[1:])
