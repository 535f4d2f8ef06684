"""Progress of long-running work: a tqdm bar on a terminal, plain log lines elsewhere.

:func:`progress` takes tqdm's arguments. When stderr is a terminal it returns a tqdm bar;
otherwise (a log file, a batch job, a pipe) a :class:`LogProgress` that writes one line
every ``JAXGAN_PROGRESS_SECONDS`` seconds (default 30) and at the end, e.g.::

    invert (w, 1000 steps): compiling...
    invert (w, 1000 steps): 16/40 img (40%), 0.52 img/s, elapsed 1m02s, ETA 0m46s

The rate and ETA count from the first completed unit, so compilation (which the first
unit pays) does not distort them; until then the ETA is unknown. ``compiling()`` says
that the next unit compiles first. Work inside one jitted program (e.g. the steps of an
inversion's ``lax.scan``) reports through :func:`report_step`, called from
``jax.debug.callback``, to the innermost open progress object.
"""
from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable
from typing import Any
from tqdm.auto import tqdm

#: Seconds between log lines when not on a terminal (``JAXGAN_PROGRESS_SECONDS``).
DEFAULT_SECONDS = 30.0
_ACTIVE: list[Any] = []          # open progress objects, innermost last (report_step)


def _fmt(sec: float) -> str:
    sec = round(sec)
    h, rem = divmod(sec, 3600)
    return f"{h}h{rem // 60:02d}m{rem % 60:02d}s" if h else f"{rem // 60}m{rem % 60:02d}s"


def log_interval() -> float:
    """Seconds between log lines (``JAXGAN_PROGRESS_SECONDS``, default 30)."""
    try:
        return max(0.0, float(os.environ.get("JAXGAN_PROGRESS_SECONDS", DEFAULT_SECONDS)))
    except ValueError:
        return DEFAULT_SECONDS


