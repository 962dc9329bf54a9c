"""Entry point: ``python -m benchmarks speed --dataset synthetic [--markdown docs/benchmarks.md]``."""

from __future__ import annotations

import argparse

from benchmarks.report import machine_line

DATASETS = ["synthetic", "movielens", "online-retail", "lastfm"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    sub = parser.add_subparsers(dest="suite", required=True)
    speed = sub.add_parser("speed", help="ALS / item-item fit and recommend speed vs implicit")
    speed.add_argument("--dataset", action="append", choices=DATASETS, help="repeatable; default synthetic")
    speed.add_argument("--factors", type=int, default=64)
    speed.add_argument("--iterations", type=int, default=15)
    speed.add_argument("--threads", type=int, default=2)
    speed.add_argument("--k", type=int, default=100, help="item-item neighbours")
    speed.add_argument("--latency-items", type=int, default=100_000,
                       help="items in the single-user latency data set (synthetic only)")
    speed.add_argument("--markdown", help="append the tables as Markdown to this file")
    args = parser.parse_args()
    print(machine_line())
    if args.suite == "speed":
        from benchmarks import speed as suite

        suite.main(args.dataset or ["synthetic"], factors=args.factors, iterations=args.iterations,
                   threads=args.threads, k=args.k, markdown=args.markdown, latency_items=args.latency_items)


if __name__ == "__main__":
    main()
