"""The commands' persistent XLA compilation cache (jaxgan.xla_cache), in subprocesses so this
test run's own JAX configuration is untouched."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("JAX_COMPILATION_CACHE_DIR", "JAXGAN_COMPILATION_CACHE")}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=str(ROOT), **extra)
    return env


def _enable(env):
    code = ("import jax; from jaxgan.xla_cache import enable_persistent_cache as e; "
            "print(e()); print(jax.config.jax_compilation_cache_dir)")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_default_location_switch_and_users_own_directory(tmp_path):
    want = str(tmp_path / "cache" / "jaxgan" / "xla")
    assert _enable(_env(tmp_path)) == [want, want]
    assert Path(want).is_dir()
    assert _enable(_env(tmp_path, JAXGAN_COMPILATION_CACHE="0")) == ["None", "None"]
    own = str(tmp_path / "mine")                 # JAX reads its own variable itself
    assert _enable(_env(tmp_path, JAX_COMPILATION_CACHE_DIR=own)) == [own, own]


def test_a_command_fills_the_cache(tmp_path):
    env = _env(tmp_path, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    r = subprocess.run([sys.executable, "-m", "jaxgan.cli", "generate", "--ckpt",
                        "builtin:G_shapes32_60k", "--seeds", "0-1", "--outdir",
                        str(tmp_path / "out")], env=env, capture_output=True, text=True,
                       timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    entries = list((tmp_path / "cache" / "jaxgan" / "xla").iterdir())
    assert entries, "no compiled program was cached"
