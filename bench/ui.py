"""The web UI's rows (issue 9): pages of a big workflow, served by a real ``retune serve`` and
made ready in Debian's Chromium, next to ``GET /api/v1/health`` of the same server in the run.

The workflow is the compile row's (``bench/graphs.py``, 50 groups): 2,000 task nodes and 200
hooks, registered over HTTP; one execution of it is launched with the execution overrides of
the resolve row and left queued (no worker), so its page shows 2,000 nodes.

- *served*: the wall time of ``GET`` from a keep-alive ``httpx`` client, send to the whole body.
- *ready in Chromium*: ``page.goto(url, wait_until="load")`` in a warm browser (HTML parsed,
  style sheet and script loaded and run), from the navigation's start.

Targets: the launch form of 200 hooks ready in under 1 s; the execution page of 2,000 nodes
served in under 300 ms and ready in under 1.5 s.

``bench_ui_execution_page`` (``python -m bench ui_execution_page``) is what the execution page
asks for after it loads: the ``/state`` it polls and a node's panel, served, next to
``get_execution`` of the same execution and ``/health``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

import retune as rt
from bench import graphs
from bench.report import Row, format_seconds
from bench.timing import Stats, summarise

GROUPS = 50
PROJECT, DOMAIN = "bench", "development"
REPS, WARMUPS = 9, 2
FORM_TARGET = 1.0
PAGE_SERVED_TARGET = 0.300
PAGE_READY_TARGET = 1.5
CHROMIUM = "/usr/bin/chromium"
CAPACITY = "[capacity]\ngpu = 1\n"  # the workflow's train nodes ask for a GPU; no worker runs them


def bench_ui() -> list[Row]:
    from retune.testing.stack import LocalStack

    spec = rt.compile(graphs.build_workflow(GROUPS)).spec
    home = Path(tempfile.mkdtemp(prefix="retune-bench-ui-"))
    try:
        with (
            LocalStack(home / "home", workers=0, config=CAPACITY) as stack,
            httpx.Client(base_url=stack.url, timeout=60) as client,
        ):
            execution = _prepare(client, spec)
            form = f"/ui/workflows/{PROJECT}/{DOMAIN}/{spec.name}/launch"
            page = f"/ui/executions/{execution}"
            health = _served(client, "/api/v1/health")
            form_served = _served(client, form)
            page_served = _served(client, page)
            size = len(client.get(page).content)
            form_ready, page_ready = _ready(stack.url, [form, page])
    finally:
        shutil.rmtree(home, ignore_errors=True)
    base = f"a 2,000-node / 200-hook workflow (bench/graphs.py, {GROUPS} groups) registered on a real `retune serve` (SQLite)"
    how = f"{WARMUPS} warm-ups, {REPS} repetitions"
    return [
        _row(
            "ui: launch form of 200 hooks, ready in Chromium",
            form_ready,
            FORM_TARGET,
            health,
            f"{base}; `page.goto(form, wait_until='load')` in a warm Debian Chromium; {how}.",
        ),
        _row(
            "ui: launch form of 200 hooks, served",
            form_served,
            None,
            health,
            f"{base}; `GET {form}` from a keep-alive httpx client; {how}.",
        ),
        _row(
            "ui: execution page of 2,000 nodes, served",
            page_served,
            PAGE_SERVED_TARGET,
            health,
            f"{base}, one execution launched with 200 overrides and left queued; `GET /ui/executions/ID` (header, graph, 2,000 table rows, the state as JSON: {size / 1000:.0f} kB); {how}.",
        ),
        _row(
            "ui: execution page of 2,000 nodes, ready in Chromium",
            page_ready,
            PAGE_READY_TARGET,
            health,
            f"the same page, `page.goto(..., wait_until='load')` in a warm Debian Chromium; {how}.",
        ),
        Row(
            "ui: GET /api/v1/health of the same server (baseline)",
            health,
            "– (baseline)",
            "info",
            note=f"the same keep-alive client and server, in the same run; {how}.",
        ),
    ]


def bench_ui_execution_page() -> list[Row]:
    """The execution page of 2,000 nodes, its state (what the page polls every second while the
    execution runs) and a node's panel, served by a real ``retune serve``; ``get_execution`` of the
    same execution on the same SQLite file; ``GET /api/v1/health`` of the same server as baseline."""
    from retune.store import open_store
    from retune.testing.stack import LocalStack

    spec = rt.compile(graphs.build_workflow(GROUPS)).spec
    home = Path(tempfile.mkdtemp(prefix="retune-bench-ui-page-"))
    try:
        with (
            LocalStack(home / "home", workers=0, config=CAPACITY) as stack,
            httpx.Client(base_url=stack.url, timeout=60) as client,
        ):
            execution = _prepare(client, spec)
            base = f"/ui/executions/{execution}"
            health = _served(client, "/api/v1/health")
            state = _served(client, f"{base}/state")
            panel = _served(client, f"{base}/nodes/train-0", headers={"X-Requested-With": "fetch"})
            with open_store(f"sqlite:///{home / 'home' / 'retune.db'}") as store:
                read = _timed(lambda: store.get_execution(execution))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    how = f"a keep-alive httpx client against a real `retune serve` (SQLite); {WARMUPS} warm-ups, {REPS} repetitions"
    return [
        _row(
            "ui_execution_page: GET /ui/executions/ID/state (polled each second)",
            state,
            None,
            health,
            f"the same execution's state: every node's phase, cache, attempts, items; {how}.",
        ),
        _row(
            "ui_execution_page: a node's panel (fragment)",
            panel,
            None,
            health,
            f"`GET {{page}}/nodes/train-0` as the page's script asks for it (config rows with provenance); {how}.",
        ),
        Row(
            "ui_execution_page: get_execution of 2,000 nodes (SQLite)",
            read,
            "– (reported)",
            "info",
            note="`SqlStore.get_execution` of that execution on the server's SQLite file, in the bench "
            f"process: nodes with config, provenance and attempts; {WARMUPS} warm-ups, {REPS} repetitions.",
        ),
        Row(
            "ui_execution_page: GET /api/v1/health of the same server (baseline)",
            health,
            "– (baseline)",
            "info",
            note=f"the same keep-alive client and server, in the same run; {how}.",
        ),
    ]


def _timed(call: Any) -> Stats:
    seconds = []
    for rep in range(WARMUPS + REPS):
        start = time.perf_counter()
        call()
        if rep >= WARMUPS:
            seconds.append(time.perf_counter() - start)
    return summarise(seconds)


def _prepare(client: httpx.Client, spec: Any) -> str:
    body = {
        "project": PROJECT,
        "domain": DOMAIN,
        "version": "v1",
        "workflows": [spec.model_dump(mode="json")],
    }
    answer = client.post("/api/v1/registrations", json=body)
    answer.raise_for_status()
    launch = {
        "project": PROJECT,
        "domain": DOMAIN,
        "workflow": spec.name,
        "inputs": {"seed": 1},
        "overrides": graphs.execution_overrides(GROUPS),
    }
    launched = client.post("/api/v1/executions", json=launch)
    if launched.status_code != 201:
        raise RuntimeError(f"launch refused: {launched.text[:500]}")
    nodes = len(launched.json()["nodes"])
    assert nodes == GROUPS * graphs.NODES_PER_GROUP, nodes
    return str(launched.json()["id"])


def _served(client: httpx.Client, path: str, headers: dict[str, str] | None = None) -> Stats:
    seconds = []
    for rep in range(WARMUPS + REPS):
        start = time.perf_counter()
        answer = client.get(path, headers=headers)
        elapsed = time.perf_counter() - start
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path}: {answer.status_code} {answer.text[:300]}")
        if rep >= WARMUPS:
            seconds.append(elapsed)
    return summarise(seconds)


def _ready(url: str, paths: list[str]) -> list[Stats]:
    from playwright.sync_api import sync_playwright

    found = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        for path in paths:
            seconds = []
            for rep in range(WARMUPS + REPS):
                start = time.perf_counter()
                answer = page.goto(url + path, wait_until="load")
                elapsed = time.perf_counter() - start
                if answer is None or answer.status != 200:
                    raise RuntimeError(f"Chromium could not load {path}")
                if rep >= WARMUPS:
                    seconds.append(elapsed)
            found.append(summarise(seconds))
        browser.close()
    return found


def _row(name: str, stats: Stats, target: float | None, health: Stats, note: str) -> Row:
    ratio = f"{stats.p50 / health.p50:.0f}× health ({format_seconds(health.p50)})"
    if target is None:
        return Row(name, stats, "– (reported)", "info", ratio=ratio, note=note)
    result = "PASS" if stats.p50 <= target else "FAIL"
    return Row(name, stats, f"≤ {format_seconds(target)}", result, ratio=ratio, note=note)
