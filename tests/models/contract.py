"""The contract every recommender must pass (as implicit's RecommenderBase test mixin).

A model's test module subclasses :class:`RecommenderContract` and implements
``make_model``; every test here then runs against that model.  Its ``log`` and
``data`` fixtures are in ``tests/models/conftest.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys import IdMap, Interactions, NotFittedError, Recommender
from recsys.data.interactions import aggregate_pairs


def make_log(
    seed: int = 0, n_users: int = 60, n_items: int = 40, n_orders: int = 240
) -> pd.DataFrame:
    """A small power-law purchase log with orders, string item IDs and a country per customer."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()
    rows = []
    for order in range(n_orders):
        user = int(rng.integers(n_users))
        size = int(rng.integers(1, 5))
        items = rng.choice(n_items, size=size, replace=False, p=popularity)
        for item in items:
            rows.append(
                (
                    f"o{order}",
                    user,
                    f"item{item:03d}",
                    int(rng.integers(1, 4)),
                    "DE" if user % 3 else "FR",
                )
            )
    return pd.DataFrame(rows, columns=["order", "user", "item", "qty", "country"])


#: How the contract builds interactions from a log (also for partial_fit's old and new parts).
DATA_KWARGS = dict(
    user_col="user",
    item_col="item",
    weight_col="qty",
    basket_col="order",
    user_attribute_cols=["country"],
)


def in_id_order(
    data: Interactions, user_ids: IdMap, item_ids: IdMap, basket_ids: IdMap | None = None
) -> Interactions:
    """``data`` with its users, items (and baskets) in the rows of the given maps.

    ``Interactions.from_pandas`` sorts the IDs, while ``partial_fit`` appends new users and
    items after the known ones: a refit on the union in the updated model's row order is the
    one that must equal the updated model row for row (ties included).
    """
    assert len(user_ids) == data.n_users and len(item_ids) == data.n_items
    users = user_ids.to_rows(data.user_ids.external_ids)  # the new row of every row of data
    items = item_ids.to_rows(data.item_ids.external_ids)
    pairs = data.matrix.tocoo()  # in CSR order: aligned with data.times
    matrix, times = aggregate_pairs(
        users[pairs.row], items[pairs.col], pairs.data, data.times, data.shape
    )
    basket_matrix = basket_users = basket_times = None
    if data.basket_ids is not None and data.basket_matrix is not None:
        assert data.basket_users is not None
        basket_ids = basket_ids or data.basket_ids
        rows = basket_ids.to_rows(data.basket_ids.external_ids)
        baskets = data.basket_matrix.tocoo()
        basket_matrix, _ = aggregate_pairs(
            rows[baskets.row], items[baskets.col], baskets.data, None, data.basket_matrix.shape
        )
        basket_users = np.empty_like(data.basket_users)
        basket_users[rows] = users[data.basket_users]
        if data.basket_times is not None:
            basket_times = np.empty_like(data.basket_times)
            basket_times[rows] = data.basket_times
    attributes = data.user_attributes
    if attributes is not None:
        attributes = attributes.iloc[np.argsort(users)]
    return Interactions(
        matrix=matrix,
        user_ids=user_ids,
        item_ids=item_ids,
        times=times,
        basket_matrix=basket_matrix,
        basket_ids=basket_ids,
        basket_users=basket_users,
        basket_times=basket_times,
        user_attributes=attributes,
        reference_time=data.reference_time,
        weight_col=data.weight_col,
    )


