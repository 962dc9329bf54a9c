"""ALS defaults across data sets: ``ALS()`` against the old defaults and implicit's.

Usage::

    python -m benchmarks als-defaults [--dataset NAME ...] [--seeds 3] [--markdown PATH]

``ALS()`` resolves ``alpha="auto"`` and ``regularization="auto"`` from the
training data (``alpha_ = 3 / median weight``, ``regularization_ = 0.15 *
alpha_ * median weight * mean items per user``; see :class:`recsys.ALS`).
Each data set is fitted three ways on the same split, with the same seed:

``recsys ALS()``
    The defaults (100 factors, 15 iterations, the ``"auto"`` rule).
``recsys old defaults``
    ``ALS(factors=100, regularization=0.01, alpha=1.0, iterations=15)``: the
    defaults before the rule, which were implicit's.
``implicit defaults``
    ``implicit.als.AlternatingLeastSquares()`` with its own defaults (the same
    four values, conjugate gradient), its top 10 through a function model.
``popularity``
    :class:`recsys.Popularity`, the floor any model should clear.

Protocol: every (user, item) pair of the log is one interaction (weights as
listed per data set); :func:`recsys.evaluation.random_split` holds out 20% of
each user's distinct items (users with at least 2), seeded; the models fit on
the rest and recommend 10 unseen items to every test user known to train;
NDCG@10 with binary gains (:func:`recsys.evaluation.evaluate`; test items
unknown to train stay relevant).  With ``--seeds N`` the split and the models
use seeds ``0 .. N-1`` and the table shows the mean, and the smallest
per-seed ratio of ``ALS()`` to implicit's defaults.

Data sets (``../shared/datasets`` or ``$RECSYS_DATA_DIR``):

``movielens-100k``  ratings >= 4 of MovieLens 100K, weight 1.
``lastfm``          Last.fm hetrec2011-2k, weight = play count (raw, up to 352,698).
``online-retail``   UCI Online Retail customers x products, weight = order lines.
``completejourney`` 84.51 Complete Journey transaction sample, households x products,
                    weight = lines.
Extra (not run unless named): ``movielens-latest-small`` (ratings >= 4),
``lastfm-log`` (weight ``log1p(plays)``), ``online-retail-quantity`` (weight =
units bought, up to 80,995).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

import recsys
from benchmarks.report import machine_line, show
from recsys.evaluation import evaluate, random_split

DEFAULT_DATASETS = ["movielens-100k", "lastfm", "online-retail", "completejourney"]
EXTRA_DATASETS = ["movielens-latest-small", "lastfm-log", "online-retail-quantity"]
#: implicit.als.AlternatingLeastSquares defaults (implicit 0.7), also recsys's before "auto".
OLD_DEFAULTS = {"factors": 100, "regularization": 0.01, "alpha": 1.0, "iterations": 15}
K = 10


@dataclass
class Log:
    """A data set as an interaction log: user, item and an optional weight column."""

    name: str
    frame: pd.DataFrame
    weight: str


def load(name: str) -> Log:
    """Return the log of a named data set, with columns ``user, item`` (and ``weight``)."""
    from recsys.datasets import loaders

    if name in ("movielens-100k", "movielens-latest-small"):
        load_ratings = (
            loaders.load_movielens_100k
            if name == "movielens-100k"
            else loaders.load_movielens_latest_small
        )
        df = load_ratings()
        df = df.loc[df["rating"] >= 4, ["userId", "movieId"]]
        return Log(name, df.set_axis(["user", "item"], axis=1), "1 (rating >= 4)")
    if name in ("lastfm", "lastfm-log"):
        df = loaders.load_lastfm()[["userID", "artistID", "weight"]]
        df = df.set_axis(["user", "item", "weight"], axis=1)
        if name == "lastfm-log":
            return Log(name, df.assign(weight=np.log1p(df["weight"])), "log1p(plays)")
        return Log(name, df, "plays")
    if name in ("online-retail", "online-retail-quantity"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the loader's counts of dropped lines
            df = loaders.load_online_retail()
        df = df[["CustomerID", "StockCode", "Quantity"]].set_axis(
            ["user", "item", "weight"], axis=1
        )
        if name == "online-retail-quantity":
            return Log(name, df, "units")
        return Log(name, df[["user", "item"]], "order lines")
    if name == "completejourney":
        df = loaders.load_completejourney_transactions()[["household_id", "product_id"]]
        return Log(name, df.set_axis(["user", "item"], axis=1), "lines")
    raise ValueError(f"unknown data set {name!r}; choose from {DEFAULT_DATASETS + EXTRA_DATASETS}")


def implicit_model(
    train: recsys.Interactions, seed: int, threads: int
) -> Callable[[np.ndarray, int], pd.DataFrame]:
    """Fit implicit's ALS with its defaults; return a ``f(users, n) -> DataFrame`` model."""
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    matrix = train.matrix.astype(np.float32).tocsr()
    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # implicit checks the BLAS threads on construction
        model = AlternatingLeastSquares(random_state=seed, num_threads=threads)
        model.fit(matrix, show_progress=False)

    def recommend(users: np.ndarray, n: int) -> pd.DataFrame:
        rows = train.user_ids.to_rows(users)
        ids, scores = model.recommend(rows, matrix[rows], N=n, filter_already_liked_items=True)
        keep = (ids >= 0) & np.isfinite(scores)
        user_pos, rank = np.nonzero(keep)
        return pd.DataFrame(
            {
                "user": np.asarray(users)[user_pos],
                "item": train.item_ids.to_external(ids[keep]),
                "rank": rank + 1,
            }
        )

    return recommend


