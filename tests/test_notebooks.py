"""The notebooks in docs/notebooks/ run top to bottom and are committed without outputs.

Each notebook is executed in a fresh Jupyter kernel (nbclient) in a temporary working
directory; a cell that raises fails the test. The tests skip when nbclient, ipykernel or
matplotlib are not installed (``pip install -e ".[docs]"``).

Run as a script to strip the outputs of every notebook in place before committing::

    .venv/bin/python tests/test_notebooks.py --strip
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "docs" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
EXPECTED = {"quickstart", "shop-cross-sell", "subscription-upgrades", "evaluation-ab"}
# Each notebook runs in well under a minute on an idle 2-core machine; the budget leaves room
# for a busy CI runner (and the first run compiling the Numba kernels) without hiding a notebook
# that has become slow.
CELL_TIMEOUT_S = 120
NOTEBOOK_BUDGET_S = 180
# Notebook keys that only an execution writes; a committed notebook has none of them.
_EXECUTION_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled")
# mkdocs-jupyter renders notebooks without rewriting links, so a relative link that works in
# Jupyter breaks on the site (and mkdocs --strict cannot see it): notebooks link to absolute URLs
_RELATIVE_LINK = re.compile(r"\]\((?![a-z]+://|#)[^)]*\)")


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def strip(path: Path) -> bool:
    """Remove outputs, execution counts and execution metadata in place; return if it changed."""
    notebook = _read(path)
    for cell in notebook["cells"]:
        for key in _EXECUTION_METADATA:
            cell.get("metadata", {}).pop(key, None)
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    notebook["metadata"].pop("widgets", None)
    language = notebook["metadata"].get("language_info")
    if language:
        notebook["metadata"]["language_info"] = {"name": language.get("name", "python")}
    text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    changed = text != path.read_text(encoding="utf-8")
    if changed:
        path.write_text(text, encoding="utf-8")
    return changed


def test_the_four_notebooks_are_there() -> None:
    assert {p.stem for p in NOTEBOOKS} >= EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path) -> None:
    notebook = _read(path)
    dirty = [
        i
        for i, cell in enumerate(notebook["cells"])
        if cell["cell_type"] == "code" and (cell["outputs"] or cell["execution_count"] is not None)
    ]
    assert dirty == [], (
        f"{path.name}: cells {dirty} have outputs; run `python tests/test_notebooks.py --strip`"
    )
    assert "widgets" not in notebook["metadata"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_relative_links(path: Path) -> None:
    links = [
        link
        for cell in _read(path)["cells"]
        if cell["cell_type"] == "markdown"
        for link in _RELATIVE_LINK.findall("".join(cell["source"]))
    ]
    assert links == [], f"{path.name}: relative links break on the docs site: {links}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_top_to_bottom(path: Path, tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError naming the cell and the error
    elapsed = time.perf_counter() - start
    assert elapsed < NOTEBOOK_BUDGET_S, f"{path.name} took {elapsed:.0f} s"
    assert list(tmp_path.iterdir()) == [], "a notebook left files in its working directory"


if __name__ == "__main__":
    if sys.argv[1:] != ["--strip"]:
        sys.exit("usage: python tests/test_notebooks.py --strip")
    for notebook_path in NOTEBOOKS:
        print(("stripped " if strip(notebook_path) else "clean    ") + notebook_path.name)
