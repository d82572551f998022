"""Where a Ray attempt goes, and what no node can hold, from the nodes ``ray.nodes()`` lists:
no cluster needed (executors.ray_placement)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

import retune as rt
from retune.executors.base import Refused
from retune.executors.ray_placement import RayNode, check_fits, place
from retune.model.execution import Capacity

GI = 2**30


@rt.task
def step() -> int:
    return 1


@rt.workflow
def flow() -> int:
    return step()


CONFIG = next(iter(rt.resolve(flow).values())).config  # 250m, 256Mi


def _listed(
    node_id: str, cpu: float, *, labels: dict[str, str] | None = None, **extra: float
) -> dict[str, Any]:
    return {
        "NodeID": node_id,
        "Alive": True,
        "Resources": {"CPU": cpu, "memory": float(GI), **extra},
        "Labels": {"ray.io/node-id": node_id, **(labels or {})},
    }


LABELLED = RayNode.of(_listed("spot-a", 1, labels={"retune.io/capacity": "interruptible"}))
BY_RESOURCE = RayNode.of(_listed("spot-b", 4, interruptible=1))
ON_DEMAND = RayNode.of(_listed("steady", 2))


def test_a_node_is_interruptible_by_its_label_or_its_custom_resource() -> None:
    assert (LABELLED.interruptible, BY_RESOURCE.interruptible, ON_DEMAND.interruptible) == (True, True, False)
    assert not RayNode.of(_listed("other", 1, labels={"retune.io/capacity": "on-demand"})).interruptible


def test_an_interruptible_attempt_goes_to_the_interruptible_nodes_that_can_hold_it() -> None:
    nodes = [ON_DEMAND, LABELLED, BY_RESOURCE]
    two_cpus = replace(CONFIG, requests=replace(CONFIG.requests, cpu=2.0))

    assert place(nodes, Capacity.INTERRUPTIBLE, CONFIG) == (
        Capacity.INTERRUPTIBLE,
        frozenset({"spot-a", "spot-b"}),
        {"ray.io/node-id": "in(spot-a,spot-b)"},
    )
    assert place(nodes, Capacity.INTERRUPTIBLE, two_cpus)[2] == {"ray.io/node-id": "in(spot-b)"}


def test_an_interruptible_attempt_runs_on_demand_when_no_interruptible_node_can_hold_it() -> None:
    huge = replace(CONFIG, requests=replace(CONFIG.requests, cpu=8.0))

    assert place([ON_DEMAND, LABELLED], Capacity.INTERRUPTIBLE, huge) == (
        Capacity.ON_DEMAND,
        frozenset(),
        {"ray.io/node-id": "!in(spot-a)"},
    )


def test_an_on_demand_attempt_avoids_every_interruptible_node_and_needs_no_selector_without_them() -> None:
    assert place([ON_DEMAND, LABELLED, BY_RESOURCE], Capacity.ON_DEMAND, CONFIG)[2] == {
        "ray.io/node-id": "!in(spot-a,spot-b)"
    }
    assert place([ON_DEMAND], Capacity.ON_DEMAND, CONFIG) == (Capacity.ON_DEMAND, frozenset(), {})


def test_a_request_only_interruptible_nodes_can_hold_is_refused_naming_the_on_demand_ones() -> None:
    three_cpus = replace(CONFIG, requests=replace(CONFIG.requests, cpu=3.0))

    with pytest.raises(Refused) as refused:
        check_fits([ON_DEMAND, BY_RESOURCE], three_cpus)

    assert str(refused.value).startswith(
        "resources.requests.cpu: requests cpu=3 but no on-demand node of the Ray cluster has that much "
        "(the largest has cpu=2; 1 on-demand nodes, 1 interruptible)"
    )


def test_a_cluster_without_interruptible_nodes_is_measured_whole() -> None:
    check_fits([ON_DEMAND], CONFIG)
    with pytest.raises(
        Refused, match=r"no node of the Ray cluster has that much \(the largest has cpu=2; 1 nodes\)"
    ):
        check_fits([ON_DEMAND], replace(CONFIG, requests=replace(CONFIG.requests, cpu=3.0)))
