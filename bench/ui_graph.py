"""The web UI's workflow graph: ``graph_svg`` of a 2,000-node workflow, laid out on the server.

Target: the first call (layout and render) at most 150 ms (p50) on 2 cores; a page showing a
2,000-node workflow waits for it once per spec. The spec is built directly (no compile): 20
chains of 100 task nodes whose ends meet in one fan-in node (chain 0 has 99, so 2,000 in all),
every 10th node a map and every 50th with a hook. Each timed repetition draws under a key no
earlier one used, so nothing is served from the cache; the cached row is the same call again.
An info row lays out the suite's compile workflow (2,000 nodes, 50 sub-workflows) with every
sub-workflow expanded: nested boxes, not the straight rows of the chains.
"""

from __future__ import annotations

import itertools

import retune as rt
from bench import graphs
from bench.report import Row
from bench.timing import measure, summarise
from retune.model.spec import Binding, Interface, NodeSpec, TaskSpec, WorkflowSpec
from retune.server.ui.graph import graph_svg

CHAINS, LENGTH = 20, 100
TARGET = 0.150
REPS, WARMUPS = 15, 2
_keys = (f"bench-{i}" for i in itertools.count())


def chains_spec() -> WorkflowSpec:
    """20 chains and a fan-in: 2,000 task nodes, as a spec."""
    nodes, ends = [], []
    for c in range(CHAINS):
        previous: str | None = None
        for i in range(LENGTH - (1 if c == 0 else 0)):
            path = f"c{c}n{i}"
            inputs = {"x": Binding(kind="output", node=previous, name="o")} if previous else {}
            kind = "map" if i % 10 == 5 else "task"
            hook = f"c{c}-{i}" if i % 50 == 7 else None
            nodes.append(NodeSpec(path=path, task="bench.step", kind=kind, inputs=inputs, hook=hook))
            previous = path
        ends.append(previous)
    items = tuple(Binding(kind="output", node=end, name="o") for end in ends)
    nodes.append(
        NodeSpec(path="fan-in", task="bench.merge", inputs={"xs": Binding(kind="list", items=items)})
    )
    tasks = {
        name: TaskSpec(name=name, interface=Interface(), module="bench", qualname=name[6:])
        for name in ("bench.step", "bench.merge")
    }
    return WorkflowSpec(name="chains", interface=Interface(), nodes=tuple(nodes), tasks=tasks)


def bench_ui_graph() -> list[Row]:
    spec = chains_spec()
    assert len(spec.nodes) == CHAINS * LENGTH
    first = summarise(
        measure(lambda key: graph_svg(spec, key), setup=lambda: next(_keys), reps=REPS, warmups=WARMUPS)
    )
    key = next(_keys)
    svg = graph_svg(spec, key)
    assert svg.count('class="node"') == len(spec.nodes)
    cached = summarise(measure(lambda _: graph_svg(spec, key), reps=REPS, warmups=1))
    compiled = rt.compile(graphs.build_workflow(50)).spec
    groups = frozenset(node.path.split("/", 1)[0] for node in compiled.nodes if "/" in node.path)
    nested = summarise(
        measure(
            lambda key: graph_svg(compiled, key, expanded=groups),
            setup=lambda: next(_keys),
            reps=REPS,
            warmups=WARMUPS,
        )
    )
    nested_size = len(graph_svg(compiled, next(_keys), expanded=groups).encode())
    return [
        Row(
            "graph_svg of a 2,000-node workflow, first call (layout)",
            first,
            f"≤ {TARGET * 1000:.0f} ms",
            "PASS" if first.p50 <= TARGET else "FAIL",
            note=(
                f"`retune.server.ui.graph.graph_svg(spec, key)`, a fresh key each repetition: 20 chains of "
                f"100 and a fan-in, maps and hooks; the SVG is {len(svg.encode()) / 1e6:.2f} MB."
            ),
        ),
        Row(
            "graph_svg of a 2,000-node workflow, cached",
            cached,
            "info",
            "info",
            note="the same call with a key already drawn: an LRU lookup, no layout.",
        ),
        Row(
            "graph_svg of the compile row's workflow, 50 sub-workflows expanded",
            nested,
            "info",
            "info",
            note=(
                f"`graph_svg(spec, key, expanded=every group)` on `rt.compile(bench.graphs.build_workflow(50))`"
                f": 2,000 nodes in 50 group boxes; the SVG is {nested_size / 1e6:.2f} MB."
            ),
        ),
    ]
