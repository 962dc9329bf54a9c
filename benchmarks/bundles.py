"""Bundle quality: is a proposed set bought as a whole in held-out baskets.

``python -m benchmarks bundles [--dataset online-retail ...] [--markdown PATH]``

Protocol.  Baskets are split by time as in the cross-sell benchmark (the
last sixth of the period is the test; ``benchmarks/cross_sell.py``).  For
every test basket with at least 3 items the model knows, one item (seeded)
is the anchor; a method proposes sets of 3 items (the anchor and two more)
and scores a **hit** when one of its sets lies wholly inside the basket.
``hit@1`` looks at the first set only, ``hit@3`` at up to three.

Methods, all on the same training baskets:

* ``recommend_bundle(ItemItem(), anchor, size=3)`` — itemsets bought with
  the anchor (support >= 2), ranked by the set's probability given the
  anchor shrunk towards the product of the model's pairwise probabilities,
  with the strength :func:`~recsys.selling.bundle.bundle_prior` chose on a
  hold-out of the *training* orders (printed with its trials);
* **pairwise cross-sell** — the top-2 of ``recommend_cross_sell(model,
  anchor, n=2)`` as one set (``hit@1``); for ``hit@3``, the three pairs
  among its top 3;
* **FP-growth rules** — mlxtend's ``fpgrowth`` over the training baskets
  with a global minimum support (``--min-support``, a share of baskets: the
  usual way the rules are mined) and ``association_rules`` ``{anchor} →
  {a, b}`` ranked by confidence (then lift); no rule, no set.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp

import recsys
from benchmarks.cross_sell import load_log, make_split
from benchmarks.report import machine_line, show
from recsys.selling import recommend_cross_sell
from recsys.selling.bundle import bundle_prior, recommend_bundle

DATASETS = ["online-retail", "groceries", "completejourney", "online-retail-sample"]
SIZE = 3
N_SETS = 3


def test_queries(split_train: pd.DataFrame, test: pd.DataFrame, seed: int) -> pd.DataFrame:
    """One anchor per test basket with >= 3 known items: ``basket, anchor, items (frozenset)``."""
    known = set(split_train["item"])
    lines = test[test["item"].isin(known)].drop_duplicates(["basket", "item"])
    baskets = lines.groupby("basket")["item"].agg(frozenset)
    baskets = baskets[baskets.map(len) >= SIZE]
    rng = np.random.default_rng(seed)
    anchors = [sorted(b)[int(rng.integers(len(b)))] for b in baskets]
    return pd.DataFrame({"basket": baskets.index, "anchor": anchors, "items": baskets.to_numpy()})


def ours(model: recsys.ItemItem, anchor: str) -> list[frozenset]:
    """Return the sets of :func:`recommend_bundle`, best first."""
    got = recommend_bundle(
        model, anchor, size=SIZE, n=N_SETS, rules=recsys.Rules(exclude_owned=False), explain=False
    )
    return [frozenset(g["item"]) for _, g in got.groupby("bundle", sort=True)]


def pairwise(model: recsys.ItemItem, anchor: str) -> list[frozenset]:
    """Return the cross-sell top-2 as one set, then the other pairs among its top 3."""
    top = recommend_cross_sell(
        model, anchor, n=3, rules=recsys.Rules(exclude_owned=False), explain=False
    )["item"].tolist()
    pairs = [(0, 1), (0, 2), (1, 2)]
    return [frozenset((anchor, top[a], top[b])) for a, b in pairs if b < len(top)]


class FPGrowthRules:
    """Rules ``{anchor} -> {a, b}`` from mlxtend's FP-growth over the training baskets."""

    def __init__(self, train: pd.DataFrame, min_support: float) -> None:
        from mlxtend.frequent_patterns import association_rules, fpgrowth

        baskets = train.drop_duplicates(["basket", "item"])
        items = np.sort(baskets["item"].unique())
        codes = pd.Categorical(baskets["item"], categories=items).codes
        rows = pd.factorize(baskets["basket"])[0]
        onehot = pd.DataFrame.sparse.from_spmatrix(
            sp.csr_matrix(
                (np.ones(rows.size, dtype=bool), (rows, codes)),
                shape=(rows.max() + 1, items.size),
            ),
            columns=items,
        )
        itemsets = fpgrowth(onehot, min_support=min_support, use_colnames=True, max_len=SIZE)
        self.n_itemsets = len(itemsets)
        rules = association_rules(itemsets, metric="confidence", min_threshold=0.0)
        rules = rules[
            (rules["antecedents"].map(len) == 1) & (rules["consequents"].map(len) == SIZE - 1)
        ]
        rules = rules.assign(anchor=rules["antecedents"].map(lambda s: next(iter(s))))
        rules = rules.sort_values(["anchor", "confidence", "lift"], ascending=[True, False, False])
        self.sets = {
            anchor: [frozenset(c) | {anchor} for c in group["consequents"].head(N_SETS)]
            for anchor, group in rules.groupby("anchor", sort=False)
        }

    def __call__(self, anchor: str) -> list[frozenset]:
        """Return the best sets of the rules whose antecedent is ``anchor``."""
        return self.sets.get(anchor, [])


