"""Loaders for public recommender data sets and the sample shipped with recsys.

Only :func:`load_online_retail_sample` works out of the box: its data live inside
the package.  Every other loader reads a local copy of a public data set, which
recsys never downloads.  With ``path=None`` a loader looks, in this order, in

1. ``$RECSYS_DATA_DIR/<folder>/`` (the environment variable ``RECSYS_DATA_DIR``),
2. ``../shared/datasets/<folder>/`` relative to the current directory,
3. ``../shared/datasets/<folder>/`` relative to the repository root, when recsys
   is imported from a source checkout (the directory holding ``pyproject.toml``
   next to the ``recsys`` package),

and raises :class:`FileNotFoundError` naming the data set, where to get it and
where to put it when none of these exists.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

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

#: Environment variable naming the directory that holds the data-set folders.
DATA_DIR_ENV = "RECSYS_DATA_DIR"

#: Columns of :func:`load_online_retail` and :func:`load_online_retail_sample`.
ONLINE_RETAIL_COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
    "Revenue",
)

#: Stock codes of the UCI Online Retail file that are not products: postage,
#: carriage, fees, manual adjustments, discounts, samples, bad-debt write-offs,
#: charity commission and cushion pads given away at ~0.
#: Gift vouchers (``GIFT_0001_10`` … ``GIFT_0001_50``) are matched by prefix,
#: see :func:`is_online_retail_product_code`.
ONLINE_RETAIL_NON_PRODUCT_CODES: dict[str, str] = {
    "POST": "postage",
    "DOT": "dotcom postage",
    "C2": "carriage",
    "M": "manual adjustment",
    "D": "discount",
    "S": "samples",
    "B": "adjust bad debt",
    "BANK CHARGES": "bank charges",
    "AMAZONFEE": "Amazon fee",
    "CRUK": "CRUK commission",
    "PADS": "pads to match all cushions",
}
_GIFT_VOUCHER_PREFIX = "GIFT_"

_SAMPLE_PACKAGE = "recsys.datasets"
_SAMPLE_FILE = "online_retail_sample.csv.gz"


# --------------------------------------------------------------------------- locating files
@dataclass(frozen=True)
class _Dataset:
    """Where a data set lives and where to get it (for the error message)."""

    folder: str
    title: str
    source: str


_ONLINE_RETAIL = _Dataset(
    "uci-online-retail",
    'UCI "Online Retail" (Chen 2015)',
    'UCI Machine Learning Repository, "Online Retail", https://doi.org/10.24432/C5BW33 '
    "(licence CC BY 4.0); save it as a gzip'd CSV with the header "
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country",
)
_ML_100K = _Dataset(
    "ml-100k",
    "MovieLens 100K (GroupLens)",
    "GroupLens Research, https://grouplens.org/datasets/movielens/100k/ (research use only, "
    "see its README); gzip u.data and u.item (u.data.gz, u.item.gz)",
)
_ML_LATEST_SMALL = _Dataset(
    "ml-latest-small",
    'MovieLens "ml-latest-small" (GroupLens, September 2018)',
    "GroupLens Research, https://grouplens.org/datasets/movielens/latest/ (research use only, "
    "see its README); gzip ratings.csv and movies.csv (ratings.csv.gz, movies.csv.gz)",
)
_LASTFM = _Dataset(
    "lastfm-hetrec2011-2k",
    "Last.fm hetrec2011-lastfm-2k (HetRec 2011)",
    "GroupLens, https://grouplens.org/datasets/hetrec-2011/ (non-commercial use); "
    "gzip user_artists.dat and artists.dat (user_artists.dat.gz, artists.dat.gz)",
)
_GROCERIES = _Dataset(
    "groceries",
    'Kaggle "Groceries dataset" (Heeral Dedhia, 2020)',
    "Kaggle, https://www.kaggle.com/datasets/heeraldedhia/groceries-dataset; "
    "gzip Groceries_dataset.csv (Groceries_dataset.csv.gz)",
)
_COMPLETEJOURNEY = _Dataset(
    "completejourney-8451",
    "84.51° The Complete Journey 2.0 (via the completejourney R package)",
    "the CRAN package `completejourney` (GitHub bradleyboehmke/completejourney, folder data/), "
    "data by 84.51°; export the R tables as gzip'd CSV "
    "(products.csv.gz, transactions_sample.csv.gz)",
)


def _repo_root() -> Path | None:
    """Return the source checkout holding this package, if it is one (has ``pyproject.toml``)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def _search_dirs(folder: str) -> list[Path]:
    """Candidate directories for a data-set folder, in search order."""
    dirs: list[Path] = []
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        dirs.append(Path(env).expanduser() / folder)
    dirs.append(Path.cwd() / ".." / "shared" / "datasets" / folder)
    root = _repo_root()
    if root is not None:
        dirs.append(root / ".." / "shared" / "datasets" / folder)
    return dirs


