"""``python -m bench``'s own command line: names it can run, and what it refuses (no benchmark runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_help_lists_the_benchmarks_and_where_a_run_of_some_writes() -> None:
    shown = bench("--help")
    assert shown.returncode == 0
    assert "bench_resolve" in shown.stdout and "bench_ray_map" in shown.stdout
    assert "bench/results/partial/latest.md" in shown.stdout


def test_a_name_no_benchmark_has_is_refused_with_the_names_and_writes_nothing() -> None:
    latest = ROOT / "bench" / "results" / "partial" / "latest.md"
    before = latest.stat().st_mtime_ns if latest.exists() else None

    refused = bench("server", "no_such_benchmark")

    assert refused.returncode == 2
    assert "No benchmark's name contains 'no_such_benchmark'" in refused.stderr
    assert "bench_server" in refused.stderr
    assert "running" not in refused.stderr  # nothing ran
    assert (latest.stat().st_mtime_ns if latest.exists() else None) == before
