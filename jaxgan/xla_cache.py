"""The persistent XLA compilation cache of jaxgan's commands.

Compiling a training step takes about a minute on a 2-core CPU (R=32, the benchmark config);
read back from the cache it takes seconds, so every resume, rerun or second command on the
same networks starts at once. The entry points (``jaxgan``, ``python -m jaxgan.train``) turn
it on before anything compiles; library code never changes JAX's configuration.

Where: ``$JAX_COMPILATION_CACHE_DIR`` when set (JAX reads it itself), else
``$XDG_CACHE_HOME/jaxgan/xla`` (default ``~/.cache/jaxgan/xla``). ``JAXGAN_COMPILATION_CACHE=0``
turns it off. Entries are keyed by the program, the jax/jaxlib versions and the device, so
the cache never serves a stale program; delete the folder to reclaim the space.
"""
from __future__ import annotations

import os
from pathlib import Path

import jax

#: Set to 0 to run without the persistent cache.
ENV_SWITCH = "JAXGAN_COMPILATION_CACHE"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/jaxgan/xla`` (default ``~/.cache/jaxgan/xla``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jaxgan" / "xla"


def enable_persistent_cache() -> str | None:
    """Turn the cache on for this process (see the module docstring).

    Returns:
      The cache directory in use, or None (turned off, or the directory cannot be created:
      the command then simply compiles as usual).
    """
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return os.environ["JAX_COMPILATION_CACHE_DIR"]
    path = default_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(path, os.W_OK):
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    return str(path)
