"""``jaxgan.errors.quiet_abandoned_reads``: after a failed checkpoint restore, TensorStore
reads still in flight report ``RuntimeError: Event loop is closed`` through
``sys.unraisablehook`` (tracebacks printed after the one-line message, at random times).
The filter drops exactly those reports: checked with a real closed asyncio loop, and against
other reports that must still reach the previous hook."""
from __future__ import annotations

import asyncio
import sys

import pytest

from jaxgan.errors import quiet_abandoned_reads


def _report(fn):
    """The ``UnraisableHookArgs``-like record of the exception ``fn`` raises."""
    try:
        fn()
    except BaseException as e:  # noqa: BLE001
        return type("U", (), {"exc_type": type(e), "exc_value": e, "exc_traceback": e.__traceback__,
                              "err_msg": None, "object": None})()
    raise AssertionError("no exception")


@pytest.fixture
def hooks(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    quiet_abandoned_reads()
    first = sys.unraisablehook
    quiet_abandoned_reads()                               # idempotent: wraps once
    assert sys.unraisablehook is first and first is not seen.append
    return seen


def _closed_loop_callback():
    loop = asyncio.new_event_loop()
    loop.close()
    loop.call_soon_threadsafe(lambda: None)               # what TensorStore's read does late


def _other_runtime_error():
    raise RuntimeError("Event loop is closed")            # same text, not from a late callback


def test_late_reads_on_a_closed_loop_are_dropped(hooks):
    sys.unraisablehook(_report(_closed_loop_callback))
    assert hooks == []


@pytest.mark.parametrize("fn", [_other_runtime_error, lambda: 1 / 0])
def test_every_other_report_still_reaches_the_previous_hook(hooks, fn):
    r = _report(fn)
    sys.unraisablehook(r)
    assert hooks == [r]
