"""The import graph of ``engine/`` and ``gui/``: the engine never imports the app, no package imports in a circle,
and the parts of each import downward only, in the order written out here. Every import counts, also one inside a
function (a deferred import hides a circle, it does not remove it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.paths import REPO

PACKAGES = ("engine", "gui")


def module_files() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of PACKAGES (a package is its ``__init__.py``)."""
    modules = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_names(module: str, path: Path) -> set[str]:
    """Every dotted name an import statement anywhere in the file names: ``from a import b`` names ``a`` and
    ``a.b`` (b may be a submodule); relative imports are resolved against the module's package."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of PACKAGES it imports."""
    modules = module_files()
    return {module: {name for name in imported_names(module, path) if name in modules and name != module}
            for module, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root, imported in graph.items():
        if root in index:
            continue
        work = [(root, iter(sorted(imported)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def in_package(graph: dict[str, set[str]], package: str) -> dict[str, set[str]]:
    inside = {m for m in graph if m == package or m.startswith(package + ".")}
    return {m: graph[m] & inside for m in inside}


def test_the_graph_sees_imports_inside_functions_and_relative_imports():
    graph = import_graph()
    assert "gui.app" in graph["gui.launcher"]  # imported inside main(), only when the app is wanted
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_engine_imports_nothing_from_the_gui():
    graph = import_graph()
    assert [(m, n) for m in graph if m.startswith("engine") for n in graph[m] if n.startswith("gui")] == []


def test_the_engine_s_modules_import_each_other_in_no_circle():
    assert circles(in_package(import_graph(), "engine")) == []


def test_the_gui_s_modules_import_each_other_in_no_circle():
    assert circles(in_package(import_graph(), "gui")) == []


# The parts of each package from the top down: a part (a module or folder directly under the package) imports
# only from its own layer or the layers below it. A new part is placed here on purpose, where it belongs.
ENGINE_LAYERS = (
    ("engine.__main__",),
    ("engine.cli",),
    ("engine.commands", "engine.jobs"),
    ("engine", "engine.worker"),
    ("engine.language_model",),
    ("engine.quality", "engine.training"),
    ("engine.decoding",),
    ("engine.memory",),
    ("engine.loading",),
    ("engine.models", "engine.errors", "engine.owned_files", "engine.user_data", "engine.text_files",
     "engine.latency_stats", "engine.byte_sizes", "engine.collector"),
)
GUI_LAYERS = (
    ("gui.launcher",),
    ("gui", "gui.app"),
    ("gui.main_window",),
    ("gui.menus",),
    ("gui.preferences",),
    ("gui.controllers",),
    ("gui.dialogs",),
    ("gui.statusbar", "gui.suggestions", "gui.alternatives_panel", "gui.jobs"),
    ("gui.settings",),
    ("gui.documents", "gui.editor", "gui.engine_bridge", "gui.origin", "gui.theme", "gui.shortcuts", "gui.xcb_check"),
)
LAYERS = {"engine": ENGINE_LAYERS, "gui": GUI_LAYERS}


def part(module: str) -> str:
    """The part of its package a module belongs to: ``gui.controllers.model_controller`` -> ``gui.controllers``."""
    return ".".join(module.split(".")[:2])


def part_imports(package: str) -> dict[str, set[str]]:
    """Part of ``package`` -> the other parts of it that it imports."""
    graph = in_package(import_graph(), package)
    parts: dict[str, set[str]] = {part(module): set() for module in graph}
    for module, imported in graph.items():
        parts[part(module)].update(part(name) for name in imported if part(name) != part(module))
    return parts


def upward_imports(parts: dict[str, set[str]], layers: tuple[tuple[str, ...], ...]) -> list[tuple[str, str]]:
    """(part, imported part) for every import of a part placed higher than the importer."""
    depth = {name: level for level, names in enumerate(layers) for name in names}
    return sorted((name, imported) for name, imports in parts.items() for imported in imports
                  if depth[imported] < depth[name])


def test_an_import_from_a_higher_layer_is_found():
    layers = (("engine.language_model",), ("engine.training",), ("engine.decoding",), ("engine.memory",))
    parts = {"engine.language_model": {"engine.decoding"}, "engine.training": {"engine.decoding"},
             "engine.decoding": {"engine.training"}, "engine.memory": {"engine.training", "engine.decoding"}}
    assert upward_imports(parts, layers) == [("engine.decoding", "engine.training"),
                                             ("engine.memory", "engine.decoding"),
                                             ("engine.memory", "engine.training")]


@pytest.mark.parametrize("package", LAYERS)
def test_every_part_has_its_layer(package):
    placed = [name for layer in LAYERS[package] for name in layer]
    assert sorted(placed) == sorted(set(placed))  # each part in one layer
    assert set(part_imports(package)) == set(placed)


@pytest.mark.parametrize("package", LAYERS)
def test_the_parts_import_only_from_their_layer_or_below(package):
    assert upward_imports(part_imports(package), LAYERS[package]) == []


@pytest.mark.parametrize("package", LAYERS)
def test_the_parts_import_each_other_in_no_circle(package):
    # e.g. gui's documents/ and settings/ importing each other is such a circle although no two modules form one
    assert circles(part_imports(package)) == []