def _missing(dataset: _Dataset, tried: Sequence[Path]) -> FileNotFoundError:
    looked = "\n".join(f"  - {p}" for p in tried)
    return FileNotFoundError(
        f"{dataset.title}: data file not found. Looked in:\n{looked}\n"
        f"Get it from {dataset.source}.\n"
        f"Put the file(s) in $RECSYS_DATA_DIR/{dataset.folder}/ (set the environment variable "
        f"{DATA_DIR_ENV} to the directory holding the data-set folders) or in "
        f"../shared/datasets/{dataset.folder}/ next to the repository, or pass path=... explicitly."
    )


def _resolve(dataset: _Dataset, filename: str, path: str | os.PathLike[str] | None) -> Path:
    """Find ``filename`` of ``dataset``.

    ``path`` may be the file itself or the directory holding it; ``None``
    searches the default locations (see the module docstring).
    """
    if path is not None:
        p = Path(path).expanduser()
        if p.is_dir():
            p = p / filename
        if p.is_file():
            return p
        raise _missing(dataset, [p])
    tried = [d / filename for d in _search_dirs(dataset.folder)]
    for candidate in tried:
        if candidate.is_file():
            return candidate.resolve()
    raise _missing(dataset, tried)


def _sibling(dataset: _Dataset, main_file: Path, filename: str) -> Path:
    """Return the companion file expected next to ``main_file`` (same folder)."""
    p = main_file.parent / filename
    if not p.is_file():
        raise _missing(dataset, [p])
    return p


# --------------------------------------------------------------------------- online retail
def is_online_retail_product_code(codes: pd.Series) -> pd.Series:
    """Whether each (stripped, upper-case) Online Retail stock code is a product.

    False for the codes in :data:`ONLINE_RETAIL_NON_PRODUCT_CODES` and for gift
    vouchers (``GIFT_0001_10``, ``GIFT_0001_20``, …).

    Parameters
    ----------
    codes : pandas.Series of str

    Returns
    -------
    pandas.Series of bool

    Examples
    --------
    >>> import pandas as pd
    >>> is_online_retail_product_code(pd.Series(["85123A", "POST", "GIFT_0001_20"])).tolist()
    [True, False, False]
    """
    c = codes.astype(str).str.strip().str.upper()
    return ~(c.isin(list(ONLINE_RETAIL_NON_PRODUCT_CODES)) | c.str.startswith(_GIFT_VOUCHER_PREFIX))


_ONLINE_RETAIL_DTYPES = {
    "InvoiceNo": "str",
    "StockCode": "str",
    "Description": "str",
    "CustomerID": "str",
    "Country": "str",
    "Quantity": "int64",
    "UnitPrice": "float64",
}
_CUSTOMER_FLOAT = re.compile(r"\.0+$")


def _read_online_retail(source: Path | io.BytesIO, label: str) -> pd.DataFrame:
    try:
        df = pd.read_csv(
            source,
            dtype=_ONLINE_RETAIL_DTYPES,
            compression="gzip" if isinstance(source, io.BytesIO) else "infer",
            encoding="utf-8",
        )
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError) as err:
        raise ValueError(f"{label}: cannot read it as the UCI Online Retail CSV: {err}") from err
    expected = list(ONLINE_RETAIL_COLUMNS[:-1])
    missing = [c for c in expected if c not in df.columns]
    if missing:
        raise ValueError(
            f"{label}: missing column(s) {missing}; expected the header {','.join(expected)}"
        )
    df = df[expected]
    df["StockCode"] = df["StockCode"].str.strip().str.upper()
    # The Spark re-write of the UCI file writes CustomerID as "17850.0"; keep "17850".
    df["CustomerID"] = df["CustomerID"].str.strip().str.replace(_CUSTOMER_FLOAT, "", regex=True)
    dates = df["InvoiceDate"]
    try:
        df["InvoiceDate"] = pd.to_datetime(dates, format="%Y-%m-%d %H:%M:%S")
    except (ValueError, TypeError):
        # e.g. the UCI spreadsheet's "12/1/2010 8:26" saved as CSV
        df["InvoiceDate"] = pd.to_datetime(dates, format="mixed", dayfirst=False)
    return df


