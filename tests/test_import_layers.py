"""The import layers of recsys: no circle, and dependencies only point down.

The rule (``docs/architecture.md``): ``core`` knows no model, rule or
DataFrame; ``data`` knows no model; ``models`` know nothing of offers, of
evaluation or of ``persistence``; the codec (``recsys.io``) knows no model;
nothing in the product imports ``evaluation`` or ``benchmarks``.

Imports are read with :mod:`ast` from the source, function-level imports
included (an import moved into a function to dodge a circle is still a
circle), and every module is imported on its own in a fresh interpreter, in
dependency order.  The checker is tested on fake packages too, so that it
cannot pass by finding nothing.
"""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "recsys"

# ---------------------------------------------------------------------------
# the checker
# ---------------------------------------------------------------------------


@dataclass
class Imports:
    """What each module of a package imports: its own modules, and other top-level packages."""

    internal: dict[str, set[str]] = field(default_factory=dict)
    external: dict[str, set[str]] = field(default_factory=dict)
    #: (importer, "module.name") for private names taken from another module.
    private: list[tuple[str, str]] = field(default_factory=list)


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` (under ``root``) by dotted name; packages by their own name."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """The longest prefix of ``name`` that is a module (``a.b.func`` -> ``a.b``)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return name


def read_imports(root: Path, package: str) -> Imports:
    """Parse every module of ``package`` and collect its imports, at any depth of the file."""
    modules = module_files(root, package)
    result = Imports()
    for name, path in modules.items():
        internal: set[str] = set()
        external: set[str] = set()
        aliases: dict[str, str] = {}  # local name -> internal module it is bound to
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[tuple[str, str]] = []  # (full dotted name, local alias)
            if isinstance(node, ast.Import):
                targets = [(a.name, a.asname or a.name.split(".")[0]) for a in node.names]
                for alias in node.names:
                    if alias.asname:
                        aliases[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the importer's package
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.append((full if full in modules else base, alias.asname or alias.name))
                    if full in modules:
                        aliases[alias.asname or alias.name] = full
                    elif _private(alias.name) and base.split(".")[0] == package:
                        result.private.append((name, f"{_resolve(base, modules)}.{alias.name}"))
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and _private(node.attr)
            ):
                result.private.append((name, f"{aliases[node.value.id]}.{node.attr}"))
            for full, _ in targets:
                top = full.split(".")[0]
                if top == package:
                    internal.add(_resolve(full, modules))
                elif top:
                    external.add(top)
        internal.discard(name)  # "from recsys.x import y" inside recsys.x is not an edge
        result.internal[name] = internal
        result.external[name] = external
    return result


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected component that has one (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(graph, set(component)) for component in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A cycle through the smallest node of a strongly connected component (breadth-first)."""
    start = min(component)
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for succ in sorted(graph.get(node, set()) & component):
                if succ == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if succ not in parents:
                    parents[succ] = node
                    following.append(succ)
        frontier = following
    raise AssertionError("not a strongly connected component")  # pragma: no cover


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@dataclass(frozen=True)
class Rule:
    """Modules under ``layer`` import none of ``forbidden`` (module prefixes or external tops).

    ``allow``: targets allowed although ``forbidden`` covers them; ``exempt``:
    importers under ``layer`` the rule does not apply to.
    """

    layer: str
    forbidden: tuple[str, ...]
    why: str
    allow: tuple[str, ...] = ()
    exempt: tuple[str, ...] = ()


RULES = [
    Rule(
        "recsys.core",
        (
            "recsys.models",
            "recsys.selling",
            "recsys.data",
            "recsys.io",
            "recsys.persistence",
            "recsys.evaluation",
            "recsys.datasets",
            "pandas",
        ),
        "core knows no model, no rule and no DataFrame, only arrays",
    ),
    Rule(
        "recsys.data",
        ("recsys.models", "recsys.selling", "recsys.io", "recsys.persistence", "recsys.evaluation"),
        "data knows no model",
    ),
    Rule(
        "recsys.io",
        ("recsys.models", "recsys.selling", "recsys.persistence", "recsys.evaluation"),
        "the codec sits below the models",
    ),
    Rule(
        "recsys.models",
        ("recsys.selling", "recsys.evaluation", "recsys.persistence", "recsys.datasets"),
        "models know nothing of offers, evaluation or the top-level save/load",
    ),
    Rule(
        "recsys.selling",
        ("recsys.persistence", "recsys.evaluation", "recsys.datasets"),
        "selling stands below persistence and knows no evaluation",
    ),
    Rule("recsys._version", ("recsys",), "the version module imports nothing"),
    Rule("recsys.exceptions", ("recsys",), "the exceptions import nothing of recsys"),
    Rule(
        "recsys._utils", ("recsys",), "the helpers import only each other", allow=("recsys._utils",)
    ),
    Rule(
        "recsys",
        ("recsys.evaluation", "benchmarks"),
        "the product never imports these",
        exempt=("recsys.evaluation",),
    ),
    Rule(
        "recsys",
        ("pyspark",),
        "only recsys.spark imports pyspark (an optional extra)",
        exempt=("recsys.spark",),
    ),
]


def layer_violations(imports: Imports, rules: list[Rule]) -> list[str]:
    """Every import that breaks a rule, as ``importer -> imported (why)``."""
    found = []
    for rule in rules:
        for module in sorted(imports.internal):
            if not _within(module, rule.layer) or any(_within(module, e) for e in rule.exempt):
                continue
            targets = imports.internal[module] | imports.external[module]
            for target in sorted(targets):
                if any(_within(target, f) for f in rule.forbidden) and not any(
                    _within(target, a) for a in rule.allow
                ):
                    found.append(f"{module} -> {target} ({rule.why})")
    return found


def _subpackage(module: str) -> str:
    return ".".join(module.split(".")[:2])


def cross_package_private(imports: Imports) -> list[str]:
    """Private names (``_x``) one sub-package takes from another's module."""
    return sorted(
        f"{importer} uses {name}"
        for importer, name in imports.private
        if _subpackage(importer) != _subpackage(name.rsplit(".", 1)[0])
    )


# ---------------------------------------------------------------------------
# the package
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def imports() -> Imports:
    return read_imports(ROOT, PACKAGE)


def test_the_checker_reads_the_real_package(imports: Imports) -> None:
    """Guard against a vacuous pass: the graph has the modules and edges it must have."""
    assert len(imports.internal) > 30
    assert "recsys.io.codec" in imports.internal["recsys.models.base"]
    assert {"recsys.models", "recsys.selling.catalog", "recsys.io.codec"} <= imports.internal[
        "recsys.persistence"
    ]
    assert "recsys.core.topn_shared" in imports.internal["recsys.models.base"]
    assert "numba" in imports.external["recsys.core.topn_factors"]
    assert "pandas" in imports.external["recsys.io.codec"]


def test_no_import_circle(imports: Imports) -> None:
    assert find_cycles(imports.internal) == []


def test_layers(imports: Imports) -> None:
    assert layer_violations(imports, RULES) == []


def test_no_private_names_across_packages(imports: Imports) -> None:
    """A sub-package uses another's public names only (``recsys.data.as_id_array``, not ``_x``)."""
    assert cross_package_private(imports) == []


def _import_alone(module: str, stub_root: bool) -> tuple[str, int, str]:
    """Import ``module`` in a fresh interpreter (``stub_root``: without recsys/__init__.py)."""
    script = textwrap.dedent(
        """
        import importlib, importlib.util, sys
        name, stub_root, root = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
        sys.path.insert(0, root)
        if stub_root:  # an empty root package: only the module's own dependencies get imported
            spec = importlib.util.spec_from_file_location(
                "recsys", f"{root}/recsys/__init__.py",
                submodule_search_locations=[f"{root}/recsys"],
            )
            sys.modules["recsys"] = importlib.util.module_from_spec(spec)
        importlib.import_module(name)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, module, "1" if stub_root else "0", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    return module, proc.returncode, proc.stderr[-2000:]


def _closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen


@pytest.mark.slow
def test_every_module_imports_alone_in_dependency_order(imports: Imports) -> None:
    """Each module, in a fresh interpreter, needs nothing imported before it but its imports."""
    order = list(graphlib.TopologicalSorter(imports.internal).static_order())  # deps first
    assert set(order) == set(imports.internal)
    stub = {m: PACKAGE not in _closure(imports.internal, m) - {m} for m in order}
    stub[PACKAGE] = False
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda m: _import_alone(m, stub[m]), order))
    failures = [f"{module}:\n{err}" for module, code, err in results if code != 0]
    assert not failures, "\n\n".join(failures)


# ---------------------------------------------------------------------------
# the checker finds what it should, on fake packages
# ---------------------------------------------------------------------------


def _fake(tmp_path: Path, files: dict[str, str]) -> Imports:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return read_imports(tmp_path, "recsys")


def test_a_circle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    fake = _fake(
        tmp_path,
        {
            "recsys/__init__.py": "from recsys.models import Model\n",
            "recsys/models/__init__.py": "from recsys.models.base import Model\n",
            "recsys/models/base.py": """
                class Model:
                    def save(self, path):
                        from recsys import persistence  # dodging the circle at import time
                        persistence.save(self, path)
                """,
            "recsys/persistence.py": "from recsys.models import Model\nfrom recsys import _v\n",
            "recsys/_v.py": "",
            "recsys/core/__init__.py": "",
            "recsys/core/k.py": "def f():\n    import pandas\n    from ..data import x\n",
            "recsys/data/__init__.py": "x = 1\n",
        },
    )
    assert fake.internal["recsys.models.base"] == {"recsys.persistence"}
    assert find_cycles(fake.internal) == [
        ["recsys.models", "recsys.models.base", "recsys.persistence", "recsys.models"]
    ]
    assert layer_violations(fake, RULES) == [
        "recsys.core.k -> pandas (core knows no model, no rule and no DataFrame, only arrays)",
        "recsys.core.k -> recsys.data (core knows no model, no rule and no DataFrame, only arrays)",
        "recsys.models.base -> recsys.persistence "
        "(models know nothing of offers, evaluation or the top-level save/load)",
    ]
    with pytest.raises(graphlib.CycleError):
        list(graphlib.TopologicalSorter(fake.internal).static_order())


def test_the_old_version_circle_and_private_reach_ins_are_found(tmp_path: Path) -> None:
    fake = _fake(
        tmp_path,
        {
            "recsys/__init__.py": "from recsys.persistence import load\n__version__ = '1'\n",
            "recsys/persistence.py": "def load():\n    from recsys import __version__\n",
            "recsys/selling/__init__.py": "",
            "recsys/selling/x.py": """
                from recsys import persistence
                from recsys.persistence import _read
                import recsys.evaluation
                t = persistence._timestamp_ns(None)
                """,
            "recsys/evaluation/__init__.py": "",
        },
    )
    assert find_cycles(fake.internal) == [["recsys", "recsys.persistence", "recsys"]]
    assert cross_package_private(fake) == [
        "recsys.selling.x uses recsys.persistence._read",
        "recsys.selling.x uses recsys.persistence._timestamp_ns",
    ]
    assert layer_violations(fake, RULES) == [
        "recsys.selling.x -> recsys.evaluation "
        "(selling stands below persistence and knows no evaluation)",
        "recsys.selling.x -> recsys.persistence "
        "(selling stands below persistence and knows no evaluation)",
        "recsys.selling.x -> recsys.evaluation (the product never imports these)",
    ]


def test_no_circle_in_a_layered_fake(tmp_path: Path) -> None:
    fake = _fake(
        tmp_path,
        {
            "recsys/__init__.py": "from recsys.a import f\n",
            "recsys/a.py": "from recsys.b import g\ndef f():\n    from recsys.b import h\n",
            "recsys/b.py": "g = h = 1\n",
        },
    )
    assert find_cycles(fake.internal) == []
    assert list(graphlib.TopologicalSorter(fake.internal).static_order()) == [
        "recsys.b",
        "recsys.a",
        "recsys",
    ]
