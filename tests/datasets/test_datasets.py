"""Tests for ``recsys.datasets``: the packaged sample, the real-file loaders and path resolution."""

from __future__ import annotations

import gzip
import importlib.util
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import recsys.datasets as ds
from recsys.data import Interactions
from recsys.datasets import loaders

REPO = Path(__file__).resolve().parents[2]
# white hanging heart T-light holder, regency cakestand 3 tier, party bunting
POPULAR = ("85123A", "22423", "47566")


def _shared(folder: str, filename: str) -> Path:
    """The shared copy of a data set, or skip the test with the reason."""
    for directory in loaders._search_dirs(folder):
        if (directory / filename).is_file():
            return directory / filename
    pytest.skip(
        f"{folder}/{filename} not found in $RECSYS_DATA_DIR or ../shared/datasets/"
        " (public data, not shipped)"
    )


def _load_quietly(**kwargs: object) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return ds.load_online_retail(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- packaged sample
@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return ds.load_online_retail_sample()


def test_sample_columns_and_dtypes(sample: pd.DataFrame) -> None:
    assert list(sample.columns) == list(ds.ONLINE_RETAIL_COLUMNS)
    for col in ("InvoiceNo", "StockCode", "Description", "CustomerID", "Country"):
        assert pd.api.types.is_string_dtype(sample[col]), col
    assert sample["Quantity"].dtype == np.int64
    assert sample["UnitPrice"].dtype == np.float64
    assert sample["Revenue"].dtype == np.float64
    assert pd.api.types.is_datetime64_any_dtype(sample["InvoiceDate"])
    np.testing.assert_allclose(sample["Revenue"], sample["Quantity"] * sample["UnitPrice"])
    assert sample["CustomerID"].str.fullmatch(r"\d{5}").all()  # "17850", not "17850.0"
    assert (sample["StockCode"] == sample["StockCode"].str.strip().str.upper()).all()


def test_sample_is_clean(sample: pd.DataFrame) -> None:
    assert not sample.isna().any().any()
    assert not sample["InvoiceNo"].str.startswith("C").any()
    assert (sample["Quantity"] > 0).all()
    assert (sample["UnitPrice"] > 0).all()
    assert ds.is_online_retail_product_code(sample["StockCode"]).all()
    assert sample["InvoiceDate"].between("2010-12-01", "2011-12-10").all()
    # one customer per invoice; an invoice's lines are minutes apart at most (a few cross a minute)
    per_invoice = sample.groupby("InvoiceNo").agg(
        c=("CustomerID", "nunique"), t0=("InvoiceDate", "min"), t1=("InvoiceDate", "max")
    )
    assert (per_invoice["c"] == 1).all()
    assert ((per_invoice["t1"] - per_invoice["t0"]) <= pd.Timedelta(minutes=5)).all()


def test_sample_size_and_variety(sample: pd.DataFrame) -> None:
    assert sample["Country"].nunique() >= 10
    uk_share = (sample.drop_duplicates("CustomerID")["Country"] == "United Kingdom").mean()
    assert 0.6 < uk_share < 0.95
    assert sample["CustomerID"].nunique() >= 300
    assert sample["InvoiceNo"].nunique() >= 1000
    assert sample["StockCode"].nunique() >= 1000
    assert len(sample) == 27_558
    data = (
        resources.files("recsys.datasets")
        .joinpath("data")
        .joinpath("online_retail_sample.csv.gz")
        .read_bytes()
    )
    assert len(data) < 400_000


def test_sample_attribution_is_shipped() -> None:
    text = (
        resources.files("recsys.datasets")
        .joinpath("data")
        .joinpath("ATTRIBUTION.md")
        .read_text(encoding="utf-8")
    )
    for needle in (
        "CC BY 4.0",
        "https://doi.org/10.24432/C5BW33",
        "Chen, D. (2015). Online Retail [Dataset]",
        "27,558",
    ):
        assert needle in text


def test_sample_builds_interactions_with_baskets(sample: pd.DataFrame) -> None:
    data = Interactions.from_pandas(
        sample,
        user_col="CustomerID",
        item_col="StockCode",
        weight_col="Quantity",
        time_col="InvoiceDate",
        basket_col="InvoiceNo",
        user_attribute_cols=["Country"],
    )
    assert data.shape == (sample["CustomerID"].nunique(), sample["StockCode"].nunique())
    assert data.basket_matrix is not None and data.basket_ids is not None
    assert len(data.basket_ids) == sample["InvoiceNo"].nunique()
    assert data.user_attributes is not None and data.user_attributes["Country"].nunique() >= 10

    # popular items co-occur with many other items in the same baskets
    baskets = (data.basket_matrix > 0).astype(np.float32).tocsc()
    cooc = (baskets.T @ baskets).tocsr()
    for code in POPULAR:
        col = int(data.item_ids.to_rows([code])[0])
        row = cooc.getrow(col).toarray().ravel()
        n_baskets, row[col] = row[col], 0
        assert n_baskets >= 100, code
        assert (row >= 5).sum() >= 100, code


# ------------------------------------------------------------------------ full Online Retail file
@pytest.fixture(scope="module")
def retail_raw() -> pd.DataFrame:
    return ds.load_online_retail(_shared("uci-online-retail", "online_retail.csv.gz"), clean=False)


@pytest.fixture(scope="module")
def retail_clean() -> pd.DataFrame:
    path = _shared("uci-online-retail", "online_retail.csv.gz")
    with pytest.warns(UserWarning, match=r"dropped 145,572 of 541,909 rows") as record:
        df = ds.load_online_retail(path)
    message = str(record[0].message)
    for part in (
        "9,288 cancellations",
        "1,336 Quantity <= 0",
        "1,181 UnitPrice <= 0",
        "2,346 non-product stock codes",
        "131,421 missing CustomerID",
    ):
        assert part in message
    return df


def test_online_retail_raw_counts_match_provenance(retail_raw: pd.DataFrame) -> None:
    df = retail_raw
    assert list(df.columns) == list(ds.ONLINE_RETAIL_COLUMNS)
    assert len(df) == 541_909
    assert df["InvoiceNo"].nunique() == 25_900
    assert df["InvoiceNo"].str.startswith("C").sum() == 9_288
    assert df["CustomerID"].nunique() == 4_372
    assert df["CustomerID"].isna().sum() == 135_080
    assert df["Country"].nunique() == 38
    assert (df["Quantity"] < 0).sum() == 10_624
    assert (df["UnitPrice"] <= 0).sum() == 2_517
    # PROVENANCE counts 4,070 raw codes; 3,958 once upper-cased ("85123a" == "85123A")
    assert df["StockCode"].nunique() == 3_958
    assert df["InvoiceDate"].min() == pd.Timestamp("2010-12-01 08:26")
    assert df["InvoiceDate"].max() == pd.Timestamp("2011-12-09 12:50")
    assert df["Quantity"].dtype == np.int64
    assert df["CustomerID"].dropna().str.fullmatch(r"\d{5}").all()


def test_online_retail_clean(retail_clean: pd.DataFrame) -> None:
    df = retail_clean
    assert len(df) == 396_337
    assert df["CustomerID"].nunique() == 4_334
    assert df["InvoiceNo"].nunique() == 18_402
    assert not df["CustomerID"].isna().any()
    assert not df["InvoiceNo"].str.startswith("C").any()
    assert (df["Quantity"] > 0).all() and (df["UnitPrice"] > 0).all()
    assert ds.is_online_retail_product_code(df["StockCode"]).all()
    assert not df["StockCode"].str.startswith("GIFT_").any()


def test_sample_is_reproducible_from_full_file(
    retail_clean: pd.DataFrame, sample: pd.DataFrame
) -> None:
    spec = importlib.util.spec_from_file_location(
        "_make_sample", REPO / "benchmarks" / "make_online_retail_sample.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rebuilt = module.build_sample(retail_clean)
    packaged = (
        resources.files("recsys.datasets")
        .joinpath("data")
        .joinpath("online_retail_sample.csv.gz")
        .read_bytes()
    )
    assert module.to_csv_gz(rebuilt) == packaged
    expected = rebuilt.assign(Revenue=rebuilt["Quantity"] * rebuilt["UnitPrice"])
    pd.testing.assert_frame_equal(sample, expected)


# --------------------------------------------------------------------------- other data sets
def test_movielens_100k() -> None:
    df = ds.load_movielens_100k(_shared("ml-100k", "u.data.gz"))
    assert df.shape == (100_000, 6)
    assert df["userId"].nunique() == 943 and df["movieId"].nunique() == 1_682
    assert df["rating"].between(1, 5).all()
    assert pd.api.types.is_datetime64_any_dtype(df["timestamp"])
    assert not df["title"].isna().any()
    assert df.loc[df["movieId"] == 1, "title"].iloc[0] == "Toy Story (1995)"


def test_movielens_latest_small() -> None:
    df = ds.load_movielens_latest_small(_shared("ml-latest-small", "ratings.csv.gz").parent)
    assert len(df) == 100_836
    assert df["userId"].nunique() == 610 and df["movieId"].nunique() == 9_724
    assert pd.api.types.is_datetime64_any_dtype(df["timestamp"])
    assert not df["title"].isna().any()


def test_lastfm() -> None:
    df = ds.load_lastfm(_shared("lastfm-hetrec2011-2k", "user_artists.dat.gz"))
    assert list(df.columns[:3]) == ["userID", "artistID", "weight"]
    assert len(df) == 92_834
    assert df["userID"].nunique() == 1_892 and df["artistID"].nunique() == 17_632
    assert df["weight"].sum() == 69_183_975


def test_groceries() -> None:
    df = ds.load_groceries(_shared("groceries", "Groceries_dataset.csv.gz"))
    assert len(df) == 38_765
    assert df["Member_number"].nunique() == 3_898
    assert df["itemDescription"].nunique() == 167
    assert df["basket"].nunique() == 14_963
    assert pd.api.types.is_datetime64_any_dtype(df["Date"])
    assert df["Date"].min() >= pd.Timestamp("2014-01-01") and df["Date"].max() <= pd.Timestamp(
        "2015-12-31"
    )


def test_completejourney() -> None:
    products = ds.load_completejourney_products(_shared("completejourney-8451", "products.csv.gz"))
    assert len(products) == 92_331
    assert products["brand"].value_counts().to_dict() == {"National": 78_516, "Private": 13_815}
    tx = ds.load_completejourney_transactions(
        _shared("completejourney-8451", "transactions_sample.csv.gz")
    )
    assert len(tx) == 75_000
    assert tx["household_id"].nunique() == 2_377 and tx["basket_id"].nunique() == 47_243
    assert isinstance(tx["transaction_timestamp"].dtype, pd.DatetimeTZDtype)
    assert tx["transaction_timestamp"].dt.year.eq(2017).all()
    assert tx["product_id"].isin(products["product_id"]).mean() > 0.99


# -------------------------------------------------------------------- path resolution and errors
_TINY = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123a ,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom
C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527.0,United Kingdom
536380,22423,REGENCY CAKESTAND 3 TIER,-3,2010-12-01 09:45:00,12.75,,United Kingdom
536381,22423,REGENCY CAKESTAND 3 TIER,3,2010-12-01 09:46:00,0.0,15311.0,United Kingdom
536382,POST,POSTAGE,1,2010-12-01 09:47:00,18.0,12583.0,France
536383,gift_0001_20,Dotcomgiftshop Gift Voucher £20.00,1,2010-12-01 09:48:00,17.02,,United Kingdom
536384,47566,PARTY BUNTING,4,2010-12-01 09:49:00,4.95,,United Kingdom
536385,"47566","PARTY BUNTING, LARGE",2,2010-12-01 09:50:00,4.95,12583.0,France
"""


def _write_tiny(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(_TINY.encode("utf-8")))
    return path


def test_clean_on_a_tiny_file(tmp_path: Path) -> None:
    file = _write_tiny(tmp_path / "online_retail.csv.gz")
    raw = ds.load_online_retail(file, clean=False)
    assert len(raw) == 9
    assert raw["StockCode"].tolist()[:2] == ["85123A", "71053"]
    assert raw["CustomerID"].iloc[0] == "17850" and raw["CustomerID"].isna().sum() == 3
    with pytest.warns(UserWarning) as record:
        clean = ds.load_online_retail(tmp_path, clean=True)  # a directory works too
    message = str(record[0].message)
    assert "dropped 6 of 9 rows" in message
    for part in (
        "1 cancellations",
        "1 Quantity <= 0",
        "1 UnitPrice <= 0",
        "2 non-product",
        "1 missing CustomerID",
    ):
        assert part in message
    assert clean["StockCode"].tolist() == ["85123A", "71053", "47566"]
    assert clean["Description"].iloc[2] == "PARTY BUNTING, LARGE"
    assert clean["Revenue"].tolist() == pytest.approx([15.3, 20.34, 9.9])


def test_spreadsheet_style_dates_are_parsed(tmp_path: Path) -> None:
    text = _TINY.replace("2010-12-01 08:26:00", "12/1/2010 8:26")
    file = tmp_path / "retail.csv"
    file.write_text(text, encoding="utf-8")
    df = _load_quietly(path=file, clean=False)
    assert df["InvoiceDate"].iloc[0] == pd.Timestamp("2010-12-01 08:26")
    assert df["InvoiceDate"].iloc[1] == pd.Timestamp("2010-12-01 08:26")


def test_default_search_env_then_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_dir = tmp_path / "env"
    env_file = _write_tiny(env_dir / "uci-online-retail" / "online_retail.csv.gz")
    work = tmp_path / "work"
    work.mkdir()
    cwd_file = _write_tiny(
        tmp_path / "shared" / "datasets" / "uci-online-retail" / "online_retail.csv.gz"
    )
    monkeypatch.chdir(work)
    monkeypatch.setattr(loaders, "_repo_root", lambda: None)

    monkeypatch.setenv("RECSYS_DATA_DIR", str(env_dir))
    assert (
        loaders._resolve(loaders._ONLINE_RETAIL, "online_retail.csv.gz", None) == env_file.resolve()
    )
    monkeypatch.setenv("RECSYS_DATA_DIR", str(tmp_path / "empty"))
    assert (
        loaders._resolve(loaders._ONLINE_RETAIL, "online_retail.csv.gz", None) == cwd_file.resolve()
    )
    assert len(_load_quietly(clean=False)) == 9


def _no_data_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_DATA_DIR", str(tmp_path / "nothing"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(loaders, "_repo_root", lambda: None)


def test_missing_online_retail_says_where_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_data_anywhere(tmp_path, monkeypatch)
    with pytest.raises(FileNotFoundError) as info:
        ds.load_online_retail()
    message = str(info.value)
    for needle in (
        "Online Retail",
        "UCI Machine Learning Repository",
        "https://doi.org/10.24432/C5BW33",
        "CC BY 4.0",
        "RECSYS_DATA_DIR",
        "uci-online-retail/",
        str(tmp_path / "nothing" / "uci-online-retail" / "online_retail.csv.gz"),
    ):
        assert needle in message


@pytest.mark.parametrize(
    ("loader", "needle"),
    [
        (ds.load_movielens_100k, "MovieLens 100K"),
        (ds.load_movielens_latest_small, "ml-latest-small"),
        (ds.load_lastfm, "hetrec2011-lastfm-2k"),
        (ds.load_groceries, "Groceries dataset"),
        (ds.load_completejourney_products, "Complete Journey"),
        (ds.load_completejourney_transactions, "Complete Journey"),
    ],
)
def test_missing_files_name_the_dataset(
    loader: object, needle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_data_anywhere(tmp_path, monkeypatch)
    with pytest.raises(FileNotFoundError, match="Get it from") as info:
        loader()  # type: ignore[operator]
    assert needle in str(info.value)
    assert "RECSYS_DATA_DIR" in str(info.value)


def test_explicit_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        ds.load_online_retail(tmp_path / "does-not-exist.csv.gz")
    with pytest.raises(FileNotFoundError, match=r"u\.data\.gz"):
        ds.load_movielens_100k(tmp_path)  # a directory without the file


def test_wrong_file_is_a_value_error(tmp_path: Path) -> None:
    file = tmp_path / "other.csv"
    file.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing column"):
        ds.load_online_retail(file)


def test_is_online_retail_product_code() -> None:
    codes = pd.Series(
        ["85123A", "post", " DOT ", "BANK CHARGES", "gift_0001_10", "DCGSSGIRL", "PADS", "C2"]
    )
    assert ds.is_online_retail_product_code(codes).tolist() == [
        True,
        False,
        False,
        False,
        False,
        True,
        False,
        False,
    ]
