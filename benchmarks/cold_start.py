"""Cold start: what the first process on a fresh machine pays before its first answer.

Usage::

    python -m benchmarks cold-start [--baseline PATH] [--repeats N] [--markdown PATH]

Numba compiles a kernel the first time a process calls it and keeps the
machine code in its cache directory (``NUMBA_CACHE_DIR``); every later process
loads it.  A new user, a notebook kernel, a CI job, a Spark executor or a
container that starts with an empty cache pays the compilation.  This
benchmark measures it on the sample of UCI Online Retail that ships with the
package (27,558 order lines, 384 customers, 1,498 products):

* every measurement runs in a **fresh Python process** (``python -c``, working
  directory a temporary folder) with a **fresh, empty cache directory**:
  *cold*;
* the same step then runs again in a second process with the same cache
  directory: *warm* (compiled code loaded, nothing compiled);
* with ``--baseline PATH`` (a checkout of an older version, e.g. a
  ``git worktree``), the same processes run with ``PYTHONPATH=PATH``,
  interleaved with ours, so that the ratio is measured under the same load.

Steps (in-process times, ``time.perf_counter``):

``import recsys``
    The import alone; the ``kernels`` column counts the Numba specialisations
    compiled by then (0: importing compiles nothing).
``ItemItem().fit``, ``first recommend``
    ``Interactions.from_pandas`` of the sample is not included; the default
    ``ItemItem`` (basket-completion probabilities, calibrated on held-out
    baskets), then ``recommend`` for two customers.
``ALS(...).fit``, ``first recommend``
    64 factors, 15 iterations, then ``recommend`` for two customers.
``first cross-sell``
    ``recommend_cross_sell`` of a one-item basket, after an ``ItemItem`` fit.
``first upgrade``
    ``recommend_upgrade`` of one viewed item in the sample's size tiers.
``python -m recsys.demo``
    The whole demo process, from the shell (interpreter start-up included).

Rows marked *process* are the whole child process as seen by the parent
(interpreter start-up, imports, data loading, compilation and the work).
``(s)`` columns are wall-clock seconds; ``CPU (s)`` columns the CPU time
(user + system) of the step in the child (``time.process_time``), or of the
whole child (``getrusage``).  On a shared machine the wall time stretches
with the load while the CPU time barely moves: compare the speed-ups of
both.  The ``kernels`` column is the number of compiled specialisations
(``len(dispatcher.signatures)`` summed over every kernel of ``recsys.core``)
at the end of the cold process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
_MARK = "COLD_START_RESULT "

# Every child starts with this: the clock, and the count of compiled kernel specialisations.
_PRELUDE = """
import time
_t0 = time.perf_counter()  # process_time() starts at 0 with the process
import json, sys, importlib, pkgutil, warnings
warnings.simplefilter("ignore")
timings = {}

def _kernels():
    from numba.core.registry import CPUDispatcher
    import recsys.core
    total = 0
    for info in pkgutil.walk_packages(recsys.core.__path__, "recsys.core."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher) and value.py_func.__module__ == info.name:
                total += len(value.signatures)
    return total

def _step(name, fn):
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    timings[name] = (time.perf_counter() - start, time.process_time() - cpu)
    return out

def _sample():
    import recsys
    from recsys.datasets import load_online_retail_sample
    lines = load_online_retail_sample()
    data = recsys.Interactions.from_pandas(
        lines, user_col="CustomerID", item_col="StockCode", basket_col="InvoiceNo",
        time_col="InvoiceDate", user_attribute_cols=["Country"],
    )
    return lines, data
"""

_SCENARIOS: dict[str, str] = {
    "import": """
import recsys
timings["import recsys"] = (time.perf_counter() - _t0, time.process_time())
""",
    "itemitem": """
import recsys
lines, data = _sample()
model = _step("ItemItem().fit", lambda: recsys.ItemItem().fit(data))
users = list(data.user_ids.external_ids[:2])
_step("ItemItem first recommend", lambda: model.recommend(users, n=5))
""",
    "als": """
import recsys
lines, data = _sample()
model = _step(
    "ALS(factors=64).fit",
    lambda: recsys.ALS(factors=64, iterations=15, random_state=0).fit(data),
)
users = list(data.user_ids.external_ids[:2])
_step("ALS first recommend", lambda: model.recommend(users, n=5))
""",
    "cross-sell": """
import recsys
lines, data = _sample()
model = recsys.ItemItem().fit(data)
_step("first cross-sell", lambda: recsys.recommend_cross_sell(model, ["22423"], n=5))
""",
    "upgrade": """
