"""Workflows the server tests register (compiled here; the server only ever sees their specs)."""

from __future__ import annotations

import retune as rt


@rt.task(requests=rt.Resources(cpu="1", mem="256Mi"))
def prepare(x: int) -> int:
    return 2 * x


@rt.task
def train(x: int, rate: float) -> float:
    return x * rate


@rt.workflow
def pipeline(x: int, rate: float = 0.5) -> float:
    a = prepare(x=x).with_runtime_override("prepare")
    return train(x=a, rate=rate).with_runtime_override("train", rt.runtime_override_config(retries=2))


@rt.workflow
def pipeline_v2(x: int) -> int:
    return prepare(x=x).with_runtime_override("prepare")
