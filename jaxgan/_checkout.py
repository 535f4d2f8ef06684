"""Source checkouts: ``jaxgan.configs`` / ``jaxgan.train`` / ``jaxgan.eval`` from the top-level folders.

An installed jaxgan holds the presets and the training/evaluation scripts as the
sub-packages ``jaxgan.configs``, ``jaxgan.train`` and ``jaxgan.eval`` (``setup.py`` maps the
repository's ``configs/``, ``train/`` and ``eval/`` folders there), so nothing but ``jaxgan``
is installed at the top level. Running from a checkout without installing (``PYTHONPATH=.``),
those folders stay where the design puts them; this finder gives them the same names.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

#: Sub-package name -> folder of the repository root.
FOLDERS = {"jaxgan.configs": "configs", "jaxgan.train": "train", "jaxgan.eval": "eval"}


class CheckoutFinder(importlib.abc.MetaPathFinder):
    """Finds exactly the names in :data:`FOLDERS` under ``root`` (a repository root)."""

    def __init__(self, root: Path):
        self.root = root

    def find_spec(self, fullname, path=None, target=None):
        """The spec of ``root/<folder>`` as ``fullname``, or None for any other name."""
        if fullname not in FOLDERS:
            return None
        folder = self.root / FOLDERS[fullname]
        if not (folder / "__init__.py").is_file():
            return None
        return importlib.util.spec_from_file_location(
            fullname, folder / "__init__.py", submodule_search_locations=[str(folder)])


def install() -> None:
    """Add a :class:`CheckoutFinder` when this jaxgan runs from a source checkout (the package
    has no ``configs/`` of its own and its parent folder is the repository root)."""
    pkg = Path(__file__).resolve().parent
    root = pkg.parent
    if (pkg / "configs").is_dir() or not (root / "pyproject.toml").is_file():
        return
    if not any(isinstance(f, CheckoutFinder) for f in sys.meta_path):
        sys.meta_path.append(CheckoutFinder(root))
