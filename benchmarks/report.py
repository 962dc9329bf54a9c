"""Printing benchmark tables (plain text to stdout, optionally Markdown to a file)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pandas as pd


def machine_line() -> str:
    """Return one line naming the machine the benchmark ran on."""
    import implicit
    import numba
    import numpy

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            cpu = names[0]
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"numpy {numpy.__version__}, numba {numba.__version__}, implicit {implicit.__version__}"
    )


def show(title: str, table: pd.DataFrame, markdown_path: str | None = None) -> None:
    """Print ``table`` under ``title``; append it as Markdown to ``markdown_path`` if given."""
    text = table.to_string(index=False, float_format=lambda v: f"{v:,.3f}")
    print(f"\n== {title}\n{text}", flush=True)
    if markdown_path:
        path = Path(markdown_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(f"\n### {title}\n\n{markdown_table(table)}\n")


def markdown_table(table: pd.DataFrame) -> str:
    """Render ``table`` as a GitHub-flavoured Markdown table (floats with 3 decimals)."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:,.3f}"
        return str(value)

    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows])
