"""The stderr filter of one process of a multi-process job (started by
:func:`jaxgan.distributed.guard_stderr`; standard library only, run as a script so that it
starts in a fraction of a second without importing JAX).

When another process of the job dies, JAX's coordination service makes every survivor
abort from a C++ thread: several ``E``/``W`` log lines, a ``F... client.h] Terminating
process`` line and a C++ stack dump, on stderr. The process's stderr goes through this
filter, which forwards everything unchanged until a log line of the coordination service
appears; from there it holds the text back. If the process then ends (the abort), the held
text is replaced by one line::

    PROG: error: another process of this multi-process job died or stopped responding
    (process 1 stopped sending heartbeats); process 0 stops too. Relaunch the same command
    to resume from the last checkpoint.

If the process is still running ``GRACE_S`` seconds later (a passing warning), the held
text is forwarded as it was. ``JAXGAN_DEBUG=1`` disables the filter.

Usage: ``python stderr_filter.py PROG RANK PARENT_PID`` with the process's stderr on stdin.
"""
from __future__ import annotations

import os
import re
import select
import signal
import sys
import time

#: Log lines (absl format) of the coordination service that announce a failing job.
FAILING = re.compile(rb"^[EWF]\d{4} [\d:.]+ +\d+ (coordination_service\w*|preemption_sync_manager"
                     rb"|client)\.(cc|h):\d+\]")
#: Seconds to hold text back before deciding the process goes on after all.
GRACE_S = 10.0
#: The start of the line both this filter and the Python-side handler print.
MARKER = b"another process of this multi-process job died"


def reason(held: bytes) -> str:
    """A short account of why the job fails, from the held log text."""
    text = held.decode("utf-8", "replace")
    m = re.search(r"tasks are unhealthy \(stopped sending heartbeats\):\s*\n?\s*([\d, /\w]+)", text)
    if m:
        tasks = " ".join(m.group(1).split("\n")[0].split())
        return f"process {tasks} stopped sending heartbeats"
    if "Failed to send RPC to coordination service" in text or "Socket closed" in text:
        return "lost the connection to the coordinator, process 0"
    m = re.search(r"(Connection (?:reset|closed) by peer)", text)
    if m:
        return f"a collective failed: {m.group(1).lower()}"
    return "the coordination service reported a failure"


def message(prog: str, rank: str, held: bytes) -> bytes:
    """The one line that replaces the held text."""
    return (f"{prog}: error: another process of this multi-process job died or stopped "
            f"responding ({reason(held)}); process {rank} stops too. Relaunch the same command "
            "to resume from the last checkpoint.\n").encode()


def run(prog: str, rank: str, parent: int, src: int = 0, dst: int = 2) -> None:
    """Copy ``src`` to ``dst`` until EOF (or the parent's death), replacing the
    coordination service's abort with one line (see the module docstring)."""
    partial = b""           # an incomplete line that may start a log line
    held: bytes | None = None
    held_at = 0.0
    told = False            # the one line went through already (the Python-side handler)
    while True:
        ready, _, _ = select.select([src], [], [], 0.5)
        chunk = os.read(src, 1 << 16) if ready else None
        if chunk == b"":
            break
        if chunk is None:
            if os.getppid() != parent:
                break
            if held is not None and time.time() - held_at > GRACE_S and \
                    b"Check failure" not in held and b"Terminating process" not in held:
                os.write(dst, held)
                held = None
            continue
        if held is not None:
            held += chunk
            continue
        data = partial + chunk
        lines = data.split(b"\n")
        partial = lines.pop()
        out = []
        for i, line in enumerate(lines):
            if FAILING.match(line):
                held, held_at = b"\n".join(lines[i:]) + b"\n" + partial, time.time()
                partial = b""
                break
            told = told or MARKER in line
            out.append(line + b"\n")
        if held is None and partial and not re.match(rb"^[EWF]\d{0,4}( |$)", partial[:6]):
            out.append(partial)       # a progress bar or prompt: no need to wait for its end
            partial = b""
        if out:
            os.write(dst, b"".join(out))
    if held is not None and not told:    # the process ended after the coordination errors
        said = [line for line in held.split(b"\n") if MARKER in line]
        os.write(dst, said[0] + b"\n" if said else message(prog, rank, held))
    elif partial:
        os.write(dst, partial)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl-C is for the process, not for us
    run(sys.argv[1], sys.argv[2], int(sys.argv[3]))
