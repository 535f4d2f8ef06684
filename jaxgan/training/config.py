"""Experiment configs: ``configs/*.py`` presets (installed as ``jaxgan.configs``) returning an ``ml_collections.ConfigDict``,
overridable from the command line (``key.sub=value``); unknown keys are an error."""
from __future__ import annotations

import ast
import importlib
import importlib.util
import logging
from pathlib import Path

import ml_collections


def load_config(name_or_path: str, overrides: list[str] | None = None) -> ml_collections.ConfigDict:
    """Load a preset by name (``shapes32`` -> ``jaxgan.configs.shapes32``, the repository's ``configs/shapes32.py``) or file path, apply
    ``key=value`` overrides, and lock it.

    Raises:
      FileNotFoundError: no such preset; ValueError: bad override (unknown key, bad value).
    """
    path = Path(name_or_path)
    if path.suffix == ".py" or path.exists():
        if not path.exists():
            raise FileNotFoundError(f"config file {path} does not exist")
        spec = importlib.util.spec_from_file_location(f"jaxgan_config_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(f"jaxgan.configs.{name_or_path}")
        except ModuleNotFoundError as e:
            raise FileNotFoundError(
                f"no preset {name_or_path!r}; available: {', '.join(available_presets())}") from e
    cfg = module.get_config()
    cfg = apply_overrides(cfg, overrides or [])
    given = {o.split("=", 1)[0].strip() for o in overrides or [] if "=" in o}
    cfg = resolve_data_source(cfg, given)
    cfg.lock()
    return cfg


#: data fields read by one source only: a value set for another source is never ignored.
_SOURCE_FIELDS = {"path": "folder", "tfds_name": "tfds"}


def resolve_data_source(cfg: ml_collections.ConfigDict, given: set[str] = frozenset()):
    """Make ``data.source`` agree with the data fields that were set.

    ``data.path`` is read by the 'folder' source only and ``data.tfds_name`` by 'tfds' only.
    When one is set and the preset's source is another, the source follows it (logged as a
    warning); when ``data.source`` was itself given (``given`` holds the override keys) and
    disagrees, that is an error: a user's data is never silently replaced by built-in data.

    Args:
      cfg: the (unlocked) config.
      given: the dotted keys set by overrides.

    Returns:
      ``cfg`` (modified in place).

    Raises:
      ValueError: a source-specific field set together with a different ``data.source``,
        or fields of two sources at once.
    """
    d = cfg.get("data")
    if d is None:
        return cfg
    wanted = {src: f for f, src in _SOURCE_FIELDS.items() if d.get(f)}
    if len(wanted) > 1:
        raise ValueError("data.path (folder) and data.tfds_name (tfds) are both set; set one")
    for src, field in wanted.items():
        if d.source == src:
            continue
        if "data.source" in given:
            raise ValueError(f"data.{field}={d[field]!r} is read only by data.source={src}, but "
                             f"data.source={d.source}: pass data.source={src} (or drop "
                             f"data.{field})")
        logging.getLogger("jaxgan").warning(
            "data.%s is set: using data.source=%s (the preset's data.source=%s is not used)",
            field, src, d.source)
        d.source = src
    return cfg


def available_presets() -> list[str]:
    """Returns: the names of the presets in ``jaxgan.configs`` (files with ``get_config()``)."""
    root = Path(importlib.import_module("jaxgan.configs").__file__).parent
    return sorted(p.stem for p in root.glob("*.py") if not p.stem.startswith("_") and
                  "def get_config()" in p.read_text())


def _parse(value: str):
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def apply_overrides(cfg: ml_collections.ConfigDict, overrides: list[str]) -> ml_collections.ConfigDict:
    """Apply ``a.b=value`` strings (values parsed as Python literals, else strings)."""
    cfg = ml_collections.ConfigDict(cfg.to_dict(), type_safe=False)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        node, parts = cfg, key.strip().split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, ml_collections.ConfigDict) or part not in node:
                where = ".".join(parts[:i]) or "<root>"
                valid = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
                raise ValueError(f"unknown config key {key!r} (no {part!r} under {where}; "
                                 f"valid: {valid})")
            if i < len(parts) - 1:
                node = node[part]
        old = node[parts[-1]]
        new = _parse(value.strip())
        if isinstance(old, ml_collections.ConfigDict):
            raise ValueError(f"config key {key!r} is a group; set one of its fields")
        if isinstance(old, float) and isinstance(new, int) and not isinstance(new, bool):
            new = float(new)
        if old is not None and new is not None and type(old) is not type(new) and not (
                isinstance(old, (list, tuple)) and isinstance(new, (list, tuple))):
            raise ValueError(f"config key {key!r} expects {type(old).__name__}, got {value!r}")
        node[parts[-1]] = new
    return cfg
