"""Output-directory guards for commands: check early (before any compiling or computing)
that an output location can be written and that the command would not replace the user's
files, and write single files atomically.

Policy: a command lists the files it will write (names, or glob patterns such as
``strips_*.png`` for files named after what the command computes); when any of them already
exists it refuses, naming them, unless ``--overwrite`` is given, and ``--overwrite``
replaces only those files, never anything else in the directory. A command writing one
file (:func:`guard_file`) or a whole checkpoint directory (:func:`guard_replaced_dir`)
follows the same rule.
"""
from __future__ import annotations

import glob
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
      names: paths relative to ``directory`` that the command writes; a name holding glob
        characters (``*?[``) stands for every existing path it matches.
      overwrite: the user passed ``--overwrite``.
      flag: the option that named the directory, for the message.

    Raises:
      OutputExistsError: some of ``names`` exist and ``overwrite`` is False (the message
        names them).
    """
    directory = Path(directory)
    existing: list[str] = []
    for n in names:
        if glob.has_magic(n):
            existing += sorted(str(p.relative_to(directory)) for p in directory.glob(n)
                               if str(p.relative_to(directory)) not in existing)
        elif (directory / n).exists() and n not in existing:
            existing.append(n)
    if existing and not overwrite:
        shown = ", ".join(existing[:_SHOWN])
        more = f" and {len(existing) - _SHOWN} more" if len(existing) > _SHOWN else ""
        raise OutputExistsError(
            f"{flag} {directory} already holds {len(existing)} file(s) this command writes: "
            f"{shown}{more}; pass --overwrite to replace them (only them) or choose another "
            "directory")


def guard_outputs(directory, names: Iterable[str], overwrite: bool, flag: str = "--out") -> Path:
    """The checks a command writing files into ``directory`` runs first, before loading
    networks or computing: :func:`ensure_writable_dir`, then :func:`check_outputs`.

    Returns:
      ``directory`` as a :class:`~pathlib.Path` (not created).
    """
    directory = ensure_writable_dir(directory, flag)
    check_outputs(directory, names, overwrite, flag)
    return directory


def guard_file(path, overwrite: bool, flag: str = "--out") -> Path:
    """Checks for a command writing the single file ``path``: its directory can be written,
    ``path`` is not a directory, and an existing file is replaced only with ``overwrite``.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.

    Raises:
      NotWritableError: the parent cannot be created or written, or ``path`` is a directory.
      OutputExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.is_dir():
        raise NotWritableError(f"{flag} {path} is a directory; give a file name")
    ensure_writable_dir(path.parent if str(path.parent) else Path("."), f"{flag}'s folder")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{flag} {path} already exists; pass --overwrite to replace "
                                "it or choose another name")
    return path


def guard_replaced_dir(path, members: Iterable[str], overwrite: bool,
                       flag: str = "--out") -> Path:
    """Checks for a command that writes directory ``path`` as a whole (a checkpoint made of
    ``members``): an existing ``path`` is replaced only with ``overwrite``, and only when
    it holds nothing but ``members`` (never a directory with the user's other files).

    Returns:
      ``path`` as a :class:`~pathlib.Path`.

    Raises:
      NotWritableError: the parent cannot be created or written, or ``path`` is a file.
      OutputExistsError: ``path`` exists and ``overwrite`` is False, or it holds other files.
    """
    path = Path(path)
    ensure_writable_dir(path, flag)
    if not path.exists():
        return path
    if not overwrite:
        raise OutputExistsError(f"{flag} {path} already exists; pass --overwrite to replace "
                                "it or choose another directory")
    other = sorted(p.name for p in path.iterdir() if p.name not in set(members))
    if other:
        raise OutputExistsError(
            f"{flag} {path} holds files this command does not write "
            f"({', '.join(other[:_SHOWN])}{' ...' if len(other) > _SHOWN else ''}); refusing "
            "to replace it: move them away or write elsewhere")
    return path


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
