"""The library's main job in one command: cross-sell and upgrade offers on real data.

Runs on the sample of UCI Online Retail that ships inside the package (so
nothing is downloaded)::

    python -m recsys.demo

Data: Chen, D. (2015). Online Retail [Dataset]. UCI Machine Learning Repository.
https://doi.org/10.24432/C5BW33 — CC BY 4.0; the sample and how it was made are
described in ``recsys/datasets/data/ATTRIBUTION.md``.
"""

from __future__ import annotations

import time
import warnings

import pandas as pd

import recsys
from recsys.datasets import load_online_retail_sample
from recsys.datasets.catalogs import online_retail_size_tiers
from recsys.selling import TierCatalog, recommend_cross_sell, recommend_upgrade


def _show(title: str, frame: pd.DataFrame, columns: list[str]) -> None:
    print(f"\n{title}")
    print(frame[columns].to_string(index=False, max_colwidth=100))


def main() -> None:
    """Fit models on the packaged sample and print explained cross-sell and upgrade offers."""
    lines = load_online_retail_sample()
    names = lines.groupby("StockCode")["Description"].agg(lambda s: s.mode().iloc[0])
    print("recsys demo: UCI Online Retail sample (CC BY 4.0, Chen 2015, doi:10.24432/C5BW33)")
    print(
        f"{len(lines):,} order lines, {lines.InvoiceNo.nunique():,} invoices, "
        f"{lines.CustomerID.nunique():,} customers, {lines.StockCode.nunique():,} products, "
        f"{lines.Country.nunique()} countries"
    )

    start = time.perf_counter()
    data = recsys.Interactions.from_pandas(
        lines,
        user_col="CustomerID",
        item_col="StockCode",
        basket_col="InvoiceNo",
        time_col="InvoiceDate",
        user_attribute_cols=["Country"],
    )
    model = recsys.ItemItem().fit(data)
    print(f"{model!r}\n  fitted on {data!r} in {time.perf_counter() - start:.2f} s")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # families whose price falls with size are dropped
        tiers = online_retail_size_tiers(lines)
    catalog = TierCatalog.from_pandas(
        tiers,
        item_col="item",
        family_col="family",
        tier_col="tier",
        price_col="price",
        feature_cols=["size"],
    )
    print(
        f"tier catalog: {tiers.family.nunique()} product families in sizes "
        "MINI < SMALL < MEDIUM < LARGE < JUMBO < GIANT"
    )

    # 1. Cross-sell: complete the basket before checkout.
    basket = ["22423"]  # REGENCY CAKESTAND 3 TIER
    offers = recommend_cross_sell(model, basket, n=5)
    offers["description"] = offers["item"].map(names)
    _show(
        f"1. Cart holds {basket[0]} {names[basket[0]]}: add before checkout",
        offers,
        ["rank", "item", "description", "reason"],
    )

    # 2. The same cart, personalised: what this customer keeps re-buying can come back.
    customer = lines.groupby("CustomerID")["InvoiceNo"].nunique().idxmax()
    offers = recommend_cross_sell(model, basket, n=5, user=customer, catalog=catalog)
    offers["description"] = offers["item"].map(names)
    country = (
        data.user_attributes.loc[customer, "Country"] if data.user_attributes is not None else "?"
    )
    _show(
        f"2. Same cart for customer {customer} ({country}), with their repeat purchases",
        offers,
        ["rank", "item", "description", "reason"],
    )

    # 3. Upgrade of the item being viewed: a bigger size in the same family.
    small = tiers.sort_values("tier").groupby("family").head(1)
    viewed = small.loc[small["item"].isin(data.item_ids.external_ids), "item"].iloc[0]
    upgrades = recommend_upgrade(model, catalog, item=viewed, n=3)
    upgrades["description"] = upgrades["item"].map(names)
    price = catalog.price_of([viewed])[0]
    _show(
        f"3. Viewing {viewed} {names[viewed]} (£{price:.2f}): upgrade offers",
        upgrades,
        ["rank", "item", "description", "price_from", "price_to", "reason"],
    )

    # 4. Upgrades across everything a customer owns.
    owners = lines[lines["StockCode"].isin(small["item"])]
    buyer = owners["CustomerID"].value_counts().index[0]
    upgrades = recommend_upgrade(model, catalog, user=buyer, n=3)
    upgrades["from"] = upgrades["from_item"].map(names)
    upgrades["to"] = upgrades["item"].map(names)
    _show(
        f"4. Customer {buyer}: upgrades of what they already buy",
        upgrades,
        ["rank", "from", "to", "price_diff", "reason"],
    )
    print(
        "\nNext: README.md (quickstart on the full data set), docs/ (guides), "
        "python -m benchmarks --help"
    )


if __name__ == "__main__":
    main()