def run_one(log: Log, seed: int, threads: int) -> dict[str, float]:
    """Split one data set with ``seed``; fit and score every contender on it."""
    weight_col = "weight" if "weight" in log.frame.columns else None
    fit_rows, test = random_split(
        log.frame, user_col="user", item_col="item", test_fraction=0.2, random_state=seed
    )
    train = recsys.Interactions.from_pandas(
        fit_rows, user_col="user", item_col="item", weight_col=weight_col
    )
    test = test[["user", "item"]]
    new = recsys.ALS(random_state=seed, num_threads=threads).fit(train)
    models = {
        "new": new,
        "old": recsys.ALS(**OLD_DEFAULTS, random_state=seed, num_threads=threads).fit(train),
        "implicit": implicit_model(train, seed, threads),
        "popularity": recsys.Popularity().fit(train),
    }
    scores = evaluate(models, train, test, k=K, metrics=["ndcg"], weight_col=None)
    out = dict(zip(scores["model"], scores["ndcg"], strict=True))
    rows = np.diff(train.matrix.indptr)
    out.update(
        users=float(train.n_users),
        items=float(train.n_items),
        pairs=float(train.matrix.nnz),
        items_per_user=float(rows[rows > 0].mean()),
        median_weight=float(np.median(train.matrix.data)),
        alpha_=new.alpha_,
        regularization_=new.regularization_,
    )
    return out


def run(datasets: list[str], seeds: int, threads: int, markdown: str | None) -> pd.DataFrame:
    """Run every data set with ``seeds`` seeds; print (and append) the table; return it."""
    print(machine_line())
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    start = time.perf_counter()
    rows = []
    for name in datasets:
        log = load(name)
        runs = pd.DataFrame([run_one(log, seed, threads) for seed in range(seeds)])
        mean = runs.mean()
        rows.append(
            {
                "data": name,
                "weight": log.weight,
                "users": int(mean["users"]),
                "items": int(mean["items"]),
                "pairs": int(mean["pairs"]),
                "alpha_": mean["alpha_"],
                "regularization_": mean["regularization_"],
                "recsys ALS() NDCG@10": mean["new"],
                "recsys old defaults NDCG@10": mean["old"],
                "implicit defaults NDCG@10": mean["implicit"],
                "popularity NDCG@10": mean["popularity"],
                "ALS() / implicit": mean["new"] / mean["implicit"],
                "worst seed ALS() / implicit": float((runs["new"] / runs["implicit"]).min()),
            }
        )
        print(f"  {name}: done ({time.perf_counter() - start:.0f} s)", flush=True)
    table = pd.DataFrame(rows)
    title = f"ALS defaults: NDCG@{K}, mean of {seeds} seed(s), {threads} threads"
    show(title, table, markdown)
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    return table


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the ALS-defaults benchmark."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks als-defaults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dataset",
        action="append",
        choices=DEFAULT_DATASETS + EXTRA_DATASETS,
        help=f"repeatable; default {', '.join(DEFAULT_DATASETS)}",
    )
    parser.add_argument("--seeds", type=int, default=3, help="splits and model seeds 0..N-1")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--markdown", help="append the table as Markdown to this file")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be >= 1")
    run(args.dataset or DEFAULT_DATASETS, args.seeds, args.threads, args.markdown)


if __name__ == "__main__":
    main()
