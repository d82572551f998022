"""The pure-Python baseline: the same node list as ``graphs.build_workflow``, as plain objects.

``build_plain_nodes(groups)`` walks the same loops as the traced workflow and appends one
slotted ``PlainNode`` per task node: its path (``block-2/n4``, ``n17``), task name, inputs as
``{name: ("output", node path, "o0")}`` (a list input is a tuple of those), hook name or
``None``, and the raw ``with_overrides`` / hook-default dicts. No tracing, no validation, no
flattening, no type checks: it is the floor a compiler of this graph cannot go below, so
``compile / baseline`` says how many plain node-list builds one compile costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.graphs import BLOCK_FAN_OUT, CHAIN_LENGTH, FAN_OUT

Input = tuple[str, str, str] | tuple[tuple[str, str, str], ...]


@dataclass(slots=True)
class PlainNode:
    path: str
    task: str
    inputs: dict[str, Any]
    hook: str | None = None
    overrides: tuple[dict[str, Any], ...] = ()
    hook_default: dict[str, Any] | None = None


def build_plain_nodes(groups: int) -> list[PlainNode]:
    """``groups * 40`` plain nodes with the bindings, hooks and overrides of ``build_workflow(groups)``."""
    nodes: list[PlainNode] = []
    top = 0
    source: Input = ("input", "", "seed")
    for g in range(groups):
        source = _block(nodes, f"block-{g + 1}/" if g else "block/", source, g)
        top += 1
        for i in range(CHAIN_LENGTH):
            node = PlainNode(f"n{top}", "prep", {"x": source})
            if i % 7 == 3:
                node.overrides = ({"retries": 1, "cache": True, "cache_version": "v2"},)
            if i == 10:
                node.hook, node.hook_default = f"g{g}-prep", {"cpu": "500m"}
            nodes.append(node)
            source = ("output", node.path, "o0")
            top += 1
        fan = []
        for j in range(FAN_OUT):
            node = PlainNode(f"n{top}", "score", {"y": source})
            if j == 0:
                node.hook, node.hook_default = f"g{g}-score", {"retries": 5}
            nodes.append(node)
            fan.append(("output", node.path, "o0"))
            top += 1
        node = PlainNode(
            f"n{top}",
            "merge",
            {"xs": tuple(fan)},
            f"g{g}-merge",
            ({"requests": {"cpu": "2", "mem": "1Gi"}, "limits": {"cpu": "2", "mem": "2Gi"}},),
            {"mem": "4Gi"},
        )
        nodes.append(node)
        source = ("output", node.path, "o0")
        top += 1
    return nodes


def _block(nodes: list[PlainNode], prefix: str, source: Input, g: int) -> Input:
    outer = ({"interruptible": True, "environment": {"GROUP": str(g)}},) if g % 5 == 0 else ()
    for i in range(3):
        nodes.append(PlainNode(f"{prefix}n{i}", "prep", {"x": source}, overrides=outer))
        source = ("output", f"{prefix}n{i}", "o0")
    fan = []
    for i in range(3, 3 + BLOCK_FAN_OUT):
        own = ({"retries": 4, "environment": {"BLOCK": "1"}},) if i == 2 + BLOCK_FAN_OUT else ()
        nodes.append(PlainNode(f"{prefix}n{i}", "score", {"y": source}, overrides=own + outer))
        fan.append(("output", f"{prefix}n{i}", "o0"))
    m = 3 + BLOCK_FAN_OUT
    nodes.append(PlainNode(f"{prefix}n{m}", "merge", {"xs": tuple(fan)}, overrides=outer))
    train = PlainNode(
        f"{prefix}n{m + 1}",
        "train",
        {"x": ("output", f"{prefix}n{m}", "o0")},
        f"train-{g}",
        outer,
        {"mem": "2Gi", "retries": 3, "gpu": g % 2},
    )
    nodes.append(train)
    nodes.append(
        PlainNode(f"{prefix}n{m + 2}", "to_int", {"v": ("output", train.path, "o0")}, overrides=outer)
    )
    return ("output", f"{prefix}n{m + 2}", "o0")
