"""The layering contract (docs/architecture.md), checked on the source's import statements:

* layers, bottom up: support < ops < nets < model < capabilities < commands; no module
  imports a module of a higher layer, at module level or inside a function;
* the plain trainer (``jaxgan.training``) imports no trainer extension (``jaxgan.stylex``,
  ``jaxgan.domain``): they import it;
* the import graph between modules and between capability packages, function-level imports
  included, has no cycle (so no function-level import hides one);
* below the commands, a function-level import is only of a third-party module on
  :data:`LAZY_ALLOWED` (an optional or slow dependency, with the reason); the commands import
  their runners lazily so ``jaxgan --help`` stays fast.

The checker reads files as text (``ast``), imports nothing, and is tested on synthetic
modules that break each rule.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Folders of the repository that install as ``jaxgan.<name>`` (setup.py): entry points.
MAPPED = {"configs": "jaxgan.configs", "train": "jaxgan.train", "eval": "jaxgan.eval"}

SUPPORT = ("jaxgan.errors", "jaxgan.outputs", "jaxgan.progress", "jaxgan.assets", "jaxgan._checkout")
#: Entry points: the CLI, its commands, the main job (it runs the commands in sequence) and the
#: mapped folders; they import their runners inside functions so that ``--help`` stays fast.
COMMANDS = ("jaxgan.cli", "jaxgan.commands", "jaxgan.demo", "jaxgan.configs", "jaxgan.train",
            "jaxgan.eval")
LAYERS = ("support", "ops", "nets", "model", "capabilities", "commands")

#: ``(importer package, imported package)`` pairs that are forbidden although the layers allow them.
FORBIDDEN = (("jaxgan.training", "jaxgan.stylex"), ("jaxgan.training", "jaxgan.domain"))

#: Third-party modules a library function may import lazily, and why.
LAZY_ALLOWED = {
    "matplotlib": "plots only; importing it costs seconds and a font cache",
    "tensorboardX": "optional: TensorBoard events are written only when it is installed",
    "selenium": "optional: browser screenshots of the explorer",
    "safetensors": "optional: only the converters of .safetensors files need it",
    "sklearn": "only GANSpace/InterFaceGAN fits need it (slow import)",
    "scipy": "only a few statistics need it (slow import)",
    "webbrowser": "only `jaxgan explore --open` opens a browser",
    "torch": "never installed with jaxgan: only reading a torch pickle may use it if present",
}


#: Modules whose function-level imports are still to be hoisted, and why they wait.
PENDING: dict[str, str] = {}


class Import(NamedTuple):
    importer: str      # module name
    imported: str      # module name (a jaxgan module, or a top-level third-party name)
    line: int
    lazy: bool         # inside a function


def module_name(path: Path, root: Path = ROOT) -> str:
    """``jaxgan.x.y`` of a file under ``root`` (mapped folders included)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[0] in MAPPED:
        parts = MAPPED[parts[0]].split(".") + parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(importer: str, is_pkg: bool, node, known: set[str]) -> list[str]:
    """Module names imported by one ``import`` / ``from ... import`` node."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        pkg = importer.split(".")
        pkg = pkg if is_pkg else pkg[:-1]
        pkg = pkg[:len(pkg) - (node.level - 1)]
        base = ".".join(pkg + ([base] if base else []))
    out = []
    for a in node.names:             # `from pkg import submodule` imports the submodule
        sub = f"{base}.{a.name}"
        out.append(sub if sub in known else base)
    return out


def collect(files: dict[str, str], packages: set[str]) -> list[Import]:
    """Every import of ``files`` (``{module name: source}``); ``packages`` are the names
    that are packages (``__init__``)."""
    known = set(files)
    out = []
    for name, src in files.items():
        tree = ast.parse(src)
        parents = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            p, lazy = parents.get(node), False
            while p is not None:
                if isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    lazy = True
                    break
                p = parents.get(p)
            for mod in _resolve(name, name in packages, node, known):
                if not mod.startswith("jaxgan"):
                    mod = mod.split(".")[0]
                out.append(Import(name, mod, node.lineno, lazy))
    return out


def layer(mod: str) -> int:
    """Index in :data:`LAYERS` of a jaxgan module."""
    def under(prefixes):
        return any(mod == p or mod.startswith(p + ".") for p in prefixes)
    if under(SUPPORT):
        return 0
    if under(("jaxgan.ops",)):
        return 1
    if under(("jaxgan.nets",)):
        return 2
    if mod in ("jaxgan", "jaxgan.model"):
        return 3
    if under(COMMANDS):
        return 5
    return 4


def package(mod: str) -> str:
    """The capability a module belongs to (``jaxgan.<first part>``)."""
    return ".".join(mod.split(".")[:2])


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of a directed graph, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def violations(imports: list[Import]) -> list[str]:
    """Every breach of the contract (module docstring), one line each."""
    bad = []
    internal = [i for i in imports if i.imported.startswith("jaxgan")]
    for i in internal:
        a, b = layer(i.importer), layer(i.imported)
        if b > a:
            bad.append(f"{i.importer}:{i.line}: imports {i.imported} ({LAYERS[a]} -> {LAYERS[b]})")
        for low, high in FORBIDDEN:
            if package(i.importer) == low and package(i.imported) == high:
                bad.append(f"{i.importer}:{i.line}: imports {i.imported} ({high} extends {low})")
        if i.lazy and a < 5 and i.importer not in PENDING:
            bad.append(f"{i.importer}:{i.line}: function-level import of {i.imported} "
                       "(import it at the top of the module)")
    for i in imports:
        if i.lazy and layer(i.importer) < 5 and not i.imported.startswith("jaxgan") \
                and i.imported not in LAZY_ALLOWED and i.importer not in PENDING:
            bad.append(f"{i.importer}:{i.line}: function-level import of {i.imported} "
                       "(not an optional/slow dependency of LAZY_ALLOWED)")
    modules: dict[str, set[str]] = {}
    packages: dict[str, set[str]] = {}
    for i in internal:     # importing a.b.c from outside a.b first runs a.b's __init__
        parts = i.imported.split(".")
        for k in range(2, len(parts)):
            pkg = ".".join(parts[:k])
            if not (i.importer == pkg or i.importer.startswith(pkg + ".")):
                modules.setdefault(i.importer, set()).add(pkg)
    for i in internal:
        if i.importer != i.imported:
            modules.setdefault(i.importer, set()).add(i.imported)
        if layer(i.importer) == layer(i.imported) == 4 and package(i.importer) != package(i.imported):
            packages.setdefault(package(i.importer), set()).add(package(i.imported))
    for what, graph in (("modules", modules), ("capability packages", packages)):
        cyc = _cycle(graph)
        if cyc:
            bad.append(f"import cycle between {what}: {' -> '.join(cyc)}")
    return bad


def repo_files() -> tuple[dict[str, str], set[str]]:
    files, pkgs = {}, set()
    for top in ("jaxgan", *MAPPED):
        for path in sorted((ROOT / top).rglob("*.py")):
            name = module_name(path)
            files[name] = path.read_text()
            if path.name == "__init__.py":
                pkgs.add(name)
    return files, pkgs


def test_the_source_keeps_the_layering_contract():
    files, pkgs = repo_files()
    assert "jaxgan.training.loop" in files and "jaxgan.configs.base" in files
    bad = violations(collect(files, pkgs))
    assert not bad, "\n".join(bad)


def _check(**modules) -> list[str]:
    """The contract's verdict on synthetic modules (``name__sub='source'``)."""
    files = {k.replace("__", "."): v for k, v in modules.items()}
    return violations(collect(files, {k for k in files if k.count(".") < 2}))


