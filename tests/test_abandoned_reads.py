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


# ------------------------------------------------------------- in place before each restore
# The reports can arrive before the failed restore returns to its caller (orbax closes the
# loop in its own thread while the caller waits), so the filter must be installed before
# every restore starts, not in the ``except`` that handles the failure (CI once printed
# tracebacks ahead of the one-line warning that way).

class _Refused(Exception):
    pass


def _record_then_fail(seen):
    def restore(*args, **kwargs):
        seen.append(getattr(sys.unraisablehook, "_jaxgan_quiet_abandoned_reads", False))
        raise _Refused
    return restore


@pytest.fixture
def plain_hook(monkeypatch):
    monkeypatch.setattr(sys, "unraisablehook", sys.__unraisablehook__)


def test_run_checkpoint_restore_is_covered_from_its_start(plain_hook, tmp_path):
    from jaxgan.training.run_checkpoint import TrainCheckpointer
    seen = []
    ck = TrainCheckpointer(tmp_path / "ckpts")
    ck._mngr.restore = _record_then_fail(seen)
    with pytest.raises(_Refused):
        ck.restore(0, {"a": 0})
    assert seen == [True]


def test_load_network_is_covered_from_its_start(plain_hook, tmp_path, monkeypatch):
    import contextlib

    import jax
    import jax.numpy as jnp

    from jaxgan import checkpoint
    from jaxgan.checkpoint import CheckpointError, load_network, save_network
    from jaxgan.model import variables_shape
    from jaxgan.nets.configs import GeneratorConfig
    from jaxgan.nets.generator import Generator
    g = Generator(GeneratorConfig(img_resolution=8, channel_base=64, channel_max=8, z_dim=4,
                                  w_dim=4, mapping_layers=1))
    out = save_network(tmp_path / "ck", g,
                       jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), variables_shape(g)))
    seen = []
    real = checkpoint._local_checkpointer

    @contextlib.contextmanager
    def failing_restore():          # real metadata, a restore that records and fails
        with real() as ckptr:
            ckptr.restore = _record_then_fail(seen)
            yield ckptr
    monkeypatch.setattr(checkpoint, "_local_checkpointer", failing_restore)
    with pytest.raises(CheckpointError, match="cannot read variables"):
        load_network(out)
    assert seen == [True]
