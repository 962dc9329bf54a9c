"""Plots of evaluation and A/B results (needs matplotlib: ``pip install "recsys[plots]"``).

Both functions return a :class:`matplotlib.figure.Figure` (show it with
``plt.show()`` or in a notebook, save it with ``fig.savefig(...)``) and
draw into ``ax`` instead when one is given.  matplotlib is imported only when
a plot is drawn, so the rest of :mod:`recsys.evaluation` works without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["plot_ab_uplift", "plot_metric_at_k"]

_INSTALL_HINT = 'recsys plots need matplotlib, which is not installed: pip install "recsys[plots]"'
_LABELS = {
    "precision": "precision",
    "recall": "recall",
    "hit_rate": "hit rate",
    "mrr": "MRR",
    "map": "MAP",
    "ndcg": "nDCG",
    "revenue": "revenue",
    "coverage": "coverage",
    "novelty": "novelty (bits)",
}
_NOT_METRICS = {"model", "k", "n_users", "n_users_skipped", "n_users_unknown"}


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err
    return plt


def _axes(ax: Any, n: int, width: float, height: float) -> tuple[Any, list[Any]]:
    if ax is not None:
        if n != 1:
            raise ValueError(f"ax can only hold one plot; {n} were asked for (pass ax=None)")
        return ax.figure, [ax]
    fig, axes = _pyplot().subplots(
        1, n, figsize=(width * n, height), squeeze=False, layout="constrained"
    )
    return fig, list(axes[0])


def plot_metric_at_k(
    results: pd.DataFrame,
    metric: str | Sequence[str] | None = None,
    *,
    ax: Any = None,
    model_col: str = "model",
) -> Any:
    """Metric against the cut-off ``k``: one line per model.

    Parameters
    ----------
    results : pandas.DataFrame
        The output of :func:`~recsys.evaluation.evaluate` with several ``k``
        (columns ``model, k`` and the metrics), or of
        :func:`~recsys.evaluation.evaluate_ranking` with several ``k``
        (index ``k``, one unnamed line).
    metric : str or list of str, optional
        The metric column(s); several give one panel each.  Default:
        ``"ndcg"`` if present, else the first metric column.
    ax : matplotlib Axes, optional
        Draw into it (one metric only).
    model_col : str
        The column naming the models.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> results = pd.DataFrame({"model": ["als"] * 2 + ["popularity"] * 2, "k": [5, 10] * 2,
    ...                         "ndcg": [0.12, 0.15, 0.05, 0.07]})
    >>> fig = plot_metric_at_k(results)
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['als', 'popularity']
    >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    if not isinstance(results, pd.DataFrame):
        raise TypeError(f"results must be a pandas DataFrame, got {type(results).__name__}")
    frame = results
    if "k" not in frame.columns and frame.index.name == "k":
        frame = frame.reset_index()
    if "k" not in frame.columns:
        raise ValueError(
            "results needs a 'k' column (evaluate with several k, e.g. k=[1, 5, 10, 20])"
        )
    candidates = [c for c in frame.columns if c not in _NOT_METRICS and c != model_col]
    if metric is None:
        if not candidates:
            raise ValueError("results has no metric column")
        metrics = ["ndcg" if "ndcg" in candidates else candidates[0]]
    else:
        metrics = [metric] if isinstance(metric, str) else list(metric)
    missing = [m for m in metrics if m not in frame.columns]
    if missing:
        raise ValueError(f"results has no column(s) {missing}; metrics available: {candidates}")
    if not metrics:
        raise ValueError("metric is empty")

    fig, axes = _axes(ax, len(metrics), 5.0, 3.6)
    groups = frame.groupby(model_col, sort=False) if model_col in frame.columns else [(None, frame)]
    for axis, name in zip(axes, metrics, strict=True):
        for model, part in groups:
            part = part.sort_values("k")
            axis.plot(
                part["k"].to_numpy(),
                part[name].to_numpy(),
                marker="o",
                label=str(model) if model is not None else _LABELS.get(name, name),
            )
        label = _LABELS.get(name, name)
        axis.set_xlabel("k (recommendations per user)")
        axis.set_ylabel(f"{label}@k")
        axis.set_title(f"{label} at k")
        axis.set_xticks(np.unique(frame["k"].to_numpy()))
        axis.grid(True, alpha=0.3)
        if model_col in frame.columns:
            axis.legend(title=model_col)
    return fig


