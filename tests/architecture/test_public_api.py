"""The public API is `retune.__all__`: pinned here, so any change to it is deliberate."""

from __future__ import annotations

import retune

PUBLIC = [
    "SQL",
    "UNSET",
    "Attempt",
    "CompileError",
    "CompiledWorkflow",
    "EffectiveConfig",
    "Execution",
    "ExecutionFailed",
    "Hook",
    "InputError",
    "LaunchPlan",
    "Layer",
    "MapTask",
    "NodeConfig",
    "NodeExecution",
    "OverrideError",
    "Phase",
    "ResolvedResources",
    "Resources",
    "RetuneError",
    "SQLTask",
    "Shell",
    "ShellTask",
    "Source",
    "Spark",
    "Task",
    "TaskContext",
    "TaskNodeConfigOverride",
    "TaskNodeOverrides",
    "Workflow",
    "compile",
    "current_context",
    "map_task",
    "plugins",
    "reference_task",
    "reference_workflow",
    "resolve",
    "run",
    "runtime_override_config",
    "task",
    "workflow",
]


def _isort_key(name: str) -> tuple[int, str]:
    """Constants, then classes, then functions and modules, each alphabetical (ruff's RUF022)."""
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


def test_all_is_exactly_the_pinned_list() -> None:
    assert retune.__all__ == PUBLIC


def test_all_is_sorted_without_duplicates() -> None:
    assert sorted(retune.__all__, key=_isort_key) == retune.__all__
    assert len(set(retune.__all__)) == len(retune.__all__)


def test_every_public_name_resolves() -> None:
    missing = [name for name in retune.__all__ if getattr(retune, name, None) is None]

    assert missing == []


def test_unknown_names_are_an_attribute_error() -> None:
    assert not hasattr(retune, "no_such_name")


def test_rfc_spelling_task_node_config_override_is_the_same_class() -> None:
    assert retune.TaskNodeConfigOverride is retune.TaskNodeOverrides


def test_error_tree() -> None:
    assert issubclass(retune.CompileError, retune.RetuneError)
    assert issubclass(retune.OverrideError, retune.RetuneError)
    assert issubclass(retune.OverrideError, ValueError)
