"""EASE: quality next to ALS and ItemItem, cross-sell on it, and its fit time against LAPACK.

Usage::

    python -m benchmarks ease                        # every part, ~10 min on 2 busy cores
    python -m benchmarks ease --part movielens --part online-retail
    python -m benchmarks ease --part fit-time --markdown /tmp/ease.md

Parts
-----
``movielens``
    MovieLens-100k (``load_movielens_100k``): ratings >= 4 are the
    interactions; :func:`recsys.evaluation.random_split` holds out 20% of each
    user's items (``random_state=0``); every model recommends 10 unseen items
    to every test user; NDCG@10 and HR@10 by :mod:`recsys.evaluation`.
    ``EASE()`` (defaults: λ chosen on the training data), ``EASE(l2=250)``,
    ``ALS(factors=64)`` (its other defaults), ``ALS(factors=64,
    regularization=10, alpha=5, iterations=20)``, ``ItemItem()`` defaults and
    ``ItemItem(similarity="cosine")``.
``online-retail``
    UCI Online Retail basket completion, the protocol of issue 17: invoices
    starting before 2011-10-01 train; one item, drawn uniformly, of every later
    invoice with at least two known items is hidden (3 draws); the query is the
    rest of the invoice and its customer: exactly
    ``recommend_cross_sell(model, basket, user=customer)`` (through its batch
    form, checked against single calls), HR@10; also anonymous
    (``recommend_cross_sell(model, basket)``) and with the customer and owned
    items allowed (``rules=Rules(exclude_owned=False)``).  34% of the hidden
    items are re-purchases: EASE and ALS learn the customers' repeat-purchase
    probabilities at fit time (``repeat_purchases_``, :mod:`recsys.models.repeats`)
    and cross-sell combines them with the basket's scores, letting owned items
    back by default; the rows "without repeat term" drop it after the fit (the
    library before: owned items excluded, the history blended in at 0.1).
    ``EASE()`` defaults, ``EASE(l2=50)``, ``EASE(rows="users")``,
    ``EASE(half_life_days=365)``, ``ALS()`` defaults against ``ItemItem()``
    defaults.  A second table shows the λ
    search of the ``EASE()`` defaults model on its training invoices: every λ
    tried, the NDCG@10/HR@10 of the served score (basket score with the
    customer's repeat term, at the best scale) and of the basket score alone.
    The split, queries and metrics are :mod:`benchmarks.cross_sell`'s.
``online-retail-validation``
    The same calls inside the training period only (invoices before
    2011-10-01; train before 2011-07-15, test until 2011-10-01): where the
    λ and repeat-term rules were checked, the test invoices never read.
    ``EASE()`` defaults, ``EASE(l2=...)`` at half and twice its λ (their
    repeat-term scale calibrated in-sample, see ``EASE._refit_scorer``),
    ``ItemItem()``; and the λ search of ``EASE()``.
``recency``
    ``EASE(half_life_days=h)`` (baskets weighted by ``0.5 ** (age / h)`` in
    the Gramian) inside issue 17's training period only, on three windows:
    train before 2011-07-15 / test until 2011-10-01 (the validation split
    above), train before 2011-05-01 / test until 2011-07-15, and train
    before 2011-09-01 / test September.  Each half-life with ``l2="auto"``
    (λ and the repeat term's scale chosen by the model), and at fixed λ =
    13.6 and 27.3 with the repeat term's scale set to 1 (so only the decay
    differs); HR@10 with the customer and anonymous.
``baskets``
    Groceries and the Complete Journey sample, the split of
    :mod:`benchmarks.cross_sell` (the last sixth of the time span is test):
    ``EASE()`` against ``ItemItem()``, both through ``recommend_cross_sell``.
``fit-time``
    Dense ``EASE(l2=λ)`` fit (Gramian, LAPACK Cholesky factor-and-invert,
    the weights pass) against the bare ``spotrf`` + ``spotri`` of the same
    float32 Gramian (the LAPACK limit), interleaved, best of 2 (one run from
    10,000 items); and ``EASE()`` (``l2="auto"``, which chose that λ) for its
    multiple of the fixed-λ fit, on MovieLens-100k (users), Online Retail
    invoices and synthetic baskets (``--synthetic-items``, default 4,000 and
    20,000 items).
``latency``
    p50/p99 of a single ``recommend_cross_sell(model, basket, user=customer)``
    (DataFrame with explanations) on Online Retail: dense EASE, EASE pruned to
    100 weights per item, ItemItem defaults, taking turns.
``sparse``
    The sparse form (``density=0.005``) against dense EASE at the same λ,
    on MovieLens-100k and Online Retail (needs ``recsys.core.sparse_ease``).
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

import recsys
from benchmarks.cross_sell import (
    BasketSplit,
    Result,
    config,
    load_log,
    make_split,
    ours_recs,
    single_matches_batch,
)
from benchmarks.report import machine_line, show
from recsys.evaluation import basket_holdout, hit_rate_at_k, ndcg_at_k, random_split
from recsys.models.ease import EASE

PARTS = [
    "movielens",
    "online-retail",
    "online-retail-validation",
    "recency",
    "baskets",
    "fit-time",
    "sparse",
    "latency",
]
ONLINE_RETAIL_CUT = pd.Timestamp("2011-10-01")
#: The validation split inside issue 17's training period: train before it, test until the cut.
ONLINE_RETAIL_VALIDATION_CUT = pd.Timestamp("2011-07-15")
K = 10
_CALL = config("recommend_cross_sell(model, basket, user=customer)")


# ---------------------------------------------------------------------------
# MovieLens-100k
# ---------------------------------------------------------------------------


def movielens_split() -> tuple[recsys.Interactions, pd.DataFrame]:
    """Return the training interactions and the test pairs (``user, item``) of the protocol."""
    from recsys.datasets import load_movielens_100k

    ratings = load_movielens_100k()
    liked = ratings[ratings["rating"] >= 4]
    train, test = random_split(
        liked, user_col="userId", item_col="movieId", test_fraction=0.2, random_state=0
    )
    data = recsys.Interactions.from_pandas(train, user_col="userId", item_col="movieId")
    relevant = test.rename(columns={"userId": "user", "movieId": "item"})[["user", "item"]]
    return data, relevant


def score_movielens(model: recsys.Recommender, relevant: pd.DataFrame) -> dict[str, float]:
    """NDCG@10 and HR@10 of ``model`` on the test users (seen items excluded)."""
    recs = model.recommend(relevant["user"].unique(), n=K)
    return {
        "NDCG@10": ndcg_at_k(recs, relevant, K),
        "HR@10": hit_rate_at_k(recs, relevant, K),
    }


def movielens(threads: int) -> pd.DataFrame:
    """EASE, ALS and ItemItem on the MovieLens-100k protocol."""
    data, relevant = movielens_split()
    models: list[tuple[str, Any]] = [
        ("EASE() defaults", EASE(num_threads=threads)),
        ("EASE(l2=250)", EASE(l2=250.0, num_threads=threads)),
        ("ALS(factors=64) defaults otherwise", recsys.ALS(factors=64, random_state=0)),
        (
            "ALS(factors=64, regularization=10, alpha=5, iterations=20)",
            recsys.ALS(factors=64, regularization=10.0, alpha=5.0, iterations=20, random_state=0),
        ),
        ("ItemItem() defaults", recsys.ItemItem(num_threads=threads)),
        ("ItemItem(similarity='cosine')", recsys.ItemItem(similarity="cosine")),
    ]
    rows = []
    for label, model in models:
        t0 = time.perf_counter()
        model.fit(data)
        seconds = time.perf_counter() - t0
        row = {"model": label, **score_movielens(model, relevant), "fit s": seconds}
        if isinstance(model, EASE):
            row["λ"] = model.l2_
        rows.append(row)
        print(f"  movielens {label:60s} {row['NDCG@10']:.4f}", flush=True)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# basket completion
# ---------------------------------------------------------------------------


def split_at(log: pd.DataFrame, name: str, cut: pd.Timestamp, seeds: int = 3) -> BasketSplit:
    """:func:`benchmarks.cross_sell.make_split` with a fixed cut instead of the last sixth.

    Baskets (dated by their first line) starting before ``cut`` train; test lines of
    items unknown to training are dropped; one item of every later basket with at least
    two items is hidden, once per seed.
    """
    start = log.groupby("basket")["time"].transform("min")
    train = log[start < cut].reset_index(drop=True)
    test = log[(start >= cut) & log["item"].isin(pd.unique(train["item"]))]
    owned = pd.MultiIndex.from_frame(train[["user", "item"]].drop_duplicates())
    queries, hidden = [], []
    for seed in range(seeds):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, visible, hide = basket_holdout(
                pd.concat([train, test]),
                basket_col="basket",
                item_col="item",
                time_col="time",
                split_time=cut,
                random_state=seed,
            )
        visible = visible.drop_duplicates(["basket", "item"])[
            ["basket", "item", "user"]
        ].reset_index(drop=True)
        user_of = visible.drop_duplicates("basket").set_index("basket")["user"]
        hide = hide.assign(user=user_of.reindex(hide["basket"]).to_numpy())
        hide["new"] = ~pd.MultiIndex.from_frame(hide[["user", "item"]]).isin(owned)
        queries.append(visible)
        hidden.append(hide)
    return BasketSplit(name, train, queries, hidden, cut)


#: How the cross-sell call is made: with the customer (the library's default rules: owned items
#: excluded for every model but the basket-probability ItemItem), anonymous, and with the
#: customer and owned items allowed.
CALLS = {
    "user": _CALL,
    "anonymous": config("recommend_cross_sell(model, basket)", personal=False),
    "user, owned allowed": config(
        "recommend_cross_sell(model, basket, user=customer, rules=Rules(exclude_owned=False))",
        call={"exclude_owned": False},
    ),
}


def cross_sell_rows(
    split: BasketSplit,
    models: list[tuple[str, recsys.Recommender]],
    calls: tuple[str, ...] = ("user",),
    without_repeats: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Fit every model on the training baskets; HR@10 / MRR@10 of each cross-sell call.

    The models labelled in ``without_repeats`` lose their repeat term after the
    fit (``repeat_purchases_ = None``): cross-sell as it was before models learned it.
    """
    data = recsys.Interactions.from_pandas(
        split.train, user_col="user", item_col="item", basket_col="basket", time_col="time"
    )
    rows = []
    for label, model in models:
        t0 = time.perf_counter()
        model.fit(data)
        fit_s = time.perf_counter() - t0
        if label in without_repeats:
            model.repeat_purchases_ = None  # type: ignore[attr-defined]
        for call in calls:
            cfg = CALLS[call]
            result = Result(label, "ours")
            same = checked = 0
            for s, hidden in enumerate(split.hidden):
                recs = ours_recs(model, split.queries[s], cfg, explain=False)
                result.add(recs, hidden)
                if s == 0 and cfg.personal:
                    same, checked = single_matches_batch(model, split.queries[0], recs, cfg, 20)
            hr = float(np.mean(result.hr))
            row = {
                "data": split.name,
                "model": label,
                "call": call,
                "HR@10": hr,
                "± HR": float(np.sqrt(hr * (1 - hr) / split.n_baskets)),
                "MRR@10": float(np.mean(result.mrr)),
                "fit s": fit_s,
                "single == batch": f"{same}/{checked}" if checked else "",
            }
            if isinstance(model, EASE):
                row["λ"] = model.l2_
                row["rows"] = model.rows_
            rows.append(row)
            print(f"  {split.name} {label:30s} {call:22s} HR@10 {hr:.4f}", flush=True)
    return pd.DataFrame(rows)


