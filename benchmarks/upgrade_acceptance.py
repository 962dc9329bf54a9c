"""Upgrade acceptance on real data: which higher tier does a household buy next.

``python -m benchmarks upgrade [--bands 3] [--validation [--cut F]] [--affinity-weight W]
[--recency] [--markdown PATH]``

Protocol (84.51° Complete Journey transaction sample, shared with the repository):

* **Catalog.**  Families are the product hierarchy's ``product_type``; an
  item's price is its median unit price (``sales_value / quantity``) over the
  sample; tiers are price bands within each family (``--bands`` quantiles of
  the family's distinct prices, so several items share a tier, as in a real
  catalog).  Families with one tier are left out.
* **Split.**  Train on the first half of the period (weeks before the median
  week), test on the second.
* **Who counts.**  Households that, in the second half, bought an item of a
  strictly higher tier of a family they had bought in during the first half
  (higher than the top tier they had bought there).  A hit at 3: one of the
  three offers is such an item.
* **What is compared.**  ``recommend_upgrade(model, catalog, user=...)`` (the
  household-wide form; through ``recommend_upgrade_batch``) with the default
  ``ItemItem``, with ``ALS`` and with ``EASE`` against three baselines over the *same*
  candidates (every item of a strictly higher tier of each family the
  household bought in, among the items the model knows): the most popular
  higher tier, the next tier up (most popular first), and the cheapest
  higher tier.
* **Validation.**  ``--validation`` runs the same protocol inside the
  training half only (train on its first half, test on its second): the
  split on which the library's defaults for upgrades were decided
  (``--affinity-weight`` compares blends), so that the test households are
  never used to choose anything.  ``--cut F`` moves the validation's split to
  the fraction ``F`` of the training half's weeks (0.5: its median week, the
  default), for rolling cuts.
* **Recency and trend** (``--recency``, issue 12's exploration).  A second
  table ranks the same candidates by time-aware popularity: baskets decayed
  by ``0.5 ** (age / half_life)`` (:func:`recsys.data.time_decay.decay_weights`,
  the decay ``Popularity``, ``ALS`` and ``ItemItem`` share), counts over the
  last weeks only, a trend factor, ``recommend_upgrade(Popularity(half_life_days=h))``
  and ItemItem's basket-completion probability computed from decayed counts;
  and, as a ceiling rather than a method, the candidates' popularity among
  the *other* households during the test period itself.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

import recsys
from benchmarks.report import machine_line, show
from recsys.data.time_decay import decay_weights
from recsys.datasets.loaders import (
    load_completejourney_products,
    load_completejourney_transactions,
)
from recsys.selling import TierCatalog, recommend_upgrade_batch
from recsys.selling.upgrade import DEFAULT_AFFINITY_WEIGHT

N_OFFERS = 3
#: Half-lives (days) of the decayed-popularity rows of ``--recency``, and the recent windows
#: (weeks) of its recent-count and trend rows.
RECENCY_HALF_LIVES = (7, 14, 30, 90)
RECENT_WEEKS = (4, 8)
#: ``--recency``: the half-lives of ``Popularity(half_life_days=...)`` and of the decayed
#: ItemItem probability (``None``: undecayed, a check of the NumPy probability against the model),
#: and the latter's prior strengths ``m`` (1,000: the weakest prior of an exploratory grid of
#: 10 to 100,000 that tied the best on the validation split; the model's calibrated
#: ``basket_prior_`` is added).
MODEL_HALF_LIVES: tuple[float | None, ...] = (None, 30, 90)
ITEM_ITEM_PRIORS = (1_000.0,)


@dataclass
class UpgradeSplit:
    """The train lines, the catalog and, per test household, the higher tiers it went on to buy."""

    train: pd.DataFrame
    catalog: TierCatalog
    bought_up: dict[str, set[str]]
    test: pd.DataFrame


def price_band_catalog(lines: pd.DataFrame, products: pd.DataFrame, bands: int) -> TierCatalog:
    """Families from ``product_type``, tiers from price bands within each family."""
    priced = lines.assign(price=lines["sales_value"] / lines["quantity"])
    stats = (
        priced.groupby("product_id")["price"]
        .median()
        .rename("price")
        .reset_index()
        .merge(products[["product_id", "product_type"]], on="product_id")
        .dropna(subset=["product_type"])
    )
    stats = stats[stats["price"] > 0]
    # dense price rank within the family, cut into `bands` equal-count bands of distinct prices
    dense = stats.groupby("product_type")["price"].rank(method="dense")
    distinct = stats.groupby("product_type")["price"].transform("nunique")
    tier = np.ceil(dense * np.minimum(bands, distinct) / distinct)
    stats = stats.assign(tier=tier)
    tiers_per_family = stats.groupby("product_type")["tier"].transform("nunique")
    stats = stats[tiers_per_family >= 2]
    return TierCatalog.from_pandas(stats, "product_id", "product_type", "tier", "price")


def make_split(bands: int, validation: bool = False, cut: float | None = None) -> UpgradeSplit:
    """Build the catalog and the first-half / second-half split (see the module docstring).

    With ``validation``, the split is of the first half alone (the catalog is the same), at its
    median week, or with ``cut`` at the first week from the fraction ``cut`` of its weeks on.
    """
    if cut is not None and not (validation and 0.0 < cut < 1.0):
        raise ValueError(f"cut must be in (0, 1) and needs validation=True, got {cut!r}")
    lines = load_completejourney_transactions()
    lines = lines[(lines["quantity"] > 0) & (lines["sales_value"] > 0)]
    catalog = price_band_catalog(lines, load_completejourney_products(), bands)
    half = lines["week"].median()
    if validation:
        lines = lines[lines["week"] < half]
        half = lines["week"].median()
        if cut is not None:
            first, last = lines["week"].min(), lines["week"].max()
            half = first + cut * (last - first + 1)
    train, test = lines[lines["week"] < half], lines[lines["week"] >= half]
    info = catalog.to_pandas().set_index("item")
    owned = train[train["product_id"].isin(info.index)].assign(
        family=lambda d: info.loc[d["product_id"], "family"].to_numpy(),
        tier=lambda d: info.loc[d["product_id"], "tier"].to_numpy(),
    )
    top = owned.groupby(["household_id", "family"])["tier"].max().rename("top_tier")
    later = test[test["product_id"].isin(info.index)].assign(
        family=lambda d: info.loc[d["product_id"], "family"].to_numpy(),
        tier=lambda d: info.loc[d["product_id"], "tier"].to_numpy(),
    )
    later = later.join(top, on=["household_id", "family"], how="inner")
    up = later[later["tier"] > later["top_tier"]]
    bought_up = up.groupby("household_id")["product_id"].agg(set).to_dict()
    return UpgradeSplit(train, catalog, bought_up, test)


def candidates(
    model: recsys.Recommender, catalog: TierCatalog, train: pd.DataFrame, users: list[str]
) -> pd.DataFrame:
    """Every (user, higher-tier item) the upgrade call could offer, with its tier step and price."""
    known = catalog.restrict_to(model.item_ids_.external_ids)
    info = known.to_pandas().set_index("item")
    info["rank"] = info.groupby("family")["tier"].rank(method="dense")
    mine = train[train["household_id"].isin(users) & train["product_id"].isin(info.index)]
    mine = mine.assign(
        family=info.loc[mine["product_id"], "family"].to_numpy(),
        rank=info.loc[mine["product_id"], "rank"].to_numpy(),
    )
    top = mine.groupby(["household_id", "family"])["rank"].max().rename("from_rank").reset_index()
    items = info.reset_index()[["item", "family", "rank", "price"]]
    pairs = top.merge(items, on="family")
    pairs = pairs[pairs["rank"] > pairs["from_rank"]]
    popularity = train.groupby("product_id")["basket_id"].nunique()
    return pairs.assign(
        step=pairs["rank"] - pairs["from_rank"],
        popularity=popularity.reindex(pairs["item"]).fillna(0).to_numpy(),
    )


def baseline_offers(pairs: pd.DataFrame, kind: str) -> dict[str, list[str]]:
    """Top 3 candidates per household by a baseline rule (ties: more popular, then item ID)."""
    keys = {
        "most popular higher tier": (["popularity"], [False]),
        "next tier up": (["step", "popularity"], [True, False]),
        "cheapest higher tier": (["price", "popularity"], [True, False]),
    }[kind]
    ordered = pairs.sort_values(
        ["household_id", *keys[0], "item"], ascending=[True, *keys[1], True], kind="stable"
    )
    top = ordered.groupby("household_id").head(N_OFFERS)
    return top.groupby("household_id")["item"].agg(list).to_dict()


def key_offers(pairs: pd.DataFrame, key: np.ndarray) -> dict[str, list[str]]:
    """Top 3 candidates per household by ``key`` (aligned with ``pairs``; ties as the baselines)."""
    ordered = pairs.assign(key=np.asarray(key, dtype=np.float64)).sort_values(
        ["household_id", "key", "popularity", "item"],
        ascending=[True, False, False, True],
        kind="stable",
    )
    top = ordered.groupby("household_id").head(N_OFFERS)
    return top.groupby("household_id")["item"].agg(list).to_dict()


def basket_weights(data: recsys.Interactions, half_life_days: float | None) -> np.ndarray:
    """Return each training basket's weight: 1, or decayed by its age from the newest event."""
    assert data.basket_matrix is not None and data.basket_times is not None
    if half_life_days is None:
        return np.ones(data.basket_matrix.shape[0])
    return decay_weights(data.basket_times, data.reference_time, half_life_days)


