"""``import retune`` in fresh interpreters, net of the interpreter's own start-up.

Runs alternate ``python -c "pass"`` and ``python -c "import retune"`` (same interpreter, same
working directory, bytecode already cached by the warm-ups), each timed around
``subprocess.run`` with ``perf_counter``. The net figure for a statistic is the same statistic
of the import runs minus that of the bare runs (p50 - p50, p90 - p90, min - min).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.timing import Stats, summarise


def time_interpreters(root: Path, *, reps: int, warmups: int) -> tuple[Stats, Stats, Stats]:
    """(bare start-up, raw ``import retune``, net) over ``reps`` runs of each."""
    for _ in range(warmups):
        _run(root, "pass")
        _run(root, "import retune")
    bare, raw = [], []
    for _ in range(reps):
        bare.append(_run(root, "pass"))
        raw.append(_run(root, "import retune"))
    b, r = summarise(bare), summarise(raw)
    return b, r, Stats(r.p50 - b.p50, r.p90 - b.p90, r.min - b.min, reps)


def heaviest_imports(root: Path, top: int = 8) -> list[str]:
    """One ``-X importtime`` run, as lines: top-level packages by self time summed over their
    submodules (what ``pydantic`` costs wherever it is imported), then single modules by self time."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import retune"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    modules: list[tuple[str, float, float]] = []
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            own, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
            modules.append((name, int(own) / 1000, int(cumulative) / 1000))
    packages: dict[str, float] = {}
    for name, own, _ in modules:
        packages[name.split(".")[0]] = packages.get(name.split(".")[0], 0.0) + own
    lines = [
        f"self time per top-level package (-X importtime -c 'import retune', one run; {len(modules)} modules)"
    ]
    lines += [
        f"  {name:<36} {ms:7.1f} ms" for name, ms in sorted(packages.items(), key=lambda i: -i[1])[:top]
    ]
    lines.append("single modules by self time (cumulative in brackets)")
    lines += [
        f"  {name:<36} {own:7.1f} ms  ({cumulative:.1f} ms)"
        for name, own, cumulative in sorted(modules, key=lambda m: -m[1])[:top]
    ]
    return lines


def _run(root: Path, code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
    return time.perf_counter() - start
