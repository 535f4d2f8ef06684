"""Multi-process (multi-host) start-up: ``jax.distributed`` initialisation and a local launcher.

jaxgan runs under JAX's multi-controller runtime: one Python process per host, each
feeding its own data shard, all agreeing on one global mesh. Three ways to start:

* **Cloud TPU pods, SLURM, Open MPI**: run the same command on every host (``srun``,
  ``mpirun``, ``gcloud ... --worker=all``); :func:`initialize` sees the cluster's
  environment and calls ``jax.distributed.initialize()`` with auto-detection.
* **Explicit**: set ``JAXGAN_COORDINATOR=host:port``, ``JAXGAN_NUM_PROCESSES=N`` and
  ``JAXGAN_PROCESS_ID=i`` on each process.
* **This machine** (testing, small boxes): ``jaxgan launch --num-processes N -- <command>``
  (:func:`launch`) starts N local processes with the explicit variables, a free port on
  127.0.0.1 and ``--xla_force_host_platform_device_count`` CPU devices each; on the CPU
  backend JAX's collectives between them go through gloo.

Nothing here runs at import time; entry points call :func:`initialize` before touching
any device.

**A process dying.** When one process of a job dies (killed, out of memory, a lost host),
the others stop within about the heartbeat timeout (``JAXGAN_HEARTBEAT_S``, default 30 s;
at once when they are waiting on a collective) with one line on stderr, instead of JAX's
C++ abort and stack dump: :func:`initialize` routes the process's stderr through
:mod:`jaxgan.stderr_filter`, and the entry points wrap their work in
:func:`exit_on_peer_failure`, which turns a failed collective into the same line
(exit code :data:`PEER_LOST_EXIT`).
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, NoReturn, Sequence

import jax
from jax._src import distributed as _dist

from jaxgan import stderr_filter

ENV_COORDINATOR = "JAXGAN_COORDINATOR"
ENV_NUM_PROCESSES = "JAXGAN_NUM_PROCESSES"
ENV_PROCESS_ID = "JAXGAN_PROCESS_ID"
ENV_HEARTBEAT = "JAXGAN_HEARTBEAT_S"
#: Default heartbeat timeout (seconds): a dead peer is noticed within about this long.
DEFAULT_HEARTBEAT_S = 30
#: Exit code of a process that stops because another process of its job died.
PEER_LOST_EXIT = 1
#: Errors of a collective or of the coordination service that mean a peer is gone.
_PEER_ERROR = re.compile(r"Gloo|coordination service|Connection (reset|closed) by peer|"
                         r"UNAVAILABLE|DEADLINE_EXCEEDED|heartbeat", re.IGNORECASE)


def detect_cluster(environ=None) -> str | None:
    """Which multi-host environment this process runs in, if any.

    Returns:
      ``'explicit'`` (the ``JAXGAN_*`` variables), ``'slurm'``, ``'openmpi'``, ``'tpu'``
      or ``None`` for a plain single process.
    """
    env = os.environ if environ is None else environ
    if env.get(ENV_COORDINATOR):
        return "explicit"
    if int(env.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_JOB_ID" in env:
        return "slurm"
    if int(env.get("OMPI_COMM_WORLD_SIZE", "1") or 1) > 1:
        return "openmpi"
    if "," in env.get("TPU_WORKER_HOSTNAMES", "") or env.get("MEGASCALE_COORDINATOR_ADDRESS"):
        return "tpu"
    return None


def _explicit_args(env) -> dict:
    missing = [k for k in (ENV_NUM_PROCESSES, ENV_PROCESS_ID) if not env.get(k)]
    if missing:
        raise ValueError(f"{ENV_COORDINATOR} is set but {', '.join(missing)} is not: set all of "
                         f"{ENV_COORDINATOR}, {ENV_NUM_PROCESSES}, {ENV_PROCESS_ID}")
    try:
        n, i = int(env[ENV_NUM_PROCESSES]), int(env[ENV_PROCESS_ID])
    except ValueError as e:
        raise ValueError(f"{ENV_NUM_PROCESSES}/{ENV_PROCESS_ID} must be integers: {e}") from None
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"{ENV_PROCESS_ID}={i} must lie in [0, {ENV_NUM_PROCESSES}={n})")
    return dict(coordinator_address=env[ENV_COORDINATOR], num_processes=n, process_id=i)


def initialize(environ=None, prog: str = "jaxgan") -> bool:
    """Start JAX's distributed runtime when running multi-process; no-op otherwise.

    Idempotent. Must run before any JAX computation in the process. In a multi-process job
    it also routes stderr through :mod:`jaxgan.stderr_filter` (unless ``JAXGAN_DEBUG``).

    Args:
      environ: the environment (default ``os.environ``).
      prog: how the one-line message of a lost peer names the program (``train``).

    Returns:
      True if the process is part of a multi-process job.

    Raises:
      ValueError: inconsistent ``JAXGAN_*`` variables.
    """
    env = os.environ if environ is None else environ
    kind = detect_cluster(env)
    if kind is None:
        return False
    if getattr(_dist.global_state, "client", None) is not None:
        return True
    heartbeat = int(env.get(ENV_HEARTBEAT, DEFAULT_HEARTBEAT_S))
    kwargs = _explicit_args(env) if kind == "explicit" else {}
    jax.distributed.initialize(heartbeat_timeout_seconds=heartbeat, **kwargs)
    if not env.get("JAXGAN_DEBUG"):
        guard_stderr(prog, jax.process_index())
    return True


def guard_stderr(prog: str, rank: int) -> None:
    """Route this process's stderr (file descriptor 2) through :mod:`jaxgan.stderr_filter`,
    a small child process that replaces the coordination service's abort (log lines and a
    C++ stack dump) by one line. The filter ends when this process does.

    Args:
      prog: the program name of that line.
      rank: this process's index in the job.
    """
    sys.stderr.flush()
    read, write = os.pipe()
    subprocess.Popen([sys.executable, str(Path(stderr_filter.__file__)), prog, str(rank),
                      str(os.getpid())], stdin=read, stdout=subprocess.DEVNULL)
    os.close(read)
    os.dup2(write, 2)
    os.close(write)


def is_peer_failure(e: BaseException) -> bool:
    """Whether ``e`` (raised in a multi-process job) says that another process is gone: a
    failed collective (gloo: connection reset or closed) or a coordination-service error."""
    dist = sys.modules.get("jax._src.distributed")
    if dist is None or getattr(dist.global_state, "client", None) is None:
        return False
    return bool(_PEER_ERROR.search(str(e)))


def exit_peer_lost(prog: str, e: BaseException) -> NoReturn:
    """Print the one line of a lost peer and end the process at once (no teardown: the
    runtime's shutdown would wait for the dead process)."""
    dist = sys.modules.get("jax._src.distributed")
    rank = getattr(getattr(dist, "global_state", None), "process_id", "?")
    sys.stdout.flush()
    sys.stderr.write(stderr_filter.message(prog, str(rank), str(e).encode()).decode())
    sys.stderr.flush()
    os._exit(PEER_LOST_EXIT)


@contextlib.contextmanager
def exit_on_peer_failure(prog: str) -> Iterator[None]:
    """Around an entry point's work: an error that means another process of the job died
    (:func:`is_peer_failure`) ends this process with one line (:func:`exit_peer_lost`);
    every other error passes through unchanged."""
    try:
        yield
    except Exception as e:
        if is_peer_failure(e):
            exit_peer_lost(prog, e)
        raise


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_env(rank: int, num_processes: int, port: int, devices_per_process: int = 1,
                base=None) -> dict:
    """The environment of local process ``rank`` of a ``num_processes`` job."""
    env = dict(os.environ if base is None else base)
    flags = [f for f in env.get("XLA_FLAGS", "").split()
             if not f.startswith("--xla_force_host_platform_device_count")]
    flags.append(f"--xla_force_host_platform_device_count={devices_per_process}")
    env.update({ENV_COORDINATOR: f"127.0.0.1:{port}", ENV_NUM_PROCESSES: str(num_processes),
                ENV_PROCESS_ID: str(rank), "XLA_FLAGS": " ".join(flags),
                "JAX_PLATFORMS": env.get("JAX_PLATFORMS", "cpu") or "cpu"})
    return env


def _kill(procs) -> None:
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.time() + 10
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


def launch(num_processes: int, command: Sequence[str], *, devices_per_process: int = 1,
           grace_s: float | None = None, timeout_s: float | None = None, port: int | None = None,
           env=None, stdout=None, stderr=None) -> int:
    """Run ``command`` as ``num_processes`` cooperating local processes and wait for them.

    Args:
      num_processes: how many processes (each one "host").
      command: argv of one process, e.g. ``[sys.executable, '-m', 'train', ...]``.
      devices_per_process: CPU devices each process exposes.
      grace_s: after one process fails, how long the others may take to stop on their
        own (the distributed runtime's heartbeat) before they are killed
        (default heartbeat + 15 s).
      timeout_s: kill everything after this long (None: no limit).
      port: coordinator port (default: a free one).
      env: base environment (default ``os.environ``).
      stdout, stderr: passed to ``subprocess.Popen`` (default: inherited).

    Returns:
      0 if every process succeeded, else the first failing process's exit code.
    """
    if num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}")
    if not command:
        raise ValueError("no command to launch (put it after `--`)")
    base = dict(os.environ if env is None else env)
    if grace_s is None:
        grace_s = int(base.get(ENV_HEARTBEAT, DEFAULT_HEARTBEAT_S)) + 15
    port = port or free_port()
    procs = []
    start = time.time()
    try:
        for rank in range(num_processes):
            procs.append(subprocess.Popen(
                list(command), env=process_env(rank, num_processes, port, devices_per_process, base),
                stdout=stdout, stderr=stderr, start_new_session=True))
        failed_at, code = None, 0
        while True:
            codes = [p.poll() for p in procs]
            if all(c is not None for c in codes):
                bad = [(i, c) for i, c in enumerate(codes) if c != 0]
                return bad[0][1] if bad else 0
            bad = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
            if bad and failed_at is None:
                failed_at, code = time.time(), bad[0][1]
                print(f"jaxgan launch: process {bad[0][0]} exited with code {code}; waiting up to "
                      f"{grace_s:.0f} s for the others to stop", file=sys.stderr)
            if failed_at is not None and time.time() - failed_at > grace_s:
                alive = [i for i, c in enumerate(codes) if c is None]
                print(f"jaxgan launch: processes {alive} still running {grace_s:.0f} s after a "
                      f"failure; killing them", file=sys.stderr)
                _kill(procs)
                return code or 1
            if timeout_s is not None and time.time() - start > timeout_s:
                print(f"jaxgan launch: timeout after {timeout_s:.0f} s; killing all processes",
                      file=sys.stderr)
                _kill(procs)
                return 124
            time.sleep(0.2)
    finally:
        _kill(procs)
