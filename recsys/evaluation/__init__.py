"""Offline evaluation and online experiments.

* leak-free train/test splits (:mod:`~recsys.evaluation.splits`);
* top-k ranking metrics (:mod:`~recsys.evaluation.metrics`) and
  :func:`evaluate`, which compares several models in one call;
* A/B tests: stable hash-based :func:`assign_variant` / :func:`assign_variants`
  and :func:`ab_summary` (:mod:`~recsys.evaluation.ab`);
* plots (optional matplotlib): :func:`plot_metric_at_k`, :func:`plot_ab_uplift`;
* hyper-parameter search (optional Optuna, ``pip install "recsys[tune]"``):
  :func:`tune` (:mod:`~recsys.evaluation.tune`).

Examples
--------
>>> import pandas as pd
>>> from recsys.evaluation import evaluate_ranking, random_split
>>> log = pd.DataFrame({"user": [1, 1, 1, 2, 2, 2], "item": ["a", "b", "c", "a", "b", "d"]})
>>> train, test = random_split(
...     log, user_col="user", item_col="item", test_fraction=0.3, random_state=0
... )
>>> sorted(test["user"].tolist())
[1, 2]
>>> recs = pd.DataFrame({"user": [1, 2], "item": ["x", "y"], "rank": [1, 1]})
>>> evaluate_ranking(recs, test, k=1, metrics=["hit_rate"])
{'hit_rate': 0.0, 'n_users': 2, 'n_users_skipped': 0}
"""

from recsys.evaluation.ab import HOLDOUT, ab_summary, assign_variant, assign_variants
from recsys.evaluation.evaluate import evaluate
from recsys.evaluation.metrics import (
    DEFAULT_METRICS,
    coverage,
    evaluate_ranking,
    hit_rate_at_k,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    novelty_at_k,
    precision_at_k,
    recall_at_k,
    revenue_at_k,
)
from recsys.evaluation.plots import plot_ab_uplift, plot_metric_at_k
from recsys.evaluation.splits import (
    basket_holdout,
    filter_to_known,
    leave_last_n,
    random_split,
    temporal_split,
)
from recsys.evaluation.tune import TUNE_METRICS, tune

__all__ = [
    "DEFAULT_METRICS",
    "HOLDOUT",
    "TUNE_METRICS",
    "ab_summary",
    "assign_variant",
    "assign_variants",
    "basket_holdout",
    "coverage",
    "evaluate",
    "evaluate_ranking",
    "filter_to_known",
    "hit_rate_at_k",
    "leave_last_n",
    "map_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "novelty_at_k",
    "plot_ab_uplift",
    "plot_metric_at_k",
    "precision_at_k",
    "random_split",
    "recall_at_k",
    "revenue_at_k",
    "temporal_split",
    "tune",
]
