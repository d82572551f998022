"""The SDK: the only package that knows Python functions and call sites.

``launch_plan`` is imported on demand (it needs the pydantic specs); see ``retune.__init__``.
"""

from retune.sdk.map_task import MapTask, map_task
from retune.sdk.task import Task, task
from retune.sdk.workflow import Workflow, workflow

__all__ = ["MapTask", "Task", "Workflow", "map_task", "task", "workflow"]
