"""Public data sets: loaders for local copies and a small sample shipped with recsys.

:func:`load_online_retail_sample` works everywhere (the data are inside the
package, CC BY 4.0, see ``recsys/datasets/data/ATTRIBUTION.md``).  The other
loaders read local copies of public data sets, which recsys never downloads;
they look in ``$RECSYS_DATA_DIR/<folder>/`` and ``../shared/datasets/<folder>/``
and otherwise raise a ``FileNotFoundError`` saying where to get the data.

Examples
--------
>>> from recsys.datasets import load_online_retail_sample
>>> df = load_online_retail_sample()
>>> df["Country"].nunique() >= 10
True
"""

from recsys.datasets.loaders import (
    DATA_DIR_ENV,
    ONLINE_RETAIL_COLUMNS,
    ONLINE_RETAIL_NON_PRODUCT_CODES,
    is_online_retail_product_code,
    load_completejourney_products,
    load_completejourney_transactions,
    load_groceries,
    load_lastfm,
    load_movielens_100k,
    load_movielens_latest_small,
    load_online_retail,
    load_online_retail_sample,
)

__all__ = [
    "DATA_DIR_ENV",
    "ONLINE_RETAIL_COLUMNS",
    "ONLINE_RETAIL_NON_PRODUCT_CODES",
    "is_online_retail_product_code",
    "load_completejourney_products",
    "load_completejourney_transactions",
    "load_groceries",
    "load_lastfm",
    "load_movielens_100k",
    "load_movielens_latest_small",
    "load_online_retail",
    "load_online_retail_sample",
]
