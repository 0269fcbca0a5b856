"""The import graph of ``engine/`` and ``gui/``: the engine never imports the app, and no package imports in a
circle. Every import counts, also one inside a function (a deferred import hides a circle, it does not remove it)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
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


# The GUI's parts from the top down: a part imports only from its own layer or the layers below it. A new part
# (a module or folder directly under gui/) is placed here on purpose, where it belongs.
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


def gui_part(module: str) -> str:
    """The part of gui/ a module belongs to: ``gui.controllers.model_controller`` -> ``gui.controllers``."""
    return ".".join(module.split(".")[:2])


def gui_part_imports() -> dict[str, set[str]]:
    """Part of gui/ -> the other parts of gui/ it imports."""
    graph = in_package(import_graph(), "gui")
    parts: dict[str, set[str]] = {gui_part(module): set() for module in graph}
    for module, imported in graph.items():
        parts[gui_part(module)].update(gui_part(name) for name in imported if gui_part(name) != gui_part(module))
    return parts


def test_every_part_of_the_gui_has_its_layer():
    placed = [part for layer in GUI_LAYERS for part in layer]
    assert sorted(placed) == sorted(set(placed))  # each part in one layer
    assert set(gui_part_imports()) == set(placed)


def test_the_gui_s_parts_import_only_from_their_layer_or_below():
    layer = {part: depth for depth, parts in enumerate(GUI_LAYERS) for part in parts}
    assert [(part, name) for part, imported in gui_part_imports().items() for name in imported
            if layer[name] < layer[part]] == []


def test_the_gui_s_parts_import_each_other_in_no_circle():
    # documents/ and settings/ importing each other is such a circle although no two modules form one
    assert circles(gui_part_imports()) == []
