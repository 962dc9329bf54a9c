"""Fixtures shared by test modules of more than one package."""

from __future__ import annotations

import types

import pytest

# The contract and the bad-input catalogue's shared checks assert outside test_*.py files:
# pytest explains their failures as in a test (registered before they are imported).
pytest.register_assert_rewrite("tests.bad_input", "tests.models.contract")

from recsys import ALS, Interactions, ItemItem, Popularity, TierCatalog  # noqa: E402
from tests.models.contract import DATA_KWARGS, make_log  # noqa: E402


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
