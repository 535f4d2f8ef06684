"""Package layout (everything else is in pyproject.toml).

Only ``jaxgan`` installs at the top level. The repository's ``configs/``, ``train/`` and
``eval/`` folders install as ``jaxgan.configs`` (presets), ``jaxgan.train`` and ``jaxgan.eval``
(``python -m jaxgan.train``); the built-in networks under ``jaxgan/assets/`` are package data.
"""
from setuptools import find_packages, setup

FOLDERS = {"jaxgan.configs": "configs", "jaxgan.train": "train", "jaxgan.eval": "eval"}

setup(
    packages=find_packages(include=["jaxgan", "jaxgan.*"]) + list(FOLDERS),
    package_dir=FOLDERS,
    package_data={"jaxgan.assets": ["manifest.json", "**/*"]},
    exclude_package_data={"": ["__pycache__/*", "*.pyc"]},
    include_package_data=False,
)
