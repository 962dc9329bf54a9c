"""Rebuild ``recsys/datasets/data/online_retail_sample.csv.gz`` from the full UCI file.

The sample is deterministic: the same full file gives byte-identical output.

How the subset is made (keep ``recsys/datasets/data/ATTRIBUTION.md`` in step):

1. Load the full file with ``recsys.datasets.load_online_retail(clean=True)``:
   drop cancellations, ``Quantity <= 0``, ``UnitPrice <= 0``, non-product stock
   codes (postage, fees, manual adjustments, gift vouchers, ...) and lines
   without a CustomerID; stock codes are stripped and upper-cased, CustomerID
   written as an integer string.
2. Keep the ``N_ITEMS`` stock codes bought by the most distinct customers in
   the full clean data (ties broken by stock code).
3. Draw customers per country (stratified, ``numpy.random.default_rng(SEED)``,
   countries in alphabetical order, each country's customers sorted by ID
   before the draw): ``max(round(FRACTION * n), min(n, MIN_PER_COUNTRY))``
   of the country's ``n`` customers, so every country is present while the
   United Kingdom keeps most of the customers.
4. Keep every clean line of the drawn customers whose stock code is one of the
   ``N_ITEMS``; write the original columns (not ``Revenue``) in the original
   line order as CSV, gzip level 9 without file name or time stamp.

Usage (from the repository root)::

    python benchmarks/make_online_retail_sample.py            # writes the sample
    python benchmarks/make_online_retail_sample.py --check    # rebuilds and compares
    python benchmarks/make_online_retail_sample.py --input PATH --output PATH
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from recsys.datasets.loaders import ONLINE_RETAIL_COLUMNS, load_online_retail  # noqa: E402

SEED = 20151106
N_ITEMS = 1500
FRACTION = 0.08
MIN_PER_COUNTRY = 2
MAX_BYTES = 400_000
OUTPUT = ROOT / "recsys" / "datasets" / "data" / "online_retail_sample.csv.gz"


def top_items(clean: pd.DataFrame, n_items: int) -> pd.Index:
    """Return the ``n_items`` stock codes with the most distinct customers (ties: by code).

    Example
    -------
    >>> df = pd.DataFrame({"StockCode": ["a", "b", "b"], "CustomerID": ["1", "1", "2"]})
    >>> top_items(df, 1).tolist()
    ['b']
    """
    buyers = clean.groupby("StockCode")["CustomerID"].nunique()
    ranked = buyers.reset_index().sort_values(["CustomerID", "StockCode"], ascending=[False, True])
    return pd.Index(ranked["StockCode"].head(n_items))


def draw_customers(
    clean: pd.DataFrame, seed: int, fraction: float, min_per_country: int
) -> np.ndarray:
    """Draw customer IDs per country, stratified (see the module docstring).

    A customer who bought from several countries counts under their first one.

    Example
    -------
    >>> df = pd.DataFrame({"CustomerID": ["1", "2", "3"], "Country": ["UK", "UK", "France"]})
    >>> sorted(draw_customers(df, seed=0, fraction=0.5, min_per_country=1).tolist())
    ['2', '3']
    """
    rng = np.random.default_rng(seed)
    home = clean.drop_duplicates("CustomerID")[["CustomerID", "Country"]]
    chosen: list[str] = []
    for _, group in sorted(home.groupby("Country"), key=lambda kv: kv[0]):
        ids = np.sort(group["CustomerID"].to_numpy(dtype=str))
        k = max(int(round(fraction * len(ids))), min(len(ids), min_per_country))
        chosen.extend(rng.choice(ids, size=k, replace=False).tolist())
    return np.array(sorted(chosen), dtype=object)


def build_sample(
    full: pd.DataFrame,
    *,
    seed: int = SEED,
    n_items: int = N_ITEMS,
    fraction: float = FRACTION,
    min_per_country: int = MIN_PER_COUNTRY,
) -> pd.DataFrame:
    """Select the sample's rows (clean columns, no ``Revenue``) from the full clean frame.

    Example
    -------
    >>> full = load_online_retail()  # doctest: +SKIP
    >>> build_sample(full).shape  # doctest: +SKIP
    """
    customers = draw_customers(full, seed, fraction, min_per_country)
    items = top_items(full, n_items)
    keep = full["CustomerID"].isin(customers) & full["StockCode"].isin(items)
    return full.loc[keep, list(ONLINE_RETAIL_COLUMNS[:-1])].reset_index(drop=True)


def to_csv_gz(sample: pd.DataFrame) -> bytes:
    """Encode ``sample`` as deterministic CSV + gzip bytes (level 9, no file name, mtime 0).

    Example
    -------
    >>> len(to_csv_gz(pd.DataFrame({"a": [1]}))) > 0
    True
    """
    text = sample.to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S", lineterminator="\n")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", fileobj=buf, mode="wb", compresslevel=9, mtime=0) as f:
        f.write(text.encode("utf-8"))
    return buf.getvalue()


def describe(sample: pd.DataFrame, size: int) -> str:
    """Summarise the sample in a few lines (printed by the script).

    Example
    -------
    >>> print(describe(build_sample(load_online_retail()), 0))  # doctest: +SKIP
    """
    basket_items = sample.groupby("InvoiceNo")["StockCode"].nunique()
    uk = (sample.drop_duplicates("CustomerID")["Country"] == "United Kingdom").mean()
    lines = [
        f"bytes {size:,}; rows {len(sample):,}; customers {sample['CustomerID'].nunique():,} "
        f"(UK {uk:.0%}); invoices {sample['InvoiceNo'].nunique():,}; "
        f"items {sample['StockCode'].nunique():,}; "
        f"countries {sample['Country'].nunique()}; "
        f"{sample['InvoiceDate'].min()} .. {sample['InvoiceDate'].max()}; "
        f"median distinct items per invoice {basket_items.median():.0f}",
    ]
    pairs = sample[["InvoiceNo", "StockCode"]].drop_duplicates()
    for code in ("85123A", "22423", "47566"):
        baskets = pairs.loc[pairs["StockCode"] == code, "InvoiceNo"]
        partners = pairs[pairs["InvoiceNo"].isin(baskets) & (pairs["StockCode"] != code)]
        counts = partners["StockCode"].value_counts()
        lines.append(
            f"{code}: in {len(baskets)} invoices; {len(partners):,} co-occurrences with "
            f"{len(counts):,} other items, {int((counts >= 5).sum())} of them >= 5 times"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    Example
    -------
    >>> main(["--check"])  # doctest: +SKIP
    0
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--input", default=None, help="full online_retail.csv.gz (default: the usual search)"
    )
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument(
        "--check", action="store_true", help="rebuild and compare with --output; write nothing"
    )
    args = parser.parse_args(argv)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        full = load_online_retail(args.input, clean=True)
    sample = build_sample(full)
    data = to_csv_gz(sample)
    print(describe(sample, len(data)))
    if len(data) > MAX_BYTES:
        print(
            f"error: sample is {len(data):,} bytes, over the {MAX_BYTES:,} byte budget",
            file=sys.stderr,
        )
        return 1
    if args.check:
        same = args.output.is_file() and args.output.read_bytes() == data
        print("identical" if same else f"DIFFERENT from {args.output}")
        return 0 if same else 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
