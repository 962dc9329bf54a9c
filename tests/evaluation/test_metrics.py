"""Tests of recsys.evaluation.metrics: hand-worked values, edge cases, properties."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.evaluation import (
    DEFAULT_METRICS,
    coverage,
    evaluate_ranking,
    hit_rate_at_k,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    novelty_at_k,
    precision_at_k,
    recall_at_k,
    revenue_at_k,
)

ACCURACY = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "hit_rate": hit_rate_at_k,
    "mrr": mrr_at_k,
    "map": map_at_k,
    "ndcg": ndcg_at_k,
}
L2 = math.log2(3)  # the discount of position 2 is 1 / log2(3)


# ---------------------------------------------------------------- fixtures
def two_user_case() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The hand-worked example used below.

    recommendations (rank order):
        A: a b c d       B: x y z w       D: a b   (D has nothing relevant: skipped)
    relevant:
        A: {b, d, e}     B: {x}           C: {q}   (C has no recommendations: scores 0)

    Rows are deliberately shuffled; the ``rank`` column orders them, and A's
    ranks have gaps (1, 5, 7, 9) that must close to positions 1..4.
    """
    recs = pd.DataFrame(
        {
            "user": ["B", "A", "D", "A", "B", "A", "B", "A", "B", "D"],
            "item": ["z", "c", "b", "a", "x", "d", "w", "b", "y", "a"],
            "rank": [3, 7, 2, 1, 1, 9, 4, 5, 2, 1],
        }
    )
    relevant = pd.DataFrame(
        {
            "user": ["A", "A", "A", "B", "C"],
            "item": ["b", "d", "e", "x", "q"],
            "weight": [3.0, 1.0, 2.0, 1.0, 1.0],
            "price": [10.0, 5.0, 7.0, 2.0, 100.0],
        }
    )
    return recs, relevant


def binary(relevant: pd.DataFrame) -> pd.DataFrame:
    return relevant[["user", "item"]]


# ------------------------------------------------------- hand-worked values
def test_hand_worked_k3() -> None:
    recs, rel = two_user_case()
    rel = binary(rel)
    # k=3: A's top 3 = a, b, c -> one hit (b) at position 2, |rel_A| = 3
    #      B's top 3 = x, y, z -> one hit (x) at position 1, |rel_B| = 1
    #      C has no recommendations -> 0 everywhere.  3 users evaluated.
    # precision: A 1/3, B 1/3, C 0
    assert precision_at_k(recs, rel, k=3) == pytest.approx((1 / 3 + 1 / 3) / 3)
    # recall: A 1/3, B 1/1, C 0
    assert recall_at_k(recs, rel, k=3) == pytest.approx((1 / 3 + 1) / 3)
    # hit: A 1, B 1, C 0
    assert hit_rate_at_k(recs, rel, k=3) == pytest.approx(2 / 3)
    # mrr: A 1/2, B 1/1, C 0
    assert mrr_at_k(recs, rel, k=3) == pytest.approx(1.5 / 3)
    # map: A (P@2 = 1/2) / min(3, 3) = 1/6; B (P@1 = 1) / min(1, 3) = 1
    assert map_at_k(recs, rel, k=3) == pytest.approx((1 / 6 + 1) / 3)
    # ndcg: A DCG = 1/log2(3), IDCG = 1 + 1/log2(3) + 1/log2(4); B 1/1
    ndcg_a = (1 / L2) / (1 + 1 / L2 + 1 / 2)
    assert ndcg_at_k(recs, rel, k=3) == pytest.approx((ndcg_a + 1) / 3)


def test_hand_worked_k4() -> None:
    recs, rel = two_user_case()
    rel = binary(rel)
    # k=4: A hits b@2 and d@4; B hits x@1
    assert precision_at_k(recs, rel, k=4) == pytest.approx((2 / 4 + 1 / 4) / 3)
    assert recall_at_k(recs, rel, k=4) == pytest.approx((2 / 3 + 1) / 3)
    # map A: (P@2 + P@4) / min(3, 4) = (1/2 + 2/4) / 3 = 1/3
    assert map_at_k(recs, rel, k=4) == pytest.approx((1 / 3 + 1) / 3)
    # ndcg A: DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3) + 1/log2(4)
    ndcg_a = (1 / L2 + 1 / math.log2(5)) / (1 + 1 / L2 + 1 / 2)
    assert ndcg_at_k(recs, rel, k=4) == pytest.approx((ndcg_a + 1) / 3)


