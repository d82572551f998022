"""The results table: rows, Markdown rendering, machine info, and the files it is written to."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.timing import Stats

COMMAND = "make bench  (= uv run --frozen --no-sync python -m bench, from the repository root)"


@dataclass
class Row:
    """One benchmark. ``result`` is PASS, FAIL or info (no target: context for another row)."""

    name: str
    stats: Stats | None
    target: str
    result: str
    ratio: str = ""
    note: str = ""
    detail: list[str] = field(default_factory=list)
    unit: str = "s"  # what ``stats`` counts: seconds, or "MB" (10**6 bytes)


def format_seconds(seconds: float) -> str:
    ms = seconds * 1000
    if abs(round(ms, 3)) < 0.1:
        return f"{ms * 1000:.1f} µs"
    if abs(ms) >= 1000:
        return f"{seconds:.2f} s"
    return f"{ms:.3f} ms" if abs(ms) < 1 else f"{ms:.2f} ms" if abs(ms) < 10 else f"{ms:.1f} ms"


def format_value(value: float, unit: str) -> str:
    return f"{value / 1e6:.1f} MB" if unit == "MB" else format_seconds(value)


def render(rows: list[Row], *, started: dt.datetime, elapsed: float, root: Path) -> str:
    header = "| Benchmark | Reps | p50 | p90 | min | Target | vs baseline (p50) | Result |"
    lines = [
        "# retune benchmarks",
        "",
        f"- Date: {started:%Y-%m-%d %H:%M:%S} (local), suite took {elapsed:.1f} s",
        f"- Command: `{COMMAND}`; this process: `{' '.join([sys.executable, '-m', 'bench', *sys.argv[1:]])}`",
        *(f"- {line}" for line in machine_info(root)),
        "",
        header,
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for row in rows:
        cells = (
            ["–"] * 4
            if row.stats is None
            else [str(row.stats.reps)]
            + [format_value(value, row.unit) for value in (row.stats.p50, row.stats.p90, row.stats.min)]
        )
        result = f"**{row.result}**" if row.result == "FAIL" else row.result
        lines.append(f"| {row.name} | {' | '.join(cells)} | {row.target} | {row.ratio or '–'} | {result} |")
    lines += ["", "## Notes", ""]
    lines += [f"- **{row.name}**: {row.note}" for row in rows if row.note]
    for row in rows:
        if row.detail:
            lines += ["", f"### {row.name}", "", "```", *row.detail, "```"]
    return "\n".join(lines) + "\n"


def machine_info(root: Path) -> list[str]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"Python {platform.python_version()} ({platform.python_implementation()}), {sys.executable}",
        f"nproc {cores} (os.cpu_count() {os.cpu_count()}), {platform.machine()}, {platform.platform()}",
        f"Source: {_revision(root)}",
    ]


def write(markdown: str, results: Path, started: dt.datetime, *, dated: bool = True) -> list[Path]:
    """``results/latest.md``, and with ``dated`` a copy named by the start time."""
    results.mkdir(parents=True, exist_ok=True)
    paths = [results / "latest.md"] + ([results / f"{started:%Y-%m-%d-%H%M%S}.md"] if dated else [])
    for path in paths:
        path.write_text(markdown, encoding="utf-8")
    return paths


def _revision(root: Path) -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"git {head}" + (" with uncommitted changes under src/" if dirty else "")
