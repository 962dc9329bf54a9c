"""A/B experiments on recommendations: stable variant assignment and a results summary.

Assignment
----------
:func:`assign_variant` (one user) and :func:`assign_variants` (an array or
Series) put each user in a variant by hashing, so the same user always gets
the same variant — in every process, on every machine, in every Python
version, and in any other system that implements the documented formula
(SQL, Spark, a web front end).  No state is stored and Python's ``hash()``
(salted per process) is never used.

For a user ID rendered as text ``id`` (strings as they are, integers and
integral floats in decimal, so ``12347``, ``12347.0`` and ``"12347"`` are
the same user)::

    u(key)  = ((first 8 bytes of SHA-256(key as UTF-8), big-endian unsigned) >> 11)
              divided by 2**53
    holdout  if u("{salt}:__holdout__:{id}") < holdout
    variant  otherwise: the i-th variant, where u("{salt}:{experiment}:{id}") falls in
             [w_1 + ... + w_{i-1}, w_1 + ... + w_i) of the weights scaled to sum to 1

``u`` is uniform on [0, 1) with 53 bits, so the split matches the weights up
to sampling noise.  The hold-out draw does not involve the experiment name:
with one salt, the *same* users are held out of every experiment (a global
hold-out that sees no recommendations at all), and a 5% hold-out contains the
2% one.  Because the two draws are independent, changing ``holdout`` never
moves a user between variants, and the variant split among the rest keeps the
weights.  Adding a variant or changing the weights reassigns users: start a
new experiment name (or salt) instead.

Analysis
--------
:func:`ab_summary` turns exposures and outcomes into one row per variant,
compared with the control:

* conversion rate ``p = conversions / users`` with a **Wilson score**
  interval (Wilson 1927), which stays inside [0, 1] and is accurate for
  small counts;
* absolute uplift ``p - p_control`` with **Newcombe's hybrid score interval**
  (Newcombe 1998, method 10: it combines the two Wilson intervals,
  ``d - sqrt((p - l)^2 + (u_c - p_c)^2)`` to ``d + sqrt((u - p)^2 + (p_c - l_c)^2)``);
* relative uplift ``p / p_control - 1`` with the **delta method on the log of
  the ratio** (the Katz log interval:
  ``exp(log(p / p_c) ± z * sqrt(1/x - 1/n + 1/x_c - 1/n_c)) - 1``; undefined
  when a group has no conversion);
* a two-sided p-value from the **two-proportion z-test with pooled variance**
  ``z = (p - p_c) / sqrt(P (1 - P) (1/n + 1/n_c))``, ``P`` the pooled rate
  (equal to Pearson's chi-square test of the 2×2 table without continuity
  correction);
* with revenue: revenue per exposed user (non-buyers count as 0) with a
  Student t interval, its absolute difference to control with a **Welch**
  t interval (Welch–Satterthwaite degrees of freedom) and Welch's t-test
  p-value, and its relative difference with the delta method on the log of
  the ratio of means (normal approximation).

All intervals are two-sided at level ``1 - alpha``.  Each variant is compared
with the control on its own: with several variants, correct for multiple
comparisons yourself (e.g. Bonferroni: use ``alpha / (number of variants - 1)``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from recsys.types import ExternalId, ExternalIds

__all__ = ["HOLDOUT", "ab_summary", "assign_variant", "assign_variants"]

#: The label :func:`assign_variant` gives to held-out users.
HOLDOUT = "holdout"
_HOLDOUT_KEY = "__holdout__"


# ------------------------------------------------------------------ assignment
def _id_text(value: ExternalId) -> str:
    """Return the text a user ID is hashed as (see the module docs)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"user IDs must be strings or integers, got a boolean {value!r}")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value) or not float(value).is_integer():
            raise ValueError(f"user IDs that are floats must be whole numbers, got {value!r}")
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8")
    raise TypeError(f"user IDs must be strings or integers, got {type(value).__name__} {value!r}")


def _ids_text(values: np.ndarray) -> list[str]:
    if values.dtype.kind in "iu":
        return values.astype(str).tolist()
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            raise ValueError(
                "user IDs that are floats must be whole numbers, "
                f"got e.g. {values[bad][:5].tolist()}"
            )
        return [str(int(v)) for v in values.tolist()]
    if values.dtype.kind == "U":
        return values.tolist()
    return [_id_text(v) for v in values.tolist()]


