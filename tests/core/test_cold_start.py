"""Cold start: importing compiles nothing; a call compiles only the kernels it needs (issue 11).

Each check runs in a fresh interpreter: compiled specialisations are counted
per dispatcher of ``recsys.core`` (``len(dispatcher.signatures)``, which
counts those loaded from Numba's cache as well as those compiled).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_COUNT = """
import importlib, json, pkgutil
from numba.core.registry import CPUDispatcher
import recsys.core

def kernels():
    out = {}
    for info in pkgutil.walk_packages(recsys.core.__path__, "recsys.core."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and value.py_func.__module__ == info.name:
                out[f"{info.name}.{name}"] = [
                    len(value.signatures), bool(value.targetoptions.get("parallel"))
                ]
    return out
"""


def _run(body: str, cache_dir: Path | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    script = _COUNT + textwrap.dedent(body) + "\nprint('RESULT', json.dumps(result))\n"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])


def test_import_compiles_nothing(tmp_path: Path) -> None:
    """``import recsys`` (and every module of the core) compiles no kernel, even cold."""
    result = _run(
        """
        from numba.core import event
        events = []

        class Listener(event.Listener):
            def on_start(self, ev):
                events.append(ev.data["dispatcher"].py_func.__qualname__)

            def on_end(self, ev):
                pass

        event.register("numba:compile", Listener())
        import recsys, recsys.selling, recsys.models, recsys.datasets
        found = kernels()  # imports every module of recsys.core too
        result = {"events": events, "compiled": {k: v for k, v in found.items() if v[0]}}
        result["n_kernels"] = len(found)
        """,
        cache_dir=tmp_path,  # empty: nothing could even be loaded
    )
    assert result["events"] == [], result["events"]
    assert result["compiled"] == {}, result["compiled"]
    assert result["n_kernels"] > 20  # the walk did find the kernels


def test_small_calls_compile_no_parallel_kernel_and_one_specialisation_each() -> None:
    """Fit and serve on a small data set: serial paths only, one type per kernel.

    Every public entry point casts its arguments to the core's dtypes (ids
    int32, pointers int64, scores float32), so the same kernel is never
    compiled twice; small calls run in the calling thread, so no ``prange``
    kernel is compiled at all.
    """
    result = _run(
        """
        import numpy as np, pandas as pd, recsys
        from recsys.selling import TierCatalog, recommend_cross_sell, recommend_upgrade

        rng = np.random.default_rng(0)
        n = 3000
        basket = rng.integers(0, 700, n)
        log = pd.DataFrame({
            "user": basket % 200,  # every basket has one owner
            "item": rng.integers(0, 120, n).astype(str),
            "basket": basket,
        })
        data = recsys.Interactions.from_pandas(
            log, user_col="user", item_col="item", basket_col="basket"
        )
        item_item = recsys.ItemItem().fit(data)
        als = recsys.ALS(factors=8, iterations=3, random_state=0).fit(data)
        pop = recsys.Popularity().fit(data)
        users = list(data.user_ids)[:3]
        for model in (item_item, als, pop):
            model.recommend(users, n=5)
            model.recommend(list(data.user_ids)[:50], n=5)
        item_item.similar_items(["1", "2"], n=3)
        recommend_cross_sell(item_item, ["1", "2"], n=3)
        recommend_cross_sell(als, ["1", "2"], n=3)
        tiers = pd.DataFrame({
            "item": ["1", "2", "3", "4"], "family": ["a", "a", "b", "b"],
            "tier": [0, 1, 0, 1], "price": [1.0, 2.0, 1.0, 3.0],
        })
        catalog = TierCatalog.from_pandas(
            tiers, item_col="item", family_col="family", tier_col="tier", price_col="price"
        )
        recommend_upgrade(item_item, catalog, item="1", n=2)
        result = {k: v for k, v in kernels().items() if v[0]}
        """
    )
    assert result, "nothing was compiled or loaded: the scenario did not run the kernels"
    parallel = sorted(name for name, (n_sigs, par) in result.items() if par)
    assert parallel == [], f"parallel kernels compiled for small calls: {parallel}"
    repeated = {name: n for name, (n, _) in result.items() if n > 1}
    assert repeated == {}, f"kernels compiled for more than one type: {repeated}"


_READ_ONLY_PACKAGE = """
import warnings
from numba.core import caching

def refuse(self):  # the package's __pycache__ on a read-only file system
    raise OSError(30, "Read-only file system")

caching.InTreeCacheLocator.ensure_cache_path = refuse
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import numba, numpy as np, recsys
    from recsys.core.heap import sort_ascending
    from recsys._utils.cache import cache_dir
    keys = np.array([3, 1, 2], dtype=np.uint64)
    sort_ascending(keys, 3)
result = {
    "sorted": keys.tolist(),
    "cache_dir": cache_dir(),
    "numba_cache_dir": numba.config.CACHE_DIR,
    "hits": sum(sort_ascending.stats.cache_hits.values()),
    "warnings": [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)],
}
"""


def _run_read_only(tmp_path: Path, xdg: str) -> dict:
    env = dict(os.environ)
    env.pop("NUMBA_CACHE_DIR", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["XDG_CACHE_HOME"] = xdg
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir(exist_ok=True)
    script = _READ_ONLY_PACKAGE + "\nimport json\nprint('RESULT', json.dumps(result))\n"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])


def test_read_only_package_caches_in_the_user_cache_directory(tmp_path: Path) -> None:
    """A read-only site-packages: Numba falls back to $XDG_CACHE_HOME/numba, and it persists."""
    xdg = tmp_path / "xdg"
    first = _run_read_only(tmp_path, str(xdg))
    second = _run_read_only(tmp_path, str(xdg))
    assert first["sorted"] == [1, 2, 3] and first["warnings"] == []
    assert first["cache_dir"].startswith(str(xdg / "numba"))
    assert first["numba_cache_dir"] == ""  # Numba's own choice, untouched
    assert second["hits"] == 1  # the second process loaded the kernel instead of compiling it


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs an unwritable /proc path")
def test_nowhere_writable_falls_back_to_a_temporary_folder(tmp_path: Path) -> None:
    """Read-only package and no writable user cache: import works, kernels cache in TMPDIR."""
    first = _run_read_only(tmp_path, "/proc/nonexistent")
    second = _run_read_only(tmp_path, "/proc/nonexistent")
    fallback = str(tmp_path / "tmp" / f"recsys-numba-cache-{os.getuid()}")
    assert first["sorted"] == [1, 2, 3]
    assert first["numba_cache_dir"] == fallback
    assert first["cache_dir"].startswith(fallback)
    assert len(first["warnings"]) == 1 and "NUMBA_CACHE_DIR" in first["warnings"][0]
    assert second["hits"] == 1
