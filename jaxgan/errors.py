"""Typed user errors: problems with what the user gave (files, values, run directories).

Every command reports a :class:`UserError` (and the standard errors listed in
:data:`USER_ERRORS`) as one line on stderr with exit code 2; anything else is a programming
error and keeps its traceback. Each class also derives from the standard exception a caller
would expect (``ValueError``, ``TypeError``, ``KeyError``, ``FileExistsError``), so library
code catching those keeps working.

This module imports nothing from jaxgan: every layer may raise these.
"""
from __future__ import annotations

import pickle
import sys


class UserError(Exception):
    """A problem with the user's input; reported as one line, exit code 2."""

    def __str__(self) -> str:                     # KeyError would quote its message
        return str(self.args[0]) if self.args else type(self).__name__


class UsageError(UserError, ValueError):
    """A bad argument or value (malformed spec, out of range, non-finite number)."""


class WrongKindError(UserError, TypeError):
    """A file of the wrong kind (e.g. a classifier checkpoint where a generator is expected)."""


class MissingKeyError(UserError, KeyError):
    """An input file lacks a required entry (array, tensor, config key)."""


class OutputExistsError(UserError, FileExistsError):
    """A command would replace files the user already has (pass ``--overwrite``)."""


class NotWritableError(UserError, PermissionError):
    """An output location cannot be created or written."""


class ResumeMismatchError(UserError):
    """A run directory was started with other data or incompatible settings."""


class RunLockedError(UserError):
    """Another live process is training in the same run directory."""


class CheckpointDamagedError(UserError):
    """No readable training checkpoint is left to resume from."""


#: Everything the command line reports as a user error (one line, exit code 2). The standard
#: types stay for errors raised by libraries on bad input (a missing file, a malformed
#: archive, a bad value given to numpy); ``KeyError``/``TypeError`` are not here: outside
#: the typed classes above they mean a bug and keep their traceback.
USER_ERRORS = (UserError, ValueError, OSError, ImportError, pickle.UnpicklingError)


def one_line(e: BaseException) -> str:
    """The message of ``e`` on one line (whitespace runs collapsed), or its type name."""
    return " ".join(str(e).split()) or type(e).__name__


def _is_abandoned_read_report(unraisable) -> bool:
    """Whether an unraisable-exception report is a storage read finishing after its
    caller gave up: TensorStore completing a read for an asyncio event loop that orbax
    already closed, because another read of the same restore failed first."""
    exc, tb = unraisable.exc_value, unraisable.exc_traceback
    if not isinstance(exc, RuntimeError) or str(exc) != "Event loop is closed":
        return False
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "call_soon_threadsafe":
            return True
        tb = tb.tb_next
    return False


def quiet_abandoned_reads() -> None:
    """Stop the reports of reads abandoned by a failed checkpoint restore.

    When orbax fails to restore a damaged checkpoint it closes its event loop while
    TensorStore still has reads of the other arrays in flight; each finishing read then
    reports ``RuntimeError: Event loop is closed`` through :data:`sys.unraisablehook`,
    printing tracebacks after the one line that explains the damage, at any later time --
    including before the failure itself reaches the caller (the loop closes in orbax's
    thread while the caller still waits). Call this *before* a restore that may fail: it
    wraps the current hook so that exactly those reports are dropped and every other one
    still reaches it. Calling it again does nothing.
    """
    previous = sys.unraisablehook
    if getattr(previous, "_jaxgan_quiet_abandoned_reads", False):
        return

    def hook(unraisable):
        if not _is_abandoned_read_report(unraisable):
            previous(unraisable)

    hook._jaxgan_quiet_abandoned_reads = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook
