"""The registry of task types: name -> config model, result fields, runner and launch check.

A task type is found, the first time it is asked for, through the entry point group
``retune.task_types`` (``name = "module:ATTRIBUTE"``, the attribute a ``TaskType``); the
built-ins (``sql``, ``shell``, ``spark``) are declared there by retune's own ``pyproject.toml``
and load the same way, with ``BUILT_IN`` as the fallback for a source tree without installed
metadata. A built-in name cannot be taken by a third party. ``register`` makes a type known
in this process only (a notebook, a test), which a task process started elsewhere will not see.

Nothing here imports pydantic or a plugin until a type other than ``python`` is asked for, so
neither ``import retune`` nor a plain Python task pays for them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from pydantic import BaseModel

    from retune.plugins.runner import Call
    from retune.settings import Settings

ENTRY_POINT_GROUP: Final = "retune.task_types"

BUILT_IN: Final = {
    "sql": "retune.plugins.sql:SQL_TASK_TYPE",
    "shell": "retune.plugins.shell:SHELL_TASK_TYPE",
    "spark": "retune.plugins.spark:SPARK_TASK_TYPE",
}
"""The built-in task types, as ``pyproject.toml`` declares them under ``retune.task_types``."""


class TaskConfigError(ValueError):
    """A merged ``task_config`` does not fit its task type; ``field`` is ``task_config.a.b``."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}. {fix}")


Runner = Callable[["Call"], Any]
"""Runs one call of a task of a type in the task process and returns its value: what the
function would return (one value, or a tuple), or, for a task with named outputs and no
function (``TemplateTask``), a mapping output name -> value."""

LaunchCheck = Callable[[Mapping[str, Any], "Settings"], None]
"""Refuses, at launch, a merged ``task_config`` that this deployment can never run (sql: a
cluster not in retune.toml), raising ``TaskConfigError``."""


@dataclass(frozen=True)
class TaskType:
    """A task type (DESIGN §9): what its ``task_config`` is, what changes results, how it runs.

    - ``config_model``: the pydantic model of ``task_config`` (``None``: the type takes none);
      its JSON Schema is what the API serves and the launch form prompts for.
    - ``result_fields``: the top-level ``task_config`` fields that change what a task computes
      (sql: ``cluster``); they enter the cache key, the others (threads, memory) do not.
    - ``runner``: runs a call in the task process (``None``: call the task's Python function).
    - ``check``: refuses at launch a config this deployment can never run.
    """

    name: str
    config_model: type[BaseModel] | None = None
    result_fields: frozenset[str] = field(default_factory=frozenset)
    runner: Runner | None = None
    check: LaunchCheck | None = None
    description: str = ""

    def __post_init__(self) -> None:
        fields = frozenset(self.result_fields)
        object.__setattr__(self, "result_fields", fields)
        known = set(self.config_model.model_fields) if self.config_model is not None else set()
        if fields - known:
            unknown = ", ".join(sorted(fields - known))
            raise ValueError(
                f"Task type {self.name!r}: result_fields {unknown} are not fields of its task_config; "
                f"its fields are: {', '.join(sorted(known)) or 'none'}."
            )

    def validate_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The merged config, checked and normalised (defaults filled in). A ``task_type`` key
        (what a config object given as an override carries) must name this type: an override
        never changes a node's task type."""
        config = dict(config)
        claimed = config.pop("task_type", None)
        if claimed is not None and claimed != self.name:
            raise TaskConfigError(
                "task_config.task_type",
                f"a {self.name} task cannot be given a {claimed} task_config: an override never changes "
                "a node's task type",
                f"Override fields of the {self.name} task_config instead"
                + (f" ({', '.join(sorted(self.config_model.model_fields))})" if self.config_model else "")
                + ".",
            )
        if self.config_model is None:
            if config:
                key = next(iter(config))
                raise TaskConfigError(
                    f"task_config.{key}",
                    f"task type {self.name!r} takes no task_config",
                    "Drop task_config for this hook, or give the task a typed config.",
                )
            return {}
        from pydantic import ValidationError

        allowed = ", ".join(sorted(self.config_model.model_fields))
        unknown = sorted(set(config) - set(self.config_model.model_fields))
        if unknown:  # refused even where a plugin's model would ignore extra fields
            raise TaskConfigError(
                f"task_config.{unknown[0]}",
                f"a {self.name} task_config has no field {unknown[0]!r}",
                f"Fields of a {self.name} task_config are: {allowed}.",
            )
        try:
            return self.config_model.model_validate(config).model_dump(mode="json")
        except ValidationError as exc:
            error = exc.errors()[0]
            path = ".".join(str(part) for part in error["loc"])
            raise TaskConfigError(
                f"task_config.{path}" if path else "task_config",
                f"{error['msg'][:1].lower()}{error['msg'][1:]} (task type {self.name!r})",
                f"Fields of a {self.name} task_config are: {allowed}.",
            ) from None

    def schema(self) -> dict[str, Any] | None:
        """The JSON Schema of ``task_config`` (``None`` for a type that takes none)."""
        return None if self.config_model is None else self.config_model.model_json_schema()