def _unit(prefix: str, ids: list[str]) -> np.ndarray:
    """Return ``u(prefix + id)`` for every id: uniform on [0, 1) from SHA-256 (53 bits)."""
    head = prefix.encode("utf-8")
    sha = hashlib.sha256
    digest = b"".join(sha(head + text.encode("utf-8")).digest()[:8] for text in ids)
    top = np.frombuffer(digest, dtype=">u8").astype(np.uint64) >> np.uint64(11)
    return top.astype(np.float64) / float(2**53)


def _check_weights(weights: Mapping[Any, float] | Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(weights, Mapping):
        names, values = list(weights.keys()), list(weights.values())
    elif isinstance(weights, (str, bytes)) or not isinstance(weights, Iterable):
        raise TypeError(
            "weights must be a mapping variant -> weight, "
            "or a list of variant names (equal weights)"
        )
    else:
        names = list(weights)
        values = [1.0] * len(names)
    if not names:
        raise ValueError("weights is empty: name at least one variant")
    if len(set(names)) != len(names):
        raise ValueError(f"variant names must be unique, got {names}")
    if HOLDOUT in names:
        raise ValueError(f"{HOLDOUT!r} is reserved for held-out users; rename that variant")
    try:
        w = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"weights must be numbers, got {values}") from err
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be finite, >= 0 and not all 0, got {values}")
    bounds = np.cumsum(w) / w.sum()
    bounds[-1] = 1.0
    return np.asarray(names, dtype=object), bounds


def _check_text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    return value


def _check_holdout(holdout: Any) -> float:
    if (
        isinstance(holdout, bool)
        or not isinstance(holdout, (int, float, np.integer, np.floating))
        or not 0.0 <= float(holdout) < 1.0
    ):
        raise ValueError(f"holdout must be a share in [0, 1), got {holdout!r}")
    return float(holdout)


def assign_variants(
    user_ids: ExternalIds,
    experiment: str,
    weights: Mapping[Any, float] | Sequence[Any],
    salt: str = "",
    holdout: float = 0.0,
) -> pd.Series | np.ndarray:
    """Return the variant of each of many users: the vectorised :func:`assign_variant`.

    About 1 µs per user (one SHA-256 each, two with a hold-out).

    Parameters
    ----------
    user_ids : pandas.Series, numpy.ndarray or list-like
        Strings or whole numbers; duplicates get the same variant.
    experiment, weights, salt, holdout
        As in :func:`assign_variant`.

    Returns
    -------
    pandas.Series or numpy.ndarray
        The variant names (object dtype) — a Series with the input's index
        for a Series, else an array.

    Examples
    --------
    >>> import pandas as pd
    >>> users = pd.Series([101, 102, 103, 104], name="user")
    >>> assign_variants(users, "cross-sell-widget", ["control", "treatment"]).tolist()
    ['treatment', 'control', 'treatment', 'control']
    """
    experiment = _check_text(experiment, "experiment")
    salt = _check_text(salt, "salt")
    holdout = _check_holdout(holdout)
    names, bounds = _check_weights(weights)
    if isinstance(user_ids, (str, bytes)) or not isinstance(user_ids, Iterable):
        raise TypeError(
            "user_ids must be list-like; for one ID use assign_variant, "
            f"got {type(user_ids).__name__}"
        )
    index = user_ids.index if isinstance(user_ids, pd.Series) else None
    values = (
        user_ids.to_numpy()
        if isinstance(user_ids, (pd.Series, pd.Index))
        else np.asarray(user_ids if isinstance(user_ids, np.ndarray) else list(user_ids))
    )
    if values.ndim != 1:
        raise ValueError(f"user_ids must be one-dimensional, got shape {values.shape}")
    if values.dtype.kind == "O" and pd.isna(values).any():
        raise ValueError(f"user_ids contain {int(pd.isna(values).sum())} missing value(s)")
    texts = _ids_text(values)
    u = _unit(f"{salt}:{experiment}:", texts)
    position = np.minimum(np.searchsorted(bounds, u, side="right"), names.size - 1)
    out = names[position]
    if holdout > 0.0:
        out[_unit(f"{salt}:{_HOLDOUT_KEY}:", texts) < holdout] = HOLDOUT
    if index is not None:
        return pd.Series(out, index=index, name="variant", dtype=object)
    return out