def _clean_online_retail(df: pd.DataFrame, label: str) -> pd.DataFrame:
    """Drop rows that are not purchases of products by known customers, warning with counts."""
    cancelled = df["InvoiceNo"].str.upper().str.startswith("C").to_numpy()
    non_product = ~is_online_retail_product_code(df["StockCode"]).to_numpy()
    no_customer = df["CustomerID"].isna().to_numpy() | (df["CustomerID"] == "").to_numpy()
    reasons = {
        "cancellations (InvoiceNo starting with 'C')": cancelled,
        "Quantity <= 0": (df["Quantity"] <= 0).to_numpy(),
        "UnitPrice <= 0": (df["UnitPrice"] <= 0).to_numpy(),
        "non-product stock codes (postage, fees, adjustments, gift vouchers, ...)": non_product,
        "missing CustomerID": no_customer,
    }
    drop = np.zeros(len(df), dtype=bool)
    counts: dict[str, int] = {}
    for reason, mask in reasons.items():
        counts[reason] = int((mask & ~drop).sum())  # each row is counted under its first reason
        drop |= mask
    if drop.any():
        detail = "; ".join(f"{n:,} {reason}" for reason, n in counts.items() if n)
        warnings.warn(
            f"{label}: dropped {int(drop.sum()):,} of {len(df):,} rows: {detail}. "
            "Pass clean=False to keep them.",
            UserWarning,
            stacklevel=3,
        )
    return df.loc[~drop].reset_index(drop=True)


def _finish_online_retail(df: pd.DataFrame) -> pd.DataFrame:
    df["Revenue"] = df["Quantity"] * df["UnitPrice"]
    return df[list(ONLINE_RETAIL_COLUMNS)]


def load_online_retail(
    path: str | os.PathLike[str] | None = None, *, clean: bool = True
) -> pd.DataFrame:
    """Load the UCI "Online Retail" transactions (2010-12-01 … 2011-12-09).

    A UK-based online gift-ware retailer, mostly wholesale customers: one row
    per invoice line.  Licence CC BY 4.0; cite Chen, D. (2015). Online Retail
    [Dataset]. UCI Machine Learning Repository. https://doi.org/10.24432/C5BW33.

    Parameters
    ----------
    path : str or path-like, optional
        The gzip'd (or plain) CSV, or the directory holding
        ``online_retail.csv.gz``.  By default it is searched for in
        ``$RECSYS_DATA_DIR/uci-online-retail/`` and
        ``../shared/datasets/uci-online-retail/`` (relative to the current
        directory, then to the repository root).
    clean : bool, default True
        Drop rows that are not product purchases by known customers:
        cancellations (``InvoiceNo`` starting with "C"), ``Quantity <= 0``,
        ``UnitPrice <= 0``, non-product stock codes
        (:data:`ONLINE_RETAIL_NON_PRODUCT_CODES`, gift vouchers) and missing
        ``CustomerID``.  A
        ``UserWarning`` gives the count dropped for each reason (each row is
        counted under the first reason in that order).  Exact duplicate lines
        are kept.

    Returns
    -------
    pandas.DataFrame
        Columns ``InvoiceNo`` (str), ``StockCode`` (str, stripped, upper-case:
        the file mixes e.g. "85123a" and "85123A"), ``Description`` (str),
        ``Quantity`` (int64), ``InvoiceDate`` (datetime64), ``UnitPrice``
        (float64, GBP), ``CustomerID`` (str such as "17850"; NaN when missing),
        ``Country`` (str) and ``Revenue`` = Quantity × UnitPrice (float64).
        541,909 rows with ``clean=False``.

    Raises
    ------
    FileNotFoundError
        If the file is not found; the message says where to get it and where
        to put it.
    ValueError
        If the file is not the Online Retail CSV (missing columns, bad values).

    Examples
    --------
    >>> df = load_online_retail()  # doctest: +SKIP
    >>> df.groupby("InvoiceNo")["StockCode"].nunique().median()  # doctest: +SKIP
    15.0
    """
    file = _resolve(_ONLINE_RETAIL, "online_retail.csv.gz", path)
    df = _read_online_retail(file, str(file))
    if clean:
        df = _clean_online_retail(df, "load_online_retail")
    return _finish_online_retail(df)


