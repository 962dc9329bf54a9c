"""Smoke test of ``python -m benchmarks cross-sell`` on a tiny generated basket log.

It takes a few seconds.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from benchmarks import cross_sell as cs


@pytest.fixture(scope="module")
def split() -> cs.BasketSplit:
    return cs.make_split(cs.synthetic_log(n_users=120, n_items=60, n_baskets=600), "tiny", seeds=2)


def test_split_follows_the_protocol(split: cs.BasketSplit) -> None:
    train_items = set(split.train["item"])
    train_start = split.train.groupby("basket")["time"].min()
    assert (train_start < split.cut).all()
    for queries, hidden in zip(split.queries, split.hidden, strict=True):
        assert not set(hidden["basket"]) & set(
            split.train["basket"]
        )  # test baskets are later baskets
        assert set(hidden["item"]) <= train_items and set(queries["item"]) <= train_items
        assert set(queries["basket"]) == set(hidden["basket"])  # >= 1 visible item per test basket
        pairs = set(zip(queries["basket"], queries["item"], strict=True))
        assert not pairs & set(
            zip(hidden["basket"], hidden["item"], strict=True)
        )  # hidden is not visible
    assert not split.hidden[0]["item"].equals(split.hidden[1]["item"])  # seeds draw other items


def test_pair_rules_match_a_brute_force_reference(split: cs.BasketSplit) -> None:
    tm = cs.train_matrices(split)
    q, query_ids = cs.query_matrix(split, 0)
    got = cs.PairRules(tm, min_support=2).recommend(q)
    baskets = tm.baskets.toarray() > 0
    count = baskets.sum(axis=0)
    together = baskets.T.astype(int) @ baskets.astype(int)
    for row in range(q.shape[0]):
        basket = q.indices[q.indptr[row] : q.indptr[row + 1]]
        scored = []
        for j in range(split.items.size):
            if j in basket:
                continue
            rules = [
                (together[i, j] / count[i], together[i, j]) for i in basket if together[i, j] >= 2
            ]
            if rules:
                conf, pair_count = max(rules)
                scored.append((-conf, -pair_count, -count[j], j))
        expected = [j for *_, j in sorted(scored)][: cs.K]
        fill = [j for j in tm.popular if j not in basket and j not in expected]
        expected += fill[: cs.K - len(expected)]
        assert got[row].tolist() == expected, query_ids[row]


def test_cli_runs_the_benchmark(tmp_path, monkeypatch, capsys) -> None:
    from benchmarks.__main__ import main

    md = tmp_path / "cross_sell.md"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "benchmarks",
            "cross-sell",
            "--dataset",
            "synthetic",
            "--grid",
            "smoke",
            "--seeds",
            "2",
            "--markdown",
            str(md),
        ],
    )
    main()
    out = capsys.readouterr().out
    assert "Cross-sell quality, summary (synthetic" in out and "Cross-sell speed (synthetic" in out
    assert md.read_text().count("### ") == 4  # summary, every method, speed, splits


def test_run_returns_sane_tables() -> None:
    tables = cs.run(["synthetic"], grid="smoke", seeds=1, progress=None)
    table = tables["synthetic"]
    methods = table["method"].tolist()
    assert methods[:2] == [cs.RECOMMENDED.label, cs.PREVIOUS.label]
    assert {"popularity", "implicit tfidf, baskets x items, K=20"} <= set(methods)
    assert table[["HR@10", "MRR@10"]].stack().between(0, 1).all()
    assert (table["MRR@10"] <= table["HR@10"] + 1e-12).all()
    best = table.loc[table["group"] == "baseline", "HR / best baseline"]
    assert np.isclose(best.max(), 1.0)
    speed = tables["speed"]
    assert (speed["single == batch"] == "50/50").all()  # batch scoring is the single call's
    assert (speed["batch baskets/s (n=10, explain)"] > 0).all()
    assert tables["splits"].loc[0, "recommended: single == batch"] == "50/50"
    assert "across" not in tables  # one data set: nothing to compare across


def test_hits_agree_with_recsys_metrics() -> None:
    hidden = pd.DataFrame(
        {"basket": ["a", "b", "c"], "item": ["x", "y", "z"], "new": [True, True, False]}
    )
    recs = pd.DataFrame(
        {"basket": ["a", "a", "b", "c"], "item": ["w", "x", "q", "z"], "rank": [1, 2, 1, 11]}
    )
    # ranks only order a list (as in recsys.evaluation): "z" ranked 11 is basket c's first item
    assert cs.hits(recs, hidden).tolist() == [True, False, True]
    result = cs.Result("m", "ours")
    result.add(recs, hidden)
    assert result.hr == [pytest.approx(2 / 3)] and result.mrr == [pytest.approx(0.5)]
    assert result.hr_new == [pytest.approx(0.5)]
