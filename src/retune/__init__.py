"""retune: workflows whose task nodes can be re-tuned at launch time through named hooks.

import retune as rt

@rt.task(requests=rt.Resources(cpu="1", mem="512Mi"), retries=2)
def train(x: int) -> float: ...

@rt.workflow
def wf(x: int = 3) -> float:
    return train(x=x).with_runtime_override("train", rt.runtime_override_config(mem="1Gi"))

rt.compile(wf).hooks                               # what can be overridden
rt.resolve(wf, overrides={"train": {"retries": 5}})  # what each node would run with, and why
"""

from typing import TYPE_CHECKING, Any

from retune.errors import CompileError, ExecutionFailed, InputError, OverrideError, RetuneError
from retune.model import (
    UNSET,
    EffectiveConfig,
    Layer,
    NodeConfig,
    ResolvedResources,
    Resources,
    Source,
    TaskNodeConfigOverride,
    TaskNodeOverrides,
    runtime_override_config,
)
from retune.model.execution import Attempt, Execution, NodeExecution, Phase
from retune.sdk import MapTask, Task, Workflow, map_task, task, workflow
from retune.task_runtime.context import TaskContext, current_context

if TYPE_CHECKING:
    from retune import plugins
    from retune.api import compile, resolve, run
    from retune.compiler.compiled import CompiledWorkflow, Hook
    from retune.plugins.shell import Shell
    from retune.plugins.spark import Spark
    from retune.plugins.sql import SQL
    from retune.sdk.launch_plan import LaunchPlan
    from retune.sdk.reference import reference_task, reference_workflow
    from retune.sdk.template import ShellTask, SQLTask

__version__ = "0.1.0"

__all__ = [
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

# Loaded on first use: these need pydantic, whose import alone costs more than the 150 ms
# that `import retune` may take. Declaring tasks and workflows does not need them.
_LAZY = {
    "compile": "retune.api",
    "run": "retune.api",
    "resolve": "retune.api",
    "CompiledWorkflow": "retune.compiler.compiled",
    "Hook": "retune.compiler.compiled",
    "LaunchPlan": "retune.sdk.launch_plan",
    "reference_task": "retune.sdk.reference",
    "reference_workflow": "retune.sdk.reference",
    "SQL": "retune.plugins.sql",
    "Shell": "retune.plugins.shell",
    "Spark": "retune.plugins.spark",
    "SQLTask": "retune.sdk.template",
    "ShellTask": "retune.sdk.template",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "plugins":
        return importlib.import_module("retune.plugins")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'retune' has no attribute {name!r}")
