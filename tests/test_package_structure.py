"""The package's import structure, read from its sources (nothing is imported): no import
circle, no underscore name taken from another file, nothing but the command imports `cli`."""

import ast
import os
import pathlib
import re

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kerasimb")


def _module_name(path):
    rel = os.path.relpath(path, os.path.dirname(ROOT))[:-3].split(os.sep)
    return ".".join(rel[:-1] if rel[-1] == "__init__" else rel)


def _sources():
    out = {}
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                out[_module_name(path)] = path
    return out


MODULES = _sources()


def _private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _imports(module):
    """`[(imported module, names taken from it, line)]` for every kerasimb import of `module`,
    at any depth (function-level imports included)."""
    with open(MODULES[module], encoding="utf-8") as f:
        tree = ast.parse(f.read())
    package = module if MODULES[module].endswith("__init__.py") else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("kerasimb")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            if not base.startswith("kerasimb"):
                continue
            names = [a.name for a in node.names]
            submodules = [n for n in names if f"{base}.{n}" in MODULES]
            out += [(f"{base}.{n}", [], node.lineno) for n in submodules]
            others = [n for n in names if n not in submodules]
            if others or not submodules:
                out.append((base, others, node.lineno))
    return out


def _graph():
    return {m: {target for target, _, _ in _imports(m) if target in MODULES and target != m}
            for m in MODULES}


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_walk_sees_the_package():
    assert {"kerasimb.runs.compare", "kerasimb.cli.main", "kerasimb.recipes.aduni",
            "kerasimb.methods.registry"} <= set(MODULES)
    graph = _graph()
    assert "kerasimb.runs.store" in graph["kerasimb.runs.compare"]
    assert "kerasimb.cli.args" in graph["kerasimb.cli.main"]


def test_cycle_finder_finds_a_planted_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle():
    assert _cycles(_graph()) == []


def test_no_module_imports_an_underscore_name_from_another_file():
    offences = []
    for module in MODULES:
        for target, names, line in _imports(module):
            if any(_private(part) for part in target.split(".")):
                offences.append(f"{module}:{line} imports the private module {target}")
            offences += [f"{module}:{line} imports {target}.{name}" for name in names
                         if _private(name)]
    assert offences == []


def test_no_module_uses_an_underscore_attribute_of_another_kerasimb_module():
    offences = []
    for module, path in MODULES.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        aliases = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kerasimb"):
                aliases |= {a.asname or a.name for a in node.names
                            if f"{node.module}.{a.name}" in MODULES}
            elif isinstance(node, ast.Import):
                aliases |= {a.asname or a.name for a in node.names
                            if a.name.startswith("kerasimb")}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and _private(node.attr)):
                offences.append(f"{module}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert offences == []


def test_nothing_outside_cli_imports_cli():
    offences = [f"{module}:{line} imports {target}"
                for module in MODULES
                if not module.startswith("kerasimb.cli") and module != "kerasimb.__main__"
                for target, _, line in _imports(module)
                if target == "kerasimb.cli" or target.startswith("kerasimb.cli.")]
    assert offences == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("kerasimb.cli"))
                         + ["kerasimb.recipes.flags", "kerasimb.recipes.protocol"])
def test_cli_modules_import_no_tensorflow_at_module_level(module):
    """`kerasimb --help` and `kerasimb list` import the cli modules: their module-level imports
    stay away from TensorFlow, Keras and the library parts (imported inside the commands)."""
    with open(MODULES[module], encoding="utf-8") as f:
        tree = ast.parse(f.read())
    # recipes/__init__, recipes/flags and recipes/protocol are light (the latter two checked
    # here like a cli module)
    light = ("kerasimb.cli", "kerasimb.version", "kerasimb.recipes", "kerasimb.recipes.flags",
             "kerasimb.recipes.protocol")
    for node in tree.body:
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module] if isinstance(node, ast.ImportFrom) else [])
        for name in names:
            assert name.split(".")[0] not in ("tensorflow", "keras"), (module, name)
            assert not name.startswith("kerasimb") or name in light or \
                name.startswith("kerasimb.cli."), (module, name)


def test_tests_import_their_helpers_by_file_name_not_as_a_tests_package():
    # CI runs `pytest` (rootdir-relative "prepend" imports: each test folder is on sys.path and
    # tests/ is not a package), so `from tests.x import y` only works under `python -m pytest`.
    tests_root = pathlib.Path(__file__).parent
    offenders = [str(path.relative_to(tests_root)) for path in sorted(tests_root.rglob("*.py"))
                 if re.search(r"^\s*(from|import) tests[.\s]", path.read_text(), re.MULTILINE)]
    assert offenders == []