_TYPES: dict[str, TaskType] = {"python": TaskType("python", description="A Python function.")}


def register(task_type: TaskType) -> TaskType:
    """Make ``task_type`` known in this process (entry points make it known everywhere)."""
    if task_type.name in BUILT_IN or task_type.name == "python":
        raise ValueError(f"Task type {task_type.name!r} is built into retune; give yours another name.")
    _TYPES[task_type.name] = task_type
    return task_type


def register_task_type(
    name: str,
    config_model: type[BaseModel] | None,
    *,
    result_fields: Iterable[str] = (),
    runner: Runner | None = None,
    check: LaunchCheck | None = None,
) -> TaskType:
    """``register(TaskType(...))`` in one call."""
    return register(TaskType(name, config_model, frozenset(result_fields), runner, check))


@lru_cache(maxsize=1)
def declared() -> dict[str, str]:
    """Task type name -> ``"module:ATTRIBUTE"``, from the ``retune.task_types`` entry points
    (the built-ins, declared by retune itself, win over a third party's of the same name)."""
    from importlib.metadata import entry_points

    found = {point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP)}
    return {**found, **BUILT_IN}


def get_task_type(name: str) -> TaskType:
    """The task type ``name``, loaded from its entry point on first use; ``KeyError`` naming the
    known types when there is none."""
    found = _TYPES.get(name)
    if found is not None:
        return found
    target = declared().get(name)
    if target is None:
        known = ", ".join(sorted({*_TYPES, *declared()}))
        raise KeyError(
            f"Unknown task type {name!r}; known types are {known}. A task type of a package is "
            f"declared under the entry point group {ENTRY_POINT_GROUP!r}."
        )
    _TYPES[name] = _load(name, target)
    return _TYPES[name]


def _load(name: str, target: str) -> TaskType:
    module, _, attribute = target.partition(":")
    try:
        loaded: Any = importlib.import_module(module)
        for part in attribute.split(".") if attribute else ():
            loaded = getattr(loaded, part)
    except Exception as exc:
        raise KeyError(
            f"Task type {name!r} is declared as {target!r} (entry point group {ENTRY_POINT_GROUP!r}) "
            f"but cannot be loaded: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(loaded, TaskType) or loaded.name != name:
        raise KeyError(
            f"Task type {name!r} is declared as {target!r}, which is "
            f"{'a TaskType named ' + repr(loaded.name) if isinstance(loaded, TaskType) else repr(loaded)}, "
            f"not retune.extend.TaskType({name!r}, ...)."
        )
    return loaded


def loaded() -> list[TaskType]:
    """The task types loaded or registered in this process so far, ``python`` among them."""
    return list(_TYPES.values())


def task_types() -> list[TaskType]:
    """Every task type known here: the built-ins, the entry points and those registered in this
    process, loaded (one that cannot be loaded raises ``KeyError``), sorted by name."""
    for name in declared():
        get_task_type(name)
    return sorted(_TYPES.values(), key=lambda task_type: task_type.name)


def task_type_for_config(config: object) -> TaskType:
    """The task type of a ``task_config`` object (``python`` for ``None``).

    Plugin config classes name their type in a ``task_type`` class attribute.
    """
    if config is None:
        return _TYPES["python"]
    name = getattr(type(config), "task_type", None)
    if not isinstance(name, str):
        known = ", ".join(sorted({*_TYPES, *declared()} - {"python"}))
        raise TypeError(
            f"task_config={config!r} is not the config of a task type; use a plugin's config class "
            f"(task types: {known}), e.g. rt.Spark(...) or rt.SQL(...)."
        )
    return get_task_type(name)