def score(proposals: list[list[frozenset]], baskets: list[frozenset]) -> tuple[float, float]:
    """Return (hit@1, hit@3): the share of baskets holding the first / any proposed set."""
    first = [bool(p) and p[0] <= b for p, b in zip(proposals, baskets, strict=True)]
    any_ = [any(s <= b for s in p) for p, b in zip(proposals, baskets, strict=True)]
    return float(np.mean(first)), float(np.mean(any_))


def run_dataset(name: str, seeds: int, min_support: float, markdown: str | None) -> pd.DataFrame:
    """Compare the three methods on one data set."""
    log = load_log(name)
    split = make_split(log, name, seeds=1)
    train = split.train
    test = log[~log["basket"].isin(set(train["basket"]))]
    data = recsys.Interactions.from_pandas(
        train, user_col="user", item_col="item", basket_col="basket", time_col="time"
    )
    model = recsys.ItemItem().fit(data)
    started = time.perf_counter()
    chosen = bundle_prior(model)
    print(
        f"{name}: basket_prior_ (pairs) = {model.basket_prior_:g}; bundle prior chosen on held-out "
        f"training orders = {chosen.strength:g} ({time.perf_counter() - started:.1f} s)\n"
        f"{chosen.trials.to_string(index=False)}"
    )
    started = time.perf_counter()
    fp = FPGrowthRules(train, min_support)
    fp_seconds = time.perf_counter() - started
    rows = []
    for seed in range(seeds):
        queries = test_queries(train, test, seed)
        baskets = queries["items"].tolist()
        for method, propose in (
            ("recommend_bundle (ours)", lambda a: ours(model, a)),
            ("pairwise cross-sell top-2", lambda a: pairwise(model, a)),
            (f"FP-growth rules (min support {min_support:g})", fp),
        ):
            started = time.perf_counter()
            proposals = [propose(a) for a in queries["anchor"]]
            seconds = time.perf_counter() - started
            h1, h3 = score(proposals, baskets)
            rows.append(
                {
                    "data": name,
                    "method": method,
                    "seed": seed,
                    "hit@1": h1,
                    "hit@3": h3,
                    "answered %": 100 * float(np.mean([bool(p) for p in proposals])),
                    "ms/query": 1000 * seconds / max(len(baskets), 1),
                }
            )
    table = (
        pd.DataFrame(rows)
        .groupby(["data", "method"], sort=False)
        .agg({"hit@1": "mean", "hit@3": "mean", "answered %": "mean", "ms/query": "mean"})
        .reset_index()
    )
    print(
        f"{name}: {train['basket'].nunique():,} training baskets, {len(queries):,} test baskets "
        f"with >= {SIZE} known items; FP-growth found {fp.n_itemsets:,} itemsets "
        f"in {fp_seconds:.1f} s"
    )
    show(f"Bundles of {SIZE}, {name} ({seeds} anchor draws)", table, markdown)
    return table


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks bundles", description=__doc__)
    parser.add_argument("--dataset", action="append", choices=DATASETS)
    parser.add_argument("--seeds", type=int, default=3, help="anchor draws per test basket")
    parser.add_argument(
        "--min-support", type=float, default=0.001, help="FP-growth's minimum support (share)"
    )
    parser.add_argument("--markdown", help="append the tables as Markdown to this file")
    args = parser.parse_args(argv)
    print(machine_line())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for name in args.dataset or DATASETS[:3]:
            run_dataset(name, args.seeds, args.min_support, args.markdown)


if __name__ == "__main__":
    main()
