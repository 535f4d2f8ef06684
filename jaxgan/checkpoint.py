"""Save and load a network (architecture + variables) as one directory.

Layout of a checkpoint directory::

    <path>/arch.json     the config (``GeneratorConfig`` / ``DiscriminatorConfig`` /
                         ``EncoderConfig``) as written by its ``to_json``
    <path>/variables/    the variables ``{'params': ..., 'buffers': ...}`` (orbax PyTree)
    <path>/classes.json  optional, conditional generators: ``{"class_names": [...]}``, the
                         name of each class index (from the training dataset)

The save is atomic: everything is written into a sibling ``<path>.tmp-XXXX`` directory
which is renamed into place only once complete, so an interrupted save leaves no
half-written checkpoint at ``<path>``.

A directory written by :func:`jaxgan.convert.convert` from a multi-network source holds
one checkpoint per network in ``G/``, ``D/`` and ``G_ema/``; :func:`load_network` given
such a directory (and no ``net``) picks ``G_ema``, else ``G``.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import assets, model
from jaxgan.errors import OutputExistsError, WrongKindError, one_line, quiet_abandoned_reads
from jaxgan.nets.configs import (DiscriminatorConfig, EncoderConfig, GeneratorConfig,
                                 config_from_json)
import orbax.checkpoint as ocp
from jaxgan.nets.generator import Generator
from jaxgan.nets.discriminator import Discriminator
from jaxgan.nets.encoder import Encoder

ARCH_FILE = "arch.json"
CLASSES_FILE = "classes.json"
VARIABLES_DIR = "variables"
NET_PREFERENCE = ("G_ema", "G")
NET_NAMES = ("G", "D", "G_ema")


class CheckpointError(ValueError):
    """A checkpoint directory is missing, malformed, or does not fit its architecture."""


# ----------------------------------------------------------------------------- modules

def module_from_config(cfg):
    """Build the Flax module for a config.

    Args:
      cfg: a ``GeneratorConfig``, ``DiscriminatorConfig`` or ``EncoderConfig``.

    Returns:
      ``Generator``, ``Discriminator`` or ``Encoder`` built from ``cfg``.
    """
    if isinstance(cfg, GeneratorConfig):
        return Generator(cfg)
    if isinstance(cfg, DiscriminatorConfig):
        return Discriminator(cfg)
    if isinstance(cfg, EncoderConfig):
        return Encoder(cfg)
    raise WrongKindError(f"not a jaxgan network config: {type(cfg).__name__}")


def _config_of(module_or_cfg):
    cfg = getattr(module_or_cfg, "cfg", module_or_cfg)
    if not isinstance(cfg, (GeneratorConfig, DiscriminatorConfig, EncoderConfig)):
        raise TypeError("save_network: expected a jaxgan module or config, got "
                        f"{type(module_or_cfg).__name__}")
    return cfg


# ----------------------------------------------------------------------------- save

def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save_variables(directory: Path, variables) -> None:
    """Write ``variables`` (as float NumPy arrays) with orbax into ``directory``."""
    tree = jax.tree.map(np.asarray, jax.device_get(dict(variables)))
    with _local_checkpointer() as ckptr:
        ckptr.save(directory.absolute(), tree)


def _local_checkpointer():
    """An orbax checkpointer private to this process.

    Network files are host-local artefacts written by one process (process 0 of a
    multi-process run) or read independently by each: orbax's default cross-process
    barriers would wait forever for processes that never call it.
    """
    me = jax.process_index()
    mp = ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me})
    return ocp.Checkpointer(ocp.PyTreeCheckpointHandler(multiprocessing_options=mp),
                            multiprocessing_options=mp)


def save_network(path, module_or_cfg, variables, overwrite: bool = False,
                 companions: tuple[str, ...] = (), class_names=None) -> Path:
    """Write a network checkpoint directory (``arch.json`` + ``variables/``) atomically.

    Args:
      path: the checkpoint directory to create.
      module_or_cfg: the network (``Generator``/``Discriminator``/``Encoder``) or its config.
      variables: its variables pytree (``{'params': ..., 'buffers': ...}``).
      overwrite: replace an existing ``path``; otherwise an existing path is an error.
      companions: names of files the caller writes next to the checkpoint (e.g.
        ``metrics.json``) that ``overwrite`` may replace with it.
      class_names: optional name of each class (a conditional network: ``c_dim`` names),
        written to ``classes.json`` (:func:`load_class_names`).

    Returns:
      ``path`` as a :class:`~pathlib.Path`.

    Raises:
      FileExistsError: ``path`` exists and ``overwrite`` is False, or ``path`` holds
        anything besides a network checkpoint (``overwrite`` replaces only checkpoints,
        never a directory with other files in it).
      ValueError: ``class_names`` does not hold one unique name per class.
    """
    path = Path(path)
    cfg = _config_of(module_or_cfg)
    names = _check_class_names(class_names, getattr(cfg, "c_dim", 0))
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass overwrite=True (--overwrite) "
                                "to replace it")
    if path.exists():
        other = sorted(p.name for p in path.iterdir()) if path.is_dir() else [path.name]
        other = [n for n in other if n not in (ARCH_FILE, VARIABLES_DIR, CLASSES_FILE, *companions)]
        if other:
            raise OutputExistsError(
                f"{path} holds files that are not part of a network checkpoint "
                f"({', '.join(other[:5])}{' ...' if len(other) > 5 else ''}); refusing to "
                "replace it: move them away or write elsewhere")
    def fill(tmp: Path) -> None:
        _write_text_atomic(tmp / ARCH_FILE, cfg.to_json() + "\n")
        _save_variables(tmp / VARIABLES_DIR, variables)
        if names:
            _write_text_atomic(tmp / CLASSES_FILE, json.dumps({"class_names": names}) + "\n")

    return write_dir_atomic(path, fill)


def _check_class_names(names, c_dim: int) -> list[str]:
    """``names`` as a list of str (empty for None); one unique name per class."""
    if not names:
        return []
    names = [str(n) for n in names]
    if len(names) != c_dim or len(set(names)) != len(names):
        raise ValueError(f"class_names: need {c_dim} unique names (c_dim={c_dim}), got {names}")
    return names


def load_class_names(path, net: str | None = None) -> list[str]:
    """The class names saved with a conditional network (``classes.json``; see
    :func:`save_network`); an empty list when there are none.

    Args:
      path, net: as :func:`load_network`.
    """
    f = resolve_checkpoint(path, net) / CLASSES_FILE
    if not f.is_file():
        return []
    try:
        return [str(n) for n in json.loads(f.read_text())["class_names"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{f} is not a valid class-name file: {e}") from None


def resolve_class(spec, class_names, c_dim: int, flag: str = "class") -> int:
    """A class given by name or index -> its index.

    Args:
      spec: a class name (one of ``class_names``) or an index (int, or a string of digits
        that is not itself a class name).
      class_names: the network's class names (may be empty).
      c_dim: the number of classes.
      flag: how messages name the class argument (e.g. ``'--class'``).

    Raises:
      ValueError: unknown name, or index out of ``[0, c_dim)`` (the message lists the names).
    """
    names = list(class_names or [])
    known = f"; classes: {', '.join(names)}" if names else ""
    if isinstance(spec, str) and spec in names:
        return names.index(spec)
    try:
        idx = int(spec)
    except (TypeError, ValueError):
        raise ValueError(f"{flag} {spec!r}: unknown class"
                         f"{known or ' (the network has no class names)'}") from None
    if not 0 <= idx < c_dim:
        raise ValueError(f"{flag} {idx} out of range [0, {c_dim}){known}")
    return idx


def write_dir_atomic(path, fill) -> Path:
    """Create directory ``path`` atomically: ``fill(tmp)`` writes into a sibling temporary
    directory, which then replaces ``path`` (an existing ``path`` is swapped out only once
    the new one is complete; on any error nothing at ``path`` changes).

    Returns:
      ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=path.name + ".tmp-", dir=path.parent))
    try:
        tmp.chmod(0o755)                                   # mkdtemp makes it owner-only
        fill(tmp)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=path.name + ".old-", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


