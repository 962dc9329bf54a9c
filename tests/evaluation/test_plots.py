"""Tests of recsys.evaluation.plots (Agg backend) and of the message without matplotlib."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from recsys.evaluation import ab_summary, evaluate_ranking, plot_ab_uplift, plot_metric_at_k

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:  # the plots are optional; the missing-matplotlib test still runs
    matplotlib = plt = None

needs_matplotlib = pytest.mark.skipif(
    matplotlib is None, reason='needs matplotlib (pip install "recsys[plots]")'
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    if plt is not None:
        plt.close("all")


def results() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": ["als"] * 3 + ["popularity"] * 3,
            "k": [1, 5, 10] * 2,
            "ndcg": [0.10, 0.14, 0.17, 0.04, 0.06, 0.08],
            "recall": [0.02, 0.08, 0.12, 0.01, 0.03, 0.05],
            "n_users": 100,
            "n_users_skipped": 0,
            "n_users_unknown": 3,
        }
    )


def summary(revenue: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for variant, n, rate in (
        ("control", 2000, 0.10),
        ("bundle", 2000, 0.13),
        ("premium", 2000, 0.095),
    ):
        converted = rng.random(n) < rate
        parts.append(
            pd.DataFrame(
                {
                    "variant": variant,
                    "converted": converted,
                    "revenue": np.where(converted, rng.gamma(2.0, 20.0, n), 0.0),
                }
            )
        )
    return ab_summary(
        pd.concat(parts, ignore_index=True),
        user_col=None,
        revenue_col="revenue" if revenue else None,
    )


@needs_matplotlib
def test_metric_at_k_one_line_per_model() -> None:
    fig = plot_metric_at_k(results())
    assert isinstance(fig, matplotlib.figure.Figure)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["als", "popularity"]
    assert lines[0].get_xdata().tolist() == [1, 5, 10]
    assert lines[1].get_ydata().tolist() == pytest.approx([0.04, 0.06, 0.08])
    assert ax.get_ylabel() == "nDCG@k" and ax.get_xlabel().startswith("k")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["als", "popularity"]


@needs_matplotlib
def test_metric_at_k_several_metrics_and_evaluate_ranking_output() -> None:
    fig = plot_metric_at_k(results(), ["recall", "ndcg"])
    assert [ax.get_ylabel() for ax in fig.axes] == ["recall@k", "nDCG@k"]
    recs = pd.DataFrame({"user": [1, 1, 2, 2], "item": ["a", "b", "a", "c"]})
    test = pd.DataFrame({"user": [1, 2], "item": ["b", "c"]})
    table = evaluate_ranking(recs, test, k=[1, 2], metrics=["hit_rate"])
    fig = plot_metric_at_k(table)
    (line,) = fig.axes[0].get_lines()
    assert line.get_ydata().tolist() == [0.0, 1.0]


@needs_matplotlib
def test_metric_at_k_into_given_axes_and_errors() -> None:
    fig, ax = plt.subplots()
    assert plot_metric_at_k(results(), "recall", ax=ax) is fig
    with pytest.raises(ValueError, match="one plot"):
        plot_metric_at_k(results(), ["recall", "ndcg"], ax=ax)
    with pytest.raises(ValueError, match="no column"):
        plot_metric_at_k(results(), "map")
    with pytest.raises(ValueError, match="'k' column"):
        plot_metric_at_k(results().drop(columns="k"))


@needs_matplotlib
def test_ab_uplift_intervals() -> None:
    table = summary()
    fig = plot_ab_uplift(table)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["bundle", "premium"]
    assert "relative uplift in conversion rate vs control (%)" in ax.get_xlabel()
    assert "95% confidence" in ax.get_title()
    points = {c.get_label(): c.lines[0].get_xdata()[0] for c in ax.containers}
    assert points["bundle"] == pytest.approx(100 * table.loc[1, "relative_uplift"])
    bars = {c.get_label(): c.lines[2][0].get_segments()[0][:, 0] for c in ax.containers}
    low, high = table.loc[2, ["relative_uplift_low", "relative_uplift_high"]]
    assert bars["premium"] == pytest.approx([100 * low, 100 * high])
    zero = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(zero) == 1 and zero[0].get_xdata()[0] == 0.0


@needs_matplotlib
def test_ab_uplift_revenue_absolute_and_errors() -> None:
    fig = plot_ab_uplift(summary(revenue=True), "revenue", relative=False)
    assert "absolute uplift in revenue per user" in fig.axes[0].get_xlabel()
    with pytest.raises(ValueError, match="revenue_col"):
        plot_ab_uplift(summary(), "revenue")
    with pytest.raises(ValueError, match="'conversion' or 'revenue'"):
        plot_ab_uplift(summary(), "clicks")


def test_clear_message_without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "recsys\[plots\]"'):
        plot_metric_at_k(results())
    with pytest.raises(ImportError, match=r'pip install "recsys\[plots\]"'):
        plot_ab_uplift(summary())
