"""ItemItem(similarity="rp3beta"): the model on top of the RP3beta neighbour kernel.

The kernel itself is checked against dense NumPy references in
``tests/core/test_cooccurrence.py``; here: the model's tables equal the
reference on its own transactions, ``partial_fit`` equals a refit bit for bit,
and cross-sell, explanations, save/load and parameter checks work on it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys import Interactions, ItemItem
from recsys.models import item_item as item_item_module
from recsys.selling.cross_sell import recommend_cross_sell, recommend_cross_sell_batch
from tests.core.test_cooccurrence import dacrema_rp3beta
from tests.models.test_incremental import KW, assert_same_tables, make_log


@pytest.fixture(scope="module")
def old_log() -> pd.DataFrame:
    return make_log(1, n_users=500, n_items=1200, n_orders=2500)


@pytest.fixture(scope="module")
def new_log(old_log: pd.DataFrame) -> pd.DataFrame:
    new = make_log(2, n_users=520, n_items=1210, n_orders=20, first_order=10_000)
    extend = (  # two existing orders get more lines, by their own customers
        old_log[old_log["order"].isin([3, 4])].drop_duplicates("order").assign(item=[7, 1205])
    )
    return pd.concat([new, extend], ignore_index=True)


def rp3(**kw: object) -> ItemItem:
    params: dict[str, object] = {"similarity": "rp3beta", "k": 12, "num_threads": 1}
    params.update(kw)
    return ItemItem(**params)  # type: ignore[arg-type]


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("use_baskets", [True, False])
def test_partial_fit_equals_a_refit(
    old_log, new_log, monkeypatch, binary: bool, use_baskets: bool
) -> None:
    rebuilds: list[int] = []
    original = item_item_module.ItemItem._full_table

    def spy(self, transactions):
        rebuilds.append(transactions.shape[0])
        return original(self, transactions)

    params = {"binary": binary, "use_baskets": use_baskets, "alpha": 0.8, "beta": 0.4}
    union = Interactions.from_pandas(pd.concat([old_log, new_log]), **KW)
    refit = rp3(**params).fit(union)
    model = rp3(**params).fit(Interactions.from_pandas(old_log, **KW))
    monkeypatch.setattr(item_item_module.ItemItem, "_full_table", spy)
    model.partial_fit(Interactions.from_pandas(new_log, **KW))
    if use_baskets:  # only the rows that can change were recomputed (over users: most items)
        assert not rebuilds
    assert model.item_ids_ == refit.item_ids_
    # the same float32 sums in the same order: bit for bit
    assert_same_tables(model.neighbours_, refit.neighbours_)
    users = union.user_ids.external_ids[::9]
    pd.testing.assert_frame_equal(model.recommend(users, n=6), refit.recommend(users, n=6))


def test_tables_are_top_k_and_l1_normalised(old_log) -> None:
    model = rp3(k=7).fit(Interactions.from_pandas(old_log, **KW))
    table = model.neighbours_
    lengths = np.diff(table.indptr)
    assert lengths.max() == 7
    row = np.repeat(np.arange(lengths.size), lengths)
    sums = np.bincount(row, weights=table.scores.astype(np.float64), minlength=lengths.size)
    np.testing.assert_allclose(sums[lengths > 0], 1.0, rtol=1e-5)
    assert model.basket_prior_ is None and model.conditional_probability_ is None


logs = st.lists(st.tuples(st.integers(0, 25), st.integers(0, 11)), min_size=1, max_size=80)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=logs,
    alpha=st.floats(0.0, 2.0),
    beta=st.floats(0.0, 1.0),
    k=st.integers(1, 6),
    use_baskets=st.booleans(),
)
def test_model_matches_the_dense_reference(lines, alpha, beta, k, use_baskets) -> None:
    log = pd.DataFrame(lines, columns=["order", "item"])
    log["user"] = log["order"] % 7  # every basket has one owner
    data = Interactions.from_pandas(log, user_col="user", item_col="item", basket_col="order")
    model = rp3(k=k, alpha=alpha, beta=beta, use_baskets=use_baskets).fit(data)
    X = data.transactions if use_baskets else data.matrix
    expected = dacrema_rp3beta(X, alpha, beta, min(k, max(X.shape[1] - 1, 1)))
    got = model.similarity_matrix_.toarray().astype(np.float64)
    both = (got > 0) & (expected > 0)
    np.testing.assert_allclose(got[both], expected[both], rtol=2e-5, atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=1), expected.sum(axis=1), atol=1e-5)


def test_cross_sell_and_explanations(old_log) -> None:
    data = Interactions.from_pandas(old_log, **KW)
    model = rp3().fit(data)
    basket = data.item_ids.external_ids[:3].tolist()
    user = data.user_ids.external_ids[0]
    recs = recommend_cross_sell(model, basket, n=5, user=user)
    assert len(recs) == 5 and not set(recs["item"]) & set(basket)
    explained = recs[recs["because"].notna()]
    assert len(explained) and (explained["together_count"] > 0).all()
    batch = recommend_cross_sell_batch(
        model,
        pd.DataFrame({"basket": 1, "item": basket, "user": user}),
        n=5,
        basket_col="basket",
        item_col="item",
        user_col="user",
    )
    assert batch["item"].tolist() == recs["item"].tolist()
    np.testing.assert_allclose(batch["score"], recs["score"], rtol=1e-6)


def test_save_load_keeps_alpha_beta(old_log, tmp_path) -> None:
    model = rp3(alpha=0.6, beta=0.3).fit(Interactions.from_pandas(old_log, **KW))
    model.save(tmp_path / "rp3.npz")
    again = recsys.load(tmp_path / "rp3.npz")
    assert (again.alpha, again.beta) == (0.6, 0.3)
    assert_same_tables(again.neighbours_, model.neighbours_)


def test_set_params_then_partial_fit_refuses(old_log, new_log) -> None:
    model = rp3().fit(Interactions.from_pandas(old_log, **KW))
    model.set_params(beta=0.9)
    with pytest.raises(ValueError, match="beta"):
        model.partial_fit(Interactions.from_pandas(new_log, **KW))


@pytest.mark.parametrize(
    "kw", [{"alpha": -1.0}, {"beta": -0.1}, {"alpha": float("nan")}, {"beta": "high"}]
)
def test_bad_alpha_beta(old_log, kw) -> None:
    with pytest.raises((ValueError, TypeError), match="alpha|beta"):
        rp3(**kw).fit(Interactions.from_pandas(old_log.head(50), **KW))


def test_defaults_and_get_params() -> None:
    params = ItemItem().get_params()
    assert {"alpha", "beta"} <= set(params)
    assert params["alpha"] >= 0 and params["beta"] >= 0
