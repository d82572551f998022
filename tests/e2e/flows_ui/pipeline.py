"""What the browser tests launch from the web UI: two hooked nodes and a slow one to abort."""

from __future__ import annotations

import time

import retune as rt


@rt.task(requests=rt.Resources(cpu="500m", mem="256Mi"))
def prepare(x: int) -> int:
    return x + 1


@rt.task(requests=rt.Resources(cpu="1", mem="256Mi"), retries=1, environment={"LOG_LEVEL": "info"})
def train(x: int) -> int:
    config = rt.current_context().config
    print(f"train ran with cpu={config['requests']['cpu']} retries={config['retries']}")
    return x * 2


@rt.task
def wait(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@rt.workflow
def pipeline(x: int = 1) -> int:
    a = prepare(x=x).with_runtime_override("prepare")
    return train(x=a).with_runtime_override("train", rt.runtime_override_config(mem="384Mi"))


@rt.workflow
def slow(seconds: float = 120.0) -> float:
    return wait(seconds=seconds).with_runtime_override("wait")


nightly = rt.LaunchPlan.get_or_create(
    workflow=pipeline,
    name="nightly",
    default_inputs={"x": 5},
    runtime_override={"train": rt.TaskNodeOverrides(retries=4)},
)


@rt.workflow
def outer(seconds: float = 0.1) -> float:
    return slow(seconds=seconds)  # a sub-workflow: a group of the graph