def split_log(log: pd.DataFrame, share: float = 0.75) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The log cut at an order boundary: the first ``share`` of its orders, and the rest."""
    orders = log["order"].unique()
    first = log["order"].isin(orders[: int(len(orders) * share)])
    return log[first], log[~first]


class RecommenderContract:
    """Tests every model must pass."""

    def make_model(self) -> Recommender:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, data: Interactions) -> Recommender:
        return cls().make_model().fit(data)

    # ------------------------------------------------------------ estimator
    def test_fit_returns_self_and_sets_fitted_state(self, data: Interactions) -> None:
        model = self.make_model()
        assert model.fit(data) is model
        assert model.item_ids_ == data.item_ids and model.user_ids_ == data.user_ids
        assert model.item_popularity_.shape == (data.n_items,)

    def test_params_round_trip(self) -> None:
        model = self.make_model()
        params = model.get_params()
        clone = type(model)(**params)
        assert clone.get_params() == params
        assert type(model).__name__ in repr(model)
        with pytest.raises(ValueError, match="no parameter"):
            model.set_params(not_a_param=1)

    def test_not_fitted(self) -> None:
        model = self.make_model()
        with pytest.raises(NotFittedError, match="fit"):
            model.recommend([0])
        with pytest.raises(NotFittedError):
            model.similar_items(["item000"])

    # ------------------------------------------------------------ recommend
    def test_recommend_frame_shape(self, fitted: Recommender, data: Interactions) -> None:
        users = data.user_ids.external_ids[:5]
        recs = fitted.recommend(users, n=3)
        assert list(recs.columns) == ["user", "item", "score", "rank"]
        assert recs.groupby("user").size().eq(3).all()
        assert recs["user"].drop_duplicates().tolist() == users.tolist()
        for _, group in recs.groupby("user"):
            assert group["rank"].tolist() == [1, 2, 3]
            assert (np.diff(group["score"].to_numpy()) <= 1e-6).all()

    # one test body runs for every model class (by design), hence differing_executors
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(n=st.integers(1, 45), exclude_count=st.integers(0, 10), seed=st.integers(0, 10_000))
    def test_exactly_n_and_never_excluded(
        self, fitted: Recommender, data: Interactions, n: int, exclude_count: int, seed: int
    ) -> None:
        rng = np.random.default_rng(seed)
        users = rng.choice(data.user_ids.external_ids, size=4, replace=False)
        excluded = rng.choice(data.item_ids.external_ids, size=exclude_count, replace=False)
        recs = fitted.recommend(users, n=n, exclude_items=excluded)
        assert not recs["item"].isin(excluded).any()
        assert not recs.duplicated(["user", "item"]).any()
        for user in users:
            seen = set(
                data.item_ids.to_external(data.matrix[data.user_ids.to_rows([user])[0]].indices)
            )
            got = recs.loc[recs["user"] == user, "item"]
            assert not got.isin(seen).any()
            remaining = data.n_items - len(seen | set(excluded))
            assert len(got) == min(n, remaining), (user, len(got), n, remaining, len(seen))

    def test_candidates_restrict_results(self, fitted: Recommender, data: Interactions) -> None:
        candidates = data.item_ids.external_ids[::3]
        recs = fitted.recommend(
            data.user_ids.external_ids[:5], n=5, candidates=candidates, exclude_seen=False
        )
        assert recs["item"].isin(candidates).all()
        assert recs.groupby("user").size().eq(5).all()

    def test_exclude_seen_false_can_return_seen(
        self, fitted: Recommender, data: Interactions
    ) -> None:
        recs = fitted.recommend(data.user_ids.external_ids[:3], n=data.n_items, exclude_seen=False)
        assert recs.groupby("user").size().eq(data.n_items).all()

    def test_unknown_user_gets_popularity_fallback(
        self, fitted: Recommender, data: Interactions
    ) -> None:
        recs = fitted.recommend(["nobody", data.user_ids.external_ids[0]], n=3)
        fallback = recs.loc[recs["user"] == "nobody", "item"].tolist()
        order = np.lexsort((np.arange(data.n_items), -fitted.item_popularity_))[:3]
        assert fallback == data.item_ids.to_external(order).tolist()

    def test_recommend_rows_matches_recommend(
        self, fitted: Recommender, data: Interactions
    ) -> None:
        users = data.user_ids.external_ids[:6]
        ids, scores = fitted.recommend_rows(data.user_ids.to_rows(users), 4)
        recs = fitted.recommend(users, n=4)
        assert recs["item"].tolist() == data.item_ids.to_external(ids.ravel()).tolist()
        np.testing.assert_allclose(recs["score"].to_numpy(), scores.ravel(), rtol=1e-6)

    def test_scores_agree_with_score_items(self, fitted: Recommender, data: Interactions) -> None:
        user = data.user_ids.external_ids[1]
        recs = fitted.recommend([user], n=5)
        direct = fitted.score_items([user], recs["item"])[0]
        np.testing.assert_allclose(recs["score"].to_numpy(), direct, rtol=1e-4, atol=1e-5)

    # ---------------------------------------------------------- row scoring
    def test_score_rows_match_recommend_rows(self, fitted: Recommender, data: Interactions) -> None:
        rows = np.array([0, 3, -1, 3, len(data.user_ids) - 1], dtype=np.int64)  # unknown, repeated
        for exclude_seen in (True, False):
            ids, scores = fitted.recommend_rows(rows, 6, exclude_seen=exclude_seen)
            every = fitted.score_rows(rows, np.arange(data.n_items))
            assert every.shape == (rows.size, data.n_items) and every.dtype == np.float32
            np.testing.assert_allclose(
                np.take_along_axis(every, ids, axis=1), scores, rtol=1e-4, atol=1e-5
            )
        # the unknown user gets the fallback's scores, exactly as recommend_rows gives them
        ids, scores = fitted.recommend_rows(np.array([-1]), data.n_items)
        np.testing.assert_array_equal(fitted.score_rows([-1], ids[0])[0], scores[0])
        # the same numbers as score_items, any item order, repeats and int dtype
        users = data.user_ids.external_ids[[0, 3]]
        items = data.item_ids.external_ids[[5, 0, 5, 9]]
        np.testing.assert_array_equal(
            fitted.score_rows(
                data.user_ids.to_rows(users).astype(np.int32),
                data.item_ids.to_rows(items).astype(np.uint16),
            ),
            fitted.score_items(users, items),
        )
        assert fitted.score_rows([], [1, 2]).shape == (0, 2)
        assert fitted.score_rows([1], np.empty(0, dtype=np.int64)).shape == (1, 0)

    def test_score_history_rows_match_recommend_for_history(
        self, fitted: Recommender, data: Interactions
    ) -> None:
        items = data.item_ids.external_ids
        carts = pd.DataFrame(
            {"cart": ["c1", "c1", "c2", "c3"], "item": [items[0], items[1], items[5], items[2]]}
        )
        recs = fitted.recommend_for_history(carts, n=6, query_col="cart", exclude_history=False)
        queries, histories = fitted.histories_to_csr(carts, query_col="cart", item_col="item")
        every = fitted.score_history_rows(histories, np.arange(data.n_items))
        assert every.shape == (len(queries), data.n_items) and every.dtype == np.float32
        for cart, group in recs.groupby("cart", sort=False):
            q = int(queries.to_rows([cart])[0])
            got = every[q, data.item_ids.to_rows(group["item"])]
            np.testing.assert_allclose(got, group["score"].to_numpy(), rtol=1e-4, atol=1e-5)
        # any sparse format and real dtype, duplicates summed: the same scores
        coo = histories.tocoo()
        doubled = sp.coo_matrix(
            (
                np.r_[coo.data, coo.data].astype(np.float64) / 2,
                (np.r_[coo.row, coo.row], np.r_[coo.col, coo.col]),
            ),
            shape=histories.shape,
        )
        np.testing.assert_allclose(
            fitted.score_history_rows(doubled, [4, 0, 4]), every[:, [4, 0, 4]], rtol=1e-6
        )
        empty = sp.csr_matrix((2, data.n_items), dtype=np.float32)
        assert fitted.score_history_rows(empty, [0, 1]).shape == (2, 2)

    def test_score_rows_bad_arguments(self, fitted: Recommender, data: Interactions) -> None:
        n_users, n_items = len(data.user_ids), data.n_items
        for bad, error, message in [
            ([n_users], IndexError, r"user_rows must be in \[-1, "),
            ([-2], IndexError, "unknown user"),
            ([0.0], TypeError, "integers"),
            ([True], TypeError, "integers"),
            ([[0]], ValueError, "1-D"),
        ]:
            with pytest.raises(error, match=message):
                fitted.score_rows(bad, [0])
        for bad, error, message in [
            ([-1], IndexError, r"item_rows must be in \[0, "),
            ([n_items], IndexError, "item_rows"),
            ([1.5], TypeError, "integers"),
            (0, ValueError, "1-D"),
        ]:
            with pytest.raises(error, match=message):
                fitted.score_rows([0], bad)
            with pytest.raises(error, match=message):
                fitted.score_history_rows(sp.csr_matrix((1, n_items), dtype=np.float32), bad)
        one = sp.csr_matrix(([1.0], [0], [0, 1]), shape=(1, n_items))
        with pytest.raises(TypeError, match="scipy.sparse"):
            fitted.score_history_rows(one.toarray(), [0])
        with pytest.raises(ValueError, match=f"one column per item of the model \\({n_items}\\)"):
            fitted.score_history_rows(sp.csr_matrix((1, n_items + 1)), [0])
        with pytest.raises(ValueError, match="finite"):
            fitted.score_history_rows(one * np.inf, [0])
        with pytest.raises(ValueError, match="finite"):
            fitted.score_history_rows(one * 1e300, [0])  # beyond float32
        with pytest.raises(TypeError, match="real weights"):
            fitted.score_history_rows(one.astype(np.complex64), [0])
        with pytest.raises(NotFittedError):
            self.make_model().score_rows([0], [0])
        with pytest.raises(NotFittedError):
            self.make_model().score_history_rows(one, [0])

    def test_bad_arguments(self, fitted: Recommender) -> None:
        for bad_n in (0, -1):
            with pytest.raises(ValueError, match="positive"):
                fitted.recommend([0], n=bad_n)
        with pytest.raises(TypeError):
            fitted.recommend([0], n=2.5)  # type: ignore[arg-type]
        with pytest.raises(KeyError, match="unknown item"):
            fitted.recommend([0], exclude_items=["no-such-item"])
        with pytest.raises(TypeError, match="single"):
            fitted.recommend(0)  # type: ignore[arg-type]

    def test_empty_and_huge_requests(self, fitted: Recommender, data: Interactions) -> None:
        empty = fitted.recommend([], n=3)
        assert list(empty.columns) == ["user", "item", "score", "rank"] and empty.empty
        huge = fitted.recommend([data.user_ids.external_ids[0]], n=10**9, exclude_seen=False)
        assert len(huge) == data.n_items

    # -------------------------------------------------------------- history
    def test_recommend_for_history(self, fitted: Recommender, data: Interactions) -> None:
        carts = pd.DataFrame(
            {"cart": ["c1", "c1", "c2"], "item": ["item000", "item001", "item005"]}
        )
        recs = fitted.recommend_for_history(carts, n=4, query_col="cart")
        assert list(recs.columns) == ["cart", "item", "score", "rank"]
        assert recs.groupby("cart").size().eq(4).all()
        assert not recs.loc[recs["cart"] == "c1", "item"].isin(["item000", "item001"]).any()
        with pytest.raises(KeyError, match="unknown item"):
            fitted.recommend_for_history(pd.DataFrame({"user": [1], "item": ["zzz"]}))
        with pytest.warns(UserWarning, match="ignored 1"):
            fitted.recommend_for_history(
                pd.DataFrame({"user": [1, 1], "item": ["zzz", "item000"]}), unknown_items="ignore"
            )
        with pytest.raises(ValueError, match="missing column"):
            fitted.recommend_for_history(pd.DataFrame({"user": [1]}))

    # -------------------------------------------------------------- similar
    def test_similar_items(self, fitted: Recommender, data: Interactions) -> None:
        items = data.item_ids.external_ids[:4]
        sims = fitted.similar_items(items, n=5)
        assert list(sims.columns) == ["item", "similar_item", "score", "rank"]
        assert sims.groupby("item").size().eq(5).all()
        assert (sims["item"] != sims["similar_item"]).all()
        with pytest.raises(KeyError):
            fitted.similar_items(["no-such-item"])

    def test_refit_is_deterministic(self, data: Interactions) -> None:
        users = data.user_ids.external_ids[:10]
        a = self.make_model().fit(data).recommend(users, n=5)
        b = self.make_model().fit(data).recommend(users, n=5)
        pd.testing.assert_frame_equal(a, b)

    # ----------------------------------------------------------- persistence
    def test_save_load_round_trip(self, fitted: Recommender, data: Interactions, tmp_path) -> None:
        path = tmp_path / "model.npz"
        fitted.save(path)
        loaded = recsys.load(path, expected=type(fitted))
        assert type(loaded) is type(fitted) and loaded.get_params() == fitted.get_params()
        assert loaded.user_ids_ == fitted.user_ids_ and loaded.item_ids_ == fitted.item_ids_
        assert loaded.item_ids_.external_ids.dtype == fitted.item_ids_.external_ids.dtype
        assert (loaded.user_items_ != fitted.user_items_).nnz == 0
        np.testing.assert_array_equal(loaded.item_popularity_, fitted.item_popularity_)
        users = [*data.user_ids.external_ids.tolist(), "nobody"]
        items = data.item_ids.external_ids
        for kwargs in (
            {},
            {"exclude_seen": False},
            {"exclude_items": items[:5]},
            {"candidates": items[::2]},
        ):
            pd.testing.assert_frame_equal(
                loaded.recommend(users, n=7, **kwargs), fitted.recommend(users, n=7, **kwargs)
            )
        rows = np.r_[np.arange(len(data.user_ids)), -1]
        for a, b in zip(
            loaded.recommend_rows(rows, 5), fitted.recommend_rows(rows, 5), strict=True
        ):
            np.testing.assert_array_equal(a, b)
        pd.testing.assert_frame_equal(
            loaded.similar_items(items, n=4), fitted.similar_items(items, n=4)
        )
        carts = pd.DataFrame({"cart": ["c1", "c1", "c2"], "item": [items[0], items[1], items[5]]})
        pd.testing.assert_frame_equal(
            loaded.recommend_for_history(carts, n=6, query_col="cart"),
            fitted.recommend_for_history(carts, n=6, query_col="cart"),
        )
        np.testing.assert_array_equal(
            loaded.score_items(users[:5], items), fitted.score_items(users[:5], items)
        )
        basket = [items[0], items[3]]
        pd.testing.assert_frame_equal(
            recsys.recommend_cross_sell(loaded, basket, n=5, user=users[0]),
            recsys.recommend_cross_sell(fitted, basket, n=5, user=users[0]),
        )
        # compressed files hold the same model
        fitted.save(tmp_path / "small.npz", compress=True)
        again = recsys.load(tmp_path / "small.npz")
        pd.testing.assert_frame_equal(again.recommend(users, n=3), fitted.recommend(users, n=3))

    def test_save_needs_fit(self, tmp_path) -> None:
        with pytest.raises(NotFittedError):
            self.make_model().save(tmp_path / "model.npz")
        assert not list(tmp_path.iterdir())

    # ------------------------------------------------------------ partial_fit
    def make_refit(self, updated: Recommender) -> Recommender:
        """The unfitted model whose fit on the union must equal ``updated`` (after partial_fit)."""
        return self.make_model()

    def test_partial_fit(self, log: pd.DataFrame, data: Interactions) -> None:
        model = self.make_model()
        if not hasattr(model, "partial_fit"):
            pytest.skip(f"{type(model).__name__} has no partial_fit")
        old, new = split_log(log)
        new = new.assign(item=new["item"].where(new.index % 7 != 0, "brand-new"))  # plus a new item
        union = Interactions.from_pandas(pd.concat([old, new]), **DATA_KWARGS)
        model.fit(Interactions.from_pandas(old, **DATA_KWARGS))
        new_data = Interactions.from_pandas(new, **DATA_KWARGS)
        assert model.partial_fit(new_data) is model
        union = in_id_order(union, model.user_ids_, model.item_ids_)  # new IDs come last
        assert model.user_ids_ == union.user_ids and model.item_ids_ == union.item_ids
        np.testing.assert_allclose(model.user_items_.toarray(), union.matrix.toarray(), rtol=1e-6)
        np.testing.assert_array_equal(model.item_popularity_, np.diff(union.matrix.tocsc().indptr))
        # the contract still holds: exactly n unseen items for old and new users, new items too
        users = union.user_ids.external_ids
        recs = model.recommend(users, n=5)
        assert recs.groupby("user").size().eq(5).all()
        seen = set(zip(*(union.to_pandas()[c] for c in ("user", "item")), strict=True))
        assert not any((u, i) in seen for u, i in zip(recs["user"], recs["item"], strict=True))
        assert (
            model.recommend(users[:3], n=2, candidates=["brand-new"], exclude_seen=False)["item"]
            .eq("brand-new")
            .all()
        )
        assert len(model.similar_items(["brand-new"], n=3)) == 3
        if not isinstance(model, recsys.ALS):  # exact: the same as a refit on the union of the logs
            refit = self.make_refit(model).fit(union)
            a, b = model.recommend(users, n=6), refit.recommend(users, n=6)
            pd.testing.assert_frame_equal(a.drop(columns="score"), b.drop(columns="score"))
            np.testing.assert_allclose(a["score"], b["score"], rtol=1e-5, atol=1e-6)
            pd.testing.assert_frame_equal(
                model.similar_items(union.item_ids.external_ids, n=4).drop(columns="score"),
                refit.similar_items(union.item_ids.external_ids, n=4).drop(columns="score"),
            )
        with pytest.raises(NotFittedError):
            self.make_model().partial_fit(new_data)
