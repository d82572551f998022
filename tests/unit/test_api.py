"""rt.compile and rt.resolve on the RFC example of DESIGN §1, resolved as DESIGN §3 says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import retune as rt
from retune import Layer, Source

GiB, MiB = 2**30, 2**20


@rt.task(
    requests=rt.Resources(cpu="1", mem="512Mi"),
    limits=rt.Resources(mem="1Gi"),
    cache=True,
    cache_version="1",
    cache_serialize=False,
    retries=2,
    interruptible=False,
    container_image=None,
    environment={"K": "V"},
    timeout=None,
    task_config=None,
)
def train(x: int) -> float:
    return x * 1.5


@rt.task
def prep(x: int) -> int:
    return x + 1


@rt.task
def score(y: int) -> int:
    return y * 2


@rt.workflow
def sub(x: int) -> float:
    return train(x=x).with_runtime_override("train")  # train-hook


@rt.workflow
def wf(x: int = 3) -> float:
    a = prep(x=x)
    b = prep(x=a).with_runtime_override("task-yee")  # task-yee
    c = score(y=b).with_runtime_override(  # task-ketan
        "task-ketan", rt.runtime_override_config(cpu=1, mem="1Gi", retries=3)
    )
    return sub(x=c).with_runtime_override("train", rt.runtime_override_config(gpu=1))  # sub-call


nightly = rt.LaunchPlan.get_or_create(
    workflow=wf,
    name="test-api-nightly",
    default_inputs={"x": 5},
    fixed_inputs={},
    runtime_override={"task-yee": rt.TaskNodeOverrides(retries=5)},
)


def _site(marker: str) -> str:
    lines = Path(__file__).read_text(encoding="utf-8").splitlines()
    (line,) = [n for n, text in enumerate(lines, start=1) if text.endswith(f"# {marker}")]
    relative = os.path.relpath(__file__)
    return f"{__file__ if relative.startswith('..') else relative}:{line}"


# -- rt.compile ----------------------------------------------------------------------------


def test_rfc_hooks_table_names_each_hook_its_node_task_and_call_site() -> None:
    hooks = rt.compile(wf).hooks

    assert list(hooks) == ["task-ketan", "task-yee", "train"]
    assert {name: (h.nodes, h.task) for name, h in hooks.items()} == {
        "task-ketan": (("n2",), score.name),
        "task-yee": (("n1",), prep.name),
        "train": (("sub/n0",), train.name),
    }
    assert hooks["task-yee"].declared_at == _site("task-yee")
    assert hooks["task-ketan"].declared_at == _site("task-ketan")
    assert hooks["train"].declared_at == f"{_site('train-hook')}, in {sub.name} called at {_site('sub-call')}"


def test_rfc_hooks_table_shows_each_default() -> None:
    hooks = rt.compile(wf).hooks

    assert hooks["task-yee"].default == rt.TaskNodeOverrides()
    assert hooks["task-ketan"].default == rt.runtime_override_config(cpu=1, mem="1Gi", retries=3)
    assert hooks["train"].default == rt.runtime_override_config(gpu=1)
    assert [d.workflow for d in hooks["train"].defaults] == [wf.name]


def test_rfc_flattens_to_four_task_nodes() -> None:
    compiled = rt.compile(wf)

    assert [(n.path, n.hook) for n in compiled.nodes] == [
        ("n0", None),
        ("n1", "task-yee"),
        ("n2", "task-ketan"),
        ("sub/n0", "train"),
    ]
    assert compiled.spec.interface.inputs[0].default == 3


def test_compile_of_a_launch_plan_is_its_workflow() -> None:
    assert rt.compile(nightly).spec == rt.compile(wf).spec


def test_compile_refuses_what_is_not_a_workflow_or_launch_plan() -> None:
    with pytest.raises(TypeError, match="Expected a @workflow or a LaunchPlan"):
        rt.compile(prep)


# -- rt.resolve ----------------------------------------------------------------------------


def test_rfc_node_without_hook_resolves_from_its_task_and_platform_defaults() -> None:
    node = rt.resolve(wf)["n0"]

    assert node.hook is None
    assert node.task == prep.name
    assert node.config.retries == 0
    assert node.provenance["retries"] == Source(Layer.TASK, prep.name)
    assert node.provenance["requests.cpu"].layer is Layer.TASK


def test_rfc_hook_default_in_workflow_code_sets_request_and_limit() -> None:
    node = rt.resolve(wf)["n2"]
    from_wf = Source(Layer.WORKFLOW, wf.name, "task-ketan")

    assert (node.config.requests.cpu, node.config.requests.mem) == (1.0, GiB)
    assert (node.config.limits.cpu, node.config.limits.mem) == (1.0, GiB)
    assert node.config.retries == 3
    for field in ("requests.cpu", "requests.mem", "limits.cpu", "limits.mem", "retries"):
        assert node.provenance[field] == from_wf, field


def test_rfc_default_on_the_sub_workflow_node_reaches_the_hook_inside() -> None:
    node = rt.resolve(wf)["sub/n0"]
    task = Source(Layer.TASK, train.name)

    assert node.hook == "train"
    assert node.config.requests.gpu == node.config.limits.gpu == 1
    assert node.provenance["requests.gpu"] == Source(Layer.WORKFLOW, wf.name, "train")
    assert (node.config.requests.cpu, node.config.requests.mem) == (1.0, 512 * MiB)
    assert (node.config.limits.cpu, node.config.limits.mem) == (1.0, GiB)
    assert node.provenance["limits.cpu"] == task  # a limit nobody set equals the request
    assert (node.config.cache, node.config.cache_version, node.config.retries) == (True, "1", 2)
    assert dict(node.config.environment) == {"K": "V"}
    assert node.provenance["environment.K"] == task


def test_rfc_without_launch_plan_task_yee_keeps_its_task_config() -> None:
    node = rt.resolve(wf)["n1"]

    assert node.config.retries == 0
    assert node.provenance["retries"] == Source(Layer.TASK, prep.name)


def test_rfc_launch_plan_layer_applies_to_its_hook() -> None:
    resolved = rt.resolve(nightly)

    assert resolved["n1"].config.retries == 5
    assert resolved["n1"].provenance["retries"] == Source(Layer.LAUNCH_PLAN, "test-api-nightly", "task-yee")
    assert resolved["n0"].config.retries == 0


def test_rfc_execution_overrides_win_over_every_layer() -> None:
    resolved = rt.resolve(
        nightly,
        overrides={
            "task-ketan": {"retries": 0},
            "task-yee": rt.TaskNodeOverrides(retries=1),
            "train": {"environment": {"A": "b"}},
        },
    )

    assert resolved["n2"].config.retries == 0  # zero is a value, not "unset"
    assert resolved["n2"].provenance["retries"] == Source(Layer.EXECUTION, "preview", "task-ketan")
    assert resolved["n2"].config.requests.cpu == 1.0  # the workflow default stays where not overridden
    assert resolved["n1"].config.retries == 1
    assert resolved["n1"].provenance["retries"] == Source(Layer.EXECUTION, "preview", "task-yee")
    assert dict(resolved["sub/n0"].config.environment) == {"K": "V", "A": "b"}
    assert resolved["sub/n0"].provenance["environment.A"] == Source(Layer.EXECUTION, "preview", "train")
    assert resolved["sub/n0"].provenance["environment.K"] == Source(Layer.TASK, train.name)


def test_resolve_names_the_execution_layer_as_asked() -> None:
    node = rt.resolve(wf, overrides={"train": {"retries": 4}}, name="ex-42")["sub/n0"]

    assert node.provenance["retries"] == Source(Layer.EXECUTION, "ex-42", "train")


def test_resolve_builds_new_values_each_time() -> None:
    first = rt.resolve(wf, overrides={"train": {"retries": 7, "environment": {"A": "1"}}})
    second = rt.resolve(wf)

    assert first["sub/n0"].config.retries == 7
    assert second["sub/n0"].config.retries == 2
    assert dict(second["sub/n0"].config.environment) == {"K": "V"}
    assert rt.compile(wf).hooks["train"].default == rt.runtime_override_config(gpu=1)


def test_resolve_refuses_an_unknown_hook_with_did_you_mean() -> None:
    with pytest.raises(rt.OverrideError) as caught:
        rt.resolve(wf, overrides={"task-yea": {"retries": 1}})

    assert caught.value.hook == "task-yea"
    assert "Did you mean 'task-yee'?" in str(caught.value)
    assert "Its hooks are: task-ketan, task-yee, train." in str(caught.value)


def test_resolve_refuses_a_malformed_override_naming_hook_and_field() -> None:
    with pytest.raises(rt.OverrideError) as caught:
        rt.resolve(wf, overrides={"train": {"retries": -1}})

    assert (caught.value.hook, caught.value.field) == ("train", "retries")


def test_resolve_refuses_a_request_above_its_limit_naming_both_layers() -> None:
    with pytest.raises(rt.OverrideError) as caught:
        rt.resolve(wf, overrides={"train": {"resources": {"requests": {"mem": "2Gi"}}}})

    message = str(caught.value)
    assert "requests.mem=2Gi" in message
    assert "from execution 'preview' (hook 'train')" in message
    assert f"from task {train.name!r}" in message
