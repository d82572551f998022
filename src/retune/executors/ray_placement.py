"""Where a Ray attempt may run, and whether any node of the cluster can hold it: pure functions
over the nodes ``ray.nodes()`` lists, for ``executors.ray`` (which alone imports Ray).

1. ``RayNode.of`` reads one node: its resources, and whether it is interruptible (the node label
   ``retune.io/capacity=interruptible``, or the custom resource ``interruptible``: DESIGN §8).
2. ``check_fits`` refuses a request that no alive *on-demand* node can hold: every node's last
   attempt runs on-demand, so capacity that is only interruptible cannot be counted on.
3. ``place`` turns the engine's capacity into a Ray ``label_selector`` on ``ray.io/node-id``, the
   label Ray gives every node (one mechanism for both markings: a resource cannot be excluded in
   Ray): ``INTERRUPTIBLE`` -> ``in(<interruptible nodes that can hold it>)``, or on-demand when
   there is none; ``ON_DEMAND`` -> ``!in(<every interruptible node>)``, no selector when none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from retune.executors.base import Refused
from retune.model import EffectiveConfig
from retune.model.execution import Capacity
from retune.model.resources import format_quantity

__all__ = [
    "INTERRUPTIBLE_LABEL",
    "INTERRUPTIBLE_RESOURCE",
    "NODE_ID_LABEL",
    "RESOURCES",
    "RayNode",
    "check_fits",
    "place",
    "wanted",
]

RESOURCES: Final = (("cpu", "CPU"), ("mem", "memory"), ("gpu", "GPU"))
"""retune's resource names and Ray's."""

INTERRUPTIBLE_LABEL: Final = ("retune.io/capacity", "interruptible")
"""The Ray node label (key, value) of interruptible capacity (DESIGN §8)."""

INTERRUPTIBLE_RESOURCE: Final = "interruptible"
"""The custom Ray resource that marks a node interruptible as well (for clusters without labels)."""

NODE_ID_LABEL: Final = "ray.io/node-id"
"""The label Ray gives every node: what placement selects on (a label and a resource alike)."""


@dataclass(frozen=True, slots=True)
class RayNode:
    """An alive Ray node as ``check`` and placement see it."""

    id: str
    resources: Mapping[str, float]
    interruptible: bool

    @classmethod
    def of(cls, described: Mapping[str, Any]) -> RayNode:
        """A node of ``ray.nodes()``: interruptible by its label or its custom resource."""
        resources = {str(k): float(v) for k, v in described.get("Resources", {}).items()}
        key, value = INTERRUPTIBLE_LABEL
        labelled = (described.get("Labels") or {}).get(key) == value
        return cls(str(described["NodeID"]), resources, labelled or INTERRUPTIBLE_RESOURCE in resources)

    def holds(self, wanted: Mapping[str, float]) -> bool:
        return all(wanted[ours] <= self.resources.get(theirs, 0.0) for ours, theirs in RESOURCES)


def check_fits(alive: list[RayNode], config: EffectiveConfig) -> None:
    """Refuse a request that no alive on-demand node can hold (an interruptible node's last
    attempt runs on-demand too), naming the first resource too large for every such node, or
    the whole request when each part fits somewhere but not together."""
    nodes = [node for node in alive if not node.interruptible]
    which = "node" if len(nodes) == len(alive) else "on-demand node"
    counted = f"{len(nodes)} {which}s" + (
        "" if which == "node" else f", {len(alive) - len(nodes)} interruptible"
    )
    asked = wanted(config)
    for ours, theirs in RESOURCES:
        most = max((node.resources.get(theirs, 0.0) for node in nodes), default=0.0)
        if asked[ours] > most:
            raise Refused(
                f"resources.requests.{ours}",
                f"requests {ours}={format_quantity(ours, asked[ours])} but no {which} of the Ray cluster "
                f"has that much (the largest has {ours}={format_quantity(ours, most)}; {counted})",
                f"Lower it (for example with the override HOOK.{ours}=...), or add a larger node to the cluster.",
            )
    if not any(node.holds(asked) for node in nodes):
        every = ", ".join(f"{o}={format_quantity(o, asked[o])}" for o, _ in RESOURCES)
        raise Refused(
            "resources.requests",
            f"requests {every} but no single {which} of the Ray cluster has all of it",
            "Lower one of them, or add a node that has all of it.",
        )


def place(
    alive: list[RayNode], capacity: Capacity, config: EffectiveConfig
) -> tuple[Capacity, frozenset[str], dict[str, str]]:
    """Where an attempt the engine placed on ``capacity`` goes: ``(the capacity it gets, the
    interruptible nodes it may use, its label_selector)``. ``INTERRUPTIBLE``: the alive
    interruptible nodes that can hold it, or, with none, on-demand (the record says where it
    ran). ``ON_DEMAND``: any node but the interruptible ones."""
    if capacity is Capacity.INTERRUPTIBLE:
        asked = wanted(config)
        spot = sorted(node.id for node in alive if node.interruptible and node.holds(asked))
        if spot:
            return Capacity.INTERRUPTIBLE, frozenset(spot), {NODE_ID_LABEL: f"in({','.join(spot)})"}
    spot = sorted(node.id for node in alive if node.interruptible)
    return Capacity.ON_DEMAND, frozenset(), {NODE_ID_LABEL: f"!in({','.join(spot)})"} if spot else {}


def wanted(config: EffectiveConfig) -> dict[str, float]:
    """The attempt's requests by retune's names (``cpu``, ``mem``, ``gpu``)."""
    return {ours: float(getattr(config.requests, ours)) for ours, _ in RESOURCES}