# ----------------------------------------------------------------------------- load

def _paths(tree) -> dict[str, Any]:
    """``'params/mapping/fc0/weight' -> leaf`` for every leaf of a nested dict tree."""
    out = {}
    for kp, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        out["/".join(str(getattr(k, "key", k)) for k in kp)] = leaf
    return out


def _kind_fits(cfg, net: str) -> bool:
    """Whether a single checkpoint of config ``cfg`` can stand for network ``net``."""
    if net in ("G", "G_ema"):
        return isinstance(cfg, GeneratorConfig)
    if net == "D":
        return isinstance(cfg, DiscriminatorConfig)
    return False


def resolve_checkpoint(path, net: str | None = None) -> Path:
    """The checkpoint directory (holding ``arch.json``) that ``path`` / ``net`` designate.

    Args:
      path: a checkpoint directory, or a directory of per-network checkpoints
        (``G/``, ``D/``, ``G_ema/``) as written by ``jaxgan convert``, or ``builtin:NAME``
        (a network shipped in :mod:`jaxgan.assets`).
      net: pick this sub-checkpoint (``'G'``, ``'D'``, ``'G_ema'``); None picks ``path``
        itself if it holds ``arch.json``, else ``G_ema``, else ``G``.

    Returns:
      The directory holding ``arch.json``.

    Raises:
      CheckpointError: nothing suitable is there (the message says what was expected).
    """
    path = Path(assets.resolve(path))
    if path.exists() and not path.is_dir():
        raise CheckpointError(f"{path} is a file, not a checkpoint directory (expected a "
                              f"directory with {ARCH_FILE} and {VARIABLES_DIR}/)")
    if not path.is_dir():
        raise CheckpointError(f"checkpoint directory {path} does not exist (expected a "
                              f"directory with {ARCH_FILE} and {VARIABLES_DIR}/, as written by "
                              "`jaxgan convert` or jaxgan.checkpoint.save_network)")
    subs = [n for n in NET_NAMES if (path / n / ARCH_FILE).is_file()]
    if net is not None:
        if (path / net / ARCH_FILE).is_file():
            return path / net
        if (path / ARCH_FILE).is_file() and _kind_fits(load_config(path), net):
            return path
        raise CheckpointError(f"{path} holds no network {net!r} (no {path / net / ARCH_FILE}); "
                              f"available: {subs or 'none'}")
    if (path / ARCH_FILE).is_file():
        return path
    for n in NET_PREFERENCE:
        if n in subs:
            return path / n
    hint = f"; it holds {subs}: pass net=... (--net)" if subs else ""
    raise CheckpointError(f"{path} is not a jaxgan checkpoint: no {ARCH_FILE} and no "
                          f"{'/'.join(NET_PREFERENCE)} sub-checkpoint{hint}")


