"""The documentation site builds with ``mkdocs build --strict``: no broken link, no missing page.

Strict mode turns every warning into an error: a link to a missing page or anchor, a page left
out of the nav, an API reference (``::: recsys.x.y``) naming nothing, a docstring griffe cannot
parse. The build goes to a temporary folder (never ``site/``). Skipped when the ``docs`` extra
is not installed (``pip install -e ".[docs]"``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ["mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "mkdocs_jupyter"]


@pytest.mark.slow
def test_site_builds_strictly(tmp_path: Path) -> None:
    for module in PLUGINS:
        pytest.importorskip(module)
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        # the notebooks run in tests/test_notebooks.py, not again here
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "RECSYS_DOCS_EXECUTE": "false"},
    )
    problems = [
        line for line in result.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))
    ]
    assert result.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(
        problems or result.stderr.splitlines()[-30:]
    )
    for page in [
        "index.html",
        "getting-started/index.html",
        "concepts/index.html",
        "reference/models/index.html",
        "notebooks/quickstart/index.html",
    ]:
        assert (site / page).is_file(), page
    models = (site / "reference/models/index.html").read_text(encoding="utf-8")
    # the API reference is generated from the docstrings, Sphinx roles rewritten
    assert "recsys.models.als.ALS" in models
    assert ":class:" not in models and ":meth:" not in models