def item_basket_counts(
    data: recsys.Interactions, items: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Return the (weighted) number of training baskets holding each of ``items`` (item IDs)."""
    per_item = np.asarray(basket_presence(data).T @ weights).ravel()
    return per_item[data.item_ids.to_rows(items)]


def basket_presence(data: recsys.Interactions) -> sp.csr_matrix:
    """Return the training baskets x items as presence (1.0 where the basket holds the item)."""
    assert data.basket_matrix is not None
    matrix = data.basket_matrix.tocsr()
    return sp.csr_matrix(
        (np.ones(matrix.nnz), matrix.indices, matrix.indptr), shape=matrix.shape, dtype=np.float64
    )


def recent_basket_counts(
    train: pd.DataFrame, items: np.ndarray, weeks: int, *, before: bool = False
) -> np.ndarray:
    """Return the baskets holding each of ``items`` in the last ``weeks`` weeks of ``train``.

    With ``before``, in the weeks before those instead.
    """
    recent = train["week"] > train["week"].max() - weeks
    lines = train[~recent if before else recent].drop_duplicates(["basket_id", "product_id"])
    return lines.groupby("product_id").size().reindex(items).fillna(0).to_numpy(np.float64)


def decayed_confidence(
    data: recsys.Interactions,
    pairs: pd.DataFrame,
    weights: np.ndarray,
    basket_prior: float,
) -> np.ndarray:
    """ItemItem's basket-completion probability of every candidate, from weighted baskets.

    As ``ItemItem().score_rows`` scores a household (without repeat
    purchases and the top-``k`` truncation; :mod:`recsys.models.basket_probability`):
    ``P(j | i) = (C_ij + m p_j) / (c_i + m)``, its largest value over the
    household's training items ``i`` bought with ``j``, or, when none was,
    the largest prior ``m p_j / (c_i + m)``.  Every count is a sum of basket
    weights: ``c_i`` over the baskets holding ``i``, ``C_ij`` holding both,
    ``p_j = c_j / sum(weights)`` (all weights 1: the model's counts).  The
    candidates are items the household never bought (as upgrades are).
    """
    present = basket_presence(data)
    weighted = sp.csr_matrix(present.multiply(weights[:, None]))
    support = np.asarray(weighted.sum(axis=0)).ravel()
    share = support / max(float(weights.sum()), 1e-300)
    together = sp.csr_matrix(weighted.T @ present)  # C_ij, weighted
    seen = sp.csr_matrix(present.T @ present)  # baskets holding both, unweighted
    history = data.matrix.tocsr()
    users = data.user_ids.to_rows(pairs["household_id"].to_numpy())
    items = data.item_ids.to_rows(pairs["item"].to_numpy())
    out = np.zeros(len(pairs))
    order = np.argsort(users, kind="stable")
    for sel in np.split(order, np.flatnonzero(np.diff(users[order])) + 1):
        if sel.size == 0:
            continue
        u = users[sel[0]]
        mine = history.indices[history.indptr[u] : history.indptr[u + 1]]
        cand = items[sel]
        denominator = support[mine][:, None] + basket_prior
        prior = basket_prior * share[cand][None, :] / denominator
        prob = together[mine][:, cand].toarray() / denominator + prior
        listed = seen[mine][:, cand].toarray() > 0
        out[sel] = np.where(
            listed.any(axis=0),
            np.where(listed, prob, -np.inf).max(axis=0, initial=-np.inf),
            prior.max(axis=0, initial=0.0),
        )
    return out


def future_popularity(test: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
    """Baskets of the test period holding each candidate, the household's own left out.

    A ceiling for any ranking by item popularity, however it weighs time: it
    knows what the other households bought during the test period.
    """
    lines = test.drop_duplicates(["basket_id", "product_id"])
    total = lines.groupby("product_id").size().reindex(pairs["item"]).fillna(0).to_numpy()
    own = lines.groupby(["household_id", "product_id"]).size()
    keys = pd.MultiIndex.from_arrays([pairs["household_id"], pairs["item"]])
    return total - own.reindex(keys).fillna(0).to_numpy()


def recency_table(
    split: UpgradeSplit,
    data: recsys.Interactions,
    users: list[str],
    bought_up: dict[str, set[str]],
    pairs: pd.DataFrame,
    basket_prior: float,
    best_baseline: float,
) -> pd.DataFrame:
    """HR@3 of the recency and trend variants over the same candidates (``--recency``).

    ``basket_prior`` is the fitted ItemItem's ``basket_prior_``; ``best_baseline``
    the HR@3 the last column divides by.
    """
    items = pairs["item"].to_numpy()
    popularity = pairs["popularity"].to_numpy(np.float64)
    rows: list[tuple[str, float]] = [
        ("most popular higher tier", hit_rate(key_offers(pairs, popularity), bought_up))
    ]

    def add(name: str, key: np.ndarray) -> None:
        rows.append((name, hit_rate(key_offers(pairs, key), bought_up)))

    for h in RECENCY_HALF_LIVES:
        add(
            f"decayed popularity, half-life {h} d",
            item_basket_counts(data, items, basket_weights(data, h)),
        )
    weeks_trained = int(split.train["week"].max() - split.train["week"].min() + 1)
    for weeks in RECENT_WEEKS:
        recent = recent_basket_counts(split.train, items, weeks)
        add(f"last {weeks} weeks' baskets (ties: all)", recent * 1e9 + popularity)
        earlier = recent_basket_counts(split.train, items, weeks, before=True)
        rate_ratio = (recent + 1) / (earlier * weeks / max(weeks_trained - weeks, 1) + 1)
        add(
            f"trend: popularity x sqrt(last {weeks} weeks' rate / earlier)",
            popularity * rate_ratio**0.5,
        )
    for life in MODEL_HALF_LIVES:
        model = recsys.Popularity(half_life_days=life).fit(data)
        offers = household_offers(model, split, users)
        rows.append(
            (f"recommend_upgrade(Popularity(half_life_days={life}))", hit_rate(offers, bought_up))
        )
    for life in MODEL_HALF_LIVES:
        decay = "no decay" if life is None else f"baskets' half-life {life:g} d"
        for m in (*ITEM_ITEM_PRIORS, basket_prior):
            add(
                f"ItemItem probability (NumPy), {decay}, m={m:g}",
                decayed_confidence(data, pairs, basket_weights(data, life), m),
            )
    add(
        "ceiling: test-period popularity, other households (an oracle)",
        future_popularity(split.test, pairs) * 1e9 + popularity,
    )
    table = pd.DataFrame(rows, columns=["method", "HR@3"])
    table["vs best baseline"] = table["HR@3"] / best_baseline
    return table


def household_offers(
    model: Any, split: UpgradeSplit, users: Any, affinity_weight: float = DEFAULT_AFFINITY_WEIGHT
) -> dict[Any, list[Any]]:
    """Return each household's ``N_OFFERS`` household-wide upgrades (the batch call)."""
    recs = recommend_upgrade_batch(
        model,
        split.catalog.restrict_to(model.item_ids_.external_ids),
        pd.DataFrame({"user": users}),
        n=N_OFFERS,
        item_col=None,
        user_col="user",
        query_col="user",
        explain=False,
        affinity_weight=affinity_weight,
    )
    return recs.groupby("user")["item"].agg(list).to_dict()


def hit_rate(offers: dict[str, list[str]], bought_up: dict[str, set[str]]) -> float:
    """Share of households with at least one offer among the higher tiers they bought."""
    hits = [bool(set(offers.get(u, ())) & items) for u, items in bought_up.items()]
    return float(np.mean(hits)) if hits else float("nan")


def run(
    bands: int = 3,
    markdown: str | None = None,
    *,
    validation: bool = False,
    affinity_weight: float = DEFAULT_AFFINITY_WEIGHT,
    cut: float | None = None,
    recency: bool = False,
) -> pd.DataFrame:
    """Run the comparison and print (and optionally append as Markdown) the table.

    With ``recency``, also the table of :func:`recency_table` (returned: the main table).
    """
    print(machine_line())
    split = make_split(bands, validation, cut)
    data = recsys.Interactions.from_pandas(
        split.train,
        user_col="household_id",
        item_col="product_id",
        basket_col="basket_id",
        time_col="transaction_timestamp",
    )
    users = sorted(u for u in split.bought_up if u in data.user_ids)
    bought_up = {u: split.bought_up[u] for u in users}
    print(
        f"catalog: {split.catalog!r}; train lines {len(split.train):,}; "
        f"households who later bought a higher tier: {len(users):,}"
    )
    rows = []
    models = {
        "recsys ItemItem() + recommend_upgrade": recsys.ItemItem(),
        "recsys ALS(random_state=0) + recommend_upgrade": recsys.ALS(random_state=0),
        "recsys EASE() + recommend_upgrade": recsys.EASE(),
    }
    pairs = None
    basket_prior = float("nan")
    for name, model in models.items():
        started = time.perf_counter()
        model.fit(data)
        offers = household_offers(model, split, users, affinity_weight=affinity_weight)
        seconds = time.perf_counter() - started
        rows.append({"method": name, "HR@3": hit_rate(offers, bought_up), "seconds": seconds})
        if pairs is None:
            pairs = candidates(model, split.catalog, split.train, users)
        if isinstance(model, recsys.ItemItem) and model.basket_prior_ is not None:
            basket_prior = model.basket_prior_
    assert pairs is not None
    for kind in ("most popular higher tier", "next tier up", "cheapest higher tier"):
        rows.append(
            {
                "method": kind,
                "HR@3": hit_rate(baseline_offers(pairs, kind), bought_up),
                "seconds": float("nan"),
            }
        )
    table = pd.DataFrame(rows)
    best_baseline = table["HR@3"].iloc[len(models) :].max()
    table["vs best baseline"] = table["HR@3"] / best_baseline
    title = f"Upgrade acceptance, Complete Journey ({bands} price bands per family"
    title += f", affinity_weight={affinity_weight:g}"
    if validation:
        where = "median week" if cut is None else f"cut {cut:g}"
        title += f"; validation split inside the training half, {where})"
    else:
        title += ")"
    show(title, table, markdown)
    if recency:
        show(
            f"Recency and trend over the same candidates ({title.split('(', 1)[1]}",
            recency_table(split, data, users, bought_up, pairs, basket_prior, best_baseline),
            markdown,
        )
    return table


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks upgrade", description=__doc__)
    parser.add_argument("--bands", type=int, default=3, help="price bands (tiers) per family")
    parser.add_argument(
        "--validation",
        action="store_true",
        help="split the training half instead (where defaults are chosen)",
    )
    parser.add_argument(
        "--affinity-weight",
        type=float,
        default=DEFAULT_AFFINITY_WEIGHT,
        help="recommend_upgrade's affinity_weight (default: the library's)",
    )
    parser.add_argument(
        "--cut",
        type=float,
        help="with --validation: split at this fraction of the training half's weeks "
        "(default: its median week)",
    )
    parser.add_argument(
        "--recency",
        action="store_true",
        help="also rank the candidates by recency and trend of popularity (a second table)",
    )
    parser.add_argument("--markdown", help="append the table as Markdown to this file")
    args = parser.parse_args(argv)
    if args.cut is not None and not args.validation:
        parser.error("--cut needs --validation")
    run(
        args.bands,
        args.markdown,
        validation=args.validation,
        affinity_weight=args.affinity_weight,
        cut=args.cut,
        recency=args.recency,
    )


if __name__ == "__main__":
    main()
