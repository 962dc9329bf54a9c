"""Cross-sell quality: find the hidden item of a basket from the rest of it.

Usage::

    # every data set below, ~5 min on 2 cores
    python -m benchmarks cross-sell
    python -m benchmarks cross-sell --dataset online-retail \
        --markdown benchmarks/results/cross_sell.md
    # tiny generated log (the smoke test)
    python -m benchmarks cross-sell --dataset synthetic --grid smoke

Protocol
--------
Each log is split by time.  A basket (an invoice, a member's day, a
``basket_id``) is dated by its first line; baskets starting in the last sixth
of the log's time span are test baskets (Online Retail: invoices from
2011-10-08 on, the last two months; Groceries: the last four months; Complete
Journey: the last two months), all earlier baskets train every model.  Test
lines whose item never occurs in training are dropped (no model can score or
recommend it); :func:`recsys.evaluation.basket_holdout` then hides one item,
drawn uniformly, of every test basket that still has at least two distinct
items.  So the hidden item and at least one visible item are known to the
training data.  The query is the visible rest of the basket, plus the
basket's customer for the personalised methods (a customer the training data
do not know is served anonymously).  Every method returns 10 items per query,
never a visible basket item.

HR@10 (the hidden item is in the list) and MRR@10 (1 / its rank) come from
:func:`recsys.evaluation.hit_rate_at_k` and :func:`~recsys.evaluation.mrr_at_k`,
one list per test basket, averaged over ``--seeds`` draws of the hidden item
(default 3; the models are fitted once, on the same training baskets).
``± HR`` is the standard error of HR@10 over the test baskets; ``Δ HR vs best
baseline`` is the paired difference to the best baseline on the same baskets,
``±`` its standard error.  ``HR@10 new items`` is HR@10 on the test baskets
whose hidden item the customer had not bought before (in training): the view
of a shop that never re-offers what a customer has
(``Rules(exclude_owned=True)``).

Data sets: UCI Online Retail (``load_online_retail``; customer = CustomerID,
basket = invoice), Kaggle Groceries (``load_groceries``; basket = member and
date), 84.51° Complete Journey transaction sample
(``load_completejourney_transactions``; basket = ``basket_id``, household), and
the Online Retail sample that ships with recsys (``load_online_retail_sample``,
384 customers: the small-data check).

Methods
-------
* **ours (recommended call)**: exactly
  ``recommend_cross_sell(recsys.ItemItem().fit(train), basket, user=customer)``
  — library defaults for everything: ``similarity="confidence"``, ``k=100``,
  ``min_count=1``, the basket and repeat priors calibrated at fit time on
  the last sixth of the *training* baskets (the interactions are built with
  ``time_col``, so "last" is by time; the best-seller limit is kept unless
  beaten by more than one standard error); the basket-completion probability
  ``1 - (1 - max_i P(j | i)) (1 - r_j)``; ``rules=None``, which for this
  model lets an owned item come back when the repeat probability ranks it —
  through its batch form ``recommend_cross_sell_batch(..., user_col=...)``,
  with explanations as a caller gets them.  Baskets are checked to give
  identical items and scores with the single call.
* **ours (previous defaults)**: ``ItemItem(similarity="jaccard",
  min_count=3)``, the mean similarity to the basket blended with the
  customer's history at ``user_weight=0.1``, owned items excluded — what
  the library recommended before the probability model.
* **implicit** 0.7 ``CosineRecommender``, ``BM25Recommender``,
  ``TFIDFRecommender``, fitted on training baskets x items (binary) and on
  customers x items (number of baskets), ``K`` = 20 (implicit's default) and
  100.  The visible basket is the user's row: ``recommend(rows,
  baskets_csr, N=10)``, i.e. ``basket_row @ similarity`` with the basket's
  items filtered.  Lists shorter than 10 (items without neighbours) are
  filled by popularity, as ours are.  The summary shows each model's best of
  the four fits.
* **association rules (pairs)**: ``score(j) = max over basket items i of
  conf(i -> j)``, ``conf(i -> j) = count(i, j) / count(i)`` over training
  baskets, only pairs with ``count(i, j) >= min support`` (the best 100
  consequents of each item are kept); ties by pair count, then popularity;
  filled by popularity.
* **popularity**: the items in most training baskets, minus the basket.
* **alternatives** (ours, other settings): the defaults anonymous, with
  owned items excluded, without repeats, with half the repeat weight, with
  fixed instead of calibrated priors, and with other ``min_count`` and ``k``;
  every other ItemItem similarity (cosine, Jaccard, lift, BM25 and RP3beta
  with its defaults ``alpha=0.75, beta=0.5``) anonymous, with the customer,
  and with the customer but owned items allowed; co-occurrence over customers instead of
  baskets; ALS (64 factors, regularisation 10) with the basket folded in.

The baselines' variants are all scored on the test baskets and the best is
"best baseline" — tuned on the test set, which favours them.  The across-data-
sets table ranks our configurations by the geometric mean over the data sets
of HR@10 / best baseline HR@10.

Speed (Online Retail, 2 threads): baskets/s of ``recommend_cross_sell_batch``
over all test queries (``n=10``), and p50/p99 latency of the single
``recommend_cross_sell(model, basket, user=customer)`` call (``n=5``,
DataFrame with explanations: the recommended call as is) over 1,000 test
queries.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

import recsys
from benchmarks.report import show
from recsys.evaluation import basket_holdout, hit_rate_at_k, mrr_at_k
from recsys.selling import Rules, recommend_cross_sell, recommend_cross_sell_batch

warnings.filterwarnings("ignore", message=".*OpenBLAS.*")
warnings.filterwarnings("ignore", message=".*expects CSR input.*")

DATASETS = ["online-retail", "groceries", "completejourney", "online-retail-sample", "synthetic"]
DEFAULT_DATASETS = DATASETS[:4]
K = 10
TEST_SHARE = 1 / 6

# ---------------------------------------------------------------------------
# data: one log format, the temporal basket hold-out
# ---------------------------------------------------------------------------


@dataclass
class BasketSplit:
    """Training baskets and the test queries of every seed.

    The frames use the columns ``user, item, basket`` (str IDs).
    """

    name: str
    train: pd.DataFrame  # user, item, basket, time: every line of the training baskets
    # per seed: basket, item, user — the visible lines of the test baskets
    queries: list[pd.DataFrame]
    # per seed: basket, item, user, new — one hidden item per test basket
    hidden: list[pd.DataFrame]
    cut: Any
    # training items, sorted: the column order of every matrix
    items: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.items = np.sort(self.train["item"].unique())

    @property
    def n_baskets(self) -> int:
        """Number of test baskets (with a hidden item)."""
        return len(self.hidden[0])


def load_log(name: str) -> pd.DataFrame:
    """Load a data set as ``user, item, basket, time``, one row per line.

    IDs are strings and times naive datetimes.
    """
    from recsys.datasets import (
        load_completejourney_transactions,
        load_groceries,
        load_online_retail,
        load_online_retail_sample,
    )

    if name == "synthetic":
        return synthetic_log()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loaders' "dropped N rows" notes
        if name in ("online-retail", "online-retail-sample"):
            df = load_online_retail() if name == "online-retail" else load_online_retail_sample()
            cols = {
                "CustomerID": "user",
                "StockCode": "item",
                "InvoiceNo": "basket",
                "InvoiceDate": "time",
            }
        elif name == "groceries":
            df = load_groceries()
            cols = {
                "Member_number": "user",
                "itemDescription": "item",
                "basket": "basket",
                "Date": "time",
            }
        elif name == "completejourney":
            df = load_completejourney_transactions()
            # local time
            df["transaction_timestamp"] = df["transaction_timestamp"].dt.tz_localize(None)
            cols = {
                "household_id": "user",
                "product_id": "item",
                "basket_id": "basket",
                "transaction_timestamp": "time",
            }
        else:
            raise ValueError(f"unknown data set {name!r}; choose from {DATASETS}")
    log = df[list(cols)].rename(columns=cols)
    for col in ("user", "item", "basket"):
        log[col] = log[col].astype(str)
    return log.reset_index(drop=True)


def synthetic_log(
    n_users: int = 300, n_items: int = 120, n_baskets: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Generate a small basket log with structure.

    Baskets follow themes, and customers have favourite themes.
    """
    rng = np.random.default_rng(seed)
    n_themes = 12
    theme_of_item = rng.integers(0, n_themes, size=n_items)
    members = [np.flatnonzero(theme_of_item == t) for t in range(n_themes)]
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    favourite = rng.integers(0, n_themes, size=(n_users, 2))
    rows = []
    start = np.datetime64("2024-01-01T00:00")
    for b in range(n_baskets):
        user = int(rng.integers(n_users))
        theme = (
            favourite[user, int(rng.integers(2))]
            if rng.random() < 0.8
            else int(rng.integers(n_themes))
        )
        pool = members[theme] if members[theme].size else np.arange(n_items)
        p = popularity[pool] / popularity[pool].sum()
        picks = set(
            rng.choice(
                pool, size=min(int(rng.integers(2, 7)), pool.size), replace=False, p=p
            ).tolist()
        )
        if rng.random() < 0.5:
            picks.add(int(rng.choice(n_items, p=popularity / popularity.sum())))
        when = start + np.timedelta64(int(b * 525_600 / n_baskets), "m")
        rows += [(f"u{user}", f"i{item}", f"b{b}", when) for item in sorted(picks)]
    return pd.DataFrame(rows, columns=["user", "item", "basket", "time"])


