"""Seasonality and recency on UCI Online Retail (Dec 2010 - Dec 2011).

Usage::

    python -m benchmarks seasonality            # ~3 min on 2 cores
    python -m benchmarks seasonality --markdown /tmp/seasonality.md

Protocol
--------
For each month ``M`` of 2011's last quarter (October, November, December;
the log ends on 2011-12-09, so December is its first nine days), every model
is fitted on the invoices dated before ``M`` and evaluated on ``M``'s invoices
(an invoice is dated by its first line; lines whose item is unknown to the
training data are dropped).  The log starts on 2010-12-01: only December has
a month of the previous year, so a monthly seasonal term can only act on
December (for October and November it is, correctly, a no-op: lift 1);
weekly seasons likewise only for the weeks of December.

* **Best-sellers** (what a shop shows a customer with no history): one top-10
  list per invoice, HR@10 = at least one of the invoice's items is in it,
  recall@10 = the share of its distinct items that are.  Plain
  ``Popularity()`` (distinct customers per item) against
  ``Popularity(half_life_days=...)`` (recency) and ``Popularity(season=...)``
  asked with ``at`` = the invoice's time (seasonality), and both; one row
  with a 10x stronger seasonal prior shows the sensitivity to the shrinkage.
* **Cross-sell** (one item of each invoice with at least two known items
  hidden, drawn with seed 0; the query is the rest of the invoice and its
  customer): ``recommend_cross_sell_batch(ItemItem().fit(train), ...)``,
  library defaults, against the same 50 candidates re-ranked by ``score *
  lift_j(at)``, the item's seasonal lift from ``Popularity(season="month")``
  fitted on the same training data — the seasonal boost the cross-sell API
  can apply when a query gives ``at`` (Bayes: the lift rescales the prior
  odds of the item, the basket evidence is unchanged); and, as a
  sensitivity check, by ``score * sqrt(lift)``.

``±`` is the standard error over the month's invoices; ``Δ`` is the paired
difference to the first row of the same block, with its standard error.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import recsys
from benchmarks.report import machine_line, show
from recsys.selling import recommend_cross_sell_batch

warnings.filterwarnings("ignore", message=".*OpenBLAS.*")

K = 10
CANDIDATES = 50
MONTHS = ["2011-10", "2011-11", "2011-12"]


def load() -> pd.DataFrame:
    """Online Retail order lines with a customer: ``user, item, basket, time``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = recsys.datasets.load_online_retail()
    df = df[df["CustomerID"].notna()]
    out = pd.DataFrame(
        {
            "user": df["CustomerID"].astype(str),
            "item": df["StockCode"].astype(str),
            "basket": df["InvoiceNo"].astype(str),
            "time": df["InvoiceDate"],
        }
    )
    basket_time = out.groupby("basket")["time"].transform("min")
    return out.assign(time=basket_time).reset_index(drop=True)


