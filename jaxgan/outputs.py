"""Output-directory guards for commands: check early (before any compiling or computing)
that an output location can be written and that the command would not replace the user's
files, and write single files atomically.

Policy: a command lists the files it will write; when any of them already exists it
refuses, naming them, unless ``--overwrite`` is given, and ``--overwrite`` replaces only
those files, never anything else in the directory.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable

from jaxgan.errors import NotWritableError, OutputExistsError

#: How many existing files an error message names before summarising the rest.
_SHOWN = 5


def ensure_writable_dir(path, flag: str = "--out") -> Path:
    """Check that directory ``path`` exists and is writable, or could be created; creates
    nothing (a command that fails later leaves no empty directory behind).

    Args:
      path: the output directory.
      flag: the option that named it, for the message.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.

    Raises:
      NotWritableError: ``path`` (or an ancestor) is a file, or the nearest existing
        directory does not accept new files (permissions, read-only filesystem).
    """
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        what = "is a file" if probe == path else f"cannot be created: {probe} is a file"
        raise NotWritableError(f"{flag} {path} {what}, not a directory")
    try:                       # the real test (os.access is always true for root)
        with tempfile.TemporaryFile(dir=probe, prefix=".jaxgan-write-test-"):
            pass
    except OSError as e:
        where = "" if probe == path else f" (its nearest existing parent {probe})"
        raise NotWritableError(f"{flag} {path}{where} is not writable: "
                               f"{e.strerror or e}") from None
    return path


def check_outputs(directory, names: Iterable[str], overwrite: bool, flag: str = "--out") -> None:
    """Refuse to replace existing files unless ``overwrite``.

    Args:
      directory: the output directory.
      names: paths relative to ``directory`` that the command writes.
      overwrite: the user passed ``--overwrite``.
      flag: the option that named the directory, for the message.

    Raises:
      OutputExistsError: some of ``names`` exist and ``overwrite`` is False (the message
        names them).
    """
    directory = Path(directory)
    existing = [n for n in names if (directory / n).exists()]
    if existing and not overwrite:
        shown = ", ".join(existing[:_SHOWN])
        more = f" and {len(existing) - _SHOWN} more" if len(existing) > _SHOWN else ""
        raise OutputExistsError(
            f"{flag} {directory} already holds {len(existing)} file(s) this command writes: "
            f"{shown}{more}; pass --overwrite to replace them (only them) or choose another "
            "directory")


def write_atomic(path, write: Callable[[Path], None]) -> Path:
    """``write(tmp)`` into a temporary sibling of ``path``, then rename it onto ``path``: a
    reader (or an interrupted run) never sees a half-written file.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
