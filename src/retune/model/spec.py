"""Specs: the stored and sent form of tasks, workflows and launch plans (pydantic).

A ``WorkflowSpec`` is flat: sub-workflows are expanded into task nodes whose paths keep the
nesting (``sub/n0``), and every hook lives in one table, because hook names are global
across the flattened graph. ``SCHEMA_VERSION`` changes whenever the stored shape does.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, field_validator, model_serializer

from retune.model.overrides import TaskNodeOverrides, check_env_name

SCHEMA_VERSION: Final = 1


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Param(_Spec):
    """One input or output: its name, its type (``int``, ``list[str]``, ...), its default."""

    name: str
    type: str
    has_default: bool = False
    default: Any = None


class Interface(_Spec):
    inputs: tuple[Param, ...] = ()
    outputs: tuple[Param, ...] = ()

    def input(self, name: str) -> Param | None:
        return next((p for p in self.inputs if p.name == name), None)

    def output(self, name: str) -> Param | None:
        return next((p for p in self.outputs if p.name == name), None)


class Binding(_Spec):
    """Where an input's value comes from: a workflow input, a node output, a literal or a list."""

    kind: Literal["input", "output", "literal", "list"]
    name: str | None = None
    node: str | None = None
    value: Any = None
    items: tuple[Binding, ...] = ()


class NodeOverride(_Spec):
    """One compile-time ``with_overrides`` (layer 2), written in ``workflow``."""

    workflow: str
    overrides: TaskNodeOverrides
    timeout: float | None = None
    location: str = ""


class HookDefault(_Spec):
    """A hook default from workflow code (layer 3), written in ``workflow``."""

    workflow: str
    overrides: TaskNodeOverrides
    location: str = ""


class HookSpec(_Spec):
    """A named hook: the node it is on, its task, where declared, its defaults inner to outer."""

    name: str
    nodes: tuple[str, ...]
    task: str
    declared_at: str
    defaults: tuple[HookDefault, ...] = ()


class NodeSpec(_Spec):
    """A task node of the flattened graph."""

    path: str
    task: str
    kind: Literal["task", "map"] = "task"
    inputs: dict[str, Binding] = {}
    hook: str | None = None
    overrides: tuple[NodeOverride, ...] = ()
    location: str = ""


class TaskSpec(_Spec):
    """A task definition: its interface and its own config (layer 1)."""

    name: str
    task_type: str = "python"
    interface: Interface
    config: TaskNodeOverrides = TaskNodeOverrides()
    timeout: float | None = None
    module: str
    qualname: str
    location: str = ""
    bundle: str | None = None
    """The code bundle a task of a reference workflow or task comes from (None: the bundle of the
    workflow that uses it, or, for local runs, the launching process's code)."""
    cache_env: tuple[str, ...] = ()
    """Environment keys whose effective values enter the cache key (``@task(cache_env=[...])``),
    sorted. Left out of the JSON when empty, so specs written before it hash as they did."""
    definition: dict[str, Any] | None = None
    """What a task with no Python function runs (a query, a script: ``sdk.template``), read by
    its task type's runner; ``module``/``qualname`` then only say where it was declared. Left out
    of the JSON when ``None``, like ``cache_env``."""

    @field_validator("cache_env")
    @classmethod
    def _check_cache_env(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        for key in keys:
            check_env_name(key)
        return tuple(sorted(set(keys)))

    @model_serializer(mode="wrap")
    def _drop_empty_fields(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            if not data.get("cache_env", True):
                del data["cache_env"]
            if "definition" in data and data["definition"] is None:
                del data["definition"]
        return data


class WorkflowSpec(_Spec):
    schema_version: int = SCHEMA_VERSION
    name: str
    interface: Interface
    nodes: tuple[NodeSpec, ...]
    outputs: dict[str, Binding] = {}
    hooks: dict[str, HookSpec] = {}
    tasks: dict[str, TaskSpec] = {}
    location: str = ""


class LaunchPlanSpec(_Spec):
    schema_version: int = SCHEMA_VERSION
    name: str
    workflow: str
    default_inputs: dict[str, Any] = {}
    fixed_inputs: dict[str, Any] = {}
    runtime_override: dict[str, TaskNodeOverrides] = {}
    workflow_version: str | None = None  # registered launch plans: the version they launch
