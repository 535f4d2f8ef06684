#!/usr/bin/env bash
# The wheel check: build jaxgan's wheel, install it into a fresh virtual environment and use it
# from an empty temporary directory, as a new user would (no checkout on sys.path).
#   .ci/wheel_check.sh            # PYTHON=python3.12 .ci/wheel_check.sh to pick the interpreter
# Checks: only `jaxgan` installs at the top level (no train/eval/configs modules); the built-in
# networks arrive intact (manifest digests); `jaxgan --help` and every subcommand's --help;
# `python -m jaxgan.train --help`; `jaxgan generate` from a built-in generator; `jaxgan demo --quick`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
step() { printf '\n== wheel check: %s (%ss)\n' "$*" "$SECONDS"; }

step "build"
"$py" -m pip wheel --no-deps -q -w "$work/dist" "$root"
whl=("$work"/dist/jaxgan-*.whl)
step "install ${whl[0]##*/} into a fresh venv"
"$py" -m venv "$work/venv"
"$work/venv/bin/pip" install -q "${whl[0]}"
vpy="$work/venv/bin/python"
jg="$work/venv/bin/jaxgan"
mkdir "$work/empty"
cd "$work/empty"
export JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}"

step "top-level modules and assets"
"$vpy" - <<'PY'
import importlib.metadata as md, importlib.util, pathlib, sys
dist = md.distribution("jaxgan")
parts = [pathlib.PurePosixPath(str(f)).parts for f in dist.files]
tops = sorted({p[0] for p in parts if p[0] != ".."} - {f"jaxgan-{dist.version}.dist-info"})   # '..': bin/jaxgan
assert tops == ["jaxgan"], f"the wheel installs top-level {tops}, expected only jaxgan"
for name in ("train", "eval", "configs"):
    spec = importlib.util.find_spec(name)
    assert spec is None, f"a top-level {name!r} module is importable: {spec.origin}"
import jaxgan, jaxgan.configs, jaxgan.train, jaxgan.eval
from jaxgan import assets
root = pathlib.Path(jaxgan.__file__).parent
assert pathlib.Path(jaxgan.configs.__file__).parent == root / "configs", jaxgan.configs.__file__
bad = [n for n in assets.names() if assets.digest(assets.path(n)) != assets.manifest()[n]["sha256"]]
assert not bad, f"built-in networks differ from the manifest: {bad}"
print(f"ok: only jaxgan installed; {len(assets.names())} built-in networks intact under {root}")
PY

step "--help of jaxgan and of every subcommand"
"$jg" --help >/dev/null
"$vpy" -m jaxgan.train --help >/dev/null
"$vpy" -m jaxgan.train.classifier --help >/dev/null
"$vpy" - <<'PY'
# every subcommand (and sub-subcommand) through the installed CLI's entry point, one process
import argparse, contextlib, io
from jaxgan.cli import build_parser, main
def walk(parser, prefix):
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                yield [*prefix, name]
                yield from walk(sub, [*prefix, name])
cmds = list(walk(build_parser(), []))
for cmd in cmds:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main([*cmd, "--help"])
    assert code == 0 and buf.getvalue().startswith("usage: jaxgan " + cmd[0]), (cmd, code)
print(f"ok: {len(cmds)} subcommand --help pages")
PY

step "jaxgan generate from a built-in generator"
"$jg" generate --ckpt builtin:G_shapes32_60k --seeds 0-7 --outdir gen --grid
test "$(ls gen/seed*.png | wc -l)" = 8 && test -s gen/grid.png
echo "ok: 8 images and grid.png"

step "jaxgan demo --quick"
"$jg" demo --quick --out demo
test -s demo/explorer/index.html
echo "ok: demo/explorer/index.html"
step "passed"