def load_config(path):
    """Read and validate the ``arch.json`` of checkpoint directory ``path``."""
    arch = Path(path) / ARCH_FILE
    try:
        text = arch.read_text()
    except OSError as e:
        raise CheckpointError(f"cannot read {arch}: {e.strerror or e}") from None
    try:
        return config_from_json(text)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{arch} is not valid JSON: {e}") from None
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{arch}: {e}") from None


def load_network(path, net: str | None = None):
    """Load a network written by :func:`save_network` or ``jaxgan convert``.

    Args:
      path: a checkpoint directory, or a directory of ``G/``, ``D/``, ``G_ema/``
        checkpoints (see :func:`resolve_checkpoint` for which one is picked).
      net: which sub-checkpoint to load; None picks ``G_ema``, then ``G``.

    Returns:
      ``(module, variables)``: the Flax module built from ``arch.json`` and its variables
      as jax arrays, with exactly the structure of ``jaxgan.model.variables_shape(module)``.

    Raises:
      CheckpointError: missing directory/``arch.json``, bad ``arch.json``, or variables
        that do not fit the architecture (naming the keys and shapes).
    """
    ckpt = resolve_checkpoint(path, net)
    cfg = load_config(ckpt)
    if not isinstance(cfg, (GeneratorConfig, DiscriminatorConfig, EncoderConfig)):
        raise WrongKindError(f"{ckpt} holds a {type(cfg).__name__} network (e.g. a classifier "
                             "or segmenter), not a generator, discriminator or encoder")
    module = module_from_config(cfg)
    target = model.variables_shape(module)
    vdir = (ckpt / VARIABLES_DIR).absolute()
    if not vdir.is_dir():
        raise CheckpointError(f"{ckpt} has {ARCH_FILE} but no {VARIABLES_DIR}/ directory")
    try:
        with _local_checkpointer() as ckptr:
            stored = _paths(ckptr.metadata(vdir).item_metadata.tree)
    except Exception as e:  # noqa: BLE001 - orbax raises many types for unreadable dirs
        raise CheckpointError(f"cannot read variables in {vdir}: {e}") from None
    want = _paths(target)
    problems = []
    missing = sorted(set(want) - set(stored))
    unexpected = sorted(set(stored) - set(want))
    if missing:
        problems.append(f"missing: {missing}")
    if unexpected:
        problems.append(f"unexpected: {unexpected}")
    for k in sorted(set(want) & set(stored)):
        ws, ss = tuple(want[k].shape), tuple(stored[k].shape)
        if ws != ss:
            problems.append(f"{k}: stored shape {ss}, architecture expects {ws}")
        elif np.dtype(stored[k].dtype) != np.dtype(want[k].dtype):
            problems.append(f"{k}: stored dtype {stored[k].dtype}, expected {want[k].dtype}")
    if problems:
        raise CheckpointError(f"variables in {vdir} do not fit {ckpt / ARCH_FILE}: "
                              + "; ".join(problems))
    quiet_abandoned_reads()     # a damaged array: the other reads finish after the loop closed
    try:
        with _local_checkpointer() as ckptr:
            restored = ckptr.restore(vdir)
    except Exception as e:  # noqa: BLE001 - truncated or zeroed array data
        raise CheckpointError(f"cannot read variables in {vdir} (damaged?): "
                              f"{one_line(e)[:300]}") from None
    flat = _paths(restored)
    leaves = [jnp.asarray(flat[k]) for k in want]
    variables = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(target), leaves)
    return module, variables
