"""Tests of recsys.evaluation.ab.

Assignment is stable and balanced; the summary numbers are checked against
scipy and by hand.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from recsys.evaluation import HOLDOUT, ab_summary, assign_variant, assign_variants


# ----------------------------------------------------------------- assignment
def documented_unit(key: str) -> float:
    """The module docs' formula, written out independently."""
    top = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") >> 11
    return top / 2**53


def documented_variant(
    user: str, experiment: str, weights: dict[str, float], salt: str, holdout: float
) -> str:
    if documented_unit(f"{salt}:__holdout__:{user}") < holdout:
        return "holdout"
    u = documented_unit(f"{salt}:{experiment}:{user}")
    total, cumulative = sum(weights.values()), 0.0
    for name, weight in weights.items():
        cumulative += weight / total
        if u < cumulative:
            return name
    return list(weights)[-1]


#: Pinned assignments: these must never change (users would switch variants mid-experiment).
PINNED = [
    ("C-10442", "upsell-v2", {"control": 0.5, "bundle": 0.25, "premium": 0.25}, "", 0.0, "control"),
    (12347, "upsell-v2", {"control": 1, "treatment": 1}, "", 0.1, "treatment"),
    ("12347", "upsell-v2", {"control": 1, "treatment": 1}, "", 0.1, "treatment"),
    (12347.0, "upsell-v2", {"control": 1, "treatment": 1}, "", 0.1, "treatment"),
    ("alice", "cross-sell-widget", {"control": 0.5, "treatment": 0.5}, "2024", 0.0, "treatment"),
    ("bob", "cross-sell-widget", {"control": 0.5, "treatment": 0.5}, "2024", 0.0, "control"),
    ("user-7", "checkout-recs", {"a": 0.2, "b": 0.3, "c": 0.5}, "s", 0.0, "c"),
]


@pytest.mark.parametrize("user, experiment, weights, salt, holdout, expected", PINNED)
def test_pinned_assignments(
    user: object, experiment: str, weights: dict, salt: str, holdout: float, expected: str
) -> None:
    assert assign_variant(user, experiment, weights, salt=salt, holdout=holdout) == expected
    assert (
        documented_variant(str(user).removesuffix(".0"), experiment, weights, salt, holdout)
        == expected
    )


def test_pinned_hash_values() -> None:
    assert documented_unit("::alice") == 0.015534759229698825  # fixed forever
    assert documented_unit("salt:exp:12345") == 0.9458279019611263


def test_matches_the_documented_formula() -> None:
    weights = {"control": 0.4, "a": 0.35, "b": 0.25}
    users = [f"u{i}" for i in range(2000)]
    got = assign_variants(users, "exp", weights, salt="x", holdout=0.1)
    expected = [documented_variant(u, "exp", weights, "x", 0.1) for u in users]
    assert got.tolist() == expected