def make_split(
    log: pd.DataFrame, name: str, *, seeds: int = 3, test_share: float = TEST_SHARE
) -> BasketSplit:
    """Split baskets by time (see the module docstring).

    One hidden-item draw per seed ``0..seeds-1``.
    """
    t_min, t_max = log["time"].min(), log["time"].max()
    cut = (t_max - (t_max - t_min) * test_share).floor("D")
    start = log.groupby("basket")["time"].transform("min")
    train = log[start < cut].reset_index(drop=True)
    test = log[(start >= cut) & log["item"].isin(pd.unique(train["item"]))]
    owned = pd.MultiIndex.from_frame(train[["user", "item"]].drop_duplicates())
    queries, hidden = [], []
    for seed in range(seeds):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "dropped N test baskets with fewer than 2 items"
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


def split_summary(split: BasketSplit) -> dict[str, Any]:
    """Describe the split, and how often the hidden item is a re-purchase by the same customer."""
    train, hidden = split.train, split.hidden[0]
    size = split.queries[0].groupby("basket").size()
    return {
        "data": split.name,
        "test from": str(pd.Timestamp(split.cut).date()),
        "train baskets": train["basket"].nunique(),
        "train customers": train["user"].nunique(),
        "items": split.items.size,
        "test baskets": split.n_baskets,
        "seeds": len(split.hidden),
        "visible items (median)": float(size.median()),
        "known customer %": 100 * float(hidden["user"].isin(pd.unique(train["user"])).mean()),
        "hidden item re-bought %": 100
        * float(1 - np.mean([h["new"].mean() for h in split.hidden])),
    }


