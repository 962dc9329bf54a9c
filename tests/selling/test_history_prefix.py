"""Cross-sell with a customer on a neighbour table reads the history rows' prefixes, exactly.

A sparse EASE without a repeat term blends the customer's history into the
basket's score (``(1 - w) mean_basket B + w mean_history B``).  The history
rows are read by prefix, and the bound of :func:`recsys.core.neighbour_lookup.prefix_topn`
proves the list or sends the query to longer prefixes, then whole rows: the
answer is the whole-row walk's, bit for bit, and the documented score.
Tiny prefixes here force every branch: cut rows, second rounds, whole rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recsys.selling.cross_sell as cross_sell
from recsys import Interactions
from recsys.models.ease import EASE
from recsys.selling import Rules, recommend_cross_sell, recommend_cross_sell_batch
from tests.selling.test_fast_path import make_orders, same_frame

WHOLE_ROWS = {"_HISTORY_PREFIX": 1 << 40, "_HISTORY_PREFIX_MIN": 1 << 40}


@pytest.fixture(scope="module")
def model() -> EASE:
    """Customers x items (no baskets, so no repeat term): the history blend's model."""
    orders = make_orders(3, n_users=40, n_orders=400)
    data = Interactions.from_pandas(orders, user_col="user", item_col="item")
    fitted = EASE(l2=2.0, density=0.6, num_threads=1).fit(data)
    assert fitted.repeat_purchases_ is None
    assert np.diff(fitted.neighbours_.indptr).max() > 8  # rows longer than the prefixes below
    return fitted


def tiny_prefixes(patch: pytest.MonkeyPatch, prefix: int, candidates: int) -> None:
    patch.setattr(cross_sell, "_HISTORY_PREFIX", prefix)
    patch.setattr(cross_sell, "_HISTORY_PREFIX_MIN", min(prefix, 2))
    patch.setattr(cross_sell, "_HISTORY_BUDGET", 4 * prefix)
    patch.setattr(cross_sell, "_HISTORY_CANDIDATES", candidates)
    patch.setattr(cross_sell, "_HISTORY_WALK", 1)  # every cut query takes the prefix path


def whole_rows(call):
    with pytest.MonkeyPatch.context() as patch:
        for name, value in WHOLE_ROWS.items():
            patch.setattr(cross_sell, name, value)
        return call()


def reference(model: EASE, basket: list[int], user: int, n: int, w: float) -> pd.Series:
    """The documented score by hand: basket mean and history mean of rows of B, owned items and
    the basket out, items scoring > 0 ranked (score, then item), best sellers as the fill."""
    B = model.weights_.toarray().astype(np.float64)
    owned = model.user_items_[user].indices
    score = np.zeros(B.shape[0])
    if basket:
        score += (1 - w if owned.size else 1.0) * B[basket].mean(axis=0)
    if owned.size:
        score += (w if basket else 1.0) * B[owned].mean(axis=0)
    out = np.zeros(B.shape[0], bool)
    out[basket] = True
    out[owned] = True
    chosen = sorted(np.flatnonzero((score > 0) & ~out), key=lambda j: (-score[j], j))[:n]
    fill = [j for j in model.popular_item_rows() if not out[j] and j not in chosen]
    rows = chosen + fill[: n - len(chosen)]
    return pd.Series([score[j] if j in chosen else 0.0 for j in rows], index=rows)


@settings(max_examples=80, deadline=None)
@given(
    basket=st.lists(st.integers(0, 23), max_size=4, unique=True),
    user=st.integers(0, 39),
    n=st.integers(1, 10),
    prefix=st.sampled_from([1, 2, 4]),
    candidates=st.sampled_from([0, 1, 3, 20]),
    weight=st.sampled_from([None, 0.3, 1.0]),
)
def test_the_list_is_the_whole_rows_list(model, basket, user, n, prefix, candidates, weight):
    items = [f"i{i:02d}" for i in basket]
    u = f"u{user}"
    if u not in set(model.user_ids_.external_ids.tolist()):
        return

    def call():
        return recommend_cross_sell(model, items, n=n, user=u, user_weight=weight)

    with pytest.MonkeyPatch.context() as patch:
        tiny_prefixes(patch, prefix, candidates)
        got = call()
    want = whole_rows(call)
    same_frame(got, want)  # items, scores to the bit, because, counts, reasons
    rows = model.item_ids_.to_rows(basket and items).tolist() if basket else []
    ref = reference(
        model,
        rows,
        int(model.user_ids_.to_rows([u])[0]),
        n,
        cross_sell.DEFAULT_USER_WEIGHT if weight is None else weight,
    )
    got_rows = model.item_ids_.to_rows(got["item"].tolist())
    np.testing.assert_allclose(got["score"], ref.to_numpy(), rtol=1e-4, atol=1e-6)
    positive = ref.to_numpy() > 1e-4  # clear of float32 ties: the same items in the same order
    assert got_rows[positive].tolist() == ref.index.to_numpy()[positive].tolist()


