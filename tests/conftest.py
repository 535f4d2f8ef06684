"""Shared test helpers. Tests run on CPU with tiny networks."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

# Test-speed settings, made before jax is imported by any test module (never in the
# library): a persistent compilation cache shared by every test and subprocess of the
# run, so identical programs (e.g. a training run and its resumption) compile once.
_CACHE = Path(__file__).resolve().parent.parent / ".pytest_cache" / "jax-compilation-cache"
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(_CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

FIXTURES = Path(__file__).parent / "fixtures" / "official"
OUTPUT_KEYS = {"z", "ws", "img", "img_unfused", "ws_psi07", "img_psi07", "logits", "meta"}


def load_fixture(name: str):
    """Return ``(state_dict, io, meta)`` of an official fixture ``.npz``."""
    d = dict(np.load(FIXTURES / f"{name}.npz"))
    state = {k: v for k, v in d.items() if k not in OUTPUT_KEYS}
    io = {k: v for k, v in d.items() if k in OUTPUT_KEYS and k != "meta"}
    return state, io, json.loads(str(d["meta"]))