def assign_variant(
    user_id: ExternalId,
    experiment: str,
    weights: Mapping[Any, float] | Sequence[Any],
    salt: str = "",
    holdout: float = 0.0,
) -> Any:
    """Return the variant of one user in an experiment: deterministic, stateless, hash-based.

    The formula is in the module docs (:mod:`recsys.evaluation.ab`); it uses
    SHA-256, so any system can reproduce it.

    Parameters
    ----------
    user_id : str or int
        The user (whole-number floats such as ``12347.0`` are the integer).
    experiment : str
        The experiment's name: different names give independent splits.
    weights : mapping of variant -> weight, or list of variant names
        Relative sizes of the variants (scaled to sum to 1), in a fixed order;
        a list means equal weights.  ``"holdout"`` is reserved.
    salt : str
        Extra key text: change it to redraw every split (and the hold-out).
    holdout : float
        Share of users in [0, 1) held out of the experiment: they get
        :data:`HOLDOUT` (``"holdout"``).  The same users for every experiment
        with the same salt.

    Returns
    -------
    object
        The variant name, as given in ``weights`` (or ``"holdout"``).

    Examples
    --------
    >>> assign_variant("C-10442", "upsell-v2", {"control": 0.5, "bundle": 0.25, "premium": 0.25})
    'control'
    >>> assign_variant(12347, "upsell-v2", ["control", "treatment"], holdout=0.1)
    'treatment'
    """
    if isinstance(user_id, (list, tuple, np.ndarray, pd.Series, pd.Index)):
        raise TypeError("assign_variant takes one user ID; use assign_variants for many")
    return assign_variants(
        np.array([_id_text(user_id)], dtype=object), experiment, weights, salt, holdout
    )[0]


# -------------------------------------------------------------------- analysis
def _wilson(x: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    p = x / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def _binary_column(frame: pd.DataFrame, col: str) -> np.ndarray:
    values = frame[col]
    if values.isna().any():
        raise ValueError(f"events column {col!r} has {int(values.isna().sum())} missing value(s)")
    try:
        numbers = values.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"events column {col!r} must be boolean or 0/1") from err
    if not np.isin(numbers, (0.0, 1.0)).all():
        raise ValueError(
            f"events column {col!r} must be boolean or 0/1, got values such as "
            f"{pd.unique(numbers[~np.isin(numbers, (0.0, 1.0))])[:5].tolist()}"
        )
    return numbers


def _numeric_column(frame: pd.DataFrame, col: str) -> np.ndarray:
    try:
        numbers = frame[col].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"events column {col!r} must be numeric") from err
    if not np.isfinite(numbers).all():
        n_bad = int((~np.isfinite(numbers)).sum())
        raise ValueError(f"events column {col!r} has {n_bad} missing or infinite value(s)")
    return numbers


def _per_user(
    events: pd.DataFrame,
    variant_col: str,
    user_col: str | None,
    converted_col: str,
    revenue_col: str | None,
) -> pd.DataFrame:
    """Return one row per exposed user: variant, converted (0/1), revenue (summed)."""
    columns = [c for c in (variant_col, user_col, converted_col, revenue_col) if c is not None]
    missing = [c for c in columns if c not in events.columns]
    if missing:
        raise ValueError(f"events is missing column(s) {missing}; it has {list(events.columns)}")
    if events[variant_col].isna().any():
        raise ValueError(f"events column {variant_col!r} has missing values")
    frame = pd.DataFrame(
        {
            "variant": events[variant_col].to_numpy(),
            "converted": _binary_column(events, converted_col),
        }
    )
    if revenue_col is not None:
        frame["revenue"] = _numeric_column(events, revenue_col)
    if user_col is None:
        return frame
    if events[user_col].isna().any():
        raise ValueError(f"events column {user_col!r} has missing values")
    frame["user"] = events[user_col].to_numpy()
    per_variant = frame.groupby("user", sort=False)["variant"].nunique()
    mixed = per_variant.index[per_variant.to_numpy() > 1]
    if len(mixed):
        raise ValueError(
            f"{len(mixed)} user(s) appear in more than one variant, e.g. {mixed[:5].tolist()}: "
            "the assignment leaked; fix it or drop those users before the analysis"
        )
    aggregations = {"variant": "first", "converted": "max"}
    if revenue_col is not None:
        aggregations["revenue"] = "sum"
    return frame.groupby("user", sort=False).agg(aggregations).reset_index(drop=True)