def test_stable_across_processes_and_hash_seeds() -> None:
    code = (
        "from recsys.evaluation.ab import assign_variants;"
        "print(','.join(assign_variants(range(200), 'e', ['a', 'b', 'c'], holdout=0.2)))"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")  # this process has another (random) hash seed
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    here = ",".join(assign_variants(range(200), "e", ["a", "b", "c"], holdout=0.2))
    assert run.stdout.strip() == here


def test_id_forms_and_containers() -> None:
    forms = [12347, np.int64(12347), 12347.0, "12347", b"12347"]
    assert len({assign_variant(f, "e", ["a", "b", "c", "d"]) for f in forms}) == 1
    series = pd.Series([5, 6, 7], index=["x", "y", "z"])
    out = assign_variants(series, "e", ["a", "b"])
    assert isinstance(out, pd.Series) and list(out.index) == ["x", "y", "z"]
    array_out = assign_variants(np.array([5, 6, 7]), "e", ["a", "b"])
    assert isinstance(array_out, np.ndarray) and array_out.tolist() == out.tolist()
    assert assign_variants([5.0, 6.0, 7.0], "e", ["a", "b"]).tolist() == out.tolist()
    assert (
        assign_variants(np.array(["5", "6", "7"], dtype=object), "e", ["a", "b"]).tolist()
        == out.tolist()
    )


def test_balanced_on_a_million_ids() -> None:
    n = 1_000_000
    weights = {"control": 0.5, "bundle": 0.3, "premium": 0.2}
    holdout = 0.1
    variants = assign_variants(np.arange(n), "balance-test", weights, holdout=holdout)
    names, counts = np.unique(variants, return_counts=True)
    observed = dict(zip(names.tolist(), counts.tolist(), strict=True))
    share = {HOLDOUT: holdout} | {k: (1 - holdout) * w for k, w in weights.items()}
    expected = np.array([share[k] * n for k in observed])
    # every cell within 4.5 binomial standard deviations, and the chi-square test does not reject
    for k, count in observed.items():
        sd = np.sqrt(n * share[k] * (1 - share[k]))
        assert abs(count - share[k] * n) < 4.5 * sd, (k, count)
    assert stats.chisquare(list(observed.values()), expected).pvalue > 1e-3


def test_experiments_are_independent_and_holdout_is_nested() -> None:
    ids = np.arange(200_000)
    first = assign_variants(ids, "exp-1", ["a", "b"])
    second = assign_variants(ids, "exp-2", ["a", "b"])
    table = pd.crosstab(first, second).to_numpy()
    assert stats.chi2_contingency(table, correction=False).pvalue > 1e-3
    small = assign_variants(ids, "exp-1", ["a", "b"], holdout=0.02)
    large = assign_variants(ids, "exp-1", ["a", "b"], holdout=0.05)
    assert np.all(large[small == HOLDOUT] == HOLDOUT)  # the 2% hold-out is inside the 5% one
    stay = large != HOLDOUT
    assert np.array_equal(
        small[stay], first[stay]
    )  # changing the hold-out moves nobody between variants
    other = assign_variants(ids, "exp-2", ["a", "b"], holdout=0.05)
    assert np.array_equal(other == HOLDOUT, large == HOLDOUT)  # one global hold-out per salt
    resalted = assign_variants(ids, "exp-2", ["a", "b"], salt="new", holdout=0.05)
    assert not np.array_equal(resalted == HOLDOUT, large == HOLDOUT)


def test_assignment_errors() -> None:
    with pytest.raises(ValueError, match="reserved"):
        assign_variant(1, "e", ["control", "holdout"])
    with pytest.raises(ValueError, match="holdout must be"):
        assign_variant(1, "e", ["a", "b"], holdout=1.0)
    with pytest.raises(ValueError, match="not all 0"):
        assign_variant(1, "e", {"a": 0, "b": 0})
    with pytest.raises(ValueError, match="whole numbers"):
        assign_variant(1.5, "e", ["a", "b"])
    with pytest.raises(TypeError, match="assign_variants"):
        assign_variant([1, 2], "e", ["a", "b"])
    with pytest.raises(ValueError, match="missing"):
        assign_variants(np.array(["a", None], dtype=object), "e", ["a", "b"])
    with pytest.raises(ValueError, match="unique"):
        assign_variant(1, "e", ["a", "a"])
    assert assign_variant(1, "e", {"a": 0, "b": 1}) == "b"


# -------------------------------------------------------------------- summary
def frame(counts: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """One row per user: {variant: (users, conversions)}."""
    parts = [
        pd.DataFrame({"variant": v, "converted": [1] * x + [0] * (n - x)})
        for v, (n, x) in counts.items()
    ]
    return pd.concat(parts, ignore_index=True)


def test_wilson_intervals_match_scipy() -> None:
    summary = ab_summary(
        frame({"control": (1000, 100), "a": (40, 3), "b": (25, 0)}), user_col=None, alpha=0.1
    )
    for row in summary.itertuples():
        ci = stats.binomtest(row.conversions, row.users).proportion_ci(
            confidence_level=0.9, method="wilson"
        )
        assert (row.conversion_rate_low, row.conversion_rate_high) == pytest.approx(
            (ci.low, ci.high), abs=1e-12
        )
    assert summary["variant"].tolist() == ["control", "a", "b"]  # control first, then sorted


def test_newcombe_interval_published_example() -> None:
    # Newcombe (1998), Stat. Med. 17:873-890, Table II example (a): 56/70 - 48/80,
    # method 10: 0.0524 to 0.3339
    summary = ab_summary(frame({"control": (80, 48), "variant": (70, 56)}), user_col=None)
    row = summary.iloc[1]
    assert row["uplift"] == pytest.approx(0.2)
    assert (row["uplift_low"], row["uplift_high"]) == pytest.approx((0.0524, 0.3339), abs=5e-5)


def test_p_value_and_relative_uplift_by_hand_and_scipy() -> None:
    summary = ab_summary(frame({"control": (2000, 200), "treatment": (1800, 225)}), user_col=None)
    row = summary.iloc[1]
    p0, p1 = 200 / 2000, 225 / 1800
    pooled = 425 / 3800
    z = (p1 - p0) / np.sqrt(pooled * (1 - pooled) * (1 / 2000 + 1 / 1800))
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-12)
    chi2 = stats.chi2_contingency([[200, 1800], [225, 1575]], correction=False)
    assert row["p_value"] == pytest.approx(chi2.pvalue, rel=1e-9)  # z^2 = Pearson chi-square
    se = np.sqrt(1 / 225 - 1 / 1800 + 1 / 200 - 1 / 2000)
    assert row["relative_uplift"] == pytest.approx(p1 / p0 - 1)
    assert row["relative_uplift_low"] == pytest.approx(
        p1 / p0 * np.exp(-1.959963984540054 * se) - 1
    )
    assert row["relative_uplift_high"] == pytest.approx(
        p1 / p0 * np.exp(1.959963984540054 * se) - 1
    )
    assert bool(row["significant"]) == (row["p_value"] < 0.05)
    control = summary.iloc[0]
    assert (
        np.isnan(control["uplift"]) and np.isnan(control["p_value"]) and not control["significant"]
    )
    assert summary.attrs == {"control": "control", "alpha": 0.05}


def test_revenue_matches_scipy_welch() -> None:
    rng = np.random.default_rng(0)
    n0, n1 = 400, 300
    rev0 = np.where(rng.random(n0) < 0.1, rng.gamma(2.0, 20.0, n0), 0.0)
    rev1 = np.where(rng.random(n1) < 0.13, rng.gamma(2.0, 22.0, n1), 0.0)
    events = pd.DataFrame(
        {
            "variant": ["control"] * n0 + ["treatment"] * n1,
            "revenue": np.r_[rev0, rev1],
        }
    ).assign(converted=lambda d: d["revenue"] > 0)
    summary = ab_summary(events, user_col=None, revenue_col="revenue")
    row = summary.iloc[1]
    welch = stats.ttest_ind(rev1, rev0, equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert row["revenue_uplift"] == pytest.approx(rev1.mean() - rev0.mean())
    assert (row["revenue_uplift_low"], row["revenue_uplift_high"]) == pytest.approx(
        (ci.low, ci.high), rel=1e-9
    )
    assert row["revenue_p_value"] == pytest.approx(welch.pvalue, rel=1e-9)
    one = stats.ttest_1samp(rev1, 0.0).confidence_interval(0.95)
    assert (row["revenue_per_user_low"], row["revenue_per_user_high"]) == pytest.approx(
        (one.low, one.high)
    )
    assert row["revenue"] == pytest.approx(rev1.sum())
    ratio = rev1.mean() / rev0.mean()
    se = np.sqrt(
        rev1.var(ddof=1) / (n1 * rev1.mean() ** 2) + rev0.var(ddof=1) / (n0 * rev0.mean() ** 2)
    )
    assert row["revenue_relative_uplift_low"] == pytest.approx(
        ratio * np.exp(-stats.norm.ppf(0.975) * se) - 1
    )


def test_events_are_combined_per_user() -> None:
    events = pd.DataFrame(
        {
            "user": [1, 1, 1, 2, 3, 3, 4],
            "variant": ["control", "control", "control", "control", "t", "t", "t"],
            "converted": [False, True, False, False, True, True, False],
            "revenue": [0.0, 10.0, 5.0, 0.0, 3.0, 4.0, 0.0],
        }
    )
    summary = ab_summary(events, revenue_col="revenue", control="control")
    assert summary[["users", "conversions"]].values.tolist() == [[2, 1], [2, 1]]
    assert summary["revenue"].tolist() == [15.0, 7.0]
    assert summary["revenue_per_user"].tolist() == [7.5, 3.5]


def test_summary_edge_cases_and_errors() -> None:
    none = ab_summary(frame({"control": (50, 0), "t": (50, 0)}), user_col=None).iloc[1]
    assert none["p_value"] == 1.0 and np.isnan(none["relative_uplift"]) and none["uplift"] == 0.0
    with pytest.raises(ValueError, match="more than one variant"):
        ab_summary(pd.DataFrame({"user": [1, 1], "variant": ["control", "t"], "converted": [0, 1]}))
    with pytest.raises(ValueError, match="control variant 'base'"):
        ab_summary(frame({"control": (5, 1)}), user_col=None, control="base")
    with pytest.raises(ValueError, match="0/1"):
        ab_summary(pd.DataFrame({"variant": ["control"], "converted": [2]}), user_col=None)
    with pytest.raises(ValueError, match="missing column"):
        ab_summary(frame({"control": (5, 1)}), user_col=None, revenue_col="revenue")
    with pytest.raises(ValueError, match="alpha"):
        ab_summary(frame({"control": (5, 1)}), user_col=None, alpha=1.5)
