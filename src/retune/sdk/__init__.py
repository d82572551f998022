"""The SDK: the only package that knows Python functions and call sites."""

from retune.sdk.launch_plan import LaunchPlan
from retune.sdk.map_task import MapTask, map_task
from retune.sdk.task import Task, task
from retune.sdk.workflow import Workflow, workflow

__all__ = ["LaunchPlan", "MapTask", "Task", "Workflow", "map_task", "task", "workflow"]
