"""Shared test helpers. Tests run on CPU with tiny networks."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

# Test-speed settings, made before jax is imported by any test module (never in the
# library): a persistent compilation cache shared by every test and subprocess of the
# run, so identical programs (e.g. a training run and its resumption) compile once.
_CACHE = Path(__file__).resolve().parent.parent / ".pytest_cache" / "jax-compilation-cache"
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(_CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# On an accelerator (JAX_PLATFORMS=cuda), float32 convolutions default to TF32 on NVIDIA GPUs:
# measured on an H100, 26 of the 99 op/parity tests then miss their 1e-4 float32 budget by
# ~2e-3. The tests check float32 arithmetic, so they ask for it (CPU is float32 already).
if os.environ["JAX_PLATFORMS"] != "cpu":
    os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")

FIXTURES = Path(__file__).parent / "fixtures" / "official"
OUTPUT_KEYS = {"z", "ws", "img", "img_unfused", "ws_psi07", "img_psi07", "logits", "meta"}


def load_fixture(name: str):
    """Return ``(state_dict, io, meta)`` of an official fixture ``.npz``."""
    d = dict(np.load(FIXTURES / f"{name}.npz"))
    state = {k: v for k, v in d.items() if k not in OUTPUT_KEYS}
    io = {k: v for k, v in d.items() if k in OUTPUT_KEYS and k != "meta"}
    return state, io, json.loads(str(d["meta"]))


def xla_flags_with_devices(n: int) -> str:
    """``XLA_FLAGS`` for a subprocess with ``n`` fake CPU devices, keeping this run's flags."""
    return (os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={n}").strip()


def pytest_configure(config):
    """The default run (``-m 'not slow'``) is dominated by XLA compilation of tiny programs:
    skip LLVM's optimisation passes there (HLO-level passes still run). Measured: ~30% less
    compile time on 2 cores. The compiled code is slower, so runs that select the ``slow``
    checks (real training and fitting) keep the default. Set before any test imports jax;
    subprocesses inherit it, and tests that force a device count append to it."""
    if "not slow" in (config.getoption("markexpr") or "") and \
            "--xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                   + " --xla_backend_optimization_level=0").strip()
