"""The house stays drawn: imports inside ``provision/`` point down the layers and never form a circle.

Every ``import`` in every module counts, the lazy ones inside functions included (they are
how a circle hides). A new module goes into ``LAYERS`` below, in the layer of what it is;
a module that is in no layer fails ``test_every_module_has_a_layer`` with a message saying so.
"""
from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import pytest

import provision
from provision import backends

ROOT = Path(provision.__file__).parent

# Top to bottom. A module may import modules of its own layer and of the layers below it;
# circles are caught separately (test_no_import_circles). ``pkg.*`` matches pkg's submodules.
LAYERS: list[tuple[str, list[str]]] = [
    ("entry points", ["provision", "provision.__main__", "provision.entry", "provision.cli", "provision.cli.*",
                      "provision.testing.plugin"]),
    ("api", ["provision.api"]),
    ("features", [
        "provision.install", "provision.choose",            # up: install a server, pick a backend
        "provision.adopt", "provision.adopt.*",              # provision init: an app adopts provision
        "provision.doctor", "provision.doctor.*",            # provision doctor
        "provision.snapshots",                               # snapshot save/restore
        "provision.branches", "provision.checkout",          # branch databases; what the git hook does
        "provision.hooks",                                   # installs the git hook
        "provision.testing", "provision.testing.*",          # test servers, databases, templates, reaper
        "provision.project",                                 # what the last up recorded; reset, shell
        "provision.team",                                    # a project's namespace and lease on a shared server
        "provision.bootstrap", "provision.envfile",          # converge and prove; the .env file
        "provision.backends", "provision.backends.*",        # make a server reachable
    ]),
    ("pieces", ["provision.probe", "provision.sql", "provision.sqldump", "provision.url", "provision.state",
                "provision.files", "provision.ports", "provision.project_port", "provision.client_tools",
                "provision.collations", "provision.leases", "provision.processes", "provision.progress",
                "provision.schema_objects"]),
    ("config", ["provision.config", "provision.frameworks", "provision.namespaces"]),  # settings + their inputs
    ("names", ["provision.names"]),
    ("errors", ["provision.errors"]),
]

# Backends only make a server reachable: none builds on another (helpers such as backends.base are shared).
BACKENDS = {path.split(":")[0] for path in backends.BACKENDS.values()}


def module_names() -> dict[str, Path]:
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = ["provision", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path], unresolved: list[str] | None = None) -> set[str]:
    """The provision modules ``name`` imports anywhere in its text (functions included); an import of a
    provision module that does not exist is added to ``unresolved``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # ``from pkg import sub`` imports the submodule sub (and pkg); ``from mod import f`` imports mod
            subs = {f"{target}.{alias.name}" for alias in node.names} & modules.keys()
            found |= subs or {target}
            if unresolved is not None and target.startswith("provision") and target not in modules:
                unresolved.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} imports {target}")
    return {target for target in found if target in modules and target != name}


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def layer_of(module: str) -> int | None:
    for index, (_title, patterns) in enumerate(LAYERS):
        if any(module == pattern or fnmatch.fnmatchcase(module, pattern) for pattern in patterns):
            return index
    return None


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                circle = visit(target)
                if circle:
                    return circle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            circle = visit(start)
            if circle:
                return circle
    return None


class TestTheWalker:
    """The walker itself sees what it must see (else the tests below could not fail)."""

    def test_lazy_imports_inside_functions_count(self):
        graph = import_graph()
        assert "provision.install" in graph["provision.api"]  # imported inside up() and dry_run() only
        assert "provision.backends.native" in graph["provision.testing.servers"]  # inside functions too

    def test_relative_imports_resolve_to_modules(self):
        graph = import_graph()
        assert "provision.errors" in graph["provision.testing.servers"]  # from ..errors import ServerError
        assert "provision.testing.databases" in graph["provision"]  # from .testing import databases

    def test_a_circle_is_found(self):
        assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
        assert find_circle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_every_import_names_a_module_that_exists():
    """A relative import left pointing at a module's old place (a moved file, rebased) is found here."""
    unresolved: list[str] = []
    modules = module_names()
    for name, path in modules.items():
        imports_of(name, path, modules, unresolved)
    assert not unresolved, "imports of modules that do not exist:\n  " + "\n  ".join(unresolved)


def test_every_module_has_a_layer():
    missing = [name for name in module_names() if layer_of(name) is None]
    assert not missing, (f"{', '.join(missing)}: in no layer; add each to LAYERS in tests/unit/test_layers.py "
                         "(entry points > api > features > pieces > config > names > errors)")


def test_the_table_names_only_modules_that_exist():
    modules = module_names()
    stale = [pattern for _title, patterns in LAYERS for pattern in patterns
             if "*" not in pattern and pattern not in modules]
    assert not stale, f"LAYERS in tests/unit/test_layers.py names modules that do not exist: {stale}"


def test_no_import_circles():
    circle = find_circle(import_graph())
    assert circle is None, "import circle: " + " -> ".join(circle or [])


def test_imports_point_down():
    upward = []
    for module, targets in import_graph().items():
        mine = layer_of(module)
        for target in sorted(targets):
            theirs = layer_of(target)
            if mine is not None and theirs is not None and theirs < mine:
                upward.append(f"{module} ({LAYERS[mine][0]}) imports {target} ({LAYERS[theirs][0]})")
    assert not upward, "upward imports (move the shared code down a layer):\n  " + "\n  ".join(upward)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_backends_never_import_each_other(backend):
    others = import_graph()[backend] & (BACKENDS - {backend})
    assert not others, f"{backend} imports {sorted(others)}: share code through a lower module instead"
