"""CompiledWorkflow: the hook table users see (``rt.compile(wf).hooks``) and the flat spec."""

from __future__ import annotations

import retune as rt

from . import flows_hooks


def test_hooks_are_listed_by_name() -> None:
    assert list(rt.compile(flows_hooks.twice).hooks) == [
        "evaluate",
        "evaluate-b",
        "fit",
        "fit-b",
        "load",
        "load-b",
    ]


def test_hook_names_its_task() -> None:
    hooks = rt.compile(flows_hooks.tuned).hooks

    assert hooks["load"].task == flows_hooks.load.name
    assert hooks["evaluate"].task == flows_hooks.evaluate.name


def test_hook_default_merges_the_workflow_defaults_outer_winning() -> None:
    hooks = rt.compile(flows_hooks.tuned).hooks

    assert hooks["load"].default == rt.runtime_override_config(cpu=1, retries=4)
    assert hooks["fit"].default == rt.runtime_override_config(mem="2Gi", environment={"A": "in", "B": "out"})
    assert hooks["evaluate"].default == rt.runtime_override_config(cpu=2)


def test_compiled_workflow_carries_the_workflow_name_and_its_task_nodes() -> None:
    compiled = rt.compile(flows_hooks.tuned)

    assert compiled.name == flows_hooks.tuned.name
    assert [(n.path, n.hook, n.kind) for n in compiled.nodes] == [
        ("pipeline/n0", "load", "task"),
        ("pipeline/n1", "fit", "task"),
        ("pipeline/n2", "evaluate", "task"),
    ]
    assert set(compiled.spec.tasks) == {
        flows_hooks.load.name,
        flows_hooks.fit.name,
        flows_hooks.evaluate.name,
    }


def test_compiled_spec_survives_a_json_round_trip() -> None:
    spec = rt.compile(flows_hooks.top).spec

    assert type(spec).model_validate_json(spec.model_dump_json()) == spec
