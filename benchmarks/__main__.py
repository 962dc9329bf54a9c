"""Entry point: ``python -m benchmarks speed --dataset synthetic [--markdown docs/benchmarks.md]``.

``python -m benchmarks cross-sell [--dataset online-retail ...] [--markdown PATH]``:
cross-sell quality.

``python -m benchmarks selling-latency [--items 100000]``: single-call latency of
recommend_cross_sell and recommend_upgrade on a large catalog, next to implicit's
item-item recommend.

``python -m benchmarks scaling [--markdown PATH]``: fit time and peak memory at 1x and
10x data, batch recommendation for 1M users (every measurement in a fresh process).

``python -m benchmarks all [--dataset ...] [--markdown PATH]``: speed, scaling and
cross-sell in turn (each data set goes to the suites that know it).

The other suites parse their own options (``python -m benchmarks <suite> --help``):
als-defaults, upgrade, bundles, cold-start, ease, ease-scale, repurchase,
seasonality, spark and spark-ease (see ``DELEGATED``).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from benchmarks.report import machine_line

DATASETS = ["synthetic", "movielens", "online-retail", "lastfm"]
CROSS_SELL_DATASETS = [
    "online-retail",
    "groceries",
    "completejourney",
    "online-retail-sample",
    "synthetic",
]


#: Suites that parse their own options: sub-command -> (module in benchmarks/, what it measures).
DELEGATED = {
    "als-defaults": ("als_defaults", "ALS() defaults vs the old defaults and implicit's"),
    "upgrade": ("upgrade_acceptance", "upgrade acceptance (Complete Journey) vs tier baselines"),
    "bundles": ("bundles", "bundle sets vs pairwise cross-sell and FP-growth rules"),
    "cold-start": ("cold_start", "first-run time on a cold Numba cache"),
    "ease": ("ease", "EASE quality and fit time vs ALS, ItemItem and the LAPACK limit"),
    "ease-scale": ("ease_scale", "the sparse EASE on a 500k x 100k log: time, memory, latency"),
    "repurchase": ("repurchase", "buy-it-again (next basket) vs personal top frequency, TIFU-KNN"),
    "seasonality": ("seasonality", "seasonal popularity and cross-sell on Online Retail's Q4"),
    "spark": ("spark", "recsys.spark vs MLlib and the single-process batch"),
    "spark-ease": ("spark_ease", "fit_ease (EASE's Gramian on Spark) vs local EASE().fit"),
}


def main() -> None:
    """Parse the command line and run the chosen benchmark suite."""
    if len(sys.argv) > 1 and sys.argv[1] in DELEGATED:
        module = importlib.import_module(f"benchmarks.{DELEGATED[sys.argv[1]][0]}")
        module.main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="suite", required=True)
    speed = sub.add_parser("speed", help="ALS / item-item fit and recommend speed vs implicit")
    speed.add_argument(
        "--dataset", action="append", choices=DATASETS, help="repeatable; default synthetic"
    )
    speed.add_argument("--factors", type=int, default=64)
    speed.add_argument("--iterations", type=int, default=15)
    speed.add_argument("--threads", type=int, default=2)
    speed.add_argument("--k", type=int, default=100, help="item-item neighbours")
    speed.add_argument(
        "--latency-items",
        type=int,
        default=100_000,
        help="items in the single-user latency data set (synthetic only)",
    )
    speed.add_argument("--markdown", help="append the tables as Markdown to this file")
    cross = sub.add_parser(
        "cross-sell", help="cross-sell quality (hidden basket item) vs implicit, rules, popularity"
    )
    cross.add_argument(
        "--dataset",
        action="append",
        choices=CROSS_SELL_DATASETS,
        help="repeatable; default all but synthetic",
    )
    cross.add_argument("--threads", type=int, default=2)
    cross.add_argument(
        "--seeds", type=int, default=3, help="draws of the hidden item per test basket"
    )
    cross.add_argument(
        "--grid",
        choices=["full", "smoke"],
        default="full",
        help="configurations to compare (smoke: a handful, for tests)",
    )
    cross.add_argument("--markdown", help="append the tables as Markdown to this file")
    latency = sub.add_parser(
        "selling-latency", help="single-call latency of the selling APIs on a large catalog"
    )
    latency.add_argument("--items", type=int, default=100_000)
    latency.add_argument("--queries", type=int, default=2000)
    latency.add_argument("--threads", type=int, default=2)
    latency.add_argument("--markdown", help="append the table as Markdown to this file")
    scaling = sub.add_parser(
        "scaling", help="fit time / peak memory at 1x and 10x, batch recommend for 1M users"
    )
    _add_scaling_arguments(scaling)
    scaling.add_argument("--factors", type=int, default=64)
    scaling.add_argument("--iterations", type=int, default=15)
    scaling.add_argument("--threads", type=int, default=2)
    scaling.add_argument("--k", type=int, default=100, help="item-item neighbours")
    scaling.add_argument("--markdown", help="append the tables as Markdown to this file")
    for name, (_, what) in DELEGATED.items():
        sub.add_parser(name, help=f"{what} (see python -m benchmarks {name} --help)")
    every = sub.add_parser("all", help="speed, scaling and cross-sell in turn")
    every.add_argument(
        "--dataset",
        action="append",
        choices=list(dict.fromkeys(DATASETS + CROSS_SELL_DATASETS)),
        help="repeatable; each suite runs the ones it knows (default: each suite's default)",
    )
    every.add_argument("--factors", type=int, default=64)
    every.add_argument("--iterations", type=int, default=15)
    every.add_argument("--threads", type=int, default=2)
    every.add_argument("--k", type=int, default=100, help="item-item neighbours")
    every.add_argument("--latency-items", type=int, default=100_000)
    every.add_argument("--grid", choices=["full", "smoke"], default="full")
    every.add_argument(
        "--seeds", type=int, default=3, help="cross-sell: draws of the hidden item per test basket"
    )
    _add_scaling_arguments(every)
    every.add_argument("--markdown", help="append the tables as Markdown to this file")
    args = parser.parse_args()
    print(machine_line())
    if args.suite == "speed":
        from benchmarks import speed as suite

        suite.main(
            args.dataset or ["synthetic"],
            factors=args.factors,
            iterations=args.iterations,
            threads=args.threads,
            k=args.k,
            markdown=args.markdown,
            latency_items=args.latency_items,
        )
    elif args.suite == "cross-sell":
        from benchmarks import cross_sell

        cross_sell.main(
            args.dataset,
            markdown=args.markdown,
            threads=args.threads,
            grid=args.grid,
            seeds=args.seeds,
        )
    elif args.suite == "selling-latency":
        from benchmarks import selling_latency

        selling_latency.main(
            items=args.items, queries=args.queries, threads=args.threads, markdown=args.markdown
        )
    elif args.suite == "scaling":
        _run_scaling(args)
    elif args.suite == "all":
        _run_all(args)


def _add_scaling_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scale",
        type=int,
        action="append",
        dest="scales",
        help="data size multiples of 10k users / 450k pairs, repeatable; default 1 and 10",
    )
    parser.add_argument(
        "--users", type=int, default=1_000_000, help="users in the batch-recommend run"
    )


def _run_scaling(args: argparse.Namespace) -> None:
    from benchmarks import scaling

    scaling.main(
        scales=args.scales or [1, 10],
        threads=args.threads,
        factors=args.factors,
        iterations=args.iterations,
        k=args.k,
        users=args.users,
        markdown=args.markdown,
    )


def _run_all(args: argparse.Namespace) -> None:
    from benchmarks import cross_sell, speed

    given = args.dataset or []
    speed_sets = [d for d in given if d in DATASETS] if given else ["synthetic"]
    cross_sets = [d for d in given if d in CROSS_SELL_DATASETS] if given else None
    if speed_sets:
        print("\n# speed", flush=True)
        speed.main(
            speed_sets,
            factors=args.factors,
            iterations=args.iterations,
            threads=args.threads,
            k=args.k,
            markdown=args.markdown,
            latency_items=args.latency_items,
        )
    print("\n# scaling", flush=True)
    _run_scaling(args)
    if cross_sets is None or cross_sets:
        print("\n# cross-sell", flush=True)
        cross_sell.main(
            cross_sets,
            markdown=args.markdown,
            threads=args.threads,
            grid=args.grid,
            seeds=args.seeds,
        )


if __name__ == "__main__":
    main()
