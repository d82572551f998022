"""Tasks that report the GPUs they were given, for tests/e2e/test_gpu_devices.py."""

from __future__ import annotations

import os
import time

import retune as rt


@rt.task
def devices(seconds: float) -> list[str]:
    """[CUDA_VISIBLE_DEVICES, start, end] (monotonic seconds)."""
    started = time.monotonic()
    time.sleep(seconds)
    return [os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"), str(started), str(time.monotonic())]


@rt.workflow
def gpu_flow(seconds: float = 0.6) -> list[list[str]]:
    return [
        devices(seconds=seconds).with_runtime_override("a"),
        devices(seconds=seconds).with_runtime_override("b"),
        devices(seconds=seconds).with_runtime_override("c"),
        devices(seconds=0.0).with_runtime_override("none"),
    ]


@rt.workflow
def both_flow() -> list[str]:
    return devices(seconds=0.0).with_runtime_override("both")


@rt.task
def pid_and_devices(after: str) -> str:
    return f"{os.getpid()}:{os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')}"


@rt.workflow
def chain_flow() -> list[str]:
    first = pid_and_devices(after="").with_runtime_override("first")
    second = pid_and_devices(after=first).with_runtime_override("second")
    third = pid_and_devices(after=second).with_runtime_override("third")
    return [first, second, third]
