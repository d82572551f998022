"""Where a launch's time goes: ``python -m bench.launchprofile [N]`` (needs RETUNE_TEST_POSTGRES_URL).

Registers the 100-node workflow of ``bench.server`` in a fresh PostgreSQL schema, then runs
``N`` launches with its 50 overrides in this process, the way ``POST /executions`` does them
(body validated into an ``ExecutionRequest``, ``LocalControlPlane.launch``, the record turned
into JSON as the route does, ``Execution.to_json``), under cProfile, and prints the functions by cumulative and by own time. In-process
because the server runs routes on pool threads, which cProfile does not see.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.server import FLOWS, RETUNE, overrides


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    from retune.testing import postgres_schema

    with postgres_schema(os.environ["RETUNE_TEST_POSTGRES_URL"], prefix="retune_bench") as url:
        root = Path(tempfile.mkdtemp(prefix="retune-bench-profile-"))
        os.environ.update(RETUNE_HOME=str(root / "home"), RETUNE_DATABASE_URL=url)
        (root / "flows").mkdir()
        (root / "flows" / "wide.py").write_text(FLOWS)
        subprocess.run(
            [
                RETUNE,
                "register",
                str(root / "flows"),
                "--project",
                "bench",
                "--domain",
                "dev",
                "--version",
                "v1",
            ],
            check=True,
            capture_output=True,
        )
        _profile(url, count)


def _profile(url: str, count: int) -> None:
    from retune.control import LocalControlPlane
    from retune.model.control import ExecutionRequest
    from retune.store import open_default_blobs, open_store

    body = {
        "project": "bench",
        "domain": "dev",
        "workflow": "wide.wide",
        "inputs": {"x": 1},
        "overrides": overrides(),
    }
    plane = LocalControlPlane(open_store(url), open_default_blobs())

    def launch() -> None:
        request = ExecutionRequest.model_validate(body)
        execution, _ = plane.launch(request)
        execution.to_json()

    launch()  # warm: parsed spec cached, connection open
    began, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        launch()
    took, cpu = time.perf_counter() - began, time.process_time() - cpu
    print(
        f"{count} launches in {took:.2f} s without a profiler: {took / count * 1e3:.2f} ms each, "
        f"{cpu / count * 1e3:.2f} ms of this process's CPU (PostgreSQL's not included)"
    )
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    for _ in range(count):
        launch()
    profiler.disable()
    took = time.perf_counter() - began
    print(f"{count} launches in {took:.2f} s under cProfile: {count / took:.0f}/s in one thread")
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)
    plane.close()


if __name__ == "__main__":
    main()
