"""The package's layers (docs/ARCHITECTURE.md): imports go down or sideways, never up, never in a circle.

Every module of ``marlin_lite`` sits in one layer of ``LAYERS``. The test reads every import
statement (at module top *and* inside functions: an import hidden in a function still ties two
modules together) and fails when one points to a higher layer, when the modules import each
other in a cycle, when a module is missing from ``LAYERS``, or when a module imports another
package module inside a function without the one reason this project accepts: keeping PyAV off
the import path of code that does not decode video (the pretraining path runs on GPU machines
where ``av`` may be missing). Importing ``marlin_lite.x.y`` also runs ``marlin_lite/x/__init__.py``,
and the test counts that too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "marlin_lite"

#: Lowest first. A module may import its own layer or the ones below.
LAYERS: dict[str, tuple[str, ...]] = {
    "base": ("marlin_lite", "marlin_lite.utils", "marlin_lite.labels"),
    "data": (
        "marlin_lite.video", "marlin_lite.audio", "marlin_lite.synthface", "marlin_lite.faces",
        "marlin_lite.preprocess", "marlin_lite.data", "marlin_lite.clipstore", "marlin_lite.samples",
        "marlin_lite.datasets", "marlin_lite.datasets.*",
    ),
    "core": (
        "marlin_lite.masking", "marlin_lite.model", "marlin_lite.official", "marlin_lite.runs", "marlin_lite.pretrain", "marlin_lite.course_weights",
        "marlin_lite.encoders", "marlin_lite.features", "marlin_lite.recon",
    ),
    "tasks": ("marlin_lite.tasks", "marlin_lite.tasks.*"),
    "apps": (
        "marlin_lite.transfer", "marlin_lite.transfer.*", "marlin_lite.experiments", "marlin_lite.diagnose", "marlin_lite.lr_check",
        "marlin_lite.replicate", "marlin_lite.scaled", "marlin_lite.scaled.*", "marlin_lite.course", "marlin_lite.site", "marlin_lite.viz",
    ),
}
#: Third-party modules whose import a function may defer (optional extras and heavy UI pieces).
LAZY_OK_REASON = "keeps PyAV (video decoding) off the import path"


def module_names(package: Path) -> dict[str, Path]:
    """``{"marlin_lite.x.y": path}`` for every ``.py`` under ``package`` (``__init__`` as the package)."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imports_of(name: str, path: Path, known: set[str]) -> list[tuple[str, str, int, bool]]:
    """``(importer, imported module, line, at_top)`` for each package import in ``path``.

    ``from marlin_lite.x import y`` counts as importing ``marlin_lite.x.y`` when that is a module,
    else ``marlin_lite.x``; relative imports are resolved. ``at_top`` is False inside a def/class."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nested = {id(n) for top in tree.body if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
              for n in ast.walk(top)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
        else:
            continue
        for target in dict.fromkeys(targets):
            if target in known and target != name:
                found.append((name, target, node.lineno, id(node) not in nested))
    return found


def layer_of(name: str) -> int:
    for rank, members in enumerate(LAYERS.values()):
        for pattern in members:
            if name == pattern or (pattern.endswith(".*") and name.startswith(pattern[:-1])):
                return rank
    raise KeyError(name)


def with_parents(name: str) -> list[str]:
    """The modules that importing ``name`` runs: each enclosing package, then ``name``."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph ``edges`` as a list of nodes (first repeated last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def av_at_import(modules: dict[str, Path], edges_top: dict[str, set[str]]) -> set[str]:
    """The package modules whose import (parents' ``__init__`` included) imports ``av``."""
    direct = set()
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        for node in tree.body:
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            if any(m == "av" or m.startswith("av.") for m in mods):
                direct.add(name)
    def imports_av(name: str) -> bool:
        todo, seen = [name], set()
        while todo:  # every module that importing `name` runs: parents' __init__ and top-level imports
            current = todo.pop()
            for module in with_parents(current):
                if module in modules and module not in seen:
                    seen.add(module)
                    todo.extend(edges_top.get(module, ()))
        return bool(seen & direct)

    return {m for m in modules if imports_av(m)}


@pytest.fixture(scope="module")
def graph():
    modules = module_names(PACKAGE)
    found = [edge for name, path in modules.items() for edge in imports_of(name, path, set(modules))]
    return modules, found


def test_every_module_has_a_layer(graph):
    modules, _ = graph
    missing = []
    for name in modules:
        try:
            layer_of(name)
        except KeyError:
            missing.append(name)
    assert not missing, f"modules without a layer (add them to LAYERS here and to docs/ARCHITECTURE.md): {missing}"


def test_imports_never_go_up(graph):
    _, found = graph
    names = list(LAYERS)
    upward = [f"{a}:{line} imports {b} ({names[layer_of(a)]} -> {names[layer_of(b)]})"
              for a, b, line, _ in found if layer_of(b) > layer_of(a)]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycles(graph):
    _, found = graph
    edges: dict[str, set[str]] = {}
    for a, b, _, _ in found:
        if not b.startswith(a + "."):  # a package importing its own submodules (its __init__) is not a cycle
            edges.setdefault(a, set()).add(b)
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_package_imports_are_at_module_top(graph):
    modules, found = graph
    top: dict[str, set[str]] = {}
    for a, b, _, at_top in found:
        if at_top:
            top.setdefault(a, set()).add(b)
    with_av = av_at_import(modules, top)
    # the pretraining path (the scaled package and its pretraining half import everything they need at the top) stays free of PyAV
    assert "marlin_lite.video" in with_av, sorted(with_av)
    pretraining_path = {"marlin_lite.pretrain", "marlin_lite.scaled", "marlin_lite.scaled.pretraining", "marlin_lite.scaled.pretrain_data",
                        "marlin_lite.scaled.cli",
                        "marlin_lite.encoders"}
    assert not pretraining_path & with_av, sorted(pretraining_path & with_av)
    hidden = [f"{a}:{line} imports {b} inside a function" for a, b, line, at_top in found
              if not at_top and not (b in with_av and a not in with_av)]
    assert not hidden, f"move these imports to the module top (the one accepted reason to defer one: it {LAZY_OK_REASON}):\n" + "\n".join(hidden)


def test_the_checks_can_fail():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}}) is None
    assert layer_of("marlin_lite.tasks.far") > layer_of("marlin_lite.features") > layer_of("marlin_lite.video")
    with pytest.raises(KeyError):
        layer_of("marlin_lite.not_placed")


def test_architecture_page_names_real_modules_and_functions():
    """docs/ARCHITECTURE.md's lesson table says ``module``: ``name``; each must exist."""
    import importlib
    import re

    text = (PACKAGE.parent / "docs" / "ARCHITECTURE.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| lesson")]
    checked, wrong = 0, []
    for row in rows:
        for part in row.split("|")[3].split(";"):
            match = re.match(r"\s*`([\w.]+)`(?::\s*(.*))?", part)
            assert match, f"ARCHITECTURE.md: cannot read {part!r} (write `module`: `name`, ...)"
            module = importlib.import_module(f"marlin_lite.{match.group(1)}")
            layer_of(module.__name__)
            for name in re.findall(r"`(\w+)`", match.group(2) or ""):
                checked += 1
                if not hasattr(module, name):
                    wrong.append(f"{module.__name__}.{name}")
    assert checked > 20 and not wrong, f"ARCHITECTURE.md names what does not exist: {wrong}"
