"""Tests of recsys.evaluation.evaluate.

Hand-worked values, agreement with the metrics, the user accounting.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import recsys
from recsys.evaluation import (
    coverage,
    evaluate,
    evaluate_ranking,
    ndcg_at_k,
    novelty_at_k,
    revenue_at_k,
)
from recsys.exceptions import UnknownIdError

# ------------------------------------------------------------------ fixtures
#: Fixed top-4 lists of the hand-worked case (a function "model").
LISTS = {"A": ["a", "b", "c", "d"], "B": ["x", "y", "z", "w"], "D": ["a", "b"]}


def fixed_lists(users: np.ndarray, n: int) -> pd.DataFrame:
    """Recommend LISTS[user][:n] to each asked user; C gets nothing."""
    rows = [
        (u, item, rank) for u in users for rank, item in enumerate(LISTS.get(u, [])[:n], start=1)
    ]
    return pd.DataFrame(rows, columns=["user", "item", "rank"])


def hand_case() -> tuple[pd.DataFrame, pd.DataFrame]:
    """train knows A, B, C, D; test: A -> {b, d, e}, B -> {x}, C -> {q}, E -> {h} (E is new)."""
    train = pd.DataFrame(
        {
            "user": ["A", "A", "B", "C", "D", "D", "D"],
            "item": ["f", "g", "f", "g", "f", "h", "a"],
        }
    )
    test = pd.DataFrame(
        {
            "user": ["A", "A", "A", "B", "C", "E"],
            "item": ["b", "d", "e", "x", "q", "h"],
            "weight": [3.0, 1.0, 2.0, 1.0, 1.0, 1.0],
            "price": [10.0, 5.0, 7.0, 2.0, 100.0, 1.0],
        }
    )
    return train, test


def random_case(seed: int = 0) -> tuple[recsys.Interactions, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 3000
    log = pd.DataFrame({"user": rng.integers(0, 150, n), "item": rng.zipf(1.6, n) % 80})
    log = log.drop_duplicates().reset_index(drop=True)
    is_test = rng.random(len(log)) < 0.25
    train = recsys.Interactions.from_pandas(log[~is_test], user_col="user", item_col="item")
    test = log[is_test].assign(
        price=lambda d: 1.0 + d["item"] % 7, weight=lambda d: 1.0 + d["item"] % 3
    )
    return train, test


# --------------------------------------------------------- hand-worked values
def test_hand_worked_values_at_k3() -> None:
    train, test = hand_case()
    out = evaluate(
        {"fixed": fixed_lists},
        train,
        test,
        k=3,
        metrics=["precision", "recall", "hit_rate", "mrr", "map"],
    )
    # evaluated: A, B, C (E is unknown to train and skipped by default)
    # top-3  A: a b c -> hit b at 2 (|rel| = 3);  B: x y z -> hit x at 1;  C: nothing -> 0
    row = out.iloc[0]
    assert row["model"] == "fixed" and row["k"] == 3
    assert row["precision"] == pytest.approx((1 / 3 + 1 / 3 + 0) / 3)
    assert row["recall"] == pytest.approx((1 / 3 + 1 + 0) / 3)
    assert row["hit_rate"] == pytest.approx(2 / 3)
    assert row["mrr"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert row["map"] == pytest.approx(((1 / 2) / 3 + 1 + 0) / 3)  # AP_A = P@2 / min(3, 3)
    assert (row["n_users"], row["n_users_skipped"], row["n_users_unknown"]) == (3, 0, 1)


def test_hand_worked_ndcg_revenue_coverage_novelty_at_k4() -> None:
    train, test = hand_case()
    out = evaluate(
        {"fixed": fixed_lists}, train, test, k=4, metrics=["ndcg", "revenue", "coverage"]
    ).iloc[0]
    # graded nDCG, A: hits b (gain 3) at 2, d (gain 1) at 4; ideal b, e, d = 3, 2, 1
    dcg_a = 3 / np.log2(3) + 1 / np.log2(5)
    idcg_a = 3 + 2 / np.log2(3) + 1 / np.log2(4)
    assert out["ndcg"] == pytest.approx((dcg_a / idcg_a + 1.0 + 0.0) / 3)
    assert out["revenue"] == pytest.approx((10 + 5 + 2 + 0) / 3)
    # recommended to evaluated users A, B: a b c d x y z w; of the training catalogue
    # {f, g, h, a} only a
    assert out["coverage"] == pytest.approx(1 / 4)
    # novelty needs training popularity of every recommended item: b, c, ... are not in train
    with pytest.raises(ValueError, match="not in train"):
        evaluate({"fixed": fixed_lists}, train, test, k=4, metrics=["novelty"])


def test_novelty_hand_worked() -> None:
    train, test = hand_case()

    def popular(users: np.ndarray, n: int) -> pd.DataFrame:  # f: 3 of 4 users, g: 2 of 4
        return pd.DataFrame(
            {
                "user": np.repeat(users, 2),
                "item": ["f", "g"] * len(users),
                "rank": [1, 2] * len(users),
            }
        )

    out = evaluate({"popular": popular}, train, test, k=[1, 2], metrics=["novelty", "coverage"])
    assert out["novelty"].tolist() == pytest.approx([-np.log2(3 / 4), (-np.log2(3 / 4) + 1.0) / 2])
    assert out["coverage"].tolist() == pytest.approx([1 / 4, 2 / 4])


def test_popularity_baseline_and_several_models_in_one_call() -> None:
    train, test = hand_case()
    data = recsys.Interactions.from_pandas(train, user_col="user", item_col="item")
    models = {"popularity": recsys.Popularity().fit(data), "fixed": fixed_lists}
    out = evaluate(models, data, test, k=[1, 2], metrics=["hit_rate", "precision"])
    assert out[["model", "k"]].values.tolist() == [
        ["popularity", 1],
        ["popularity", 2],
        ["fixed", 1],
        ["fixed", 2],
    ]
    assert list(out.columns) == [
        "model",
        "k",
        "hit_rate",
        "precision",
        "n_users",
        "n_users_skipped",
        "n_users_unknown",
    ]
    # popularity (users per item): f 3, g 2, h 1, a 1 (ties by first appearance).
    # Seen items excluded:
    #   A (f, g) -> h, a ;  B (f) -> g, h ;  C (g) -> f, h.
    # Relevant: A {b d e}, B {x}, C {q}: no hit.
    pop = out[out["model"] == "popularity"]
    assert pop["hit_rate"].tolist() == [0.0, 0.0]
    fixed = out[out["model"] == "fixed"]
    assert fixed["hit_rate"].tolist() == pytest.approx([1 / 3, 2 / 3])  # B at 1, A's b at 2


def test_long_form_by_melt() -> None:
    train, test = hand_case()
    out = evaluate({"fixed": fixed_lists}, train, test, k=[1, 3], metrics=["recall", "mrr"])
    tidy = out.melt(id_vars=["model", "k"], value_vars=["recall", "mrr"], var_name="metric")
    assert len(tidy) == 4 and set(tidy["metric"]) == {"recall", "mrr"}


# ------------------------------------------------------------ user accounting
def test_users_without_relevant_items_are_skipped_and_counted() -> None:
    train, test = hand_case()
    out = evaluate(
        {"fixed": fixed_lists}, train, test, k=3, metrics=["hit_rate"], users=["A", "D", "D", "Z"]
    )
    # D and Z have no test rows: skipped; only A is scored (B, C not asked for)
    assert out.loc[0, ["n_users", "n_users_skipped", "n_users_unknown"]].tolist() == [1, 2, 0]
    assert out.loc[0, "hit_rate"] == 1.0


@pytest.mark.parametrize("how, n_users, hit_rate", [("skip", 3, 2 / 3), ("include", 4, 2 / 4)])
def test_unknown_users_option(how: str, n_users: int, hit_rate: float) -> None:
    train, test = hand_case()
    out = evaluate(
        {"fixed": fixed_lists}, train, test, k=3, metrics=["hit_rate"], unknown_users=how
    )
    assert out.loc[0, ["n_users", "n_users_unknown"]].tolist() == [n_users, 1]
    assert out.loc[0, "hit_rate"] == pytest.approx(hit_rate)


def test_unknown_users_included_get_the_popularity_fallback() -> None:
    train, test = hand_case()
    data = recsys.Interactions.from_pandas(train, user_col="user", item_col="item")
    model = recsys.Popularity().fit(data)
    only_e = test[test["user"] == "E"]  # E is new and bought h
    out = evaluate(
        {"pop": model}, data, only_e, k=[3, 4], metrics=["hit_rate"], unknown_users="include"
    )
    # fallback f, g, then the tie a, h in sorted ID order: h at position 4
    assert out["hit_rate"].tolist() == [0.0, 1.0]
    with pytest.raises(UnknownIdError, match="1 test user"):
        evaluate({"pop": model}, data, test, unknown_users="raise")
    with pytest.raises(ValueError, match="all 1 are unknown"):
        evaluate({"pop": model}, data, only_e)


def test_configurable_columns_and_dataframe_train() -> None:
    train, test = hand_case()
    train = train.rename(columns={"user": "customer", "item": "sku"})
    test = test.rename(columns={"user": "customer", "item": "sku"})
    out = evaluate(
        {"fixed": fixed_lists},
        train,
        test,
        k=3,
        metrics=["recall"],
        user_col="customer",
        item_col="sku",
    )
    assert out.loc[0, "recall"] == pytest.approx((1 / 3 + 1 + 0) / 3)


# ------------------------------------------------- agreement with the metrics
def test_agrees_with_evaluate_ranking_for_fitted_models_any_batch_size() -> None:
    train, test = random_case()
    models = {
        "popularity": recsys.Popularity().fit(train),
        "item-item": recsys.ItemItem(k=20).fit(train),
        "als": recsys.ALS(factors=8, iterations=3, random_state=0).fit(train),
    }
    ks = [1, 5, 10]
    metrics = [
        "precision",
        "recall",
        "hit_rate",
        "mrr",
        "map",
        "ndcg",
        "revenue",
        "coverage",
        "novelty",
    ]
    out = evaluate(models, train, test, k=ks, metrics=metrics, batch_size=17)
    # batching changes nothing (but the order of a float sum)
    pd.testing.assert_frame_equal(
        out, evaluate(models, train, test, k=ks, metrics=metrics), rtol=1e-12
    )
    known = test[test["user"].isin(train.user_ids.external_ids)]
    users = pd.unique(known["user"])
    popularity = pd.Series(models["als"].item_popularity_, index=train.item_ids.external_ids)
    for name, model in models.items():
        recs = model.recommend(users, n=10)
        expected = evaluate_ranking(recs, known, k=ks, metrics=metrics[:7])
        got = out[out["model"] == name].set_index("k")
        for metric in metrics[:7]:
            np.testing.assert_allclose(
                got[metric], expected[metric], rtol=1e-12, err_msg=f"{name} {metric}"
            )
        assert (got["n_users"] == expected["n_users"]).all()
        for cut in ks:
            assert got.loc[cut, "coverage"] == pytest.approx(coverage(recs, train.n_items, k=cut))
            assert got.loc[cut, "novelty"] == pytest.approx(
                novelty_at_k(recs, popularity, train.n_users, k=cut)
            )
        assert got.loc[10, "ndcg"] == pytest.approx(ndcg_at_k(recs, known, k=10))
        assert got.loc[5, "revenue"] == pytest.approx(revenue_at_k(recs, known, k=5))


def test_single_model_and_default_metrics() -> None:
    train, test = random_case(1)
    out = evaluate(recsys.Popularity().fit(train), train, test)
    assert out["model"].tolist() == ["Popularity"]
    assert list(out.columns[2:8]) == ["precision", "recall", "hit_rate", "mrr", "map", "ndcg"]


def test_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    train, test = random_case(2)
    evaluate(
        {"pop": recsys.Popularity().fit(train)}, train, test, show_progress=True, batch_size=50
    )
    assert "evaluate" in capsys.readouterr().err


# --------------------------------------------------------------------- errors
def test_errors() -> None:
    train, test = hand_case()
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate({"f": fixed_lists}, train, test, metrics=["precision", "speed"])
    with pytest.raises(ValueError, match="unknown_users"):
        evaluate({"f": fixed_lists}, train, test, unknown_users="drop")
    with pytest.raises(ValueError, match="not asked for"):
        evaluate({"f": lambda users, n: pd.DataFrame({"user": ["Z"], "item": ["a"]})}, train, test)
    with pytest.raises(TypeError, match="must return a DataFrame"):
        evaluate({"f": lambda users, n: None}, train, test)
    with pytest.raises(ValueError, match="needs the column 'cost'"):
        evaluate({"f": fixed_lists}, train, test, metrics=["revenue"], price_col="cost")
    with pytest.raises(ValueError, match="no user left"):
        evaluate({"f": fixed_lists}, train, test, users=[1, 2])
    with pytest.raises(ValueError, match="test is empty"):
        evaluate({"f": fixed_lists}, train, test.iloc[:0])
    with pytest.raises(ValueError, match="k has duplicates"):
        evaluate({"f": fixed_lists}, train, test, k=[5, 5])
    with pytest.raises(TypeError, match="models must be"):
        evaluate(["not", "a", "model"], train, test)
    with pytest.raises(recsys.NotFittedError):
        evaluate({"unfitted": recsys.ALS()}, train, test)


def test_warns_when_a_model_was_fitted_on_other_users() -> None:
    train, test = random_case(3)
    other, _ = random_case(4)  # every user of train, and more: drop some
    other = recsys.Interactions.from_pandas(
        other.to_pandas().query("user % 2 == 0"), user_col="user", item_col="item"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate({"pop": recsys.Popularity().fit(other)}, train, test, metrics=["hit_rate"])
    assert any("fitted on other users" in str(w.message) for w in caught)