def test_k1() -> None:
    recs, rel = two_user_case()
    rel = binary(rel)
    # k=1: A's top item a misses, B's x hits: every metric is 1 for B, 0 for A and C
    for name, metric in ACCURACY.items():
        assert metric(recs, rel, k=1) == pytest.approx(1 / 3), name


def test_weighted_ndcg() -> None:
    recs, rel = two_user_case()
    # weights A: b=3, d=1, e=2; k=3: DCG_A = 3/log2(3); IDCG_A = 3/1 + 2/log2(3) + 1/log2(4)
    ndcg_a = (3 / L2) / (3 + 2 / L2 + 1 / 2)
    # B: x (weight 1) at 1 -> 1; C -> 0
    assert ndcg_at_k(recs, rel, k=3) == pytest.approx((ndcg_a + 1) / 3)
    # weight_col=None ignores the weights
    assert ndcg_at_k(recs, rel, k=3, weight_col=None) == ndcg_at_k(recs, binary(rel), k=3)
    # a custom weight column name
    renamed = rel.rename(columns={"weight": "qty"})
    assert ndcg_at_k(recs, renamed, k=3, weight_col="qty") == pytest.approx((ndcg_a + 1) / 3)


def test_revenue() -> None:
    recs, rel = two_user_case()
    # k=3: A finds b (10), B finds x (2), C nothing -> 12 / 3
    assert revenue_at_k(recs, rel, k=3) == pytest.approx(4.0)
    # k=4: A also finds d (5) -> 17 / 3
    assert revenue_at_k(recs, rel, k=4) == pytest.approx(17 / 3)
    renamed = rel.rename(columns={"price": "value"})
    assert revenue_at_k(recs, renamed, k=3, price_col="value") == pytest.approx(4.0)


