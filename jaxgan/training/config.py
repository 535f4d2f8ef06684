"""Experiment configs: ``configs/*.py`` presets (installed as ``jaxgan.configs``) returning an ``ml_collections.ConfigDict``,
overridable from the command line (``key.sub=value``); unknown keys are an error."""
from __future__ import annotations

import ast
import importlib
import importlib.util
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
    cfg.lock()
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
