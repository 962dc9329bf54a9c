"""Upgrade acceptance on real data: which higher tier does a household buy next.

``python -m benchmarks upgrade [--bands 3] [--validation] [--affinity-weight W] [--markdown PATH]``

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
  never used to choose anything.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

import recsys
from benchmarks.report import machine_line, show
from recsys.datasets.loaders import (
    load_completejourney_products,
    load_completejourney_transactions,
)
from recsys.selling import TierCatalog, recommend_upgrade_batch
from recsys.selling.upgrade import DEFAULT_AFFINITY_WEIGHT

N_OFFERS = 3


@dataclass
class UpgradeSplit:
    """The train lines, the catalog and, per test household, the higher tiers it went on to buy."""

    train: pd.DataFrame
    catalog: TierCatalog
    bought_up: dict[str, set[str]]


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


def make_split(bands: int, validation: bool = False) -> UpgradeSplit:
    """Build the catalog and the first-half / second-half split (see the module docstring).

    With ``validation``, the split is of the first half alone (the catalog is the same).
    """
    lines = load_completejourney_transactions()
    lines = lines[(lines["quantity"] > 0) & (lines["sales_value"] > 0)]
    catalog = price_band_catalog(lines, load_completejourney_products(), bands)
    half = lines["week"].median()
    if validation:
        lines = lines[lines["week"] < half]
        half = lines["week"].median()
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
    return UpgradeSplit(train, catalog, bought_up)


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
) -> pd.DataFrame:
    """Run the comparison and print (and optionally append as Markdown) the table."""
    print(machine_line())
    split = make_split(bands, validation)
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
    for name, model in models.items():
        started = time.perf_counter()
        model.fit(data)
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
        offers = recs.groupby("user")["item"].agg(list).to_dict()
        seconds = time.perf_counter() - started
        rows.append({"method": name, "HR@3": hit_rate(offers, bought_up), "seconds": seconds})
        if pairs is None:
            pairs = candidates(model, split.catalog, split.train, users)
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
    title += "; validation split inside the training half)" if validation else ")"
    show(title, table, markdown)
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
    parser.add_argument("--markdown", help="append the table as Markdown to this file")
    args = parser.parse_args(argv)
    run(
        args.bands,
        args.markdown,
        validation=args.validation,
        affinity_weight=args.affinity_weight,
    )


if __name__ == "__main__":
    main()
