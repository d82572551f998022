"""Tasks for the cache key's unit tests: a SQL-typed one and one with ``cache_env``."""

from __future__ import annotations

import retune as rt


@rt.task(cache=True, task_config=rt.plugins.SQL(cluster="warehouse", threads=2))
def query(x: int) -> int:
    return x


@rt.task(cache=True, cache_env=["MODEL_DIR"], environment={"MODEL_DIR": "/models/a"})
def predict(x: int) -> int:
    return x


@rt.workflow
def query_flow(x: int = 1) -> int:
    return query(x=x).with_runtime_override("query")


@rt.workflow
def predict_flow(x: int = 1) -> int:
    return predict(x=x).with_runtime_override("predict")
