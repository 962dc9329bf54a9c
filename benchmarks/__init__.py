"""Side-by-side benchmarks of recsys against implicit 0.7.x and baselines.

Run ``python -m benchmarks --help``.  Every script prints a table of ratios
(ours / theirs) measured in one run on the same data, and can write it as
Markdown; timing lives here, never in unit tests.
"""