def _se(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else float("nan")


def _block(rows: list[dict], first: np.ndarray, name: str, hr: np.ndarray, rec: np.ndarray) -> None:
    diff = hr - first
    rows.append(
        {
            "method": name,
            "HR@10": hr.mean(),
            "± HR": _se(hr),
            "recall@10": rec.mean(),
            "Δ HR": diff.mean(),
            "± Δ": _se(diff),
        }
    )


def best_sellers(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """HR@10 / recall@10 of top-10 best-seller lists on the test invoices."""
    data = recsys.Interactions.from_pandas(
        train, user_col="user", item_col="item", basket_col="basket", time_col="time"
    )
    baskets = test.drop_duplicates(["basket", "item"])
    basket_ids = baskets["basket"].unique()
    first_time = baskets.groupby("basket")["time"].min().loc[basket_ids]
    members = baskets.groupby("basket")["item"].apply(set).loc[basket_ids]
    variants = {
        "Popularity()": (recsys.Popularity(), False),
        "Popularity(half_life_days=30)": (recsys.Popularity(half_life_days=30), False),
        "Popularity(half_life_days=90)": (recsys.Popularity(half_life_days=90), False),
        'Popularity(season="month"), at = invoice time': (
            recsys.Popularity(season="month"),
            True,
        ),
        'Popularity(season="week"), at = invoice time': (recsys.Popularity(season="week"), True),
        'Popularity(season="month", season_prior=300), at': (
            recsys.Popularity(season="month", season_prior=300),
            True,
        ),
        'Popularity(season="month", half_life_days=90), at': (
            recsys.Popularity(season="month", half_life_days=90),
            True,
        ),
    }
    rows: list[dict] = []
    first: np.ndarray | None = None
    for name, (model, seasonal) in variants.items():
        model.fit(data)
        lists: dict[int, set] = {}
        hr = np.empty(basket_ids.size)
        rec = np.empty(basket_ids.size)
        for q, (basket, at) in enumerate(first_time.items()):
            key = model.season_of(at) if seasonal else -1
            if key not in lists:
                order, _ = model.ranked_item_rows(at=at if seasonal else None)
                lists[key] = set(model.item_ids_.to_external(order[:K]).tolist())
            got = len(lists[key] & members.loc[basket])
            hr[q] = got > 0
            rec[q] = got / len(members.loc[basket])
        if first is None:
            first = hr
        _block(rows, first, name, hr, rec)
    return pd.DataFrame(rows)


def cross_sell(train: pd.DataFrame, test: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Hidden-item cross-sell, with and without the seasonal boost."""
    data = recsys.Interactions.from_pandas(
        train, user_col="user", item_col="item", basket_col="basket", time_col="time"
    )
    model = recsys.ItemItem().fit(data)
    season = recsys.Popularity(season="month").fit(data)
    lines = test.drop_duplicates(["basket", "item"])
    sizes = lines.groupby("basket")["item"].transform("size")
    lines = lines[sizes >= 2]
    rng = np.random.default_rng(seed)
    hidden_pos = lines.groupby("basket").apply(
        lambda g: g.index[rng.integers(len(g))], include_groups=False
    )
    hidden = lines.loc[hidden_pos.to_numpy(), ["basket", "item"]]
    queries = lines.drop(index=hidden_pos.to_numpy())
    recs = recommend_cross_sell_batch(
        model,
        queries.rename(columns={"basket": "basket_id"}),
        n=CANDIDATES,
        user_col="user",
        explain=False,
    )
    when = lines.groupby("basket")["time"].min()
    recs["lift"] = 1.0
    for month, idx in recs.groupby(recs["basket_id"].map(when).dt.month).groups.items():
        lift = season.seasonal_lift(pd.Timestamp(2011, int(month), 1))
        rows = season.item_ids_.to_rows(recs.loc[idx, "item"], missing="ignore")
        recs.loc[idx, "lift"] = np.where(rows >= 0, lift[np.maximum(rows, 0)], 1.0)
    truth = dict(zip(hidden["basket"], hidden["item"], strict=True))
    basket_ids = hidden["basket"].to_numpy()

    def score(frame: pd.DataFrame, by: str) -> np.ndarray:
        top = frame.sort_values(["basket_id", by, "item"], ascending=[True, False, True])
        top = top.groupby("basket_id", sort=False).head(K)
        hit = top["item"].to_numpy() == top["basket_id"].map(truth).to_numpy()
        got = pd.Series(hit).groupby(top["basket_id"].to_numpy()).any()
        return got.reindex(basket_ids, fill_value=False).to_numpy().astype(float)

    plain = score(recs.assign(rank_score=-recs["rank"]), "rank_score")
    boosted = score(recs.assign(boosted=recs["score"] * recs["lift"]), "boosted")
    tempered = score(recs.assign(boosted=recs["score"] * np.sqrt(recs["lift"])), "boosted")
    rows: list[dict] = []
    _block(rows, plain, "recommend_cross_sell_batch(ItemItem(), ...) (defaults)", plain, plain)
    _block(rows, plain, "  x seasonal lift of the month (at = invoice time)", boosted, boosted)
    _block(rows, plain, "  x sqrt(seasonal lift) (sensitivity)", tempered, tempered)
    out = pd.DataFrame(rows).drop(columns=["recall@10"])
    return out


def main(argv: list[str] | None = None) -> None:
    """Run the seasonality benchmark (``python -m benchmarks seasonality``)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks seasonality",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--markdown", help="append the tables as Markdown to this file")
    parser.add_argument(
        "--month", action="append", choices=MONTHS, help="repeatable; default all three"
    )
    parser.add_argument(
        "--skip-cross-sell", action="store_true", help="only the best-seller lists (faster)"
    )
    args = parser.parse_args(argv)
    print(machine_line())
    log = load()
    for month in args.month or MONTHS:
        started = time.perf_counter()
        start = pd.Timestamp(month)
        end = start + pd.offsets.MonthBegin(1)
        train = log[log["time"] < start]
        test = log[(log["time"] >= start) & (log["time"] < end)]
        test = test[test["item"].isin(set(train["item"]))]
        n_baskets = test["basket"].nunique()
        table = best_sellers(train, test)
        show(
            f"Seasonality — best-sellers, {month} ({n_baskets:,} invoices; trained on "
            f"{train['basket'].nunique():,} earlier ones)",
            table,
            args.markdown,
        )
        if not args.skip_cross_sell:
            table = cross_sell(train, test)
            show(
                f"Seasonality — cross-sell, {month} (one hidden item per invoice with two or "
                f"more; {time.perf_counter() - started:.0f} s)",
                table,
                args.markdown,
            )


if __name__ == "__main__":
    main()