def online_retail(threads: int, seeds: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the Online Retail protocol of issue 17 (train before 2011-10-01).

    Returns the cross-sell rows, and the λ search of the ``EASE()`` defaults
    model on its training invoices (:func:`search_table`).
    """
    split = split_at(load_log("online-retail"), "online-retail", ONLINE_RETAIL_CUT, seeds)
    defaults = EASE(num_threads=threads)
    rows = cross_sell_rows(
        split,
        [
            ("EASE() defaults", defaults),
            ("EASE() without repeat term", EASE(num_threads=threads)),
            ("EASE(l2=50)", EASE(l2=50.0, num_threads=threads)),
            ("EASE(rows='users')", EASE(rows="users", num_threads=threads)),
            ("EASE(half_life_days=365)", EASE(half_life_days=365.0, num_threads=threads)),
            ("ItemItem() defaults", recsys.ItemItem(num_threads=threads)),
            ("ALS() defaults", recsys.ALS(random_state=0, num_threads=threads)),
            ("ALS() without repeat term", recsys.ALS(random_state=0, num_threads=threads)),
        ],
        tuple(CALLS),
        without_repeats=("EASE() without repeat term", "ALS() without repeat term"),
    )
    return rows, search_table(defaults)


def online_retail_validation(threads: int, seeds: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the Online Retail protocol inside its training period (where choices are checked).

    Only invoices starting before 2011-10-01 (issue 17's training data) are
    read: those before 2011-07-15 train, one item of each later invoice is
    hidden (``seeds`` draws); ``EASE()`` defaults, ``EASE(l2=λ)`` at half and
    twice the λ that ``EASE()`` chooses, and ``ItemItem()``, each with and
    without the customer.  The test invoices are never read.
    """
    log = load_log("online-retail")
    start = log.groupby("basket")["time"].transform("min")
    log = log[start < ONLINE_RETAIL_CUT].reset_index(drop=True)
    split = split_at(log, "online-retail < 2011-10-01", ONLINE_RETAIL_VALIDATION_CUT, seeds)
    defaults = EASE(num_threads=threads)
    rows = cross_sell_rows(split, [("EASE() defaults", defaults)], ("user", "anonymous"))
    more: list[tuple[str, recsys.Recommender]] = [
        (f"EASE(l2={f:g} × auto λ)", EASE(l2=f * defaults.l2_, num_threads=threads))
        for f in (0.5, 2.0)
    ]
    more.append(("EASE(half_life_days=365)", EASE(half_life_days=365.0, num_threads=threads)))
    more.append(("ItemItem() defaults", recsys.ItemItem(num_threads=threads)))
    rows = pd.concat([rows, cross_sell_rows(split, more, ("user", "anonymous"))], ignore_index=True)
    return rows, search_table(defaults)


#: ``recency``'s windows inside issue 17's training period: (name, train before, test until).
RECENCY_WINDOWS = (
    ("train < 2011-07-15, test to 2011-10-01", ONLINE_RETAIL_VALIDATION_CUT, ONLINE_RETAIL_CUT),
    (
        "train < 2011-05-01, test to 2011-07-15",
        pd.Timestamp("2011-05-01"),
        ONLINE_RETAIL_VALIDATION_CUT,
    ),
    ("train < 2011-09-01, test September", pd.Timestamp("2011-09-01"), ONLINE_RETAIL_CUT),
)
RECENCY_HALF_LIVES: tuple[float | None, ...] = (None, 30.0, 60.0, 90.0, 180.0, 365.0, 730.0)
RECENCY_FIXED_L2 = (13.6, 27.3)


def recency(threads: int, seeds: int) -> pd.DataFrame:
    """HR@10 of EASE on time-decayed basket rows per half-life, on :data:`RECENCY_WINDOWS`.

    Only invoices before 2011-10-01 are read.

    ``l2="auto"``: λ and the repeat term's scale as the model chooses them
    (``λ`` and ``scale`` columns).  Fixed λ: the repeat term's scale is set to
    1 after the fit (a fixed λ would otherwise calibrate it in-sample), so
    the rows of one λ differ only by the decay.
    """
    import dataclasses

    log = load_log("online-retail")
    start = log.groupby("basket")["time"].transform("min")
    out = []
    for name, cut, end in RECENCY_WINDOWS:
        split = split_at(log[start < end].reset_index(drop=True), name, cut, seeds)
        data = recsys.Interactions.from_pandas(
            split.train, user_col="user", item_col="item", basket_col="basket", time_col="time"
        )
        for half_life in RECENCY_HALF_LIVES:
            for l2 in ("auto", *RECENCY_FIXED_L2):
                model = EASE(l2=l2, half_life_days=half_life, num_threads=threads).fit(data)
                if l2 != "auto" and model.repeat_purchases_ is not None:
                    model.repeat_purchases_ = dataclasses.replace(
                        model.repeat_purchases_, scale=1.0
                    )
                row: dict[str, Any] = {
                    "window": name,
                    "test invoices": split.n_baskets,
                    "half-life d": "none" if half_life is None else f"{half_life:g}",
                    "l2": l2,
                    "λ": model.l2_,
                    "scale": (
                        model.repeat_purchases_.scale if model.repeat_purchases_ else float("nan")
                    ),
                }
                for call in ("user", "anonymous"):
                    result = Result("EASE", "ours")
                    for s, hidden in enumerate(split.hidden):
                        result.add(
                            ours_recs(model, split.queries[s], CALLS[call], explain=False), hidden
                        )
                    row[f"HR@10 {call}"] = float(np.mean(result.hr))
                out.append(row)
                print(f"  recency {name} h={half_life} l2={l2}: {row}", flush=True)
    table = pd.DataFrame(out)
    # the paired difference to no decay at the same window and l2 setting
    base = table[table["half-life d"] == "none"].set_index(["window", "l2"])
    for call in ("user", "anonymous"):
        ref = base[f"HR@10 {call}"].reindex(pd.MultiIndex.from_frame(table[["window", "l2"]]))
        table[f"Δ {call}"] = table[f"HR@10 {call}"].to_numpy() - ref.to_numpy()
    return table


def search_table(model: EASE) -> pd.DataFrame:
    """Return the λ values a fitted ``EASE()`` tried, with their held-out metrics (chosen: marked).

    ``ndcg@10`` / ``hit_rate@10`` are those of the score served (basket score
    and, for a returning customer, their repeat term at the best ``scale``);
    ``basket_*`` the basket score alone (anonymous calls).  Only the training
    data's newest baskets are used (:mod:`recsys.models.ease`, module docstring).
    """
    table = model.validation_.copy() if model.validation_ is not None else pd.DataFrame()
    if not table.empty:
        table["chosen"] = np.isclose(table["l2"], model.l2_)
    return table


def grocery_baskets(threads: int, seeds: int) -> pd.DataFrame:
    """Groceries and Complete Journey, cross_sell.py's split.

    Complete Journey's sample has 18,763 training items: a dense ``EASE()`` (one
    eigendecomposition of an 18,763² Gramian, then a Cholesky) is beyond what two
    shared cores do in minutes, so it gets the sparse form, ``EASE(density=0.005)``.
    """
    parts = []
    for name, ease in (
        ("groceries", EASE(num_threads=threads)),
        ("completejourney", EASE(density=0.005, num_threads=threads)),
    ):
        split = make_split(load_log(name), name, seeds=seeds)
        label = "EASE() defaults" if ease.density is None else "EASE(density=0.005)"
        parts.append(
            cross_sell_rows(
                split,
                [(label, ease), ("ItemItem() defaults", recsys.ItemItem(num_threads=threads))],
                tuple(CALLS),
            )
        )
    return pd.concat(parts, ignore_index=True)


# ---------------------------------------------------------------------------
# fit time
# ---------------------------------------------------------------------------


def lapack_factor_invert(gram: np.ndarray, l2: float, threads: int = 0) -> float:
    """Seconds of one float32 ``spotrf`` + ``spotri`` of ``gram + l2 I`` (in place on a copy).

    ``threads``: BLAS threads, as the fit it is compared with uses (0 = as configured).
    """
    from scipy.linalg import lapack
    from threadpoolctl import threadpool_limits

    a = np.array(gram, dtype=np.float32, order="F")
    a[np.diag_indices(a.shape[0])] += np.float32(l2)
    with threadpool_limits(threads if threads > 0 else None, user_api="blas"):
        t0 = time.perf_counter()
        c, info = lapack.spotrf(a, lower=0, clean=0, overwrite_a=1)
        c, info2 = lapack.spotri(c, lower=0, overwrite_c=1)
        seconds = time.perf_counter() - t0
    assert info == 0 and info2 == 0
    return seconds


def fit_time(
    threads: int, repeats: int = 2, synthetic_items: tuple[int, ...] = (4_000, 20_000)
) -> pd.DataFrame:
    """Dense EASE fit against LAPACK's factor-and-invert of the same Gramian, and l2="auto".

    Cases: MovieLens-100k (rows = users, the protocol's training part), Online
    Retail invoices, and synthetic baskets with ``synthetic_items`` items (10
    baskets per item, 1-12 items each, items ∝ rank^-0.9).  ``EASE(l2=...)``
    takes the λ that ``EASE()`` chose, so both fit the same problem; catalogs of
    10,000 items or more are timed once (a fit takes minutes there).
    """
    from recsys.core.gramian import dense_gramian

    rows = []
    cases: list[tuple[str, recsys.Interactions]] = [("movielens-100k users", movielens_split()[0])]
    log = load_log("online-retail")
    cases.append(
        (
            "online-retail invoices",
            recsys.Interactions.from_pandas(
                log, user_col="user", item_col="item", basket_col="basket"
            ),
        )
    )
    for n_items in synthetic_items:
        synthetic = _synthetic_baskets(n_items=n_items, n_baskets=10 * n_items + 110_000)
        cases.append(
            (
                f"synthetic {n_items:,} items",
                recsys.Interactions.from_pandas(
                    synthetic, user_col="user", item_col="item", basket_col="basket"
                ),
            )
        )
    for name, data in cases:
        X = EASE()._prepare(data.basket_matrix if data.basket_matrix is not None else data.matrix)
        big = X.shape[1] >= 10_000
        reps = 1 if big else repeats
        EASE(l2=50.0, num_threads=threads).fit(EASE()._prepare(X[:50]))  # warm the kernels
        t0 = time.perf_counter()
        auto = EASE(num_threads=threads).fit(data)
        t_auto = time.perf_counter() - t0
        l2 = auto.l2_
        del auto.weights_
        gram = dense_gramian(X.indptr, X.indices, X.data, X.shape[1], num_threads=threads)
        t_lapack, t_fit = np.inf, np.inf
        for _ in range(reps):
            t_lapack = min(t_lapack, lapack_factor_invert(gram, l2, threads))
            t0 = time.perf_counter()
            EASE(l2=l2, num_threads=threads).fit(data)
            t_fit = min(t_fit, time.perf_counter() - t0)
        del gram
        rows.append(
            {
                "data": name,
                "items": X.shape[1],
                "rows": X.shape[0],
                "spotrf+spotri s": t_lapack,
                "EASE(l2=λ).fit s": t_fit,
                "fit / LAPACK": t_fit / t_lapack,
                "EASE() (auto) fit s": t_auto,
                "auto / fixed": t_auto / t_fit,
                "λ tried": len(auto.validation_) if auto.validation_ is not None else 0,
                "auto λ": l2,
                "relative λ": float(l2 / (X.multiply(X).sum() / X.shape[1])),
            }
        )
        print(f"  fit-time {name}: {rows[-1]}", flush=True)
    return pd.DataFrame(rows)


def _synthetic_baskets(n_items: int, n_baskets: int, seed: int = 0) -> pd.DataFrame:
    """Baskets of 1-12 items drawn with probability ∝ rank^-0.9 (string IDs)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_items + 1) ** 0.9
    p /= p.sum()
    sizes = rng.integers(1, 13, size=n_baskets)
    items = rng.choice(n_items, size=int(sizes.sum()), p=p)
    basket = np.repeat(np.arange(n_baskets), sizes)
    return pd.DataFrame(
        {
            "basket": basket.astype(str),
            "user": (basket % (n_baskets // 4)).astype(str),
            "item": items.astype(str),
        }
    ).drop_duplicates(["basket", "item"])


# ---------------------------------------------------------------------------
# the sparse form
# ---------------------------------------------------------------------------


def sparse_vs_dense(threads: int, seeds: int, density: float = 0.005) -> pd.DataFrame:
    """Compare the sparse form at ``density`` with dense EASE at the same λ.

    λ = 250 on MovieLens-100k and 25 on Online Retail (what ``EASE()`` chooses there).
    """
    rows = []
    data, relevant = movielens_split()
    for label, model in (
        ("dense EASE(l2=250)", EASE(l2=250.0, num_threads=threads)),
        (f"EASE(l2=250, density={density})", EASE(l2=250.0, density=density)),
    ):
        t0 = time.perf_counter()
        model.fit(data)
        row = {"data": "movielens-100k", "model": label, "fit s": time.perf_counter() - t0}
        row.update(score_movielens(model, relevant))
        row["weights"] = int(
            model.weights_.nnz if hasattr(model.weights_, "nnz") else model.weights_.size
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    split = split_at(load_log("online-retail"), "online-retail", ONLINE_RETAIL_CUT, seeds)
    retail = cross_sell_rows(
        split,
        [
            ("dense EASE(l2=25)", EASE(l2=25.0, num_threads=threads)),
            (
                f"EASE(l2=25, density={density})",
                EASE(l2=25.0, density=density, num_threads=threads),
            ),
        ],
        ("anonymous", "user"),
    )
    out = pd.concat([table, retail], ignore_index=True)
    call = out["call"].fillna("") if "call" in out else pd.Series("", index=out.index)
    for metric in ("NDCG@10", "HR@10"):
        base = out.groupby([out["data"], call])[metric].transform("first")
        out[f"{metric} / dense"] = out[metric] / base
    return out


# ---------------------------------------------------------------------------
# single-call latency
# ---------------------------------------------------------------------------


def latency(threads: int, n_calls: int = 300) -> pd.DataFrame:
    """p50/p99 of one ``recommend_cross_sell(model, basket, user=customer)``, EASE vs ItemItem.

    Online Retail (train before 2011-10-01), the test invoices' visible items as
    baskets; the models take turns on every basket, so machine load hits both alike.
    """
    split = split_at(load_log("online-retail"), "online-retail", ONLINE_RETAIL_CUT, 1)
    data = recsys.Interactions.from_pandas(
        split.train, user_col="user", item_col="item", basket_col="basket", time_col="time"
    )
    models = {
        "EASE(l2=25), dense": EASE(l2=25.0, num_threads=threads).fit(data),
        "ItemItem() defaults": recsys.ItemItem(num_threads=threads).fit(data),
    }
    models["EASE(l2=25), saved with top_k=100"] = models["EASE(l2=25), dense"].pruned(100)
    groups = split.queries[0].groupby("basket", sort=False)
    picked = list(groups)[:n_calls]
    calls = [(g["item"].tolist(), g["user"].iloc[0]) for _, g in picked]
    times = {label: [] for label in models}
    for items, user in calls[:20]:  # warm
        for model in models.values():
            recsys.recommend_cross_sell(model, items, n=5, user=user)
    for items, user in calls:
        for label, model in models.items():
            t0 = time.perf_counter()
            recsys.recommend_cross_sell(model, items, n=5, user=user)
            times[label].append(time.perf_counter() - t0)
    return pd.DataFrame(
        [
            {
                "model": label,
                "items": split.items.size,
                "calls": len(t),
                "p50 ms": float(np.percentile(t, 50) * 1e3),
                "p99 ms": float(np.percentile(t, 99) * 1e3),
            }
            for label, t in times.items()
        ]
    )


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run the EASE benchmark (``python -m benchmarks ease``)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks ease",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--part", action="append", choices=PARTS, help="repeatable; default all")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3, help="hidden-item draws (baskets)")
    parser.add_argument("--markdown", help="append the tables as Markdown to this file")
    parser.add_argument(
        "--synthetic-items",
        default="4000,20000",
        help="fit-time: item counts of the synthetic basket sets (comma-separated)",
    )
    args = parser.parse_args(argv)
    parts = args.part or PARTS
    print(machine_line(), flush=True)
    if "movielens" in parts:
        show(
            "EASE on MovieLens-100k (ratings >= 4, random_split 80/20 per user, seed 0)",
            movielens(args.threads),
            args.markdown,
        )
    if "online-retail" in parts:
        rows, search = online_retail(args.threads, args.seeds)
        show(
            "Cross-sell on EASE: Online Retail, train before 2011-10-01, one hidden item per "
            f"later invoice x {args.seeds} draws",
            rows,
            args.markdown,
        )
        show(
            "EASE() defaults on Online Retail: the λ search on the training invoices (newest "
            "10% held out; served score = basket score with the customer's repeat term)",
            search,
            args.markdown,
        )
    if "online-retail-validation" in parts:
        rows, search = online_retail_validation(args.threads, args.seeds)
        show(
            "Cross-sell on EASE inside the training period: Online Retail invoices before "
            f"2011-10-01, train before 2011-07-15, one hidden item per later invoice x {args.seeds}"
            " draws",
            rows,
            args.markdown,
        )
        show("EASE() defaults there: the λ search", search, args.markdown)
    if "recency" in parts:
        show(
            "EASE on time-decayed basket rows (half_life_days) inside the training period: "
            f"Online Retail invoices before 2011-10-01, three windows x {args.seeds} draws",
            recency(args.threads, args.seeds),
            args.markdown,
        )
    if "baskets" in parts:
        show(
            "Cross-sell on EASE: Groceries and Complete Journey (last sixth of the time span)",
            grocery_baskets(args.threads, args.seeds),
            args.markdown,
        )
    if "fit-time" in parts:
        show(
            "Dense EASE fit against one float32 Cholesky factor-and-invert (best of 2), and "
            "l2='auto' against the fixed fit at the λ it chose",
            fit_time(
                args.threads,
                synthetic_items=tuple(int(v) for v in args.synthetic_items.split(",") if v),
            ),
            args.markdown,
        )
    if "latency" in parts:
        show(
            "Single cross-sell call (n=5, explain, with the customer): Online Retail",
            latency(args.threads),
            args.markdown,
        )
    if "sparse" in parts:
        show(
            "Sparse EASE (density 0.005) against dense EASE at the same λ",
            sparse_vs_dense(args.threads, args.seeds),
            args.markdown,
        )


if __name__ == "__main__":
    main()
