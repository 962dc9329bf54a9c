"""One time decay for every model: recsys.data.time_decay and half_life_days on the models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import recsys
from recsys.data.time_decay import (
    SECONDS_PER_DAY,
    check_half_life_days,
    decay_matrix,
    decay_weights,
)

REF = pd.Timestamp("2024-06-30")


@settings(max_examples=100, deadline=None)
@given(
    ages=st.lists(st.floats(-100, 3000), min_size=1, max_size=30),
    half_life=st.floats(0.01, 1000),
)
def test_decay_weights_match_the_definition(ages: list[float], half_life: float) -> None:
    times = REF.value / 1e9 - np.asarray(ages) * SECONDS_PER_DAY
    got = decay_weights(times, REF, half_life)
    want = np.array([0.5 ** (max(a, 0.0) / half_life) for a in ages])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-300)
    assert ((got > 0) | (want < 1e-300)).all() and (got <= 1).all()


def test_a_half_life_halves() -> None:
    times = np.array([(REF - pd.Timedelta(d, "D")).value / 1e9 for d in (0, 7, 14)])
    assert decay_weights(times, REF, 7).tolist() == [1.0, 0.5, 0.25]
    # a timezone-aware reference is the same instant
    aware = REF.tz_localize("UTC").tz_convert("Europe/Berlin")
    assert decay_weights(times, aware, 7).tolist() == [1.0, 0.5, 0.25]


@pytest.mark.parametrize("bad", [0, -1, np.nan, np.inf, True, "7", [7]])
def test_bad_half_life(bad) -> None:
    with pytest.raises(ValueError, match="half_life_days must be a positive number of days"):
        check_half_life_days(bad)
    with pytest.raises(ValueError, match="ALS\\(half_life_days=...\\) must be a positive"):
        check_half_life_days(bad, "ALS(half_life_days=...)")
    with pytest.raises(ValueError, match="positive number of days"):
        decay_weights(np.zeros(1), REF, bad)


def test_decay_matrix_per_entry_and_per_row() -> None:
    m = sp.csr_matrix(np.array([[1.0, 2.0], [0.0, 4.0]], dtype=np.float32))
    day = SECONDS_PER_DAY
    ref_s = REF.value / 1e9
    per_entry = decay_matrix(m, np.array([ref_s, ref_s - day, ref_s - 2 * day]), REF, 1.0, "x")
    assert per_entry.toarray().tolist() == [[1.0, 1.0], [0.0, 1.0]]
    per_row = decay_matrix(m, np.array([ref_s - day, ref_s]), REF, 1.0, "x", per_row=True)
    assert per_row.toarray().tolist() == [[0.5, 1.0], [0.0, 4.0]]
    assert decay_matrix(m, None, None, None, "x") is m
    with pytest.raises(ValueError, match="x needs interactions with event times"):
        decay_matrix(m, None, None, 3.0, "x")
    with pytest.raises(ValueError, match="one time per row"):
        decay_matrix(m, np.zeros(3), REF, 3.0, "x", per_row=True)


def _log() -> pd.DataFrame:
    """Old baskets pair a with b; recent baskets pair a with c."""
    rows = []
    for o in range(30):
        old = o < 20
        day = o if old else 300 + o
        rows += [
            (o, f"u{o % 7}", "a", day),
            (o, f"u{o % 7}", "b" if old else "c", day),
        ]
    df = pd.DataFrame(rows, columns=["order", "user", "item", "day"])
    df["time"] = pd.Timestamp("2023-01-01") + pd.to_timedelta(df["day"], unit="D")
    return df


def _data(with_time: bool = True) -> recsys.Interactions:
    return recsys.Interactions.from_pandas(
        _log(),
        user_col="user",
        item_col="item",
        basket_col="order",
        time_col="time" if with_time else None,
    )


def test_item_item_half_life_favours_recent_co_purchases() -> None:
    data = _data()
    plain = recsys.ItemItem(similarity="cosine").fit(data)
    decayed = recsys.ItemItem(similarity="cosine", half_life_days=30).fit(data)
    first = plain.similar_items(["a"], n=1)["similar_item"].iloc[0]
    assert first == "b"  # 20 old baskets beat 10 recent ones without decay
    assert decayed.similar_items(["a"], n=1)["similar_item"].iloc[0] == "c"
    same = recsys.ItemItem(similarity="cosine", half_life_days=None).fit(data)
    pd.testing.assert_frame_equal(same.similar_items(["a"]), plain.similar_items(["a"]))


def test_item_item_half_life_needs_a_weighted_similarity_and_times() -> None:
    for similarity in ("confidence", "jaccard", "lift"):
        with pytest.raises(ValueError, match="needs a weighted similarity"):
            recsys.ItemItem(similarity=similarity, half_life_days=30).fit(_data())
    with pytest.raises(ValueError, match="needs interactions with event times"):
        recsys.ItemItem(similarity="cosine", half_life_days=30).fit(_data(with_time=False))
    with pytest.raises(ValueError, match="positive number of days"):
        recsys.ItemItem(similarity="cosine", half_life_days=-3).fit(_data())
    model = recsys.ItemItem(similarity="cosine", half_life_days=30).fit(_data())
    with pytest.raises(ValueError, match="cannot partial_fit"):
        model.partial_fit(_data())


def test_als_half_life_is_the_decayed_matrix() -> None:
    """ALS(half_life_days=h) on the data equals ALS on the pairs decayed by the shared function."""
    data = _data()
    kwargs = dict(factors=4, iterations=3, random_state=0, num_threads=1)
    decayed = recsys.ALS(half_life_days=45, **kwargs).fit(data)
    weights = data.matrix.data * decay_weights(data.times, data.reference_time, 45)
    by_hand = sp.csr_matrix(
        (weights.astype(np.float32), data.matrix.indices, data.matrix.indptr),
        shape=data.matrix.shape,
    )
    reference = recsys.ALS(**kwargs).fit(
        recsys.Interactions.from_csr(
            by_hand, data.user_ids.external_ids, data.item_ids.external_ids
        )
    )
    np.testing.assert_allclose(decayed.item_factors_, reference.item_factors_, rtol=1e-5, atol=1e-6)
    plain = recsys.ALS(**kwargs).fit(data)
    assert not np.allclose(plain.item_factors_, decayed.item_factors_)
    with pytest.raises(ValueError, match="ALS\\(half_life_days=...\\) needs interactions"):
        recsys.ALS(half_life_days=45, **kwargs).fit(_data(with_time=False))
    with pytest.raises(ValueError, match="cannot partial_fit"):
        decayed.partial_fit(data)
    assert recsys.ALS(half_life_days=45).get_params()["half_life_days"] == 45


def test_popularity_uses_the_shared_decay() -> None:
    data = _data()
    model = recsys.Popularity(half_life_days=60).fit(data)
    pair_weight = decay_weights(data.times, data.reference_time, 60)
    want = np.bincount(data.matrix.indices, weights=pair_weight, minlength=data.n_items)
    np.testing.assert_allclose(model.item_scores_, want, rtol=1e-6)
    with pytest.raises(ValueError, match="positive number of days"):
        recsys.Popularity(half_life_days=0).fit(data)


def test_decayed_models_save_and_load(tmp_path) -> None:
    data = _data()
    for model in (
        recsys.ItemItem(similarity="bm25", half_life_days=30),
        recsys.ALS(factors=3, iterations=2, random_state=0, half_life_days=30),
        recsys.Popularity(half_life_days=30),
    ):
        model.fit(data)
        model.save(tmp_path / "m.npz")
        loaded = recsys.load(tmp_path / "m.npz")
        assert loaded.half_life_days == 30
        users = data.user_ids.external_ids
        pd.testing.assert_frame_equal(loaded.recommend(users, n=2), model.recommend(users, n=2))