@pytest.mark.parametrize("modules,want", [
    ({"jaxgan__nets__gen": "from jaxgan.training import loop\n",
      "jaxgan__training__loop": ""}, "nets -> capabilities"),
    ({"jaxgan__ops__conv": "def f():\n    from jaxgan import model\n", "jaxgan__model": ""},
     "ops -> model"),
    ({"jaxgan__metrics__hook": "from jaxgan.commands.metrics import NETS\n",
      "jaxgan__commands__metrics": ""}, "capabilities -> commands"),
    ({"jaxgan__training__step": "from jaxgan.stylex import losses\n",
      "jaxgan__stylex__losses": ""}, "stylex extends jaxgan.training"),
    ({"jaxgan__stylex__losses": "def f():\n    from jaxgan.training.losses import run_D\n",
      "jaxgan__training__losses": ""}, "function-level import of jaxgan.training.losses"),
    ({"jaxgan__viz__plot": "def f():\n    import numpy as np\n"}, "function-level import of numpy"),
    ({"jaxgan__invert__a": "from jaxgan.dissect import b\n",
      "jaxgan__dissect__b": "from jaxgan.invert import a\n"}, "import cycle between modules"),
    ({"jaxgan__invert__a": "from jaxgan.dissect import b\n", "jaxgan__dissect__b": "",
      "jaxgan__dissect__c": "from jaxgan.invert import x\n", "jaxgan__invert__x": ""},
     "import cycle between capability packages"),
])
def test_the_checker_catches_each_breach(modules, want):
    bad = _check(**modules)
    assert any(want in b for b in bad), bad


def test_the_checker_accepts_a_layered_program():
    assert _check(jaxgan__ops__conv="import numpy as np\n",
                  jaxgan__nets__gen="from jaxgan.ops import conv\n",
                  jaxgan__model="from jaxgan.nets import gen\n",
                  jaxgan__training__loop="from jaxgan import model\n",
                  jaxgan__stylex__trainer="from jaxgan.training import loop\n"
                                          "def plot():\n    import matplotlib\n",
                  jaxgan__commands__train="def run():\n    from jaxgan.training import loop\n",
                  jaxgan__cli="from jaxgan.commands import train\n") == []


def test_the_trainer_names_no_extension():
    """The plain trainer's code and docs do not mention its extensions (they plug in through
    :mod:`jaxgan.training.extension`)."""
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in sorted((ROOT / "jaxgan" / "training").rglob("*.py"))
            for n, line in enumerate(p.read_text().splitlines(), 1)
            if any(w in line.lower() for w in ("stylex", "domain"))]
    assert not hits, hits