def test_revenue_needs_price_column() -> None:
    recs, rel = two_user_case()
    with pytest.raises(ValueError, match="price"):
        revenue_at_k(recs, binary(rel), k=3)
    bad = rel.assign(price=[1.0, -1.0, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="negative"):
        revenue_at_k(recs, bad, k=3)


def test_evaluate_ranking_matches_functions() -> None:
    recs, rel = two_user_case()
    result = evaluate_ranking(recs, rel, k=3, metrics=[*DEFAULT_METRICS, "revenue"])
    assert isinstance(result, dict)
    assert result["n_users"] == 3  # A, B, C
    assert result["n_users_skipped"] == 1  # D
    for name, metric in ACCURACY.items():
        assert result[name] == pytest.approx(metric(recs, rel, k=3)), name
    assert result["revenue"] == pytest.approx(4.0)


def test_evaluate_ranking_several_k() -> None:
    recs, rel = two_user_case()
    table = evaluate_ranking(recs, binary(rel), k=[1, 3, 4])
    assert isinstance(table, pd.DataFrame)
    assert table.index.tolist() == [1, 3, 4] and table.index.name == "k"
    assert list(table.columns) == [*DEFAULT_METRICS, "n_users", "n_users_skipped"]
    for cut in (1, 3, 4):
        for name, metric in ACCURACY.items():
            assert table.loc[cut, name] == pytest.approx(metric(recs, binary(rel), k=cut))


def test_evaluate_ranking_bad_metric_names() -> None:
    recs, rel = two_user_case()
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate_ranking(recs, rel, metrics=["precision", "auc"])
    with pytest.raises(ValueError, match="empty"):
        evaluate_ranking(recs, rel, metrics=[])
    with pytest.raises(ValueError, match="duplicates"):
        evaluate_ranking(recs, rel, k=[3, 3])
    assert evaluate_ranking(recs, rel, k=3, metrics="recall")["recall"] == pytest.approx(4 / 9)


def test_row_order_without_rank() -> None:
    # without a rank column, row order within each user is the ranking
    recs = pd.DataFrame({"user": [1, 2, 1, 2], "item": ["a", "a", "b", "b"]})
    rel = pd.DataFrame({"user": [1, 2], "item": ["b", "a"]})
    # user 1: b at position 2 -> RR 1/2; user 2: a at position 1 -> RR 1
    assert mrr_at_k(recs, rel, k=2) == pytest.approx(0.75)
    assert hit_rate_at_k(recs, rel, k=1) == pytest.approx(0.5)


def test_custom_columns() -> None:
    recs = pd.DataFrame(
        {"basket": ["o1", "o1", "o2"], "product": ["a", "b", "c"], "rank": [1, 2, 1]}
    )
    hidden = pd.DataFrame({"basket": ["o1", "o2"], "product": ["b", "d"]})
    assert hit_rate_at_k(recs, hidden, k=2, user_col="basket", item_col="product") == 0.5
    with pytest.raises(ValueError, match="user"):
        hit_rate_at_k(recs, hidden, k=2, item_col="product")


def test_no_hits_is_zero() -> None:
    recs = pd.DataFrame({"user": [1, 1], "item": ["a", "b"]})
    rel = pd.DataFrame({"user": [1], "item": ["z"]})
    for name, metric in ACCURACY.items():
        assert metric(recs, rel, k=2) == 0.0, name
    assert revenue_at_k(recs, rel.assign(price=5.0), k=2) == 0.0


def test_duplicate_relevant_rows_collapse() -> None:
    recs = pd.DataFrame({"user": [1, 1], "item": ["a", "b"]})
    rel = pd.DataFrame({"user": [1, 1, 1], "item": ["a", "a", "c"], "price": [3.0, 4.0, 1.0]})
    # relevant = {a, c}: recall 1/2 (not 2/3); the two rows of a sum to a revenue of 7
    assert recall_at_k(recs, rel, k=2) == pytest.approx(0.5)
    assert revenue_at_k(recs, rel, k=2) == pytest.approx(7.0)


# -------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", list(ACCURACY))
def test_k_must_be_positive(name: str) -> None:
    recs, rel = two_user_case()
    metric = ACCURACY[name]
    for bad in (0, -1):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            metric(recs, rel, k=bad)
    for bad in (1.5, True, "3"):
        with pytest.raises(TypeError, match="k must be an int"):
            metric(recs, rel, k=bad)


@pytest.mark.parametrize("name", list(ACCURACY))
def test_duplicate_recommendations_are_an_error(name: str) -> None:
    recs = pd.DataFrame({"user": [1, 1, 1], "item": ["a", "b", "a"], "rank": [1, 2, 3]})
    rel = pd.DataFrame({"user": [1], "item": ["a"]})
    with pytest.raises(ValueError, match="duplicated"):
        ACCURACY[name](recs, rel, k=3)


def test_tied_or_missing_ranks_are_an_error() -> None:
    rel = pd.DataFrame({"user": [1], "item": ["a"]})
    tied = pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "a"], "rank": [1, 1, 1]})
    with pytest.raises(ValueError, match="tie"):
        precision_at_k(tied, rel, k=2)
    missing = pd.DataFrame({"user": [1, 1], "item": ["a", "b"], "rank": [1, np.nan]})
    with pytest.raises(ValueError, match="rank"):
        precision_at_k(missing, rel, k=2)


def test_missing_columns_are_named() -> None:
    recs, rel = two_user_case()
    with pytest.raises(ValueError, match=r"recommendations is missing column\(s\) \['item'\]"):
        precision_at_k(recs.drop(columns="item"), rel)
    with pytest.raises(ValueError, match=r"relevant is missing column\(s\) \['user'\]"):
        recall_at_k(recs, rel.drop(columns="user"))
    with pytest.raises(ValueError, match="qty"):
        ndcg_at_k(recs, rel, weight_col="qty")
    with pytest.raises(TypeError, match="DataFrame"):
        precision_at_k(recs.to_dict(), rel)


def test_missing_ids_are_an_error() -> None:
    recs, rel = two_user_case()
    with pytest.raises(ValueError, match="missing value"):
        precision_at_k(recs.assign(user=[None, *recs["user"][1:]]), rel)


def test_nonpositive_weights_are_an_error() -> None:
    recs, rel = two_user_case()
    with pytest.raises(ValueError, match="weight"):
        ndcg_at_k(recs, rel.assign(weight=0.0))