def test_batches_and_rules_follow_the_same_rule(model, monkeypatch) -> None:
    """A batch, in chunks, proves or deepens query by query; group caps walk whole rows; the
    same lists."""
    tiny_prefixes(monkeypatch, 1, 1)
    monkeypatch.setattr(cross_sell, "_HISTORY_CHUNK", 5)  # 12 queries: 3 chunks
    users = model.user_ids_.external_ids[:12]
    baskets = pd.DataFrame(
        {
            "basket_id": np.repeat(np.arange(12), 2),
            "item": [f"i{(3 * q + k) % 24:02d}" for q in range(12) for k in range(2)],
            "user": np.repeat(users, 2),
        }
    )
    got = recommend_cross_sell_batch(model, baskets, n=6, user_col="user")
    want = whole_rows(lambda: recommend_cross_sell_batch(model, baskets, n=6, user_col="user"))
    same_frame(got, want)
    for q in range(12):
        single = recommend_cross_sell(model, baskets["item"][2 * q : 2 * q + 2], n=6, user=users[q])
        mine = got[got["basket_id"] == q].drop(columns="basket_id").reset_index(drop=True)
        same_frame(single, mine)
    groups = {f"i{i:02d}": f"g{i % 3}" for i in range(24)}
    attributes = pd.DataFrame({"family": pd.Series(groups)})
    capped = Rules(max_per_group=1, group_col="family", item_attributes=attributes)
    got = recommend_cross_sell(model, ["i01"], n=3, user=users[0], rules=capped)
    want = whole_rows(
        lambda: recommend_cross_sell(model, ["i01"], n=3, user=users[0], rules=capped)
    )
    same_frame(got, want)
    assert got["item"].map(groups).nunique() == 3


@pytest.mark.parametrize("walk", [1, 1 << 15])
def test_a_shop_front_call_reads_prefixes_and_is_proven(model, monkeypatch, walk) -> None:
    """The fast path is taken: history rows cut, the lookup proves the list in one pass; unless
    the tails are short (``_HISTORY_WALK``): then one walk of the whole rows."""
    calls = {"prefix": 0, "whole": 0}
    real_prefix, real_kernel = cross_sell.prefix_topn, cross_sell.constrained_topn_neighbours

    def counted_prefix(*args, **kw):
        calls["prefix"] += 1
        out = real_prefix(*args, **kw)
        calls["proven"] = bool(out[3].all())
        return out

    def counted_kernel(*args, query_limit=None, **kw):
        if query_limit is None or (np.asarray(query_limit) < 0).all():
            calls["whole"] += 1
        return real_kernel(*args, query_limit=query_limit, **kw)

    monkeypatch.setattr(cross_sell, "prefix_topn", counted_prefix)
    monkeypatch.setattr(cross_sell, "constrained_topn_neighbours", counted_kernel)
    tiny_prefixes(monkeypatch, 4, 20)
    monkeypatch.setattr(cross_sell, "_HISTORY_WALK", walk)
    user = model.user_ids_.external_ids[int(np.argmax(np.diff(model.user_items_.indptr)))]
    got = recommend_cross_sell(model, ["i00"], n=3, user=user)
    if walk == 1:
        assert calls["prefix"] == 1 and calls["whole"] == 0 and calls["proven"]
    else:
        assert calls["prefix"] == 0 and calls["whole"] == 1
    same_frame(got, whole_rows(lambda: recommend_cross_sell(model, ["i00"], n=3, user=user)))