def ab_summary(
    events_df: pd.DataFrame,
    variant_col: str = "variant",
    user_col: str | None = "user",
    converted_col: str = "converted",
    revenue_col: str | None = None,
    control: Any = "control",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Summarise conversion (and revenue) per variant, with intervals and uplift over control.

    The methods are in the module docs (:mod:`recsys.evaluation.ab`):
    Wilson intervals for rates, Newcombe's hybrid score interval for the
    absolute uplift, the delta method on the log ratio for the relative
    uplift, the pooled two-proportion z-test for the p-value, Welch for
    revenue.

    Parameters
    ----------
    events_df : pandas.DataFrame
        Every exposed user, with their variant and outcome: either one row
        per user, or several rows per user (events) that are combined —
        converted if any row converted, revenue summed.  A user in two
        variants is an error.
    variant_col : str
    user_col : str or None
        User IDs; ``None`` means each row is one user.
    converted_col : str
        Boolean or 0/1.
    revenue_col : str, optional
        Revenue of the row (0 for non-buyers; refunds may be negative).
    control : variant name
        The variant the others are compared with.
    alpha : float
        Intervals are two-sided at level ``1 - alpha``; ``significant`` is
        ``p_value < alpha``.

    Returns
    -------
    pandas.DataFrame
        One row per variant, control first, then the others in sorted order.
        Columns: ``variant, users, conversions, conversion_rate,
        conversion_rate_low, conversion_rate_high, uplift, uplift_low,
        uplift_high, relative_uplift, relative_uplift_low,
        relative_uplift_high, p_value, significant``; with ``revenue_col``
        also ``revenue, revenue_per_user, revenue_per_user_low,
        revenue_per_user_high, revenue_uplift, revenue_uplift_low,
        revenue_uplift_high, revenue_relative_uplift,
        revenue_relative_uplift_low, revenue_relative_uplift_high,
        revenue_p_value``.  Uplifts and p-values are NaN, ``significant``
        False, in the control row.
        ``attrs`` holds ``control`` and ``alpha``.

    Examples
    --------
    >>> import pandas as pd
    >>> events = pd.DataFrame({
    ...     "variant": ["control"] * 1000 + ["treatment"] * 1000,
    ...     "converted": [1] * 100 + [0] * 900 + [1] * 130 + [0] * 870,
    ... })
    >>> s = ab_summary(events, user_col=None)
    >>> s[["variant", "users", "conversions", "conversion_rate", "uplift"]]
         variant  users  conversions  conversion_rate  uplift
    0    control   1000          100             0.10     NaN
    1  treatment   1000          130             0.13    0.03
    >>> round(float(s.loc[1, "p_value"]), 4), round(float(s.loc[1, "relative_uplift"]), 2)
    (0.0355, 0.3)
    """
    if not isinstance(events_df, pd.DataFrame):
        raise TypeError(f"events_df must be a pandas DataFrame, got {type(events_df).__name__}")
    if events_df.empty:
        raise ValueError("events_df is empty")
    if (
        isinstance(alpha, bool)
        or not isinstance(alpha, (float, int, np.floating))
        or not 0 < alpha < 1
    ):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    users = _per_user(events_df, variant_col, user_col, converted_col, revenue_col)
    present = pd.unique(users["variant"].to_numpy())
    if control not in set(present.tolist()):
        raise ValueError(
            f"control variant {control!r} is not in events (variants: {sorted(map(str, present))})"
        )
    others = sorted((v for v in present.tolist() if v != control), key=str)
    order = [control, *others]
    grouped = users.groupby("variant", sort=False)
    n = grouped.size().reindex(order).to_numpy(dtype=np.float64)
    x = grouped["converted"].sum().reindex(order).to_numpy(dtype=np.float64)
    z = float(stats.norm.ppf(1 - alpha / 2))

    p = x / n
    low, high = _wilson(x, n, z)
    p0, n0, x0, low0, high0 = p[0], n[0], x[0], low[0], high[0]
    uplift = p - p0
    uplift_low = uplift - np.sqrt((p - low) ** 2 + (high0 - p0) ** 2)
    uplift_high = uplift + np.sqrt((high - p) ** 2 + (p0 - low0) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = p / p0
        se_log = np.sqrt(1 / x - 1 / n + 1 / x0 - 1 / n0)
        defined = (x > 0) & (x0 > 0)
        rel_low = np.where(defined, ratio * np.exp(-z * se_log) - 1, np.nan)
        rel_high = np.where(defined, ratio * np.exp(z * se_log) - 1, np.nan)
        pooled = (x + x0) / (n + n0)
        se_pooled = np.sqrt(pooled * (1 - pooled) * (1 / n + 1 / n0))
        z_stat = uplift / se_pooled
    p_value = np.where(se_pooled > 0, 2 * stats.norm.sf(np.abs(z_stat)), 1.0)

    table = pd.DataFrame(
        {
            "variant": order,
            "users": n.astype(np.int64),
            "conversions": x.astype(np.int64),
            "conversion_rate": p,
            "conversion_rate_low": low,
            "conversion_rate_high": high,
            "uplift": uplift,
            "uplift_low": uplift_low,
            "uplift_high": uplift_high,
            "relative_uplift": np.where(p0 > 0, ratio - 1, np.nan),
            "relative_uplift_low": rel_low,
            "relative_uplift_high": rel_high,
            "p_value": p_value,
        }
    )
    table["significant"] = table["p_value"] < alpha
    if revenue_col is not None:
        _add_revenue(table, grouped["revenue"], order, alpha, z)
    comparison = [c for c in table.columns if "uplift" in c or c in ("p_value", "revenue_p_value")]
    table.loc[0, comparison] = np.nan
    table.loc[0, "significant"] = False
    table.attrs.update(control=control, alpha=float(alpha))
    return table


def _add_revenue(
    table: pd.DataFrame, revenue: Any, order: list[Any], alpha: float, z: float
) -> None:
    """Add revenue per user, its t interval and Welch comparisons with the control (row 0)."""
    n = revenue.size().reindex(order).to_numpy(dtype=np.float64)
    total = revenue.sum().reindex(order).to_numpy(dtype=np.float64)
    mean = total / n
    var = revenue.var(ddof=1).reindex(order).to_numpy(dtype=np.float64)  # NaN for a single user
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(var / n)
        t_one = stats.t.ppf(1 - alpha / 2, n - 1)
        se_diff = np.sqrt(var / n + var[0] / n[0])
        df = se_diff**4 / ((var / n) ** 2 / (n - 1) + (var[0] / n[0]) ** 2 / (n[0] - 1))
        t_diff = stats.t.ppf(1 - alpha / 2, df)
        diff = mean - mean[0]
        t_stat = diff / se_diff
        p_value = np.where(se_diff > 0, 2 * stats.t.sf(np.abs(t_stat), df), np.nan)
        positive = (mean > 0) & (mean[0] > 0)
        se_log = np.sqrt(var / (n * mean**2) + var[0] / (n[0] * mean[0] ** 2))
        ratio = mean / mean[0]
    table["revenue"] = total
    table["revenue_per_user"] = mean
    table["revenue_per_user_low"] = mean - t_one * se
    table["revenue_per_user_high"] = mean + t_one * se
    table["revenue_uplift"] = diff
    table["revenue_uplift_low"] = diff - t_diff * se_diff
    table["revenue_uplift_high"] = diff + t_diff * se_diff
    table["revenue_relative_uplift"] = np.where(mean[0] != 0, ratio - 1, np.nan)
    table["revenue_relative_uplift_low"] = np.where(
        positive, ratio * np.exp(-z * se_log) - 1, np.nan
    )
    table["revenue_relative_uplift_high"] = np.where(
        positive, ratio * np.exp(z * se_log) - 1, np.nan
    )
    table["revenue_p_value"] = p_value
