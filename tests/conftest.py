"""Fixtures shared by test modules of more than one package."""

from __future__ import annotations

import os
import subprocess
import types
from pathlib import Path

import pytest

# The contract and the bad-input catalogue's shared checks assert outside test_*.py files:
# pytest explains their failures as in a test (registered before they are imported).
pytest.register_assert_rewrite("tests.bad_input", "tests.models.contract")

from recsys import ALS, Interactions, ItemItem, Popularity, TierCatalog  # noqa: E402
from tests.models.contract import DATA_KWARGS, make_log  # noqa: E402


def _commit_seed() -> int | None:
    """Return a seed made from the checked-out commit (``None`` outside a git checkout)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return int(head[:8], 16) if head else None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """In CI (``CI`` set), Hypothesis draws from a seed fixed by the commit under test.

    The same commit then draws the same examples, so a CI failure replays
    locally (``CI=true python -m pytest``), while every commit still explores
    new ones.  ``--hypothesis-seed`` on the command line wins; outside CI the
    draws stay random.  (Runs before Hypothesis' own ``pytest_configure``, which
    reads the option.)
    """
    if not os.environ.get("CI") or config.getoption("hypothesis_seed", None) is not None:
        return
    seed = _commit_seed()
    if seed is not None:
        config.option.hypothesis_seed = str(seed)


def pytest_report_header(config: pytest.Config) -> str | None:
    """Name the Hypothesis seed a CI run draws from."""
    seed = config.getoption("hypothesis_seed", None)
    return f"hypothesis seed: {seed}" if seed is not None else None


@pytest.fixture(scope="module")
def ctx() -> types.SimpleNamespace:
    """The bad-input catalogue's world: a log, its interactions, three fitted models, a catalog."""
    log = make_log(seed=2, n_users=40, n_items=25, n_orders=160)
    data = Interactions.from_pandas(log, **DATA_KWARGS)
    items = data.item_ids.external_ids
    models = {
        "ALS": ALS(factors=4, iterations=2, random_state=0, num_threads=1).fit(data),
        "ItemItem": ItemItem(k=8, num_threads=1).fit(data),
        "Popularity": Popularity(segment_col="country", num_threads=1).fit(data),
    }
    catalog = TierCatalog.from_mapping(
        {"f": list(items[:3]), "g": list(items[5:8])},
        prices={items[0]: 10.0, items[1]: 12.0, items[2]: 20.0},
    )
    return types.SimpleNamespace(
        log=log,
        data=data,
        items=items,
        users=data.user_ids.external_ids,
        models=models,
        catalog=catalog,
    )
