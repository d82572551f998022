"""The benchmark suite behind ``make bench``: ``python -m bench`` from the repository root.

Each benchmark is a row of one table (p50, p90, min, target, PASS/FAIL), printed and written
as Markdown to ``bench/results/latest.md`` plus a timestamped copy (``python -m bench NAME``, a
run of some benchmarks: ``bench/results/partial/latest.md`` only). The process exits non-zero
when a target fails, after the table is written, so a regression is visible in CI and on disk.
"""
