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

from retune import plugins
from retune.api import compile, resolve
from retune.compiler import CompiledWorkflow, Hook
from retune.errors import CompileError, OverrideError, RetuneError
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
from retune.sdk import LaunchPlan, MapTask, Task, Workflow, map_task, task, workflow

__version__ = "0.1.0"

__all__ = [
    "UNSET",
    "CompileError",
    "CompiledWorkflow",
    "EffectiveConfig",
    "Hook",
    "LaunchPlan",
    "Layer",
    "MapTask",
    "NodeConfig",
    "OverrideError",
    "ResolvedResources",
    "Resources",
    "RetuneError",
    "Source",
    "Task",
    "TaskNodeConfigOverride",
    "TaskNodeOverrides",
    "Workflow",
    "compile",
    "map_task",
    "plugins",
    "resolve",
    "runtime_override_config",
    "task",
    "workflow",
]