def load_online_retail_sample() -> pd.DataFrame:
    """Load the cleaned Online Retail sample that ships with recsys.

    A deterministic subset of :func:`load_online_retail` (``clean=True``):
    every line of 384 customers drawn at random per country (8% of each
    country's customers, at least 2; all 37 countries, 81% of the customers
    from the United Kingdom) for the 1,500 stock codes bought by the most
    customers.  27,558 lines, 1,409 invoices, 1,498 stock codes,
    2010-12-01 … 2011-12-09.  Licence CC BY 4.0: see
    ``recsys/datasets/data/ATTRIBUTION.md`` for the source, citation and how
    the subset was made, and ``benchmarks/make_online_retail_sample.py``,
    which rebuilds it from the full file.

    Invoices keep only the sampled stock codes, so basket sizes and revenues
    are smaller than in the full data: use it for examples and tests, not to
    report results.

    Returns
    -------
    pandas.DataFrame
        The columns and dtypes of :func:`load_online_retail`, already cleaned:
        no cancellations, non-positive quantities or prices, missing customers
        or non-product stock codes.

    Examples
    --------
    >>> df = load_online_retail_sample()
    >>> list(df.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['InvoiceNo', 'StockCode', 'Description', 'Quantity', 'InvoiceDate', 'UnitPrice',
     'CustomerID', 'Country', 'Revenue']
    >>> bool((df["Quantity"] > 0).all())
    True
    """
    data = resources.files(_SAMPLE_PACKAGE).joinpath("data").joinpath(_SAMPLE_FILE).read_bytes()
    df = _read_online_retail(io.BytesIO(data), f"{_SAMPLE_PACKAGE}/data/{_SAMPLE_FILE}")
    return _finish_online_retail(df)


# --------------------------------------------------------------------------- MovieLens
_ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)


