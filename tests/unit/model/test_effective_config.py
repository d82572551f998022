"""``EffectiveConfig``, ``Source`` and ``NodeConfig``: the resolved side, stored and shown as JSON."""

import dataclasses
import json
from types import MappingProxyType

import pytest

from retune.model import EffectiveConfig, Layer, NodeConfig, ResolvedResources, Source

GI = 2**30

CONFIG = EffectiveConfig(
    requests=ResolvedResources(cpu=0.5, mem=GI, gpu=0, storage=0),
    limits=ResolvedResources(cpu=1.0, mem=2 * GI, gpu=1, storage=10 * GI),
    cache=True,
    cache_serialize=False,
    cache_version="v2",
    retries=0,
    interruptible=False,
    container_image=None,
    environment=MappingProxyType({"LOG": "debug"}),
    task_config=MappingProxyType({"spark_conf": {"a": "1"}, "executor_path": None}),
    timeout=None,
)

PROVENANCE = MappingProxyType(
    {
        "retries": Source(Layer.EXECUTION, "execution", "train"),
        "requests.cpu": Source(Layer.WORKFLOW, "flows.wf", "train"),
        "limits.mem": Source(Layer.TASK, "retune defaults"),
        "environment.LOG": Source(Layer.LAUNCH_PLAN, "nightly", "train"),
        "task_config.spark_conf.a": Source(Layer.NODE, "flows.sub"),
    }
)


def test_layers_are_ordered_weakest_first() -> None:
    assert [layer.value for layer in Layer] == ["task", "node", "workflow", "launch_plan", "execution"]


def test_source_round_trips_and_reads_well() -> None:
    source = Source(Layer.LAUNCH_PLAN, "nightly", "train")
    assert Source.from_dict(json.loads(json.dumps(source.to_dict()))) == source
    assert source.to_dict() == {"layer": "launch_plan", "name": "nightly", "hook": "train"}
    assert str(source) == "launch_plan 'nightly' (hook 'train')"
    assert str(Source(Layer.TASK, "flows.train")) == "task 'flows.train'"


def test_effective_config_round_trips_through_json() -> None:
    wire = json.loads(json.dumps(CONFIG.to_dict()))
    assert EffectiveConfig.from_dict(wire) == CONFIG
    assert wire["requests"] == {"cpu": 0.5, "mem": GI, "gpu": 0, "storage": 0}
    assert wire["task_config"] == {"spark_conf": {"a": "1"}, "executor_path": None}


def test_effective_config_round_trip_keeps_image_and_timeout() -> None:
    config = dataclasses.replace(CONFIG, container_image="py311", timeout=30.0)
    again = EffectiveConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert (again.container_image, again.timeout) == ("py311", 30.0)


def test_effective_configs_differing_in_any_field_are_unequal() -> None:
    assert dataclasses.replace(CONFIG, retries=1) != CONFIG
    assert dataclasses.replace(CONFIG, environment=MappingProxyType({"LOG": "info"})) != CONFIG
    assert dataclasses.replace(CONFIG, task_config=MappingProxyType({})) != CONFIG


def test_effective_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        CONFIG.retries = 3  # type: ignore[misc]


def test_node_config_round_trips_through_json() -> None:
    node = NodeConfig(CONFIG, PROVENANCE, "train", "flows.train")
    wire = json.loads(json.dumps(node.to_dict()))
    again = NodeConfig.from_dict(wire)
    assert again == node
    assert again.provenance["environment.LOG"] == Source(Layer.LAUNCH_PLAN, "nightly", "train")
    assert wire["provenance"]["limits.mem"] == {"layer": "task", "name": "retune defaults", "hook": None}


def test_node_config_without_a_hook_round_trips() -> None:
    node = NodeConfig(CONFIG, MappingProxyType({}), None, "flows.prep")
    assert NodeConfig.from_dict(json.loads(json.dumps(node.to_dict()))) == node
