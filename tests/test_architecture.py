"""The house: the import graph of gpfn_core, plugins and cli, read from the code with ``ast``.

Every module belongs to a unit (a subpackage, or one of the root's own modules) and
every unit to a layer.  A module may import modules of its own unit and of any unit in
its own or a lower layer, never a higher one, and no set of modules (or of units)
imports each other in a circle.  The layers are docs/architecture.md's diagram; the
edges come from the code, so a new import that runs back up, or closes a circle, fails
here.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# source folder -> import name (pyproject.toml's package-dir)
PACKAGES = {"gpfn_core": "gpfn_core", "plugins": "gpfn_plugins", "cli": "gpfn_cli", "gpfn_core/_gpfn": "gpfn"}

# bottom first; the units of one layer may import each other (acyclically) and anything below
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("contracts", ("gpfn_core", "gpfn_core.version", "gpfn_core.errors", "gpfn_core.threads", "gpfn_core.hookspecs",
                   "gpfn_core.bits", "gpfn_core.types", "gpfn_core.interfaces", "gpfn_core._moved", "gpfn_core.atomic",
                   "gpfn_core.metrics", "gpfn_core.example_data")),
    ("simulator and users' data", ("gpfn_core.sim", "gpfn_core.data")),
    ("plugin registry", ("gpfn_core.registry",)),
    ("closed-form genetics and built-in plugins", ("gpfn_core.linear", "gpfn_plugins")),
    ("network", ("gpfn_core.net",)),
    ("shipped models", ("gpfn_core.models",)),
    ("tasks", ("gpfn_core.tasks",)),
    ("Python API", ("gpfn",)),
    ("command line", ("gpfn_cli",)),
]
MAX_LINES = 350  # a module longer than this holds more than one idea


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Import name -> file, for every module of the three packages under ``root``."""
    out = {}
    for folder, name in PACKAGES.items():
        base = root / folder
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).with_suffix("")
            parts = list(rel.parts)
            if any(p in ("build", "__pycache__") for p in parts):
                continue
            if folder == "gpfn_core" and parts and parts[0] == "_gpfn":
                continue  # its own package, "gpfn"
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([name, *parts])] = path
    return out


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its file (function bodies and
    ``TYPE_CHECKING`` blocks included): ``from X import a`` is an edge to ``X.a`` where that
    is a module, else to ``X``."""
    mods = modules(root)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    pkg = name.split(".") if is_package else name.split(".")[:-1]
                    pkg = pkg[: len(pkg) - (node.level - 1)]
                    base = ".".join(pkg + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                while t and t not in mods:  # import a.b.c of a module a.b: the edge is to a.b
                    t = t.rpartition(".")[0]
                if t and t != name:
                    graph[name].add(t)
    return graph


def unit_of(module: str) -> str:
    units = [u for _, us in LAYERS for u in us if module == u or module.startswith(u + ".")]
    if not units:
        raise LookupError(f"module {module} belongs to no unit of LAYERS: give its subpackage a layer")
    return max(units, key=len)


def layer_of(unit: str) -> int:
    return next(i for i, (_, us) in enumerate(LAYERS) if unit in us)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each a circle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def problems(root: Path = ROOT) -> list[str]:
    """Every circle (of modules, then of units) and every import that runs up a layer."""
    graph = import_graph(root)
    found = [f"circle of modules: {' <-> '.join(c)}" for c in cycles(graph)]
    units: dict[str, set[str]] = {}
    for a, bs in graph.items():
        ua = unit_of(a)
        units.setdefault(ua, set())
        for b in bs:
            ub = unit_of(b)
            if ub != ua:
                units[ua].add(ub)
                if layer_of(ub) > layer_of(ua):
                    found.append(f"upward import: {a} ({LAYERS[layer_of(ua)][0]}) imports {b} "
                                 f"({LAYERS[layer_of(ub)][0]})")
    found += [f"circle of units: {' <-> '.join(c)}" for c in cycles(units)]
    return found


def test_the_import_graph_has_no_circle_and_no_upward_import():
    assert problems() == []


def test_the_graph_is_read_from_the_code():
    graph = import_graph()
    # a few edges the code has (top-level and inside functions): the reader sees both
    assert "gpfn_core.net.preprocess" in graph["gpfn_core.tasks.predict"]
    assert "gpfn_core.linear.kinship" in graph["gpfn_core.net.preprocess"]
    assert "gpfn_core.sim.prior" in graph["gpfn_core.registry"]
    assert "gpfn_core.tasks.generate" in graph["gpfn_cli.generate_cmd"]  # imported inside the command function
    assert len(graph) > 60 and sum(map(len, graph.values())) > 150


@pytest.mark.parametrize("inject, expect", [
    # a contract importing a task: a circle (tasks import the contracts) and an upward import
    (("gpfn_core/types.py", "\nfrom gpfn_core.tasks import predict  # noqa\n"), ("circle of modules", "upward import")),
    # the simulator reaching up to the network inside a function: upward, and a circle of units
    (("gpfn_core/sim/engine.py", "\n\ndef _late():\n    from gpfn_core.net import train  # noqa\n"),
     ("upward import: gpfn_core.sim.engine", "circle of units")),
])
def test_an_injected_cycle_or_upward_import_is_caught(tmp_path, inject, expect):
    for folder in ("gpfn_core", "plugins", "cli"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("*.gpfn", "__pycache__", "*.txt"))
    assert problems(tmp_path) == []  # the copy is the real house
    path, text = inject
    (tmp_path / path).write_text((tmp_path / path).read_text() + text)
    found = "\n".join(problems(tmp_path))
    for e in expect:
        assert e in found


def test_every_module_has_a_layer_and_a_size_of_one_idea():
    long = []
    for name, path in modules().items():
        unit_of(name)  # raises for a module outside every unit
        n = len(path.read_text().splitlines())
        if n > MAX_LINES:
            long.append(f"{name}: {n} lines")
    assert long == [], "modules over MAX_LINES: split them by concept"


def test_every_subpackage_says_what_it_owns_and_may_import():
    for name, path in modules().items():
        if path.name == "__init__.py" and name.count(".") == 1 and name.startswith("gpfn_core."):
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            if name in ("gpfn_core.example_data",):
                continue
            assert "May import" in doc, f"{name}: its docstring should say what it may import"


def test_the_flat_layout_import_paths_keep_working():
    """Plugins and notebooks written against gpfn 0.1's flat gpfn_core keep importing (with a
    DeprecationWarning naming the new path); the names are the new modules' own objects."""
    import importlib
    import sys

    from gpfn_core import _moved
    from gpfn_core.linear.gblup import gblup
    from gpfn_core.sim.engine import cross

    import gpfn_core

    def forget(old: str) -> None:  # as in a fresh process
        sys.modules.pop(old, None)
        if hasattr(gpfn_core, old.rpartition(".")[2]):
            delattr(gpfn_core, old.rpartition(".")[2])

    for old, new in _moved.MOVED.items():
        forget(old)
        with pytest.warns(DeprecationWarning, match=new[0].replace(".", r"\.")):
            mod = importlib.import_module(old)
        assert dir(mod)
    forget("gpfn_core.engine")
    with pytest.warns(DeprecationWarning):
        from gpfn_core import engine as E  # the example plugin's spelling
    assert E.cross is cross
    forget("gpfn_core.gblup")
    with pytest.warns(DeprecationWarning):
        from gpfn_core.gblup import gblup as old_gblup
    assert old_gblup is gblup
    with pytest.raises(AttributeError, match="moved to"):
        importlib.import_module("gpfn_core.gblup").no_such_name  # noqa: B018
