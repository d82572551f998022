"""``Execution.to_json``: the bytes ``JSONResponse(execution.to_dict())`` sends, built faster."""

import datetime
import json
import math
from types import MappingProxyType

import pytest

from retune.model import EffectiveConfig, Layer, ResolvedResources, Source
from retune.model.config import JsonFragments
from retune.model.execution import (
    Attempt,
    AttemptKind,
    CacheStatus,
    Capacity,
    Execution,
    NodeExecution,
    Phase,
)

GI = 2**30
SHARED = EffectiveConfig(
    requests=ResolvedResources(cpu=0.5, mem=GI, gpu=0, storage=0),
    limits=ResolvedResources(cpu=1.0, mem=2 * GI, gpu=1, storage=10 * GI),
    cache=True,
    cache_serialize=False,
    cache_version="v2",
    retries=0,
    interruptible=False,
    container_image=None,
    environment=MappingProxyType({"LOG": "débug", "QUOTE": 'a"b\\c\n'}),
    task_config=MappingProxyType({"spark_conf": MappingProxyType({"a": "1"}), "executor_path": None}),
    timeout=2.5,
)
TASK = Source(Layer.TASK, "flows.inc")
PROVENANCE = MappingProxyType(
    {"retries": TASK, "requests.cpu": TASK, "environment.LOG": Source(Layer.NODE, "wf")}
)


def _node(index: int, **fields: object) -> NodeExecution:
    values: dict[str, object] = {
        "path": f"n{index}",
        "hook": None,
        "task": "flows.inc",
        "phase": Phase.QUEUED,
        "cache": CacheStatus.DISABLED,
        "config": SHARED,
        "provenance": PROVENANCE,
    }
    return NodeExecution(**(values | fields))


def _compact(document: object) -> bytes:
    return json.dumps(
        document, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode()


def test_the_json_is_that_of_to_dict_byte_for_byte() -> None:
    own = EffectiveConfig(**{**{f: getattr(SHARED, f) for f in SHARED.__slots__}, "retries": 3})
    attempt = Attempt(
        1,
        Phase.FAILED,
        AttemptKind.USER,
        "boom ✗",
        Capacity.INTERRUPTIBLE,
        "local",
        1.5,
        2.25,
        {"stdout": "logs/x"},
    )
    execution = Execution(
        id="ex-1",
        workflow="flows.wf",
        phase=Phase.RUNNING,
        nodes=(
            _node(0),
            _node(
                1,
                hook="h-ü",
                config=own,
                provenance=MappingProxyType({"retries": Source(Layer.EXECUTION, "ex-1", "h-ü")}),
            ),
            _node(2, phase=Phase.SUCCEEDED, outputs={"o": [1, 2.5, None, "ß"]}, attempts=(attempt,)),
            _node(3, error="failed: \u2028 line"),
        ),
        workflow_version="abc",
        inputs={"x": 1, "text": "日本"},
        outputs={"$returned": 3},
        launch_plan="nightly",
        overrides={"h-ü": {"retries": 3}},
        created_at=1764412345.123456,
        project="p",
        domain="d",
        parent_id="ex-0",
        worker="w1",
    )

    assert execution.to_json() == _compact(execution.to_dict())


def test_a_record_without_nodes_is_an_empty_list() -> None:
    execution = Execution(id="ex-2", workflow="wf", phase=Phase.QUEUED, nodes=())

    assert json.loads(execution.to_json())["nodes"] == []
    assert execution.to_json() == _compact(execution.to_dict())


def test_a_value_json_cannot_hold_is_refused_as_json_dumps_refuses_it() -> None:
    execution = Execution(
        id="ex-3", workflow="wf", phase=Phase.QUEUED, nodes=(_node(0, outputs={"o": math.nan}),)
    )

    with pytest.raises(ValueError, match="JSON compliant"):
        execution.to_json()


def test_shared_configs_and_provenances_are_encoded_once() -> None:
    fragments = JsonFragments()

    assert fragments.config(SHARED) is fragments.config(SHARED)
    assert fragments.provenance(PROVENANCE) is fragments.provenance(PROVENANCE)
    assert json.loads(fragments.provenance(PROVENANCE)) == {k: v.to_dict() for k, v in PROVENANCE.items()}


def test_a_config_is_encoded_as_json_reads_it_and_a_nan_in_it_is_refused() -> None:
    small = EffectiveConfig(**{**{f: getattr(SHARED, f) for f in SHARED.__slots__}, "timeout": 1e-07})
    nan = EffectiveConfig(**{**{f: getattr(SHARED, f) for f in SHARED.__slots__}, "timeout": math.nan})
    named = EffectiveConfig(**{**{f: getattr(SHARED, f) for f in SHARED.__slots__}, "cache_version": "NaN"})

    assert json.loads(JsonFragments().config(small)) == json.loads(_compact(small.to_dict()))
    assert JsonFragments().config(named) == _compact(named.to_dict()).decode()
    with pytest.raises(ValueError, match="JSON compliant"):
        JsonFragments().config(nan)


def test_what_json_refuses_in_a_config_is_refused() -> None:
    fields = {f: getattr(SHARED, f) for f in SHARED.__slots__}
    long = EffectiveConfig(**{**fields, "task_config": {}, "retries": 10**5000})
    dated = EffectiveConfig(**{**fields, "task_config": {"day": datetime.date(2026, 1, 1)}})

    with pytest.raises(ValueError, match="Exceeds the limit"):
        JsonFragments().config(long)
    with pytest.raises(TypeError, match="not JSON serializable"):
        JsonFragments().config(dated)
