"""The engine builds a node's and an attempt's next record by hand (``with_phase``, ``ended``,
and ``final_node`` for the record a finished run answers), where ``dataclasses.replace`` costs
~8 us on the per-node path: every field it does not change must come through, also fields
added later."""

import dataclasses
from types import MappingProxyType

from retune.engine.run import _Node, ended, final_node, with_phase
from retune.executors.base import AttemptResult, Outcome
from retune.model import EffectiveConfig, Layer, ResolvedResources, Source
from retune.model.execution import Attempt, AttemptKind, CacheStatus, Capacity, NodeExecution, Phase
from retune.model.spec import NodeSpec

CONFIG = EffectiveConfig(
    requests=ResolvedResources(cpu=0.5, mem=2**30, gpu=0, storage=0),
    limits=ResolvedResources(cpu=1.0, mem=2**31, gpu=1, storage=0),
    cache=True,
    cache_serialize=True,
    cache_version="v2",
    retries=2,
    interruptible=True,
    container_image="img",
    environment=MappingProxyType({"A": "1"}),
    task_config=MappingProxyType({}),
    timeout=3.0,
)
RUNNING_ITEM = Attempt(
    number=7,
    phase=Phase.RUNNING,
    kind=AttemptKind.USER,
    capacity=Capacity.INTERRUPTIBLE,
    executor="ray",
    started_at=10.0,
    item=3,
)
NODE = NodeExecution(
    path="n3",
    hook="train",
    task="flows.train",
    phase=Phase.RUNNING,
    cache=CacheStatus.MISS,
    config=CONFIG,
    provenance=MappingProxyType({"retries": Source(Layer.WORKFLOW, "wf", "train")}),
    attempts=(RUNNING_ITEM,),
    outputs={"o0": 1},
    error="before",
    cache_reason="cache miss: first run",
    items=4,
)
NODE_SPEC = NodeSpec(path="n3", task="flows.train", kind="map", hook="train")


def test_with_phase_keeps_every_field_it_does_not_set() -> None:
    changed = with_phase(NODE, Phase.SUCCEEDED, None, None, None, None)

    assert changed == dataclasses.replace(NODE, phase=Phase.SUCCEEDED, error=None)
    assert {f.name for f in dataclasses.fields(NodeExecution)} - {"phase", "error"} == {
        f.name for f in dataclasses.fields(NodeExecution) if getattr(changed, f.name) == getattr(NODE, f.name)
    }
    assert with_phase(NODE, Phase.FAILED, CacheStatus.HIT, "boom", "why", 5) == dataclasses.replace(
        NODE, phase=Phase.FAILED, cache=CacheStatus.HIT, error="boom", cache_reason="why", items=5
    )


def test_ended_keeps_the_attempt_and_takes_the_result() -> None:
    result = AttemptResult(
        Outcome.USER_ERROR, error="raised", capacity=Capacity.ON_DEMAND, logs={"stderr": "k"}
    )

    done = ended(RUNNING_ITEM, False, AttemptKind.USER, result, 20.0)

    assert done == dataclasses.replace(
        RUNNING_ITEM,
        phase=Phase.FAILED,
        error="raised",
        capacity=Capacity.ON_DEMAND,
        finished_at=20.0,
        logs={"stderr": "k"},
    )
    started = dataclasses.replace(result, outcome=Outcome.SUCCEEDED, error=None, started_at=12.5)
    assert ended(RUNNING_ITEM, True, AttemptKind.USER, started, 21.0).started_at == 12.5


def test_a_nodes_final_record_is_its_latest_with_every_attempt_and_its_outputs() -> None:
    ended_item = dataclasses.replace(RUNNING_ITEM, phase=Phase.SUCCEEDED, finished_at=20.0)
    node = _Node(NODE_SPEC, NODE, frozenset(), [RUNNING_ITEM, ended_item], {"o0": [1, 2]})

    final = final_node(node)

    assert final == dataclasses.replace(NODE, attempts=(RUNNING_ITEM, ended_item), outputs={"o0": [1, 2]})
    assert {f.name for f in dataclasses.fields(NodeExecution)} - {"attempts", "outputs"} == {
        f.name for f in dataclasses.fields(NodeExecution) if getattr(final, f.name) == getattr(NODE, f.name)
    }