# ---------------------------------------------------------------------------
# matrices and baselines
# ---------------------------------------------------------------------------


def _csr(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    m = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=shape)
    m.sum_duplicates()
    m.sort_indices()
    return m


@dataclass
class TrainMatrices:
    """The training data as the baselines need it."""

    baskets: sp.csr_matrix  # training baskets x items, binary
    users: sp.csr_matrix  # training customers x items, number of baskets
    popular: np.ndarray  # item columns by training basket count, descending (ties by column)
    basket_count: np.ndarray  # training baskets per item


def train_matrices(split: BasketSplit) -> TrainMatrices:
    """Build the baskets x items and customers x items matrices of the training data."""
    items = pd.Index(split.items)
    lines = split.train.drop_duplicates(["basket", "item"])
    col = items.get_indexer(lines["item"])
    b_row, baskets = pd.factorize(lines["basket"])
    u_row, users = pd.factorize(lines["user"])
    basket_items = _csr(b_row, col, (len(baskets), items.size))
    user_items = _csr(u_row, col, (len(users), items.size))
    count = np.asarray(basket_items.sum(axis=0)).ravel()
    return TrainMatrices(
        basket_items, user_items, np.lexsort((np.arange(items.size), -count)), count
    )


def query_matrix(split: BasketSplit, seed: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Return the test baskets (in ``hidden`` order) x items, binary, and their basket IDs."""
    query_ids = split.hidden[seed]["basket"].to_numpy()
    q = split.queries[seed]
    rows = pd.Index(query_ids).get_indexer(q["basket"])
    m = _csr(rows, pd.Index(split.items).get_indexer(q["item"]), (query_ids.size, split.items.size))
    m.data[:] = 1.0
    return m, query_ids


def fill_popular(
    ids: np.ndarray, queries: sp.csr_matrix, popular: np.ndarray, n: int = K
) -> np.ndarray:
    """Complete each row of ``ids`` (-1 = empty slot) with the most popular items.

    Items already in the basket or the row are skipped.
    """
    ids = ids.copy()
    for q in np.flatnonzero((ids < 0).any(axis=1)):
        have = ids[q][ids[q] >= 0]
        taken = set(queries.indices[queries.indptr[q] : queries.indptr[q + 1]].tolist()) | set(
            have.tolist()
        )
        fill = [i for i in popular[: n + len(taken)].tolist() if i not in taken][: n - have.size]
        ids[q] = np.r_[have, fill, np.full(n - have.size - len(fill), -1)]
    return ids


def to_recs(query_ids: np.ndarray, ids: np.ndarray, items: np.ndarray) -> pd.DataFrame:
    """Build a ``basket, item, rank`` frame from a (queries x n) array of item columns.

    Entries of -1 (no item) are left out.
    """
    q, pos = np.nonzero(ids >= 0)
    return pd.DataFrame({"basket": query_ids[q], "item": items[ids[q, pos]], "rank": pos + 1})


class PairRules:
    """Pair association rules ``i -> j`` with ``conf = count(i, j) / count(i)``.

    Only pairs with ``count(i, j) >= min_support`` are kept.
    """

    def __init__(self, tm: TrainMatrices, min_support: int, per_item: int = 100) -> None:
        together = (tm.baskets.T @ tm.baskets).tocsr()
        together.setdiag(0)
        together.data[together.data < min_support] = 0
        together.eliminate_zeros()
        together.sort_indices()
        n_items = together.shape[0]
        row_of = np.repeat(np.arange(n_items), np.diff(together.indptr))
        conf = together.data / tm.basket_count[row_of]
        # the best `per_item` consequents of each antecedent: exact for a top-10 of maxima
        # unless the basket itself holds more than per_item - 10 of them
        order = np.lexsort((-together.data, -conf, row_of))
        rank = np.arange(order.size) - np.repeat(together.indptr[:-1], np.diff(together.indptr))
        keep = order[rank < per_item]
        self.ant_ptr = np.zeros(n_items + 1, dtype=np.int64)
        np.cumsum(np.bincount(row_of[keep], minlength=n_items), out=self.ant_ptr[1:])
        self.cons, self.conf, self.count = together.indices[keep], conf[keep], together.data[keep]
        self.n_items = n_items
        self.tm = tm

    def recommend(self, q: sp.csr_matrix) -> np.ndarray:
        """Return the top ``K`` item columns of every query basket (rows of ``q``)."""
        q_of = np.repeat(np.arange(q.shape[0]), np.diff(q.indptr))
        lengths = self.ant_ptr[q.indices + 1] - self.ant_ptr[q.indices]
        starts = np.repeat(self.ant_ptr[q.indices] - (np.cumsum(lengths) - lengths), lengths)
        take = starts + np.arange(lengths.sum())
        qq, j = np.repeat(q_of, lengths), self.cons[take]
        conf, count = self.conf[take], self.count[take]
        key = qq.astype(np.int64) * self.n_items + j
        basket_keys = q_of.astype(np.int64) * self.n_items + q.indices
        ok = ~np.isin(key, basket_keys)
        key, qq, j, conf, count = key[ok], qq[ok], j[ok], conf[ok], count[ok]
        best = np.lexsort((-count, -conf, key))  # per (query, item): the highest confidence first
        first = best[np.r_[True, key[best][1:] != key[best][:-1]]] if best.size else best
        qq, j, conf, count = qq[first], j[first], conf[first], count[first]
        order = np.lexsort((j, -self.tm.basket_count[j], -count, -conf, qq))
        qq, j = qq[order], j[order]
        # qq is sorted: position within its query
        pos = np.arange(qq.size) - np.searchsorted(qq, qq)
        top = pos < K
        ids = np.full((q.shape[0], K), -1, dtype=np.int64)
        ids[qq[top], pos[top]] = j[top]
        return fill_popular(ids, q, self.tm.popular)


def implicit_model(kind: str, fit_on: str, neighbours: int, tm: TrainMatrices, threads: int) -> Any:
    """Fit one of implicit's item-item models on baskets or customers."""
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, TFIDFRecommender

    cls = {"cosine": CosineRecommender, "bm25": BM25Recommender, "tfidf": TFIDFRecommender}[kind]
    model = cls(K=neighbours, num_threads=threads)
    with warnings.catch_warnings():
        # BM25/TF-IDF weighting hands implicit's own kNN a COO matrix
        warnings.simplefilter("ignore")
        model.fit(tm.baskets if fit_on == "baskets" else tm.users, show_progress=False)
    return model


def implicit_recommend(model: Any, q: sp.csr_matrix, tm: TrainMatrices) -> np.ndarray:
    """Return implicit's top ``K`` for every query basket, completed with popular items."""
    ids, _ = model.recommend(np.arange(q.shape[0]), q, N=K, filter_already_liked_items=True)
    return fill_popular(np.asarray(ids, dtype=np.int64), q, tm.popular)


# ---------------------------------------------------------------------------
# ours
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """A model configuration of ours and how ``recommend_cross_sell`` is called with it."""

    label: str
    model: tuple[tuple[str, Any], ...] = ()  # ItemItem / ALS keyword arguments
    personal: bool = True  # pass the customer (user_col)
    call: tuple[tuple[str, Any], ...] = ()  # user_weight, exclude_owned
    kind: str = "itemitem"

    def make(self, threads: int) -> recsys.Recommender:
        """Return the (unfitted) model of this configuration."""
        if self.kind == "als":
            return recsys.ALS(random_state=0, num_threads=threads, **dict(self.model))
        return recsys.ItemItem(num_threads=threads, **dict(self.model))

    def call_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments of ``recommend_cross_sell`` for this configuration."""
        kwargs = dict(self.call)
        if "exclude_owned" in kwargs:
            kwargs["rules"] = Rules(exclude_owned=kwargs.pop("exclude_owned"))
        return kwargs


def config(
    label: str,
    *,
    personal: bool = True,
    kind: str = "itemitem",
    call: dict[str, Any] | None = None,
    **model: Any,
) -> Config:
    """Build a :class:`Config`; keyword arguments beyond the named ones go to the model."""
    return Config(
        label, tuple(sorted(model.items())), personal, tuple(sorted((call or {}).items())), kind
    )


RECOMMENDED = config("ours (recommended call)")
PREVIOUS = config("ours (previous defaults)", similarity="jaccard", min_count=3)


def alternatives(grid: str) -> list[Config]:
    """Our other settings; ``grid="smoke"`` is a handful, for the tests."""
    if grid == "smoke":
        return [
            config("defaults, anonymous", personal=False),
            config("ItemItem lift, customer", similarity="lift"),
            config("ItemItem rp3beta, anonymous", personal=False, similarity="rp3beta"),
            config("ALS fold-in, anonymous", personal=False, kind="als", factors=8, iterations=3),
        ]
    owned_out, owned_in = {"exclude_owned": True}, {"exclude_owned": False}
    out = [
        config("defaults, anonymous", personal=False),
        config("defaults, owned items excluded (Rules())", call=owned_out),
        config("defaults without repeats (repeat_prior=None)", repeat_prior=None),
        config(
            "defaults, user_weight=0.5 (half the repeat probability)", call={"user_weight": 0.5}
        ),
        config(
            "fixed priors basket_prior=10, repeat_prior=10 (no calibration)",
            basket_prior=10.0,
            repeat_prior=10.0,
        ),
    ]
    for mc in (2, 3):
        out.append(config(f"defaults with min_count={mc}", min_count=mc))
    for k in (50, 200):
        out.append(config(f"defaults with k={k}", k=k))
    for sim in ("cosine", "jaccard", "lift", "bm25", "rp3beta"):
        out.append(config(f"ItemItem {sim}, anonymous", personal=False, similarity=sim))
        out.append(config(f"ItemItem {sim}, customer", similarity=sim))
        out.append(
            config(f"ItemItem {sim}, customer, owned allowed", similarity=sim, call=owned_in)
        )
    out.append(
        config(
            "ItemItem jaccard min_count=3, customer, owned allowed",
            similarity="jaccard",
            min_count=3,
            call=owned_in,
        )
    )
    out.append(config("defaults over customers (use_baskets=False)", use_baskets=False))
    als = {"kind": "als", "factors": 64, "regularization": 10.0}
    out.append(config("ALS fold-in, anonymous", personal=False, **als))
    out.append(config("ALS fold-in, customer", **als))
    out.append(config("ALS fold-in, customer, owned allowed", call=owned_in, **als))
    return out


def ours_recs(
    model: recsys.Recommender, queries: pd.DataFrame, cfg: Config, *, explain: bool
) -> pd.DataFrame:
    """Recommend for every query basket with ``recommend_cross_sell_batch``."""
    if not cfg.personal:
        queries = queries[["basket", "item"]]
    return recommend_cross_sell_batch(
        model,
        queries,
        n=K,
        basket_col="basket",
        item_col="item",
        user_col="user" if cfg.personal else None,
        explain=explain,
        **cfg.call_kwargs(),
    )


def single_matches_batch(
    model: recsys.Recommender,
    queries: pd.DataFrame,
    batch: pd.DataFrame,
    cfg: Config,
    n_baskets: int = 50,
) -> tuple[int, int]:
    """Compare single ``recommend_cross_sell`` calls with the batch output.

    Returns (baskets whose single call equals the batch output exactly,
    baskets checked).
    """
    by_basket = dict(list(batch.groupby("basket", sort=False)))
    baskets = queries["basket"].drop_duplicates().to_numpy()[:n_baskets]
    same = 0
    for basket, lines in queries[queries["basket"].isin(baskets)].groupby("basket", sort=False):
        single = recommend_cross_sell(
            model, lines["item"].tolist(), n=K, user=lines["user"].iloc[0], **cfg.call_kwargs()
        )
        theirs = by_basket[basket]
        same += bool(
            single["item"].tolist() == theirs["item"].tolist()
            and np.array_equal(single["score"].to_numpy(), theirs["score"].to_numpy())
        )
    return same, len(baskets)


# ---------------------------------------------------------------------------
# running a data set
# ---------------------------------------------------------------------------


def hits(recs: pd.DataFrame, hidden: pd.DataFrame) -> np.ndarray:
    """Tell, per test basket (``hidden`` order), if its hidden item is in the basket's top ``K``."""
    ordered = recs.sort_values(["basket", "rank"], kind="stable")
    top = ordered.loc[
        ordered.groupby("basket", sort=False).cumcount().to_numpy() < K, ["basket", "item"]
    ]
    found = pd.MultiIndex.from_frame(hidden[["basket", "item"]]).isin(pd.MultiIndex.from_frame(top))
    return np.asarray(found, dtype=bool)


@dataclass
class Result:
    """The scores of one method on one split, per seed."""

    method: str
    group: str  # ours / baseline / alternative
    hr: list[float] = field(default_factory=list)  # per seed, recsys.evaluation
    mrr: list[float] = field(default_factory=list)
    hr_new: list[float] = field(default_factory=list)
    hits: list[np.ndarray] = field(default_factory=list)  # per seed, per basket
    seconds: float = 0.0  # fit + recommend (all seeds)

    def add(self, recs: pd.DataFrame, hidden: pd.DataFrame) -> None:
        """Score the recommendations of one seed."""
        relevant, kw = hidden[["basket", "item"]], {"user_col": "basket", "item_col": "item"}
        self.hr.append(hit_rate_at_k(recs, relevant, K, **kw))
        self.mrr.append(mrr_at_k(recs, relevant, K, **kw))
        new = hidden["new"].to_numpy()
        self.hr_new.append(hit_rate_at_k(recs, relevant[new], K, **kw) if new.any() else np.nan)
        self.hits.append(hits(recs, hidden))
        assert abs(self.hits[-1].mean() - self.hr[-1]) < 1e-9, (
            "hits disagree with recsys.evaluation"
        )

    @property
    def mean_hits(self) -> np.ndarray:
        """Per basket, the share of seeds whose hidden item was found."""
        return np.mean(self.hits, axis=0)


class Runner:
    """Every method on one split; keeps the recommended and proposed models for the speed table."""

    def __init__(
        self, split: BasketSplit, *, threads: int, progress: Callable[[str], None] | None = None
    ) -> None:
        self.split = split
        self.threads = threads
        self.progress = progress
        self.results: list[Result] = []
        self.models: dict[str, tuple[recsys.Recommender, pd.DataFrame]] = {}
        self.single_vs_batch = ""  # the recommended call: "same/checked" baskets
        self.data = recsys.Interactions.from_pandas(
            split.train, user_col="user", item_col="item", basket_col="basket", time_col="time"
        )
        self.tm = train_matrices(split)
        self.q = [query_matrix(split, s) for s in range(len(split.hidden))]

    def _seeds(self) -> Iterator[tuple[int, pd.DataFrame, sp.csr_matrix, np.ndarray]]:
        for s, hidden in enumerate(self.split.hidden):
            yield s, hidden, *self.q[s]

    def _done(self, r: Result, started: float) -> None:
        r.seconds = time.perf_counter() - started
        self.results.append(r)
        if self.progress:
            self.progress(
                f"  {self.split.name:20s} {r.method:62s} HR@10 {np.mean(r.hr):.4f}  "
                f"MRR@10 {np.mean(r.mrr):.4f}  ({r.seconds:.1f} s)"
            )

    def baseline(
        self,
        method: str,
        fit: Callable[[], Any],
        recommend: Callable[[Any, sp.csr_matrix], np.ndarray],
    ) -> None:
        """Fit and score a baseline."""
        t0 = time.perf_counter()
        r, model = Result(method, "baseline"), fit()
        for _, hidden, q, query_ids in self._seeds():
            r.add(to_recs(query_ids, recommend(model, q), self.split.items), hidden)
        self._done(r, t0)

    def ours(self, cfg: Config, group: str, *, explain: bool = False) -> None:
        """Fit and score one of our configurations."""
        t0 = time.perf_counter()
        r, model = Result(cfg.label, group), cfg.make(self.threads).fit(self.data)
        for s, hidden, _, _ in self._seeds():
            recs = ours_recs(model, self.split.queries[s], cfg, explain=explain)
            r.add(recs, hidden)
            if s == 0:
                self.models[cfg.label] = (model, recs)
        self._done(r, t0)
        if cfg is RECOMMENDED:
            model, recs = self.models[cfg.label]
            same, checked = single_matches_batch(model, self.split.queries[0], recs, cfg)
            self.single_vs_batch = f"{same}/{checked}"

    def run(self, grid: str = "full") -> list[Result]:
        """Fit and score every method of ``grid``."""
        tm = self.tm
        self.ours(RECOMMENDED, "ours", explain=True)  # explanations on, as a caller gets them
        self.ours(PREVIOUS, "ours")
        self.baseline(
            "popularity",
            lambda: None,
            lambda _, q: fill_popular(np.full((q.shape[0], K), -1, dtype=np.int64), q, tm.popular),
        )
        for s in (1, 2, 3, 5) if grid == "full" else (2,):
            self.baseline(
                f"association rules, min support {s}",
                lambda s=s: PairRules(tm, s),
                lambda model, q: model.recommend(q),
            )
        for kind in ("cosine", "bm25", "tfidf"):
            for on in ("baskets", "users"):
                for k in (20, 100) if grid == "full" else (20,):
                    self.baseline(
                        f"implicit {kind}, {on} x items, K={k}",
                        lambda kind=kind, on=on, k=k: implicit_model(kind, on, k, tm, self.threads),
                        lambda model, q: implicit_recommend(model, q, tm),
                    )
        for cfg in alternatives(grid):
            self.ours(cfg, "alternative")
        return self.results


# ---------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------


def results_table(split: BasketSplit, results: list[Result]) -> pd.DataFrame:
    """Tabulate every method against the best baseline."""
    n = split.n_baskets
    baselines = [r for r in results if r.group == "baseline"]
    best = max(baselines, key=lambda r: np.mean(r.hr))
    rows = []
    for r in results:
        hr = float(np.mean(r.hr))
        diff = r.mean_hits - best.mean_hits
        rows.append(
            {
                "method": r.method,
                "group": r.group,
                "HR@10": hr,
                "± HR": float(np.sqrt(hr * (1 - hr) / n)),
                "MRR@10": float(np.mean(r.mrr)),
                "HR@10 new items": float(np.mean(r.hr_new)),
                "HR / best baseline": hr / float(np.mean(best.hr)),
                "Δ HR vs best baseline": float(diff.mean()),
                "± Δ": float(diff.std(ddof=1) / np.sqrt(n)),
                "fit+recommend s": r.seconds,
            }
        )
    return pd.DataFrame(rows)


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """Ours, and the best variant of each baseline family."""
    family = (
        table["method"]
        .str.replace(r", (baskets|users) x items, K=\d+$", "", regex=True)
        .str.replace(r", min support \d+$", "", regex=True)
    )
    base = table[table["group"] == "baseline"].assign(family=family)
    best = base.loc[base.groupby("family", sort=False)["HR@10"].idxmax()]
    best["method"] = [
        m if f == m else f"{f} (best: {m[len(f) + 2 :]})"
        for f, m in zip(best["family"], best["method"], strict=True)
    ]
    ours = table[table["group"] == "ours"]
    return pd.concat([ours, best.drop(columns="family")]).reset_index(drop=True)


def across_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Tabulate ours on every data set.

    Rows are ranked by the geometric mean over the data sets of
    HR@10 / best baseline.
    """
    parts = []
    for name, t in tables.items():
        best = t[t["group"] == "baseline"].sort_values("HR@10").iloc[-1]
        sub = t[t["group"] != "baseline"].set_index("method")
        part = pd.DataFrame(
            {f"{name} HR@10": sub["HR@10"], f"{name} vs best": sub["HR / best baseline"]}
        )
        part.loc[f"best baseline of {name}: {best['method']}"] = [best["HR@10"], 1.0]
        parts.append(part)
    wide = pd.concat(parts, axis=1)
    ratios = wide[[c for c in wide.columns if c.endswith(" vs best")]]
    wide["geo-mean vs best"] = np.exp(np.log(ratios).mean(axis=1, skipna=False))
    wide = wide.sort_values("geo-mean vs best", ascending=False, na_position="last")
    return wide.reset_index(names="method")


# ---------------------------------------------------------------------------
# speed
# ---------------------------------------------------------------------------


def speed_rows(
    split: BasketSplit,
    runner: Runner,
    configs: list[Config],
    *,
    latency_queries: int = 1000,
    repeats: int = 5,
) -> pd.DataFrame:
    """Time batch throughput and single-call latency of ``configs`` on seed 0's queries.

    The models are the ones ``runner`` fitted.  The configurations take turns
    (batch runs alternate, and every latency query is sent to each in turn),
    so a noisy, shared machine slows them alike and their ratio stays
    meaningful.
    """
    queries, n_q = split.queries[0], split.n_baskets
    rng = np.random.default_rng(1)
    picked = rng.choice(
        split.hidden[0]["basket"].to_numpy(), size=min(latency_queries, n_q), replace=False
    )
    groups = queries.groupby("basket", sort=False)
    calls = [(g["item"].tolist(), g["user"].iloc[0]) for g in (groups.get_group(b) for b in picked)]
    models = [runner.models[cfg.label][0] for cfg in configs]
    kwargs = [cfg.call_kwargs() for cfg in configs]

    def run_batch(c: int, explain: bool) -> float:
        t0 = time.perf_counter()
        recommend_cross_sell_batch(
            models[c],
            queries,
            n=K,
            basket_col="basket",
            item_col="item",
            user_col="user",
            explain=explain,
            **kwargs[c],
        )
        return time.perf_counter() - t0

    n_cfg = len(configs)
    for c in range(n_cfg):  # warm
        run_batch(c, True)
        for items, user in calls[:20]:
            recommend_cross_sell(models[c], items, user=user, **kwargs[c])
    t_batch = np.full((n_cfg, 2), np.inf)
    for _ in range(repeats):
        for c in range(n_cfg):
            for e, explain in enumerate((True, False)):
                t_batch[c, e] = min(t_batch[c, e], run_batch(c, explain))
    latency = np.zeros((n_cfg, len(calls)))
    for i, (items, user) in enumerate(calls):
        for c in range(n_cfg):
            t0 = time.perf_counter()
            recommend_cross_sell(models[c], items, user=user, **kwargs[c])
            latency[c, i] = time.perf_counter() - t0
    rows = []
    for c, cfg in enumerate(configs):
        same, checked = single_matches_batch(models[c], queries, runner.models[cfg.label][1], cfg)
        rows.append(
            {
                "call": cfg.label,
                "queries": n_q,
                "items": split.items.size,
                "batch baskets/s (n=10, explain)": n_q / t_batch[c, 0],
                "batch baskets/s (n=10, explain=False)": n_q / t_batch[c, 1],
                "single p50 ms (n=5)": float(np.percentile(latency[c], 50) * 1e3),
                "single p99 ms (n=5)": float(np.percentile(latency[c], 99) * 1e3),
                "single == batch": f"{same}/{checked}",
            }
        )
    table = pd.DataFrame(rows)
    first = table.iloc[0]
    table["batch throughput vs first"] = (
        table["batch baskets/s (n=10, explain)"] / first["batch baskets/s (n=10, explain)"]
    )
    table["single p50 vs first"] = table["single p50 ms (n=5)"] / first["single p50 ms (n=5)"]
    return table


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------


def run(
    datasets: list[str],
    *,
    markdown: str | None = None,
    threads: int = 2,
    grid: str = "full",
    seeds: int = 3,
    speed_dataset: str = "online-retail",
    progress: Callable[[str], None] | None = print,
) -> dict[str, pd.DataFrame]:
    """Run the benchmark on ``datasets``.

    Returns the per-data-set tables, ``"splits"``, ``"speed"`` and ``"across"``.
    """
    tables: dict[str, pd.DataFrame] = {}
    splits, speed = [], None
    for name in datasets:
        t0 = time.perf_counter()
        split = make_split(load_log(name), name, seeds=seeds)
        splits.append(split_summary(split))
        if progress:
            progress(
                f"{name}: split in {time.perf_counter() - t0:.1f} s, {split.n_baskets} test baskets"
            )
        runner = Runner(split, threads=threads, progress=progress)
        table = results_table(split, runner.run(grid))
        splits[-1]["recommended: single == batch"] = runner.single_vs_batch
        tables[name] = table
        show(
            f"Cross-sell quality, summary ({name}, {split.n_baskets:,} test baskets "
            f"x {seeds} hidden-item draws)",
            summary_table(table),
            markdown,
        )
        show(f"Cross-sell quality, every method ({name})", table, markdown)
        if speed is None and (name == speed_dataset or speed_dataset not in datasets):
            speed = speed_rows(split, runner, [RECOMMENDED, PREVIOUS])
            show(f"Cross-sell speed ({name}, {threads} threads)", speed, markdown)
    summary = pd.DataFrame(splits)
    show("Cross-sell splits", summary, markdown)
    out = dict(tables)
    out["splits"] = summary
    if speed is not None:
        out["speed"] = speed
    if len(tables) > 1:
        out["across"] = across_table(tables)
        show(
            "Cross-sell quality across data sets (HR@10, and HR@10 / the data set's best baseline)",
            out["across"],
            markdown,
        )
    return out


def main(
    datasets: list[str] | None,
    *,
    markdown: str | None,
    threads: int,
    grid: str = "full",
    seeds: int = 3,
) -> None:
    """Run the cross-sell benchmark (``python -m benchmarks cross-sell``)."""
    run(datasets or DEFAULT_DATASETS, markdown=markdown, threads=threads, grid=grid, seeds=seeds)


# ---------------------------------------------------------------------------
# RP3beta's alpha and beta
# ---------------------------------------------------------------------------

RP3BETA_ALPHAS = (0.5, 0.75, 1.0, 1.25)
RP3BETA_BETAS = (0.0, 0.25, 0.5, 0.75)


def rp3beta_grid(
    datasets: list[str],
    *,
    alphas: tuple[float, ...] = RP3BETA_ALPHAS,
    betas: tuple[float, ...] = RP3BETA_BETAS,
    seeds: int = 3,
    threads: int = 2,
    progress: Callable[[str], None] | None = print,
) -> pd.DataFrame:
    """Measure ``ItemItem(similarity="rp3beta", alpha=..., beta=...)`` on the cross-sell protocol.

    Anonymous cross-sells (the basket only, the similarity as it is), HR@10
    averaged over ``seeds`` hidden-item draws; one row per ``(alpha, beta)``,
    one column per data set, plus each value over the data set's best and
    their geometric mean.  The defaults of ``ItemItem`` come from this table.
    """
    cfg = config("rp3beta, anonymous", personal=False)
    out: dict[str, dict[tuple[float, float], float]] = {}
    for name in datasets:
        split = make_split(load_log(name), name, seeds=seeds)
        data = recsys.Interactions.from_pandas(
            split.train, user_col="user", item_col="item", basket_col="basket", time_col="time"
        )
        out[name] = {}
        for alpha in alphas:
            for beta in betas:
                model = recsys.ItemItem("rp3beta", alpha=alpha, beta=beta, num_threads=threads).fit(
                    data
                )
                hr = [
                    hits(ours_recs(model, split.queries[s], cfg, explain=False), split.hidden[s])
                    for s in range(seeds)
                ]
                rate = out[name][(alpha, beta)] = float(np.mean([h.mean() for h in hr]))
                if progress:
                    progress(f"  {name:20s} alpha={alpha} beta={beta} HR@10 {rate:.4f}")
    table = pd.DataFrame(out)
    table.index = pd.MultiIndex.from_tuples(table.index, names=["alpha", "beta"])
    ratios = table / table.max()
    for name in datasets:
        table[f"{name} vs best"] = ratios[name]
    table["geo-mean vs best"] = np.exp(np.log(ratios).mean(axis=1))
    return table.reset_index()


if __name__ == "__main__":  # python -m benchmarks.cross_sell --rp3beta-grid [--dataset ...]
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rp3beta-grid", action="store_true", help="RP3beta's alpha x beta grid")
    parser.add_argument("--dataset", action="append", choices=DATASETS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--markdown")
    args = parser.parse_args()
    if args.rp3beta_grid:
        show(
            "RP3beta alpha x beta, anonymous cross-sell HR@10",
            rp3beta_grid(args.dataset or DEFAULT_DATASETS, seeds=args.seeds, threads=args.threads),
            args.markdown,
        )
    else:
        main(args.dataset, markdown=args.markdown, threads=args.threads, seeds=args.seeds)
