"""Benchmark data: generated power-law logs and the real files in ../shared/datasets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys import Interactions


@dataclass
class BenchData:
    """A named benchmark data set: training interactions and held-out pairs."""

    name: str
    train: Interactions
    test: pd.DataFrame | None  # held-out user,item pairs (external IDs), or None


def power_law_matrix(
    n_users: int,
    n_items: int,
    nnz: int,
    *,
    seed: int = 0,
    item_exponent: float = 1.0,
) -> sp.csr_matrix:
    """Generate a users × items matrix: Zipf-like item popularity, log-normal user activity.

    About ``nnz`` distinct pairs (duplicate draws are merged, so slightly fewer).
    """
    rng = np.random.default_rng(seed)
    item_p = 1.0 / np.arange(1, n_items + 1) ** item_exponent
    item_p = rng.permutation(item_p / item_p.sum())
    user_p = rng.lognormal(mean=0.0, sigma=1.0, size=n_users)
    user_p /= user_p.sum()
    draws = int(nnz * 1.15)
    users = rng.choice(n_users, size=draws, p=user_p).astype(np.int32)
    items = rng.choice(n_items, size=draws, p=item_p).astype(np.int32)
    weights = rng.integers(1, 5, size=draws).astype(np.float32)
    matrix = sp.csr_matrix((weights, (users, items)), shape=(n_users, n_items))
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix


def holdout(
    matrix: sp.csr_matrix, fraction: float = 0.2, seed: int = 0
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Split off random pairs of users with >= 2 items: return disjoint (train, test)."""
    rng = np.random.default_rng(seed)
    coo = matrix.tocoo()
    counts = np.diff(matrix.indptr)
    eligible = counts[coo.row] >= 2
    test_mask = eligible & (rng.random(coo.nnz) < fraction)
    train = sp.csr_matrix(
        (coo.data[~test_mask], (coo.row[~test_mask], coo.col[~test_mask])), shape=matrix.shape
    )
    test = sp.csr_matrix(
        (coo.data[test_mask], (coo.row[test_mask], coo.col[test_mask])), shape=matrix.shape
    )
    return train, test


def load_real(name: str) -> sp.csr_matrix:
    """Load the users × items matrix of a real data set (weights: quantity / rating / plays)."""
    from recsys.datasets import load_lastfm, load_movielens_latest_small, load_online_retail

    if name == "online-retail":
        df = load_online_retail()
        data = Interactions.from_pandas(df, user_col="CustomerID", item_col="StockCode")
    elif name == "movielens":
        df = load_movielens_latest_small()
        df = df[df["rating"] >= 3.5]
        data = Interactions.from_pandas(df, user_col="userId", item_col="movieId")
    elif name == "lastfm":
        df = load_lastfm()
        data = Interactions.from_pandas(
            df, user_col="userID", item_col="artistID", weight_col="weight"
        )
        data = Interactions.from_csr(data.matrix.log1p())
    else:
        raise ValueError(f"unknown data set {name!r}")
    return data.matrix
