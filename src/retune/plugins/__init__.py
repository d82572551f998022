"""Task types (DESIGN §9): the registry, what a runner is handed, and the built-ins.

A task type is a config model (its ``task_config``), optionally a definition (a query, a
script) and a runner (``registry.TaskType``). A task gets its type from the config object it is
declared with (``@rt.task(task_config=rt.Spark(...))``, ``rt.SQLTask(..., task_config=rt.SQL(...))``),
as in flytekit. The config a node runs with is the deep merge of every layer's ``task_config``,
validated against that model once all layers are merged, so a layer may set one ``spark_conf``
key without repeating the others. Writing one: ``retune.extend``.

``Spark``, ``SQL`` and ``Shell`` load on first use (they need pydantic; ``import retune`` does not).
"""

import importlib
from typing import TYPE_CHECKING, Any

from retune.plugins.registry import (
    TaskConfigError,
    TaskType,
    get_task_type,
    register,
    register_task_type,
    task_type_for_config,
    task_types,
)

if TYPE_CHECKING:
    from retune.plugins.shell import Shell
    from retune.plugins.spark import Spark
    from retune.plugins.sql import SQL

__all__ = [
    "SQL",
    "Shell",
    "Spark",
    "TaskConfigError",
    "TaskType",
    "get_task_type",
    "register",
    "register_task_type",
    "task_type_for_config",
    "task_types",
]

_CONFIGS = {"SQL": "retune.plugins.sql", "Shell": "retune.plugins.shell", "Spark": "retune.plugins.spark"}


def __getattr__(name: str) -> Any:
    if name in _CONFIGS:
        return getattr(importlib.import_module(_CONFIGS[name]), name)
    raise AttributeError(f"module 'retune.plugins' has no attribute {name!r}")