def load_movielens_100k(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Load MovieLens 100K ratings (943 users, 1,682 movies, 100,000 ratings).

    Explicit 1–5 star ratings, 1997–1998.  GroupLens licence: research use
    only; cite Harper & Konstan (2015), ACM TiiS 5(4):19.

    Parameters
    ----------
    path : str or path-like, optional
        ``u.data`` / ``u.data.gz`` or the directory holding ``u.data.gz``;
        ``u.item.gz`` (or ``u.item``) is read from the same directory.  By
        default searched in ``$RECSYS_DATA_DIR/ml-100k/`` and
        ``../shared/datasets/ml-100k/``.

    Returns
    -------
    pandas.DataFrame
        ``userId`` (int64), ``movieId`` (int64), ``rating`` (int64, 1–5),
        ``timestamp`` (datetime64, UTC-naive), ``title`` (str) and ``genres``
        (str, "|"-separated as in ml-latest-small), in file order.

    Raises
    ------
    FileNotFoundError
        If ``u.data`` or ``u.item`` is missing.

    Examples
    --------
    >>> ratings = load_movielens_100k()  # doctest: +SKIP
    >>> ratings.shape  # doctest: +SKIP
    (100000, 6)
    """
    file = _resolve(_ML_100K, "u.data.gz", path)
    ratings = pd.read_csv(
        file,
        sep="\t",
        header=None,
        names=["userId", "movieId", "rating", "timestamp"],
        dtype="int64",
    )
    item_file = file.parent / "u.item.gz"
    if not item_file.is_file():
        item_file = _sibling(_ML_100K, file, "u.item")
    items = pd.read_csv(
        item_file,
        sep="|",
        header=None,
        names=["movieId", "title", "release_date", "video_release_date", "url", *_ML100K_GENRES],
        encoding="latin-1",
        dtype={"title": "str"},
    )
    flags = items[list(_ML100K_GENRES)].to_numpy(dtype=bool)
    names = np.array(_ML100K_GENRES, dtype=object)
    items["genres"] = ["|".join(names[row]) for row in flags]
    ratings["timestamp"] = pd.to_datetime(ratings["timestamp"], unit="s")
    out = ratings.merge(
        items[["movieId", "title", "genres"]], on="movieId", how="left", validate="many_to_one"
    )
    out["title"] = out["title"].astype("str")
    out["genres"] = out["genres"].astype("str")
    return out


def load_movielens_latest_small(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Load MovieLens "ml-latest-small" ratings (610 users, 9,724 movies, 100,836 ratings).

    Explicit 0.5–5 star ratings, 1996–2018.  GroupLens licence: research use
    only; cite Harper & Konstan (2015), ACM TiiS 5(4):19.

    Parameters
    ----------
    path : str or path-like, optional
        ``ratings.csv(.gz)`` or the directory holding ``ratings.csv.gz``;
        ``movies.csv.gz`` (or ``movies.csv``) is read from the same directory.
        By default searched in ``$RECSYS_DATA_DIR/ml-latest-small/`` and
        ``../shared/datasets/ml-latest-small/``.

    Returns
    -------
    pandas.DataFrame
        ``userId`` (int64), ``movieId`` (int64), ``rating`` (float64),
        ``timestamp`` (datetime64, UTC-naive), ``title`` (str), ``genres``
        (str, "|"-separated), in file order.

    Raises
    ------
    FileNotFoundError
        If ``ratings.csv`` or ``movies.csv`` is missing.

    Examples
    --------
    >>> ratings = load_movielens_latest_small()  # doctest: +SKIP
    >>> ratings["userId"].nunique()  # doctest: +SKIP
    610
    """
    file = _resolve(_ML_LATEST_SMALL, "ratings.csv.gz", path)
    ratings = pd.read_csv(
        file,
        dtype={"userId": "int64", "movieId": "int64", "rating": "float64", "timestamp": "int64"},
    )
    movie_file = file.parent / "movies.csv.gz"
    if not movie_file.is_file():
        movie_file = _sibling(_ML_LATEST_SMALL, file, "movies.csv")
    movies = pd.read_csv(movie_file, dtype={"movieId": "int64", "title": "str", "genres": "str"})
    ratings["timestamp"] = pd.to_datetime(ratings["timestamp"], unit="s")
    return ratings.merge(movies, on="movieId", how="left", validate="many_to_one")


# --------------------------------------------------------------------------- Last.fm
def load_lastfm(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Load Last.fm hetrec2011-2k listening counts (1,892 users × 17,632 artists).

    Implicit feedback: ``weight`` is how often the user played the artist.
    Non-commercial use; cite Last.fm and Cantador, Brusilovsky & Kuflik,
    HetRec 2011 (RecSys 2011).

    Parameters
    ----------
    path : str or path-like, optional
        ``user_artists.dat(.gz)`` (tab-separated) or the directory holding
        ``user_artists.dat.gz``.  If ``artists.dat.gz`` is in the same
        directory, the artist names are added.  By default searched in
        ``$RECSYS_DATA_DIR/lastfm-hetrec2011-2k/`` and
        ``../shared/datasets/lastfm-hetrec2011-2k/``.

    Returns
    -------
    pandas.DataFrame
        ``userID`` (int64), ``artistID`` (int64), ``weight`` (int64 play
        count) and, when ``artists.dat`` is present, ``name`` (str);
        92,834 rows.

    Raises
    ------
    FileNotFoundError
        If ``user_artists.dat`` is missing.

    Examples
    --------
    >>> plays = load_lastfm()  # doctest: +SKIP
    >>> plays.columns.tolist()  # doctest: +SKIP
    ['userID', 'artistID', 'weight', 'name']
    """
    file = _resolve(_LASTFM, "user_artists.dat.gz", path)
    plays = pd.read_csv(file, sep="\t", dtype="int64")
    expected = ["userID", "artistID", "weight"]
    if list(plays.columns) != expected:
        raise ValueError(f"{file}: expected the header {expected}, got {list(plays.columns)}")
    artists_file = next(
        (p for p in (file.parent / "artists.dat.gz", file.parent / "artists.dat") if p.is_file()),
        None,
    )
    if artists_file is not None:
        artists = pd.read_csv(
            artists_file,
            sep="\t",
            usecols=["id", "name"],
            dtype={"id": "int64", "name": "str"},
            quoting=3,
        )
        plays = plays.merge(
            artists.rename(columns={"id": "artistID"}),
            on="artistID",
            how="left",
            validate="many_to_one",
        )
    return plays


# --------------------------------------------------------------------------- Groceries
def load_groceries(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Load the Kaggle "Groceries dataset" (38,765 lines, 3,898 members, 167 items).

    One row per item bought; a basket is a member's purchases on one date
    (14,963 baskets).  No prices or quantities.

    Parameters
    ----------
    path : str or path-like, optional
        ``Groceries_dataset.csv(.gz)`` or the directory holding it.  By
        default searched in ``$RECSYS_DATA_DIR/groceries/`` and
        ``../shared/datasets/groceries/``.

    Returns
    -------
    pandas.DataFrame
        ``Member_number`` (int64), ``Date`` (datetime64, parsed from
        DD-MM-YYYY), ``itemDescription`` (str) and ``basket`` (str,
        ``"<Member_number>_<YYYY-MM-DD>"``), in file order.

    Raises
    ------
    FileNotFoundError
        If the file is missing.

    Examples
    --------
    >>> df = load_groceries()  # doctest: +SKIP
    >>> df["basket"].nunique()  # doctest: +SKIP
    14963
    """
    file = _resolve(_GROCERIES, "Groceries_dataset.csv.gz", path)
    df = pd.read_csv(
        file, dtype={"Member_number": "int64", "Date": "str", "itemDescription": "str"}
    )
    expected = ["Member_number", "Date", "itemDescription"]
    if list(df.columns) != expected:
        raise ValueError(f"{file}: expected the header {expected}, got {list(df.columns)}")
    df["Date"] = pd.to_datetime(df["Date"], format="%d-%m-%Y")
    df["basket"] = df["Member_number"].astype("str") + "_" + df["Date"].dt.strftime("%Y-%m-%d")
    return df


# --------------------------------------------------------------------------- Complete Journey
def load_completejourney_products(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Load the 84.51° Complete Journey 2.0 product table (92,331 products).

    Product hierarchy (department → product_category → product_type), brand
    type (National / Private label) and package size — useful for
    upgrade candidates (e.g. a national brand or a bigger pack of the same
    product type).  From the ``completejourney`` R package (declared CC0;
    check 84.51°'s terms before non-research use).

    Parameters
    ----------
    path : str or path-like, optional
        ``products.csv(.gz)`` or the directory holding ``products.csv.gz``.
        By default searched in ``$RECSYS_DATA_DIR/completejourney-8451/`` and
        ``../shared/datasets/completejourney-8451/``.

    Returns
    -------
    pandas.DataFrame
        ``product_id`` (str), ``manufacturer_id`` (str), ``department``,
        ``brand``, ``product_category``, ``product_type``, ``package_size``
        (str, NaN when missing).  IDs are strings so they match
        :func:`load_completejourney_transactions`.

    Raises
    ------
    FileNotFoundError
        If the file is missing.

    Examples
    --------
    >>> products = load_completejourney_products()  # doctest: +SKIP
    >>> products["brand"].value_counts().to_dict()  # doctest: +SKIP
    {'National': 78516, 'Private': 13815}
    """
    file = _resolve(_COMPLETEJOURNEY, "products.csv.gz", path)
    return pd.read_csv(file, dtype="str")


def load_completejourney_transactions(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Load the Complete Journey 2.0 transaction sample (75,000 lines, 2017).

    A 5.1% random sample of the full 1,469,307 lines shipped with the
    ``completejourney`` R package, so most baskets are fragments.

    Parameters
    ----------
    path : str or path-like, optional
        ``transactions_sample.csv(.gz)`` or the directory holding it.  By
        default searched in ``$RECSYS_DATA_DIR/completejourney-8451/`` and
        ``../shared/datasets/completejourney-8451/``.

    Returns
    -------
    pandas.DataFrame
        ``household_id``, ``store_id``, ``basket_id``, ``product_id`` (str
        IDs), ``quantity``, ``sales_value``, ``retail_disc``, ``coupon_disc``,
        ``coupon_match_disc`` (float64), ``week`` (int64) and
        ``transaction_timestamp`` (timezone-aware datetime64,
        America/New_York).

    Raises
    ------
    FileNotFoundError
        If the file is missing.

    Examples
    --------
    >>> tx = load_completejourney_transactions()  # doctest: +SKIP
    >>> tx["basket_id"].nunique()  # doctest: +SKIP
    47243
    """
    file = _resolve(_COMPLETEJOURNEY, "transactions_sample.csv.gz", path)
    ids = ("household_id", "store_id", "basket_id", "product_id")
    amounts = ("quantity", "sales_value", "retail_disc", "coupon_disc", "coupon_match_disc")
    dtypes: dict[str, str] = {c: "str" for c in ids} | {c: "float64" for c in amounts}
    dtypes |= {"week": "int64", "transaction_timestamp": "str"}
    df = pd.read_csv(file, dtype=dtypes)
    ts = pd.to_datetime(df["transaction_timestamp"], format="%Y-%m-%d %H:%M:%S%z", utc=True)
    df["transaction_timestamp"] = ts.dt.tz_convert("America/New_York")
    return df
