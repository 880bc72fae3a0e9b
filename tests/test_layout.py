"""The package shape: imports point one way and no two files import each other.

``modules/`` is layered (architecture: training -> models/losses/exits/
decoding -> nn). A file may import its own subpackage or a subpackage of a
lower layer; nothing in ``modules/`` imports ``benchmark``, ``recipes``,
``train`` or ``tests``; ``benchmark/`` never imports ``train``, ``recipes`` or
``tests``; and the import graph between the project's files has no cycle.
"""

import ast
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

ROOT = Path(REPO_ROOT)
PACKAGES = ("modules", "benchmark")
TOP_LEVEL = ("modules", "benchmark", "recipes", "train", "tests")
# modules/ subpackage -> layer; a file imports only its layer or lower ones.
LAYERS = {
    "checkpoints": 0,
    "experiment_folder": 0,
    "nn": 0,
    "data": 0,
    "decoding": 1,
    "models": 1,
    "losses": 2,
    "exits": 2,
    "compression": 2,
    "training": 3,
    "inference": 3,
}
FORBIDDEN = {
    "modules": ("benchmark", "recipes", "train", "tests"),
    "benchmark": ("recipes", "train", "tests"),
}


def module_name(path):
    """Dotted name of a file under the repository root."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_files():
    """Every Python file of the packages, by dotted name."""
    return {
        module_name(p): p
        for pkg in PACKAGES
        for p in sorted((ROOT / pkg).rglob("*.py"))
    }


def imported_names(path, name):
    """Project modules a file imports (``from a import b`` gives ``a.b`` when
    ``a.b`` is a module, else ``a``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in found if n.split(".")[0] in TOP_LEVEL}


def import_graph():
    """``{module: set of project modules it imports}`` (files only)."""
    files = project_files()
    graph = {}
    for name, path in files.items():
        graph[name] = {
            n for n in imported_names(path, name) if n in files and n != name
        }
    return graph, files


def layer_violation(importer, imported):
    """Why ``importer`` may not import ``imported``, or None."""
    top = importer.split(".")[0]
    target = imported.split(".")[0]
    if target in FORBIDDEN.get(top, ()):
        return f"{top}/ must not import {target}"
    if top == "modules" and target == "modules":
        own, other = importer.split(".")[1], imported.split(".")[1]
        if own != other and LAYERS.get(other, 99) > LAYERS.get(own, -1):
            return (
                f"modules.{own} (layer {LAYERS.get(own)}) imports the higher "
                f"modules.{other} (layer {LAYERS.get(other)})"
            )
    return None


def find_cycle(graph):
    """One import cycle as a list of modules, or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt, stack)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [])
            if cycle:
                return cycle
    return None


def test_every_modules_subpackage_has_a_layer():
    subpackages = {p.name for p in (ROOT / "modules").iterdir() if p.is_dir()}
    subpackages |= {p.stem for p in (ROOT / "modules").glob("*.py")}
    subpackages -= {"__init__", "__pycache__"}
    assert subpackages <= set(LAYERS), sorted(subpackages - set(LAYERS))


def test_imports_point_one_way():
    files = project_files()
    lazy = {name: imported_names(path, name) for name, path in files.items()}
    problems = [
        f"{importer} imports {imported}: {why}"
        for importer, names in sorted(lazy.items())
        for imported in sorted(names)
        if (why := layer_violation(importer, imported))
    ]
    assert not problems, "\n".join(problems)


def test_no_import_cycles():
    graph, _ = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


@pytest.mark.parametrize(
    "importer, imported, expected",
    [
        ("modules.nn.downsampling", "benchmark.macs", "must not import benchmark"),
        ("modules.data.datasets", "recipes.LibriSpeech", "must not import recipes"),
        ("modules.nn.lengths", "modules.losses.ctc", "imports the higher"),
        ("benchmark.run", "modules.nn.lengths", None),
        ("modules.training.ctc_brain", "modules.nn.lengths", None),
    ],
)
def test_layer_rules_catch_upward_imports(importer, imported, expected):
    why = layer_violation(importer, imported)
    assert (why is None) if expected is None else (expected in why)


def test_cycle_finder_sees_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