def test_empty_frames() -> None:
    recs, rel = two_user_case()
    empty_recs = recs.iloc[:0]
    # no recommendations at all: every evaluated user scores 0
    for name, metric in ACCURACY.items():
        assert metric(empty_recs, rel, k=3) == 0.0, name
    result = evaluate_ranking(empty_recs, rel, k=3)
    assert result["n_users"] == 3 and result["n_users_skipped"] == 0
    # nothing relevant: nothing to evaluate
    with pytest.raises(ValueError, match="relevant is empty"):
        precision_at_k(recs, rel.iloc[:0], k=3)


def test_mismatched_id_types_warn() -> None:
    recs = pd.DataFrame({"user": [1, 2], "item": ["a", "b"]})
    rel = pd.DataFrame({"user": ["1", "2"], "item": ["a", "b"]})
    with pytest.warns(UserWarning, match="same type"):
        assert precision_at_k(recs, rel, k=1) == 0.0


# ------------------------------------------------------- beyond accuracy
def test_coverage() -> None:
    recs, _ = two_user_case()
    # top 2: A {a, b}, B {x, y}, D {a, b} -> {a, b, x, y} = 4 of 10
    assert coverage(recs, n_items=10, k=2) == pytest.approx(0.4)
    # top 1: {a, x} = 2 of 10
    assert coverage(recs, n_items=10, k=1) == pytest.approx(0.2)
    assert coverage(recs.iloc[:0], n_items=10) == 0.0
    with pytest.raises(ValueError, match="n_items"):
        coverage(recs, n_items=3, k=4)
    with pytest.raises(ValueError, match="n_items must be a positive integer"):
        coverage(recs, n_items=0)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        coverage(recs, n_items=10, k=0)


def test_novelty() -> None:
    recs = pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "c"], "rank": [1, 2, 1]})
    popularity = pd.Series({"a": 16, "b": 4, "c": 1})
    # n_users = 16: self-information a = 0, b = 2, c = 4 bits
    # user 1: (0 + 2) / 2 = 1; user 2: 4 -> mean 2.5
    assert novelty_at_k(recs, popularity, n_users=16, k=2) == pytest.approx(2.5)
    # k = 1: user 1 only a (0), user 2 c (4) -> 2
    assert novelty_at_k(recs, popularity, n_users=16, k=1) == pytest.approx(2.0)


def test_novelty_bad_input() -> None:
    recs = pd.DataFrame({"user": [1, 1], "item": ["a", "b"]})
    with pytest.raises(ValueError, match=r"missing from item_popularity.*'b'"):
        novelty_at_k(recs, pd.Series({"a": 1}), n_users=4)
    with pytest.raises(ValueError, match=r"\[1, n_users=4\]"):
        novelty_at_k(recs, pd.Series({"a": 1, "b": 5}), n_users=4)
    with pytest.raises(ValueError, match=r"\[1, n_users=4\]"):
        novelty_at_k(recs, pd.Series({"a": 1, "b": 0}), n_users=4)
    with pytest.raises(ValueError, match="recommendations is empty"):
        novelty_at_k(recs.iloc[:0], pd.Series({"a": 1}), n_users=4)
    with pytest.raises(TypeError, match="Series"):
        novelty_at_k(recs, {"a": 1, "b": 1}, n_users=4)


# ---------------------------------------------------------------- properties
def reference(
    recs: dict[int, list[int]], rel: dict[int, dict[int, float]], k: int
) -> dict[str, float]:
    """A plain per-user Python implementation of the documented formulas."""
    totals = dict.fromkeys(ACCURACY, 0.0)
    for user, relevant in rel.items():
        top = recs.get(user, [])[:k]
        flags = [item in relevant for item in top]
        hits = sum(flags)
        totals["precision"] += hits / k
        totals["recall"] += hits / len(relevant)
        totals["hit_rate"] += float(hits > 0)
        totals["mrr"] += next((1 / (i + 1) for i, f in enumerate(flags) if f), 0.0)
        totals["map"] += sum(sum(flags[: i + 1]) / (i + 1) for i, f in enumerate(flags) if f) / min(
            len(relevant), k
        )
        dcg = sum(
            relevant[item] / math.log2(i + 2) for i, item in enumerate(top) if item in relevant
        )
        ideal = sorted(relevant.values(), reverse=True)[:k]
        totals["ndcg"] += dcg / sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return {name: value / len(rel) for name, value in totals.items()}


