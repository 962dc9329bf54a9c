"""partial_fit: what each model guarantees against a full refit on the union of the data.

* ItemItem and Popularity: the same result as ``fit`` on the union (ItemItem
  recomputing only the neighbour lists that can change).
* ALS: an exact least-squares update of the touched rows; close to a refit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys import ALS, Interactions, ItemItem, NotFittedError, Popularity
from recsys.core.als import als_loss
from recsys.models import item_item as item_item_module
from tests.models.contract import in_id_order

KW = dict(user_col="user", item_col="item", weight_col="qty", basket_col="order")


def make_log(
    seed: int,
    n_users: int,
    n_items: int,
    n_orders: int,
    first_order: int = 0,
    user_offset: int = 0,
    item_offset: int = 0,
    zipf: float = 0.0,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_items + 1) ** zipf
    p /= p.sum()
    rows = []
    for order in range(first_order, first_order + n_orders):
        user = user_offset + int(rng.integers(n_users))
        for item in rng.choice(n_items, size=int(rng.integers(1, 5)), replace=False, p=p):
            rows.append((order, user, item_offset + int(item), int(rng.integers(1, 4))))
    return pd.DataFrame(rows, columns=["order", "user", "item", "qty"])


@pytest.fixture(scope="module")
def big_old() -> pd.DataFrame:
    """Many items, each in few orders: most neighbour lists are untouched by a small update."""
    return make_log(1, n_users=600, n_items=1500, n_orders=2500)


@pytest.fixture(scope="module")
def big_new(big_old: pd.DataFrame) -> pd.DataFrame:
    new = make_log(
        2, n_users=650, n_items=1520, n_orders=25, first_order=10_000
    )  # new users and items
    # more lines for two existing orders, by their own customers
    extend = (
        big_old[big_old["order"].isin([3, 4])]
        .drop_duplicates("order")
        .assign(item=[7, 1510], qty=2)
    )
    return pd.concat([new, extend], ignore_index=True)


@pytest.fixture
def spy_full_rebuilds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = item_item_module.ItemItem._full_table

    def spy(self, transactions):
        calls.append(transactions.shape[0])
        return original(self, transactions)

    monkeypatch.setattr(item_item_module.ItemItem, "_full_table", spy)
    return calls


def assert_same_tables(a, b, rtol: float = 0.0) -> None:
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.item_support, b.item_support)
    assert a.n_rows == b.n_rows
    np.testing.assert_allclose(a.scores, b.scores, rtol=rtol, atol=0)


# ---------------------------------------------------------------------------
# ItemItem
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("similarity", ["cosine", "jaccard", "lift", "confidence", "bm25"])
@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("use_baskets", [True, False])
def test_item_item_matches_a_refit_on_the_union(
    big_old, big_new, spy_full_rebuilds, similarity: str, binary: bool, use_baskets: bool
) -> None:
    params = dict(
        similarity=similarity,
        k=15,
        binary=binary,
        use_baskets=use_baskets,
        min_count=1,
        shrinkage=0.5 if similarity == "jaccard" else 0.0,
        num_threads=1,
    )
    union = Interactions.from_pandas(pd.concat([big_old, big_new]), **KW)
    refit = ItemItem(**params).fit(union)
    model = ItemItem(**params).fit(Interactions.from_pandas(big_old, **KW))
    spy_full_rebuilds.clear()
    model.partial_fit(Interactions.from_pandas(big_new, **KW))
    # weighted sums may round differently from the kernel's float32 accumulation
    assert_same_tables(model.neighbours_, refit.neighbours_, rtol=0 if binary else 1e-6)
    assert model.user_ids_ == refit.user_ids_ and model.item_ids_ == refit.item_ids_
    assert (model.similarity_matrix_ != refit.similarity_matrix_).nnz == 0 or not binary
    users = union.user_ids.external_ids[::7]
    a, b = model.recommend(users, n=8), refit.recommend(users, n=8)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-5)
    # only bm25 (global weights) and baskets-lift (the number of transactions changes) rebuild
    # everything
    full = similarity == "bm25" or (similarity == "lift" and use_baskets)
    if use_baskets or similarity == "confidence":
        assert bool(spy_full_rebuilds) == full, spy_full_rebuilds


def test_item_item_lift_on_users_updates_partially_without_new_users(
    big_old, spy_full_rebuilds
) -> None:
    # known users buying again: the number of transactions (users) is unchanged
    new = big_old.sample(4, random_state=0).assign(
        order=lambda d: d["order"] + 50_000, item=lambda d: (d["item"] * 7) % 1500
    )
    union = Interactions.from_pandas(pd.concat([big_old, new]), **KW)
    params = dict(similarity="lift", k=10, use_baskets=False, num_threads=1)
    model = ItemItem(**params).fit(Interactions.from_pandas(big_old, **KW))
    spy_full_rebuilds.clear()
    model.partial_fit(Interactions.from_pandas(new, **KW))
    assert not spy_full_rebuilds
    assert_same_tables(model.neighbours_, ItemItem(**params).fit(union).neighbours_)


def test_item_item_many_small_updates(big_old) -> None:
    """A stream of small updates ends where a single refit on everything does."""
    chunks = [make_log(10 + i, 700, 1550, 10, first_order=20_000 + 100 * i) for i in range(4)]
    params = dict(similarity="cosine", k=12, num_threads=1)
    model = ItemItem(**params).fit(Interactions.from_pandas(big_old, **KW))
    for chunk in chunks:
        model.partial_fit(Interactions.from_pandas(chunk, **KW))
    union = Interactions.from_pandas(pd.concat([big_old, *chunks]), **KW)
    # partial_fit appends new items and baskets after the known ones; a fit sorts them
    union = in_id_order(union, model.user_ids_, model.item_ids_, model._basket_ids)
    assert_same_tables(model.neighbours_, ItemItem(**params).fit(union).neighbours_)
    assert model._basket_ids == union.basket_ids
    np.testing.assert_array_equal(model._basket_users, union.basket_users)
    assert abs(model._transactions - union.basket_matrix).max() == 0


def test_item_item_min_count_and_small_k(spy_full_rebuilds) -> None:
    old = make_log(3, 50, 12, 300, zipf=0.5)
    new = make_log(4, 60, 14, 30, first_order=1000, zipf=0.5)
    for params in (
        dict(similarity="confidence", k=3, min_count=3),
        dict(similarity="jaccard", k=50, min_count=2),
    ):
        model = ItemItem(**params, num_threads=1).fit(Interactions.from_pandas(old, **KW))
        model.partial_fit(Interactions.from_pandas(new, **KW))
        refit = ItemItem(**params, num_threads=1).fit(
            Interactions.from_pandas(pd.concat([old, new]), **KW)
        )
        assert_same_tables(model.neighbours_, refit.neighbours_)


def test_item_item_bad_updates(big_old) -> None:
    model = ItemItem(k=5, num_threads=1).fit(Interactions.from_pandas(big_old, **KW))
    before = model.neighbours_
    no_baskets = Interactions.from_pandas(big_old.head(5), user_col="user", item_col="item")
    with pytest.raises(ValueError, match="basket_col"):
        model.partial_fit(no_baskets)
    stolen = big_old[big_old["order"] == 3].assign(user=999_999)  # order 3 belongs to someone else
    with pytest.raises(ValueError, match=r"basket\(s\) \[3\].*another user"):
        model.partial_fit(Interactions.from_pandas(stolen, **KW))
    strings = big_old.head(5).assign(user="u", item="x")
    with pytest.raises(ValueError, match="model's ID type"):
        model.partial_fit(Interactions.from_pandas(strings, **KW))
    with pytest.raises(TypeError, match="DataFrame"):
        model.partial_fit(big_old)
    assert model.neighbours_ is before  # failed updates change nothing
    with pytest.raises(NotFittedError):
        ItemItem().partial_fit(no_baskets)


def test_item_item_sparse_matrix_update() -> None:
    old = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]], dtype=np.float32))
    new = sp.csr_matrix(np.array([[0, 0, 0, 1], [0, 0, 1, 1], [1, 1, 1, 1]], dtype=np.float32))
    model = ItemItem(similarity="cosine", num_threads=1).fit(old).partial_fit(new)
    # sparse matrices get IDs 0..n-1: rows 0, 1 of `new` are the old users 0, 1
    union = old.copy()
    union.resize((3, 4))
    union = union + new
    assert_same_tables(
        model.neighbours_, ItemItem(similarity="cosine", num_threads=1).fit(union).neighbours_
    )


# ---------------------------------------------------------------------------
# Popularity
# ---------------------------------------------------------------------------


def test_popularity_matches_a_refit() -> None:
    old = make_log(5, 80, 30, 300, zipf=0.8).assign(
        country=lambda d: np.where(d["user"] % 3, "DE", "FR")
    )
    new = make_log(6, 100, 35, 60, first_order=1000, zipf=0.8).assign(
        country="SG"
    )  # users move to SG too
    kwargs = {**KW, "user_attribute_cols": ["country"]}
    for params in ({}, {"segment_col": "country"}):
        model = Popularity(**params).fit(Interactions.from_pandas(old, **kwargs))
        model.partial_fit(Interactions.from_pandas(new, **kwargs))
        union = Interactions.from_pandas(pd.concat([old, new]), **kwargs)
        refit = Popularity(**params).fit(in_id_order(union, model.user_ids_, model.item_ids_))
        np.testing.assert_array_equal(model.item_scores_, refit.item_scores_)
        if params:
            assert model.segment_ids_ == refit.segment_ids_
            np.testing.assert_array_equal(model.user_segments_, refit.user_segments_)
            np.testing.assert_array_equal(model.segment_scores_, refit.segment_scores_)
        users = [*refit.user_ids_.external_ids.tolist(), "nobody"]
        pd.testing.assert_frame_equal(model.recommend(users, n=6), refit.recommend(users, n=6))
    no_segments = Interactions.from_pandas(new, **KW)
    with pytest.raises(ValueError, match="segment_col"):
        Popularity(segment_col="country").fit(Interactions.from_pandas(old, **kwargs)).partial_fit(
            no_segments
        )


def test_decayed_popularity_needs_times() -> None:
    old = make_log(5, 20, 10, 50).assign(time=pd.Timestamp("2024-01-01"))
    model = Popularity(half_life_days=7).fit(Interactions.from_pandas(old, **KW, time_col="time"))
    with pytest.raises(ValueError, match="time_col"):
        model.partial_fit(Interactions.from_pandas(old, **KW))


# ---------------------------------------------------------------------------
# ALS
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def als_logs() -> tuple[pd.DataFrame, pd.DataFrame]:
    log = make_log(7, n_users=300, n_items=120, n_orders=2000, zipf=0.8)
    new = make_log(8, n_users=330, n_items=124, n_orders=250, first_order=5000, zipf=0.8)
    return log, new


# alpha=1: the loss below is computed on the raw weights as confidences
ALS_PARAMS = dict(factors=16, iterations=10, regularization=0.1, alpha=1.0, random_state=0)


def test_als_partial_fit_guarantees(als_logs) -> None:
    old, new = als_logs
    model = ALS(**ALS_PARAMS, num_threads=1).fit(Interactions.from_pandas(old, **KW))
    before_users, before_items = model.user_factors_.copy(), model.item_factors_.copy()
    new_data = Interactions.from_pandas(new, **KW)
    union = Interactions.from_pandas(pd.concat([old, new]), **KW)
    model.partial_fit(new_data)
    assert model.user_ids_ == union.user_ids and model.item_ids_ == union.item_ids
    np.testing.assert_allclose(model.user_items_.toarray(), union.matrix.toarray(), rtol=1e-6)
    assert model.user_factors_.shape == (len(union.user_ids), 16) and model.item_factors_.shape == (
        len(union.item_ids),
        16,
    )
    # untouched rows keep their factors
    touched_users = model.user_ids_.to_rows(new_data.user_ids.external_ids)
    touched_items = model.item_ids_.to_rows(new_data.item_ids.external_ids)
    untouched_users = np.setdiff1d(np.arange(len(before_users)), touched_users)
    untouched_items = np.setdiff1d(np.arange(len(before_items)), touched_items)
    np.testing.assert_array_equal(
        model.user_factors_[untouched_users], before_users[untouched_users]
    )
    np.testing.assert_array_equal(
        model.item_factors_[untouched_items], before_items[untouched_items]
    )
    # touched users: exactly their fold-in against the final item factors
    np.testing.assert_allclose(
        model.user_factors_[touched_users],
        model.fold_in_rows(model.user_items_[touched_users]),
        rtol=1e-5,
        atol=1e-6,
    )
    # new items are learned
    new_items = model.item_ids_.to_rows(
        np.setdiff1d(union.item_ids.external_ids, old["item"].unique())
    )
    assert new_items.size and (np.abs(model.item_factors_[new_items]).sum(axis=1) > 0).all()
    # derived state is rebuilt: the top-n index and Gramian agree with the factors
    users = union.user_ids.external_ids[:20]
    recs = model.recommend(users, n=5)
    direct = model.score_items(users[:1], recs.loc[recs["user"] == users[0], "item"])[0]
    np.testing.assert_allclose(
        recs.loc[recs["user"] == users[0], "score"], direct, rtol=1e-4, atol=1e-5
    )


def test_als_partial_fit_is_close_to_a_refit(als_logs) -> None:
    old, new = als_logs
    union = Interactions.from_pandas(pd.concat([old, new]), **KW)
    refit = ALS(**ALS_PARAMS, num_threads=1).fit(union)
    model = ALS(**ALS_PARAMS, num_threads=1).fit(Interactions.from_pandas(old, **KW))
    stale_users = np.zeros((len(union.user_ids), 16), dtype=np.float32)
    stale_users[: model.user_factors_.shape[0]] = model.user_factors_
    stale_items = np.zeros((len(union.item_ids), 16), dtype=np.float32)
    stale_items[: model.item_factors_.shape[0]] = model.item_factors_
    model.partial_fit(Interactions.from_pandas(new, **KW))
    confidence = union.matrix.tocsr()

    def loss(u: np.ndarray, i: np.ndarray) -> float:
        return als_loss(confidence, u, i, ALS_PARAMS["regularization"], num_threads=1)

    full, partial, stale = (
        loss(refit.user_factors_, refit.item_factors_),
        loss(model.user_factors_, model.item_factors_),
        loss(stale_users, stale_items),
    )
    assert partial <= 1.05 * full, (partial, full)
    assert partial < stale - 0.5 * (stale - full), (partial, stale, full)


def test_als_partial_fit_is_deterministic_across_threads(als_logs) -> None:
    old, new = als_logs
    results = []
    for threads in (1, 2, 1):
        model = ALS(**ALS_PARAMS, num_threads=threads).fit(Interactions.from_pandas(old, **KW))
        model.partial_fit(Interactions.from_pandas(new, **KW))
        results.append(model)
    for other in results[1:]:
        np.testing.assert_array_equal(other.user_factors_, results[0].user_factors_)
        np.testing.assert_array_equal(other.item_factors_, results[0].item_factors_)


def test_als_bad_updates(als_logs) -> None:
    old, _ = als_logs
    model = ALS(factors=4, iterations=2, random_state=0, num_threads=1).fit(
        Interactions.from_pandas(old, **KW)
    )
    before = model.user_factors_
    with pytest.raises(ValueError, match="model's ID type"):
        model.partial_fit(Interactions.from_pandas(old.head(3).assign(item="x"), **KW))
    with pytest.raises(TypeError):
        model.partial_fit(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NaN"):
        model.partial_fit(sp.csr_matrix(np.array([[np.nan]], dtype=np.float32)))
    assert model.user_factors_ is before
    with pytest.raises(NotFittedError):
        ALS().partial_fit(Interactions.from_pandas(old, **KW))


@pytest.mark.parametrize(
    "model, change",
    [
        (ALS(factors=4, iterations=2, random_state=0, num_threads=1), {"regularization": 1.0}),
        (ALS(factors=4, iterations=2, random_state=0, num_threads=1), {"factors": 8}),
        (ItemItem(k=5, num_threads=1), {"shrinkage": 2.0}),
        (ItemItem(k=5, num_threads=1), {"similarity": "lift"}),
        (Popularity(), {"half_life_days": 3.0}),
    ],
    ids=[
        "als-reg",
        "als-factors",
        "itemitem-shrinkage",
        "itemitem-similarity",
        "popularity-half-life",
    ],
)
def test_partial_fit_refuses_changed_hyper_parameters(model, change: dict) -> None:
    old = make_log(5, 20, 10, 60)
    model.fit(Interactions.from_pandas(old, **KW))
    model.set_params(**change)
    with pytest.raises(
        ValueError, match=f"hyper-parameters changed since fit.*{next(iter(change))}"
    ):
        model.partial_fit(Interactions.from_pandas(old.head(5), **KW))
    model.set_params(num_threads=1)  # serving-only parameters may change
    if not isinstance(model, ALS):
        return
    model.set_params(
        **{k: v for k, v in ALS(factors=4, iterations=9).get_params().items() if k in change},
        iterations=9,
    )
    model.partial_fit(Interactions.from_pandas(old.head(5), **KW))  # iterations only matter to fit


def test_failed_popularity_update_changes_nothing() -> None:
    kwargs = {**KW, "user_attribute_cols": ["country"]}
    old = make_log(5, 20, 10, 60).assign(country="DE")
    model = Popularity(segment_col="country").fit(Interactions.from_pandas(old, **kwargs))
    state = (model.item_scores_, model.segment_ids_, model.user_ids_)
    bad = make_log(6, 30, 12, 5, first_order=500).assign(
        country=49
    )  # ints where the segments are strings
    with pytest.raises(ValueError, match="mix types"):
        model.partial_fit(Interactions.from_pandas(bad, **kwargs))
    assert (model.item_scores_, model.segment_ids_, model.user_ids_) == state
