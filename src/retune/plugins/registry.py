"""The registry of task types: name -> the model its ``task_config`` is checked against.

Built-in plugin modules are imported when their type is first asked for, so that neither
``import retune`` nor a plain Python task loads pydantic.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from pydantic import BaseModel

_BUILT_IN: Final = {"sql": "retune.plugins.sql", "spark": "retune.plugins.spark"}


class TaskConfigError(ValueError):
    """A merged ``task_config`` does not fit its task type; ``field`` is ``task_config.a.b``."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}. {fix}")


@dataclass(frozen=True)
class TaskType:
    """A task type; ``config_model`` is ``None`` for types that take no ``task_config``.

    ``result_fields`` are the top-level ``task_config`` fields that change what a task of this
    type computes (sql: ``cluster``, another database): they enter the cache key. The others
    (threads, memory) only change how it runs.
    """

    name: str
    config_model: type[BaseModel] | None
    result_fields: frozenset[str] = field(default_factory=frozenset)

    def validate_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The merged config, checked and normalised (defaults filled in)."""
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

        try:
            return self.config_model.model_validate(dict(config)).model_dump(mode="json")
        except ValidationError as exc:
            error = exc.errors()[0]
            path = ".".join(str(part) for part in error["loc"])
            allowed = ", ".join(sorted(self.config_model.model_fields))
            raise TaskConfigError(
                f"task_config.{path}" if path else "task_config",
                f"{error['msg'].lower()} (task type {self.name!r})",
                f"Fields of a {self.name} task_config are: {allowed}.",
            ) from None


_TYPES: dict[str, TaskType] = {"python": TaskType("python", None)}


def register_task_type(
    name: str, config_model: type[BaseModel] | None, *, result_fields: Iterable[str] = ()
) -> TaskType:
    """Make a task type known; a plugin module calls this once when imported. ``result_fields``
    name the fields of ``config_model`` that change results (see ``TaskType``)."""
    fields = frozenset(result_fields)
    known = set(config_model.model_fields) if config_model is not None else set()
    if fields - known:
        unknown = ", ".join(sorted(fields - known))
        raise ValueError(
            f"Task type {name!r}: result_fields {unknown} are not fields of its task_config; "
            f"its fields are: {', '.join(sorted(known)) or 'none'}."
        )
    task_type = TaskType(name, config_model, fields)
    _TYPES[name] = task_type
    return task_type


def get_task_type(name: str) -> TaskType:
    if name not in _TYPES and name in _BUILT_IN:
        importlib.import_module(_BUILT_IN[name])
    try:
        return _TYPES[name]
    except KeyError:
        known = ", ".join(sorted({*_TYPES, *_BUILT_IN}))
        raise KeyError(f"Unknown task type {name!r}; known types are {known}.") from None


def task_type_for_config(config: object) -> TaskType:
    """The task type of a ``task_config`` object (``python`` for ``None``).

    Plugin config classes name their type in a ``task_type`` class attribute.
    """
    if config is None:
        return _TYPES["python"]
    name = getattr(type(config), "task_type", None)
    if not isinstance(name, str):
        known = ", ".join(sorted({*_TYPES, *_BUILT_IN} - {"python"}))
        raise TypeError(
            f"task_config={config!r} is not the config of a task type; use a plugin's config class "
            f"(task types: {known}), e.g. retune.plugins.spark.Spark(...)."
        )
    return get_task_type(name)
