"""Shared test helpers. Tests run on CPU with tiny networks."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "official"
OUTPUT_KEYS = {"z", "ws", "img", "img_unfused", "ws_psi07", "img_psi07", "logits", "meta"}


def load_fixture(name: str):
    """Return ``(state_dict, io, meta)`` of an official fixture ``.npz``."""
    d = dict(np.load(FIXTURES / f"{name}.npz"))
    state = {k: v for k, v in d.items() if k not in OUTPUT_KEYS}
    io = {k: v for k, v in d.items() if k in OUTPUT_KEYS and k != "meta"}
    return state, io, json.loads(str(d["meta"]))


@pytest.fixture(autouse=True, scope="session")
def _cpu_only():
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    yield
