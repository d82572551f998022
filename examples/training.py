"""The RFC's example, as a user would write it: hooks on the nodes that people re-tune."""

from __future__ import annotations

import os

import retune as rt


@rt.task(requests=rt.Resources(cpu="500m", mem="256Mi"))
def prep(x: int) -> int:
    return x + 1


@rt.task(requests=rt.Resources(cpu="1", mem="512Mi"), retries=1)
def score(y: int) -> int:
    return y * 2


@rt.task(
    requests=rt.Resources(cpu="1", mem="512Mi"),
    limits=rt.Resources(mem="1Gi"),
    cache=True,
    cache_version="1",
    retries=2,
    environment={"LOG_LEVEL": "info"},
)
def train(x: int) -> float:
    context = rt.current_context()
    limits = context.config["limits"]
    print(f"training on {x} with LOG_LEVEL={os.environ['LOG_LEVEL']}, mem limit {limits['mem'] // 2**20}Mi")
    return x * 1.5


@rt.task(task_config=rt.Spark(spark_conf={"spark.executor.instances": "2"}))
def features(x: int) -> int:
    conf = rt.current_context().task_config["spark_conf"]
    print("spark_conf:", conf)
    return x + len(conf)


# A task with no Python body: a query on a [clusters.NAME] of retune.toml (here the default, an
# in-memory DuckDB); its threads are a launch-time override like any other field.
report = rt.SQLTask(
    "report",
    "select round(:score, 1) as score, current_setting('threads') as threads",
    inputs={"score": float},
    task_config=rt.SQL(threads=1),
)


@rt.workflow
def training(x: int) -> float:
    f = features(x=x).with_runtime_override("features")
    return train(x=f).with_runtime_override("train")


@rt.workflow
def pipeline(x: int = 3) -> float:
    a = prep(x=x)  # not overridable: it has no hook
    b = prep(x=a).with_runtime_override("task-yee")
    c = score(y=b).with_runtime_override(
        "task-ketan", rt.runtime_override_config(cpu=1, mem="1Gi", retries=3)
    )
    trained = (
        training(x=c)
        .with_runtime_override("train", rt.runtime_override_config(mem="768Mi"))
        .with_runtime_override("features", {"task_config": {"spark_conf": {"spark.executor.memory": "4g"}}})
    )
    report(score=trained).with_runtime_override("report")
    return trained


nightly = rt.LaunchPlan.get_or_create(
    workflow=pipeline,
    name="nightly",
    default_inputs={"x": 5},
    runtime_override={"task-yee": rt.TaskNodeOverrides(retries=5)},
)
