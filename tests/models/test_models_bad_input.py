"""Bad-input catalogue of the models: fit, partial_fit and every query fail clearly.

"Clearly": a ``ValueError``, ``KeyError`` or ``TypeError`` with a message naming
the problem, never a crash deep inside, a wrong answer or a silent drop (the full
rule, and the shared helpers, are in ``tests/bad_input.py``).  The documented
exception: ``recommend_rows``, the array API, raises ``IndexError`` for rows out
of range.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import recsys
from recsys import ALS, Interactions, ItemItem, Popularity
from tests.bad_input import (
    BAD_N,
    FUZZ,
    HUGE_N,
    MODELS,
    check_recommendations,
    expect,
    junk_values,
    n_values,
    outcome,
)
from tests.models.contract import DATA_KWARGS

# ---------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------

BAD_MATRICES = [
    (pd.DataFrame({"user": [1], "item": [2]}), TypeError, "Interactions.from_pandas"),
    (None, TypeError, "Interactions"),
    ([[1, 0], [0, 1]], TypeError, "Interactions"),
    (np.eye(2), TypeError, "Interactions"),
    (sp.csr_matrix((0, 3), dtype=np.float32), ValueError, "empty"),
    (sp.csr_matrix(np.array([[np.nan, 1.0]])), ValueError, "NaN"),
    (sp.csr_matrix(np.array([[np.inf, 1.0]])), ValueError, "NaN or infinite"),
    (sp.csr_matrix(np.array([[1e39, 1.0]])), ValueError, "NaN or infinite"),
    (sp.csr_matrix(np.array([[-1.0, 1.0]])), ValueError, "negative"),
]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("matrix, exc, match", BAD_MATRICES)
def test_fit_bad_data(name: str, matrix: Any, exc: type, match: str) -> None:
    model = {
        "ALS": ALS(factors=2, iterations=1, num_threads=1),
        "ItemItem": ItemItem(num_threads=1),
        "Popularity": Popularity(),
    }[name]
    expect(lambda: model.fit(matrix), exc, match)
    assert not hasattr(model, "item_ids_")


@pytest.mark.parametrize(
    "model, exc, match",
    [
        (ALS(factors=0), ValueError, "factors must be a positive integer"),
        (
            ALS(factors=2.5),  # type: ignore[arg-type]
            ValueError,
            "factors must be a positive integer",
        ),
        (ALS(factors=True), ValueError, "factors"),  # type: ignore[arg-type]
        (ALS(iterations=-1), ValueError, "iterations"),
        (ALS(regularization=np.nan), ValueError, "regularization must be a finite number"),
        (ALS(regularization=-1), ValueError, "regularization"),
        (ALS(alpha=0), ValueError, "alpha must be > 0"),
        (ALS(backend="gpu"), ValueError, "backend must be one of"),
        (ALS(num_threads=-1), ValueError, "num_threads must be >= 0"),
        (ALS(num_threads=1.5), TypeError, "num_threads must be an int"),  # type: ignore[arg-type]
        (ItemItem(similarity="pearson"), ValueError, "similarity must be one of"),
        (ItemItem(k=0), ValueError, "k must be >= 1"),
        (ItemItem(k=2.5), TypeError, "k must be an int"),  # type: ignore[arg-type]
        (ItemItem(min_count=0), ValueError, "min_count must be >= 1"),
        (ItemItem(shrinkage=-1), ValueError, "shrinkage must be >= 0"),
        (ItemItem(shrinkage=np.nan), ValueError, "shrinkage must be finite"),
        (ItemItem(basket_prior=-1.0), ValueError, "basket_prior must be 'auto'"),
        (ItemItem(repeat_prior="often"), ValueError, "repeat_prior must be 'auto', None"),
        (ItemItem(similarity="bm25", bm25_b=2), ValueError, "bm25_b"),
        (ItemItem(num_threads=-2), ValueError, "num_threads"),
        (
            Popularity(half_life_days=0),
            ValueError,
            "needs interactions built with time_col|positive",
        ),
        (Popularity(half_life_days=-1), ValueError, "positive number"),
        (Popularity(segment_col="region"), ValueError, "not a user attribute"),
    ],
    ids=lambda v: repr(v)[:40] if isinstance(v, recsys.Recommender) else None,
)
def test_fit_bad_hyper_parameters(ctx, model: recsys.Recommender, exc: type, match: str) -> None:
    expect(lambda: model.fit(ctx.data), exc, match)


# ---------------------------------------------------------------------------
# recommend, recommend_rows, recommend_for_history, similar_items, score_items
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_model_queries_table(ctx, name: str) -> None:
    model = ctx.models[name]
    user, item = ctx.users[0], ctx.items[0]
    for n, exc in BAD_N:
        expect(lambda n=n: model.recommend([user], n=n), exc, "n must be")
        expect(lambda n=n: model.similar_items([item], n=n), exc, "n must be")
        expect(lambda n=n: model.recommend_rows(np.array([0]), n), exc, "n must be")
        expect(
            lambda n=n: model.recommend_for_history(
                pd.DataFrame({"user": [1], "item": [item]}), n=n
            ),
            exc,
            "n must be",
        )
    for n in HUGE_N:  # a huge n is "everything": never a MemoryError
        recs = model.recommend([user], n=n, exclude_seen=False)
        assert len(recs) == len(ctx.items)
        assert len(model.similar_items([item], n=n)) == len(ctx.items) - 1
        assert model.recommend_rows(np.array([0]), n)[0].shape == (1, len(ctx.items))
    # users / items containers
    expect(lambda: model.recommend(user, n=3), TypeError, "single")
    expect(lambda: model.recommend("abc", n=3), TypeError, "single")
    expect(lambda: model.recommend(np.zeros((2, 2)), n=3), ValueError, "one-dimensional")
    expect(lambda: model.similar_items(item), TypeError, "single")
    expect(lambda: model.similar_items(["no-such-item"]), KeyError, "unknown item")
    expect(lambda: model.similar_items([item], candidates=["nope"]), KeyError, "unknown item")
    expect(lambda: model.recommend([user], exclude_items=["nope", item]), KeyError, r"\['nope'\]")
    expect(lambda: model.recommend([user], candidates=[np.nan]), KeyError, "unknown item")
    expect(lambda: model.score_items(["nobody"], [item]), KeyError, "unknown user")
    expect(lambda: model.score_items([user], ["nope"]), KeyError, "unknown item")
    expect(lambda: model.score_items(user, [item]), TypeError, "single")
    # unknown users are served (documented fallback), never dropped
    recs = model.recommend(["nobody", np.nan, user], n=3)
    assert recs.groupby("user", dropna=False).size().tolist() == [3, 3, 3]
    # array API
    expect(lambda: model.recommend_rows(np.array([1.7]), 3), TypeError, "integers")
    expect(
        lambda: model.recommend_rows(np.array([2**32 + 1]), 3), IndexError, "user rows must be in"
    )
    expect(lambda: model.recommend_rows(np.array([-5]), 3), IndexError, "user rows must be in")
    expect(lambda: model.recommend_rows(np.array(["a"]), 3), TypeError, "integers")
    expect(
        lambda: model.recommend_rows(np.array([0]), 3, item_allowed=np.ones(3, dtype=bool)),
        ValueError,
        "item_allowed must be a bool array",
    )
    expect(
        lambda: model.recommend_rows(np.array([0]), 3, item_allowed=np.ones(len(ctx.items))),
        ValueError,
        "item_allowed must be a bool array",
    )
    expect(
        lambda: model.recommend_rows(np.array([0]), 3, item_allowed=[True] * len(ctx.items)),
        ValueError,
        "item_allowed must be a bool array",
    )
    # histories
    history = pd.DataFrame({"user": [1, 1], "item": [item, ctx.items[1]], "w": [1.0, 2.0]})
    expect(lambda: model.recommend_for_history(history.iloc[:0]), ValueError, "empty")
    expect(lambda: model.recommend_for_history(history.to_dict()), TypeError, "DataFrame")
    expect(
        lambda: model.recommend_for_history(history, query_col="cart"), ValueError, "missing column"
    )
    expect(
        lambda: model.recommend_for_history(history.assign(w=[np.nan, 1.0]), weight_col="w"),
        ValueError,
        "NaN",
    )
    expect(
        lambda: model.recommend_for_history(history.assign(w=[-1.0, 1.0]), weight_col="w"),
        ValueError,
        "negative",
    )
    expect(
        lambda: model.recommend_for_history(history.assign(w=[1e39, 1.0]), weight_col="w"),
        ValueError,
        "float32 range",
    )
    expect(
        lambda: model.recommend_for_history(
            history.assign(w=[3e38, 3e38], item=item), weight_col="w"
        ),
        ValueError,
        "float32 range",
    )
    expect(
        lambda: model.recommend_for_history(history.assign(user=[1, "1"])), ValueError, "mix types"
    )
    expect(
        lambda: model.recommend_for_history(history.assign(user=[1, None])), ValueError, "missing"
    )
    expect(
        lambda: model.recommend_for_history(history.assign(item=["zzz", item])),
        KeyError,
        r"\['zzz'\]",
    )
    expect(
        lambda: model.recommend_for_history(history, unknown_items="skip"),
        ValueError,
        "unknown_items",
    )
    with pytest.warns(UserWarning, match="ignored 1 row"):  # dropping unknown items is announced
        model.recommend_for_history(history.assign(item=["zzz", item]), unknown_items="ignore")


@pytest.mark.parametrize("name", MODELS)
@FUZZ
@given(
    users=st.one_of(
        st.lists(st.sampled_from([0, 1, 5, 39, "nobody", None, np.nan]), max_size=6), junk_values
    ),
    n=n_values,
    exclude=st.one_of(
        st.none(), st.lists(st.sampled_from(["item000", "item003", "zzz", 5]), max_size=3)
    ),
    candidates=st.one_of(
        st.none(), st.lists(st.sampled_from(["item000", "item004", "item010", "zzz"]), max_size=3)
    ),
    exclude_seen=st.booleans(),
)
def test_recommend_fuzz(
    ctx, name: str, users: Any, n: Any, exclude: Any, candidates: Any, exclude_seen: bool
) -> None:
    model = ctx.models[name]
    result = outcome(
        lambda: model.recommend(
            users, n=n, exclude_items=exclude, candidates=candidates, exclude_seen=exclude_seen
        )
    )
    if isinstance(result, pd.DataFrame):
        check_recommendations(result, n)
        assert not result["item"].isin(exclude or []).any()
        if candidates is not None:
            assert result["item"].isin(candidates).all()
    for call in (
        lambda: model.similar_items(users, n=n, candidates=candidates),
        lambda: model.score_items(users, exclude if exclude is not None else []),
        lambda: model.recommend_rows(np.asarray(users if isinstance(users, list) else [0]), n),
    ):
        try:
            outcome(call)
        except IndexError as err:  # the array API's documented error for rows out of range
            assert "user rows must be in" in str(err)


@pytest.mark.parametrize("name", MODELS)
@FUZZ
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from([1, 2, "c"]),
            st.sampled_from(["item000", "item002", "zzz", np.nan, 4]),
            st.sampled_from([1.0, 0.0, -1.0, np.nan, np.inf, 1e39, "x"]),
        ),
        max_size=5,
    ),
    n=n_values,
    weight_col=st.sampled_from([None, "w"]),
    unknown=st.sampled_from(["raise", "ignore", "oops"]),
    exclude_history=st.booleans(),
)
def test_recommend_for_history_fuzz(
    ctx, name: str, rows: list, n: Any, weight_col: str | None, unknown: str, exclude_history: bool
) -> None:
    history = pd.DataFrame(rows, columns=["user", "item", "w"])
    result = outcome(
        lambda: ctx.models[name].recommend_for_history(
            history,
            n=n,
            weight_col=weight_col,
            unknown_items=unknown,
            exclude_history=exclude_history,
        )
    )
    if isinstance(result, pd.DataFrame):
        check_recommendations(result, n)
        if exclude_history:
            own = set(zip(history["user"], history["item"], strict=True))
            assert not any(
                (u, i) in own for u, i in zip(result["user"], result["item"], strict=True)
            )


# ---------------------------------------------------------------------------
# partial_fit
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_partial_fit_bad_input(ctx, name: str) -> None:
    model = type(ctx.models[name])(**ctx.models[name].get_params()).fit(ctx.data)
    before = (model.user_ids_, model.item_ids_, model.user_items_)
    expect(lambda: model.partial_fit(ctx.log), TypeError, "Interactions.from_pandas")
    expect(lambda: model.partial_fit(sp.csr_matrix(np.array([[np.nan]]))), ValueError, "NaN")
    strings = Interactions.from_pandas(ctx.log.head(4).assign(user="someone"), **DATA_KWARGS)
    expect(lambda: model.partial_fit(strings), ValueError, "model's ID type")
    assert (model.user_ids_, model.item_ids_, model.user_items_) == before  # nothing changed


# ---------------------------------------------------------------------------
# bugs found while writing this catalogue, fixed; kept as regression tests
# ---------------------------------------------------------------------------


def test_mixed_type_user_list_keeps_known_users(ctx) -> None:
    model = ctx.models["ItemItem"]
    user = int(ctx.users[0])
    alone = model.recommend([user], n=3)
    mixed = model.recommend([user, "nobody"], n=3)
    assert mixed["item"].tolist()[:3] == alone["item"].tolist()


def test_fit_rejects_complex_weights() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TypeError):
            Popularity().fit(sp.csr_matrix(np.array([[1 + 1j, 0]])))