def plot_ab_uplift(
    summary: pd.DataFrame,
    metric: str = "conversion",
    *,
    relative: bool = True,
    ax: Any = None,
) -> Any:
    """Uplift of each variant over the control, with its confidence interval.

    One horizontal interval per non-control variant; a dashed line at 0
    (no effect).  Intervals that do not cross it are significant at the
    summary's ``alpha``.

    Parameters
    ----------
    summary : pandas.DataFrame
        The output of :func:`~recsys.evaluation.ab_summary`.
    metric : {"conversion", "revenue"}
        Conversion rate, or revenue per user (needs ``revenue_col`` in the summary).
    relative : bool
        Relative uplift in % (default) or the absolute difference
        (percentage points for conversion).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from recsys.evaluation import ab_summary
    >>> events = pd.DataFrame({"variant": ["control"] * 500 + ["treatment"] * 500,
    ...                        "converted": [1] * 50 + [0] * 450 + [1] * 70 + [0] * 430})
    >>> fig = plot_ab_uplift(ab_summary(events, user_col=None))
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['treatment']
    >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    if not isinstance(summary, pd.DataFrame):
        raise TypeError(f"summary must be a pandas DataFrame, got {type(summary).__name__}")
    if metric not in ("conversion", "revenue"):
        raise ValueError(f"metric must be 'conversion' or 'revenue', got {metric!r}")
    prefix = "" if metric == "conversion" else "revenue_"
    column = f"{prefix}{'relative_uplift' if relative else 'uplift'}"
    needed = ["variant", column, f"{column}_low", f"{column}_high"]
    missing = [c for c in needed if c not in summary.columns]
    if missing:
        hint = " (pass revenue_col to ab_summary)" if metric == "revenue" else ""
        raise ValueError(f"summary has no column(s) {missing}: give the output of ab_summary{hint}")
    control = summary.attrs.get("control")
    rows = (
        summary[summary[column].notna()]
        if control is None
        else summary[summary["variant"] != control]
    )
    if control is None:
        control = summary.loc[summary[column].isna(), "variant"].tolist()
        control = control[0] if control else "control"
    if rows.empty:
        raise ValueError("summary has no variant besides the control")
    alpha = float(summary.attrs.get("alpha", 0.05))
    scale = 100.0 if (relative or metric == "conversion") else 1.0
    value = rows[column].to_numpy(dtype=np.float64) * scale
    low = rows[f"{column}_low"].to_numpy(dtype=np.float64) * scale
    high = rows[f"{column}_high"].to_numpy(dtype=np.float64) * scale
    y = np.arange(len(rows))[::-1]

    fig, (axis,) = _axes(ax, 1, 6.0, 1.2 + 0.6 * len(rows))
    significant = (low > 0) | (high < 0)
    colors = np.where(significant, "tab:green", "tab:gray")
    colors[significant & (value < 0)] = "tab:red"
    for yi, v, lo, hi, color, name in zip(
        y, value, low, high, colors, rows["variant"], strict=True
    ):
        err = np.array([[v - lo], [hi - v]]) if np.isfinite(lo) and np.isfinite(hi) else None
        axis.errorbar([v], [yi], xerr=err, fmt="o", color=color, capsize=4, label=str(name))
    axis.axvline(0.0, color="black", linestyle="--", linewidth=1)
    axis.set_yticks(y)
    axis.set_yticklabels([str(v) for v in rows["variant"]])
    axis.set_ylim(-0.7, len(rows) - 0.3)
    what = "conversion rate" if metric == "conversion" else "revenue per user"
    unit = (
        "%"
        if relative
        else ("percentage points" if metric == "conversion" else "currency per user")
    )
    kind = "relative" if relative else "absolute"
    axis.set_xlabel(f"{kind} uplift in {what} vs {control!s} ({unit})")
    axis.set_title(f"Uplift over {control!s}, {100 * (1 - alpha):g}% confidence intervals")
    axis.grid(True, axis="x", alpha=0.3)
    return fig
