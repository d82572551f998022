"""Task types and their typed ``task_config``.

A task type names the pydantic model its ``task_config`` must satisfy; a task gets its type
from the config object it is declared with (``@rt.task(task_config=Spark(...))``), as in
flytekit. The config a node runs with is the deep merge of every layer's ``task_config``,
validated against that model once all layers are merged, so a layer may set one
``spark_conf`` key without repeating the others.

``Spark`` and ``SQL`` load on first use (they need pydantic; ``import retune`` does not).
"""

from typing import TYPE_CHECKING, Any

from retune.plugins.registry import (
    TaskConfigError,
    TaskType,
    get_task_type,
    register_task_type,
    task_type_for_config,
)

if TYPE_CHECKING:
    from retune.plugins.spark import Spark
    from retune.plugins.sql import SQL

__all__ = [
    "SQL",
    "Spark",
    "TaskConfigError",
    "TaskType",
    "get_task_type",
    "register_task_type",
    "task_type_for_config",
]


def __getattr__(name: str) -> Any:
    if name == "Spark":
        from retune.plugins.spark import Spark

        return Spark
    if name == "SQL":
        from retune.plugins.sql import SQL

        return SQL
    raise AttributeError(f"module 'retune.plugins' has no attribute {name!r}")