import recsys
from recsys.datasets.catalogs import online_retail_size_tiers
lines, data = _sample()
model = recsys.ItemItem().fit(data)
tiers = online_retail_size_tiers(lines)
catalog = recsys.TierCatalog.from_pandas(
    tiers, item_col="item", family_col="family", tier_col="tier", price_col="price",
    feature_cols=["size"],
)
small = tiers.sort_values("tier").groupby("family").head(1)
viewed = small.loc[small["item"].isin(data.item_ids.external_ids), "item"].iloc[0]
_step("first upgrade", lambda: recsys.recommend_upgrade(model, catalog, item=viewed, n=3))
""",
}
_EPILOGUE = f"""
print({_MARK!r} + json.dumps({{"timings": timings, "kernels": _kernels()}}))
"""

_PROCESS_LABEL = {
    "import": "process: import recsys",
    "itemitem": "process: ItemItem fit + recommend",
    "als": "process: ALS fit + recommend",
    "cross-sell": "process: first cross-sell",
    "upgrade": "process: first upgrade",
    "demo": "process: python -m recsys.demo",
}


def _run_child(scenario: str, code_root: Path, cache_dir: Path, workdir: Path) -> dict:
    """Run one scenario in a fresh process; return its timings, kernel count and wall time."""
    env = dict(os.environ)
    env["NUMBA_CACHE_DIR"] = str(cache_dir)
    env["PYTHONPATH"] = str(code_root)
    env.pop("NUMBA_DISABLE_JIT", None)
    if scenario == "demo":
        args = [sys.executable, "-m", "recsys.demo"]
    else:
        args = [sys.executable, "-c", _PRELUDE + _SCENARIOS[scenario] + _EPILOGUE]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(args, env=env, cwd=workdir, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(
            f"cold-start child {scenario!r} ({code_root}) failed:\n{proc.stderr[-3000:]}"
        )
    result: dict = {"timings": {}, "kernels": None}
    for line in proc.stdout.splitlines():
        if line.startswith(_MARK):
            result = json.loads(line[len(_MARK) :])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["wall"] = (wall, cpu)
    return result


def _prime(code_root: Path, workdir: Path) -> None:
    """Import everything once (untimed) so both trees start with Python's bytecode cached."""
    with tempfile.TemporaryDirectory(prefix="recsys-cold-prime-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(code_root))
        code = (
            "import recsys, recsys.demo, recsys.datasets, recsys.datasets.catalogs, recsys.selling"
        )
        subprocess.run([sys.executable, "-c", code], env=env, cwd=workdir, check=True)


def measure(
    code_root: Path, scenarios: Sequence[str], repeats: int, workdir: Path
) -> dict[tuple[str, str], dict]:
    """Cold and warm runs of every scenario with the code at ``code_root``.

    Returns ``{(row, "cold" | "warm"): {"times": [(wall, cpu), ...], "kernels": n}}``.
    """
    rows: dict[tuple[str, str], dict] = {}
    for scenario in scenarios:
        for _ in range(repeats):
            cache = Path(tempfile.mkdtemp(prefix="recsys-cold-cache-"))
            try:
                for phase in ("cold", "warm"):
                    result = _run_child(scenario, code_root, cache, workdir)
                    named = dict(result["timings"])
                    named[_PROCESS_LABEL[scenario]] = result["wall"]
                    for row, seconds in named.items():
                        entry = rows.setdefault((row, phase), {"times": [], "kernels": None})
                        entry["times"].append(seconds)
                        if phase == "cold" and result["kernels"] is not None:
                            entry["kernels"] = result["kernels"]
            finally:
                shutil.rmtree(cache, ignore_errors=True)
    return rows


def _median(entry: dict, which: int) -> float:
    return statistics.median(t[which] for t in entry["times"])


def _table(
    ours: dict[tuple[str, str], dict], baseline: dict[tuple[str, str], dict] | None
) -> pd.DataFrame:
    order = list(dict.fromkeys(row for row, _ in ours))
    records = []
    for row in order:
        cold, warm = ours[(row, "cold")], ours[(row, "warm")]
        record: dict[str, object] = {
            "step": row,
            "cold (s)": _median(cold, 0),
            "cold CPU (s)": _median(cold, 1),
            "warm (s)": _median(warm, 0),
            "kernels": cold["kernels"],
        }
        if baseline is not None and (row, "cold") in baseline:
            b_cold, b_warm = baseline[(row, "cold")], baseline[(row, "warm")]
            record["before cold (s)"] = _median(b_cold, 0)
            record["before cold CPU (s)"] = _median(b_cold, 1)
            record["before warm (s)"] = _median(b_warm, 0)
            record["before kernels"] = b_cold["kernels"]
            record["speed-up (s)"] = _median(b_cold, 0) / max(_median(cold, 0), 1e-9)
            record["speed-up (CPU)"] = _median(b_cold, 1) / max(_median(cold, 1), 1e-9)
        records.append(record)
    table = pd.DataFrame.from_records(records)
    for column in ("kernels", "before kernels"):
        if column in table:
            table[column] = table[column].map(lambda v: "" if v is None or v != v else int(v))
    return table


def run(
    *,
    baseline: str | None = None,
    repeats: int = 1,
    scenarios: Sequence[str] | None = None,
    markdown: str | None = None,
) -> pd.DataFrame:
    """Measure every scenario cold and warm (and the baseline's, interleaved); print the table."""
    from benchmarks.report import show

    chosen = list(scenarios or [*_SCENARIOS, "demo"])
    load_before = os.getloadavg()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="recsys-cold-work-") as work:
        workdir = Path(work)
        roots = [ROOT] + ([Path(baseline).resolve()] if baseline else [])
        for root in roots:
            _prime(root, workdir)
        ours: dict[tuple[str, str], dict] = {}
        theirs: dict[tuple[str, str], dict] | None = {} if baseline else None
        for scenario in chosen:  # interleaved, so both see the same machine load
            ours.update(measure(ROOT, [scenario], repeats, workdir))
            if theirs is not None and baseline:
                theirs.update(measure(Path(baseline).resolve(), [scenario], repeats, workdir))
    load_after = os.getloadavg()
    table = _table(ours, theirs)
    title = (
        f"Cold start (fresh process and empty NUMBA_CACHE_DIR; warm = second process, same "
        f"cache), median of {repeats}; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after; {time.perf_counter() - start:.0f} s in all"
    )
    show(title, table, markdown)
    return table


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the cold-start benchmark."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks cold-start",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--baseline",
        help="a checkout of another version (e.g. a git worktree) to compare with, same run",
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs per measurement (median)")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[*_SCENARIOS, "demo"],
        help="repeatable; default all",
    )
    parser.add_argument("--markdown", help="append the table as Markdown to this file")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    run(
        baseline=args.baseline,
        repeats=args.repeats,
        scenarios=args.scenario,
        markdown=args.markdown,
    )


if __name__ == "__main__":
    main()
