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
