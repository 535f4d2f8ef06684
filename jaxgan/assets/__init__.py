"""Networks that ship inside the package: the ones jaxgan itself uses by default.

Built-in classifiers, the shapes segmenter, and the generator/discriminator/encoder that the
presets start from are package data (read with :mod:`importlib.resources`), so ``jaxgan``
works from any directory and from a plain ``pip install``. Each is named, versioned and
documented in ``manifest.json`` (the command that made it, its kimg, its measured
figure, a SHA-256 of its files). Wherever a checkpoint directory is accepted, the loaders
(:func:`jaxgan.checkpoint.load_network`, :func:`jaxgan.classify.load_model`) also accept
``builtin:NAME``; any option can still point at your own checkpoint instead.

Usage::

    from jaxgan import assets
    assets.names()                      # ['D_shapes32_60k', 'G_shapes32_60k', ...]
    assets.path("segmenter_shapes")     # '/.../site-packages/jaxgan/assets/segmenter_shapes'
    assets.resolve("builtin:G_shapes32_60k")   # the same kind of path; other strings unchanged
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

#: Prefix that names a built-in network wherever a checkpoint path is accepted.
PREFIX = "builtin:"

#: Default offline feature nets of the distribution metrics per data source: built-in
#: classifiers, made by ``jaxgan train-classifier --task shapes:shape`` / ``--task digits``.
DEFAULT_FEATURE_NETS = {"shapes": "builtin:classifier_shapes_shape",
                        "digits": "builtin:classifier_digits"}


@lru_cache(maxsize=1)
def manifest() -> dict[str, dict]:
    """The provenance of every built-in network.

    Returns:
      ``{name: {"version", "kind", "used_by", "command", "kimg", "measured", "sha256"}}``.
    """
    return json.loads(resources.files(__name__).joinpath("manifest.json").read_text())


def names() -> list[str]:
    """Returns: the built-in networks' names, sorted."""
    return sorted(manifest())


def path(name: str) -> str:
    """The directory of the built-in network ``name`` (a real directory: wheels install unzipped).

    Args:
      name: a name from :func:`names`, optionally prefixed ``builtin:``.

    Returns:
      The checkpoint directory as a string (usable wherever a checkpoint path is).

    Raises:
      FileNotFoundError: no built-in network of that name (the message lists them).
    """
    name = name[len(PREFIX):] if name.startswith(PREFIX) else name
    if name not in manifest():
        raise FileNotFoundError(f"no built-in network {name!r}; available: {', '.join(names())}")
    return str(Path(str(resources.files(__name__).joinpath(name))))


def resolve(path_or_name) -> str:
    """``'builtin:NAME'`` -> :func:`path` (NAME); any other path is returned as a string, unchanged.

    Args:
      path_or_name: a checkpoint path or ``builtin:NAME``.

    Returns:
      A filesystem path string.
    """
    s = str(path_or_name)
    return path(s) if s.startswith(PREFIX) else s


def digest(directory) -> str:
    """SHA-256 over a directory's files (relative path, NUL, bytes; sorted by path).

    Args:
      directory: a checkpoint directory.

    Returns:
      The hex digest (what ``manifest.json`` records as ``sha256``).
    """
    d = Path(directory)
    h = hashlib.sha256()
    for f in sorted(p for p in d.rglob("*") if p.is_file()):
        h.update(f.relative_to(d).as_posix().encode())
        h.update(b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()
