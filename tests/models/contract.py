"""The contract every recommender must pass (as implicit's RecommenderBase test mixin).

A model's test module subclasses :class:`RecommenderContract` and implements
``make_model``; every test here then runs against that model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys import Interactions, NotFittedError, Recommender


def make_log(seed: int = 0, n_users: int = 60, n_items: int = 40, n_orders: int = 240) -> pd.DataFrame:
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
            rows.append((f"o{order}", user, f"item{item:03d}", int(rng.integers(1, 4)), "DE" if user % 3 else "FR"))
    return pd.DataFrame(rows, columns=["order", "user", "item", "qty", "country"])


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return make_log()


@pytest.fixture(scope="module")
def data(log: pd.DataFrame) -> Interactions:
    return Interactions.from_pandas(log, user_col="user", item_col="item", weight_col="qty", basket_col="order",
                                    user_attribute_cols=["country"])


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
    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors])
    @given(n=st.integers(1, 45), exclude_count=st.integers(0, 10), seed=st.integers(0, 10_000))
    def test_exactly_n_and_never_excluded(self, fitted: Recommender, data: Interactions,
                                          n: int, exclude_count: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        users = rng.choice(data.user_ids.external_ids, size=4, replace=False)
        excluded = rng.choice(data.item_ids.external_ids, size=exclude_count, replace=False)
        recs = fitted.recommend(users, n=n, exclude_items=excluded)
        assert not recs["item"].isin(excluded).any()
        assert not recs.duplicated(["user", "item"]).any()
        for user in users:
            seen = set(data.item_ids.to_external(data.matrix[data.user_ids.to_rows([user])[0]].indices))
            got = recs.loc[recs["user"] == user, "item"]
            assert not got.isin(seen).any()
            remaining = data.n_items - len(seen | set(excluded))
            assert len(got) == min(n, remaining), (user, len(got), n, remaining, len(seen))

    def test_candidates_restrict_results(self, fitted: Recommender, data: Interactions) -> None:
        candidates = data.item_ids.external_ids[::3]
        recs = fitted.recommend(data.user_ids.external_ids[:5], n=5, candidates=candidates, exclude_seen=False)
        assert recs["item"].isin(candidates).all()
        assert recs.groupby("user").size().eq(5).all()

    def test_exclude_seen_false_can_return_seen(self, fitted: Recommender, data: Interactions) -> None:
        recs = fitted.recommend(data.user_ids.external_ids[:3], n=data.n_items, exclude_seen=False)
        assert recs.groupby("user").size().eq(data.n_items).all()

    def test_unknown_user_gets_popularity_fallback(self, fitted: Recommender, data: Interactions) -> None:
        recs = fitted.recommend(["nobody", data.user_ids.external_ids[0]], n=3)
        fallback = recs.loc[recs["user"] == "nobody", "item"].tolist()
        order = np.lexsort((np.arange(data.n_items), -fitted.item_popularity_))[:3]
        assert fallback == data.item_ids.to_external(order).tolist()

    def test_recommend_rows_matches_recommend(self, fitted: Recommender, data: Interactions) -> None:
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
        carts = pd.DataFrame({"cart": ["c1", "c1", "c2"], "item": ["item000", "item001", "item005"]})
        recs = fitted.recommend_for_history(carts, n=4, query_col="cart")
        assert list(recs.columns) == ["cart", "item", "score", "rank"]
        assert recs.groupby("cart").size().eq(4).all()
        assert not recs.loc[recs["cart"] == "c1", "item"].isin(["item000", "item001"]).any()
        with pytest.raises(KeyError, match="unknown item"):
            fitted.recommend_for_history(pd.DataFrame({"user": [1], "item": ["zzz"]}))
        with pytest.warns(UserWarning, match="ignored 1"):
            fitted.recommend_for_history(pd.DataFrame({"user": [1, 1], "item": ["zzz", "item000"]}),
                                         unknown_items="ignore")
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


def test_public_names() -> None:
    for name in ("ALS", "ItemItem", "Popularity", "Interactions", "NotFittedError"):
        assert hasattr(recsys, name)