class LogProgress:
    """tqdm's interface for logs: lines instead of a bar (see the module docstring).

    Args:
      iterable: optional iterable to wrap.
      total: number of units (None: unknown).
      desc: label at the start of every line.
      unit: unit name.
      initial: units already done (a resumed run).
      every: seconds between lines (default :func:`log_interval`).
      file: where lines go (default stderr).
      clock: time source (tests).
      silent: write nothing (a disabled reporter).
      warmup: units after ``initial`` that may still compile (e.g. training phases that
        first run at a later step): the rate and ETA count from the first update past them.
    """

    def __init__(self, iterable: Iterable | None = None, total=None, desc: str = "",
                 unit: str = "it", initial: int = 0, every: float | None = None, file=None,
                 clock=time.monotonic, silent: bool = False, warmup: int = 0, **_):
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n = self._n0 = initial
        self.warmup = warmup
        self.every = log_interval() if every is None else every
        self.file, self.clock, self.silent = file, clock, silent
        self._start = clock()
        self._t0 = None                     # time of the first completed unit
        self._last = self._start
        self._postfix = ""
        self._sub = ""
        self._sub_ref = None                # (time, step) of the current run's first report
        self._sub_at = None                 # (time, step, total) of its latest report
        #: units one in-program run completes (e.g. the images of a jitted batch): with it,
        #: step reports give an ETA before the first unit is done.
        self.units_per_run = None
        self._closed = False
        _ACTIVE.append(self)

    # tqdm's interface ---------------------------------------------------------------
    def __iter__(self):
        try:
            for x in self.iterable:
                yield x
                self.update(1)
        finally:
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def update(self, n: int = 1) -> None:
        """``n`` more units done; a line when ``every`` seconds have passed."""
        self.n += n
        now = self.clock()
        self._sub_ref = self._sub_at = None
        if self._t0 is None:
            if self.n - self._n0 < self.warmup:
                if now - self._last >= self.every:
                    self._line(now)
                return
            self._t0, self._n0 = now, self.n
            self._sub = ""
            self._line(now)                 # the first unit is done: compilation is over
            return
        self._sub = ""
        if now - self._last >= self.every:
            self._line(now)

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kw) -> None:
        items = {**(ordered_dict or {}), **kw}
        self._postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_description(self, desc: str = "", refresh: bool = True) -> None:
        self.desc = desc

    def write(self, msg: str) -> None:
        if not self.silent:
            print(msg, file=self.file or sys.stderr, flush=True)

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if self.n or self.total:
            self._line(self.clock(), final=True)

    # jaxgan's additions ---------------------------------------------------------------
    def compiling(self, what: str = "") -> None:
        """Say that the next unit starts by compiling (the ETA waits for it)."""
        self.write(f"{self.desc}: compiling{' ' + what if what else ''}...")

    def substep(self, i: int, total: int, what: str = "step") -> None:
        """Progress inside the current unit (``what`` ``i`` of ``total``), logged at most
        every ``every`` seconds."""
        self._sub = f"{what} {i}/{total}"
        now = self.clock()
        if self._sub_ref is None or i < self._sub_ref[1]:
            self._sub_ref = (now, i)
        self._sub_at = (now, i, total)
        if now - self._last >= self.every:
            self._line(now)

    def _step_eta(self) -> float | None:
        """Seconds left from the step rate of the current run (needs ``units_per_run``)."""
        if not self.units_per_run or self._sub_ref is None or self._sub_at is None:
            return None
        (t0, i0), (t1, i1, steps) = self._sub_ref, self._sub_at
        if i1 <= i0 or t1 <= t0:
            return None
        per_step = (t1 - t0) / (i1 - i0)
        runs_after = max(0, math.ceil((self.total - self.n) / self.units_per_run) - 1)
        return per_step * ((steps - i1) + runs_after * steps)

    def _line(self, now: float, final: bool = False) -> None:
        self._last = now
        parts = [f"{self.n}/{self.total} {self.unit}" if self.total else f"{self.n} {self.unit}"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        if self._sub:
            parts.append(f"current: {self._sub}")
        done = self.n - self._n0
        if self._t0 is not None and done > 0 and now > self._t0:
            rate = done / (now - self._t0)
            parts.append(f"{rate:.3g} {self.unit}/s")
        parts.append(f"elapsed {_fmt(now - self._start)}")
        if not final and self.total and self.n < self.total:
            if self._t0 is not None and done > 0 and now > self._t0:
                parts.append(f"ETA {_fmt((self.total - self.n) / rate)}")
            elif self._step_eta() is not None:
                parts.append(f"ETA {_fmt(self._step_eta())} (step rate)")
            else:
                parts.append("ETA: measuring")
        if final:
            parts.append("done" if self.total and self.n >= self.total else "stopped")
        if self._postfix:
            parts.append(self._postfix)
        self.write(f"{self.desc}: " + ", ".join(parts))


class _Bar:
    """A tqdm bar with :meth:`compiling` and :meth:`substep` (terminal mode)."""

    def __init__(self, bar):
        self._bar = bar
        _ACTIVE.append(self)

    def __getattr__(self, name):
        return getattr(self._bar, name)

    def __iter__(self):
        try:
            yield from self._bar
        finally:
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        self._bar.close()

    def compiling(self, what: str = "") -> None:
        self._bar.set_postfix_str(f"compiling{' ' + what if what else ''}...")

    def substep(self, i: int, total: int, what: str = "step") -> None:
        self._bar.set_postfix_str(f"{what} {i}/{total}")


def progress(iterable: Iterable | None = None, *, total=None, desc: str = "", unit: str = "it",
             disable: bool | None = False, initial: int = 0, file=None, warmup: int = 0,
             **tqdm_kw):
    """A progress reporter with tqdm's interface (see the module docstring).

    Args:
      iterable, total, desc, unit, initial: as tqdm.
      disable: True: nothing at all (a no-op object); False or None: a bar on a terminal,
        log lines otherwise (tqdm's None would hide everything off a terminal).
      file: output stream (default stderr).
      warmup: log mode: units that may still compile (see :class:`LogProgress`).
      tqdm_kw: further tqdm options (terminal mode only).

    Returns:
      a tqdm-like object with ``update``, ``set_postfix``, ``write``, ``close``,
      ``compiling`` and ``substep``; iterable when ``iterable`` is given.
    """
    stream = file or sys.stderr
    if disable is True:
        return LogProgress(iterable, total=total, desc=desc, unit=unit, initial=initial,
                           every=float("inf"), silent=True)
    if getattr(stream, "isatty", lambda: False)():
        return _Bar(tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial,
                         file=stream, **tqdm_kw))
    return LogProgress(iterable, total=total, desc=desc, unit=unit, initial=initial, file=stream,
                       warmup=warmup)


def report_step(i, total) -> None:
    """Host callback for progress inside a jitted loop (``jax.debug.callback(report_step,
    i, total)``): forwards ``step i/total`` to the innermost open progress object."""
    if _ACTIVE:
        _ACTIVE[-1].substep(int(i), int(total))