@st.composite
def ranking_case(draw: st.DrawFn) -> tuple[dict[int, list[int]], dict[int, dict[int, float]], int]:
    n_items = draw(st.integers(1, 12))
    items = st.integers(0, n_items - 1)
    recs = draw(
        st.dictionaries(
            st.integers(0, 7), st.lists(items, unique=True, max_size=n_items), max_size=8
        )
    )
    weights = st.sampled_from([1.0, 2.0, 0.5, 3.0])
    rel = draw(
        st.dictionaries(
            st.integers(0, 7), st.dictionaries(items, weights, min_size=1), min_size=1, max_size=8
        )
    )
    return recs, rel, draw(st.integers(1, 14))


def to_frames(
    recs: dict[int, list[int]], rel: dict[int, dict[int, float]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rec_rows = [(u, i, r + 1) for u, items in recs.items() for r, i in enumerate(items)]
    rel_rows = [(u, i, w) for u, items in rel.items() for i, w in items.items()]
    rec_df = pd.DataFrame(rec_rows, columns=["user", "item", "rank"]).astype(
        {"user": "int64", "item": "int64"}
    )
    rec_df = rec_df.sample(frac=1.0, random_state=0)  # rank, not row order, must decide
    return rec_df, pd.DataFrame(rel_rows, columns=["user", "item", "weight"])


@settings(max_examples=100, deadline=None)
@given(ranking_case())
def test_matches_reference_and_bounds(case: tuple) -> None:
    recs, rel, k = case
    rec_df, rel_df = to_frames(recs, rel)
    expected = reference(recs, rel, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = evaluate_ranking(rec_df, rel_df, k=k)
        for name, metric in ACCURACY.items():
            value = metric(rec_df, rel_df, k=k)
            assert 0.0 <= value <= 1.0 + 1e-12, name
            assert value == pytest.approx(expected[name], abs=1e-12), name
            assert got[name] == pytest.approx(value), name
    assert got["n_users"] == len(rel)
    assert got["n_users_skipped"] == len(set(u for u, items in recs.items() if items) - set(rel))


@settings(max_examples=100, deadline=None)
@given(ranking_case())
def test_perfect_recommendations(case: tuple) -> None:
    _, rel, k = case
    # the ideal list: relevant items by decreasing weight, then some irrelevant ones
    recs = {u: sorted(items, key=lambda i: -items[i]) + [100, 101] for u, items in rel.items()}
    rec_df, rel_df = to_frames(recs, rel)
    sizes = np.array([len(items) for items in rel.values()])
    assert precision_at_k(rec_df, rel_df, k=k) == pytest.approx(np.mean(np.minimum(sizes, k) / k))
    assert recall_at_k(rec_df, rel_df, k=k) == pytest.approx(np.mean(np.minimum(sizes, k) / sizes))
    for metric in (hit_rate_at_k, mrr_at_k, map_at_k, ndcg_at_k):
        assert metric(rec_df, rel_df, k=k) == pytest.approx(1.0)
    if sizes.max() <= k:
        assert recall_at_k(rec_df, rel_df, k=k) == pytest.approx(1.0)


def test_many_users_fast() -> None:
    # 100k users x 10 recommendations; user u's only relevant item sits at position u % 10 + 1,
    # except every 10th user (u % 20 == 19) whose relevant item is never recommended.
    n_users, k = 100_000, 10
    users = np.repeat(np.arange(n_users), k)
    items = np.tile(np.arange(k), n_users) + 1000 * (users % 7)
    recs = pd.DataFrame(
        {"user": users, "item": items, "rank": np.tile(np.arange(1, k + 1), n_users)}
    )
    target = np.arange(n_users) % k
    relevant_item = target + 1000 * (np.arange(n_users) % 7)
    relevant_item[np.arange(n_users) % 20 == 19] = -1
    rel = pd.DataFrame({"user": np.arange(n_users), "item": relevant_item})
    start = time.perf_counter()
    result = evaluate_ranking(recs, rel, k=k)
    elapsed = time.perf_counter() - start
    found = relevant_item >= 0
    assert result["n_users"] == n_users
    assert result["hit_rate"] == pytest.approx(found.mean())
    assert result["mrr"] == pytest.approx(np.sum(1 / (target[found] + 1)) / n_users)
    assert result["precision"] == pytest.approx(found.mean() / k)
    assert elapsed < 20  # typically ~1 s; generous for slow CI machines
