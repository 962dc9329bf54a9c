"""Product families and tiers derived from the public data sets, for upgrade offers.

Neither data set ships a tier catalog, so these functions derive one the way a
merchandiser would from the product master:

* Online Retail: the same product in several sizes ("SMALL", "MEDIUM",
  "LARGE", "JUMBO" … in the description) forms a family; the size is the tier
  and the item's usual (median) unit price its price.
* Complete Journey: within a product type, a Private-label item is the entry
  tier and a National brand the upper tier.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from recsys.data.validation import require_columns, require_dataframe

#: Size words in Online Retail descriptions, smallest first (the tier rank).
SIZE_TIERS: dict[str, int] = {
    "MINI": 0,
    "SMALL": 1,
    "MEDIUM": 2,
    "LARGE": 3,
    "JUMBO": 4,
    "GIANT": 5,
}
_SIZE_RE = re.compile(r"\b(" + "|".join(SIZE_TIERS) + r")\b")


def online_retail_size_tiers(df: pd.DataFrame, *, min_family_size: int = 2) -> pd.DataFrame:
    """Size families of Online Retail products as a tier table.

    Parameters
    ----------
    df : pandas.DataFrame
        Online Retail lines with ``StockCode``, ``Description`` and ``UnitPrice``
        (e.g. from :func:`recsys.datasets.load_online_retail_sample`).
    min_family_size : int
        Keep families with at least this many sizes.

    Returns
    -------
    pandas.DataFrame
        One row per item: ``item, family, tier, size, price, description``.
        Where two stock codes share a family and size, the better-selling one
        is kept.  Families whose price does not rise with size are dropped with
        a warning giving their count (a cheaper "upgrade" is no upgrade).

    Examples
    --------
    >>> from recsys.datasets import load_online_retail_sample
    >>> tiers = online_retail_size_tiers(load_online_retail_sample())
    >>> {"item", "family", "tier", "price"} <= set(tiers.columns)
    True
    """
    df = require_dataframe(df, "online retail lines")
    require_columns(df, ["StockCode", "Description", "UnitPrice"], "online retail lines")
    lines = df[["StockCode", "Description", "UnitPrice"]].dropna()
    items = (
        lines.groupby("StockCode")
        .agg(
            description=("Description", lambda s: s.mode().iloc[0]),
            price=("UnitPrice", "median"),
            lines=("UnitPrice", "size"),
        )
        .reset_index()
        .rename(columns={"StockCode": "item"})
    )
    size = items["description"].str.extract(_SIZE_RE, expand=False)
    items = items.assign(size=size).dropna(subset=["size"])
    items["tier"] = items["size"].map(SIZE_TIERS).astype(int)
    items["family"] = (
        items["description"]
        .str.replace(_SIZE_RE, " ", regex=True)
        .str.replace(r"\s+", " ", regex=True)
        .str.strip()
    )
    items = items.sort_values(["family", "tier", "lines"], ascending=[True, True, False])
    items = items.drop_duplicates(["family", "tier"])
    sizes = items.groupby("family")["tier"].transform("size")
    items = items[sizes >= min_family_size]
    rising = items.groupby("family")["price"].apply(
        lambda p: bool(np.all(np.diff(p.to_numpy()) > 0))
    )
    falling = rising.index[~rising.to_numpy()]
    if len(falling):
        warnings.warn(
            f"online_retail_size_tiers: dropped {len(falling)} famil(ies) "
            "whose price does not rise with size",
            UserWarning,
            stacklevel=2,
        )
    items = items[items["family"].isin(rising.index[rising.to_numpy()])]
    return items[["item", "family", "tier", "size", "price", "description"]].reset_index(drop=True)


def completejourney_brand_tiers(
    products: pd.DataFrame, transactions: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Private label → National brand tiers within each Complete Journey product type.

    Parameters
    ----------
    products : pandas.DataFrame
        The products table (``product_id, brand, product_type, package_size``…).
    transactions : pandas.DataFrame, optional
        If given, items get a price (median ``sales_value / quantity``) and only
        sold items are kept.

    Returns
    -------
    pandas.DataFrame
        ``item, family, tier, brand, package_size[, price]``: family =
        product type and package size; tier 0 = Private, 1 = National.  Only
        families that have both tiers are kept, one item per tier (the best
        seller, or the lowest product id without transactions).

    Examples
    --------
    >>> import pandas as pd
    >>> products = pd.DataFrame({
    ...     "product_id": ["1", "2"],
    ...     "brand": ["Private", "National"],
    ...     "product_type": ["COLA", "COLA"],
    ...     "package_size": ["2 LTR", "2 LTR"],
    ... })
    >>> completejourney_brand_tiers(products)[["item", "tier"]].values.tolist()
    [['1', 0], ['2', 1]]
    """
    products = require_dataframe(products, "products")
    require_columns(products, ["product_id", "brand", "product_type", "package_size"], "products")
    items = products.dropna(subset=["product_type", "package_size", "brand"]).copy()
    items = items[items["brand"].isin(["Private", "National"])]
    items["family"] = items["product_type"].astype(str) + " | " + items["package_size"].astype(str)
    items["tier"] = (items["brand"] == "National").astype(int)
    items["item"] = items["product_id"].astype(str)
    sort_cols, ascending = ["family", "tier", "item"], [True, True, True]
    if transactions is not None:
        require_columns(transactions, ["product_id", "quantity", "sales_value"], "transactions")
        sold = transactions[(transactions["quantity"] > 0) & (transactions["sales_value"] > 0)]
        stats = (
            sold.assign(
                unit=sold["sales_value"] / sold["quantity"], item=sold["product_id"].astype(str)
            )
            .groupby("item")
            .agg(price=("unit", "median"), lines=("unit", "size"))
        )
        items = items.merge(stats, left_on="item", right_index=True, how="inner")
        sort_cols, ascending = ["family", "tier", "lines", "item"], [True, True, False, True]
    items = items.sort_values(sort_cols, ascending=ascending).drop_duplicates(["family", "tier"])
    both = items.groupby("family")["tier"].transform("nunique") == 2
    columns = ["item", "family", "tier", "brand", "package_size"] + (
        ["price"] if transactions is not None else []
    )
    return items.loc[both, columns].reset_index(drop=True)
