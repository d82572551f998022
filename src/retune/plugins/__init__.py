"""Task types and their typed ``task_config``.

A task type names the pydantic model its ``task_config`` must satisfy. The config a node
runs with is the deep merge of every layer's ``task_config``, validated against that model
once all layers are merged, so a layer may set ``spark_conf`` keys one at a time.
"""

from retune.plugins.registry import TaskConfigError, TaskType, get_task_type, task_type_for_config
from retune.plugins.spark import Spark
from retune.plugins.sql import SQL

__all__ = ["SQL", "Spark", "TaskConfigError", "TaskType", "get_task_type", "task_type_for_config"]
