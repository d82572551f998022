"""``gpu: N`` on the local executor means N devices (issue 10): an attempt admitted with
``gpu: 1`` sees exactly one id in ``CUDA_VISIBLE_DEVICES``, attempts running at once never share
one, and an attempt that asked for none sees none. The machine's GPUs are given by
``[capacity] gpu`` here (RETUNE_CAPACITY_GPU), so this runs on machines without any; on a GPU
machine the ids are the detected ones (executors/admission.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import retune as rt
from retune import settings

sys.path.insert(0, str(Path(__file__).parent))
from flows_gpu import both_flow, chain_flow, gpu_flow


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETUNE_CAPACITY_GPU", "2")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    settings.load.cache_clear()


def gpus(n: int) -> rt.TaskNodeOverrides:
    return rt.runtime_override_config(gpu=n)


def overlap(a: Any, b: Any) -> bool:
    return float(a[1]) < float(b[2]) and float(b[1]) < float(a[2])


@pytest.mark.usefixtures("two_gpus")
def test_each_attempt_gets_exactly_the_gpus_it_asked_for_and_concurrent_ones_never_share() -> None:
    record = rt.run(gpu_flow, overrides={"a": gpus(1), "b": gpus(1), "c": gpus(1)})
    assert record.phase is rt.Phase.SUCCEEDED, record.error
    a, b, c, none = record.outputs
    for got in (a, b, c):
        assert got[0] in ("0", "1"), f"one device each, got {got[0]!r}"
    pairs = [(a, b), (a, c), (b, c)]
    assert any(overlap(x, y) for x, y in pairs), "two of the three ran at once (2 GPUs)"
    for x, y in pairs:
        if overlap(x, y):
            assert x[0] != y[0], "attempts running at once never share a device"
    assert not (overlap(a, b) and overlap(b, c) and overlap(a, c)), "never three at once on 2 GPUs"
    assert none[0] == "", "an attempt that asked for no GPU sees none"


@pytest.mark.usefixtures("two_gpus")
def test_an_attempt_asking_for_two_gets_both_and_one_asking_for_more_is_refused_at_launch() -> None:
    record = rt.run(both_flow, overrides={"both": gpus(2)})
    assert record.outputs[0] == "0,1"
    with pytest.raises(rt.OverrideError, match=r"requests gpu=3 but the local executor's capacity is gpu=2"):
        rt.run(both_flow, overrides={"both": gpus(3)})


@pytest.mark.usefixtures("two_gpus")
def test_a_task_process_keeps_the_devices_of_its_first_attempt_so_others_get_a_process_of_their_own() -> None:
    """CUDA reads CUDA_VISIBLE_DEVICES once per process: after a GPU attempt, an attempt with
    other devices (none) must not run in the same process; two attempts with none may."""
    first, second, third = rt.run(chain_flow, overrides={"first": gpus(1)}).outputs
    assert first.split(":")[1] == "0"
    assert second.split(":")[1] == third.split(":")[1] == ""
    assert first.split(":")[0] != second.split(":")[0]
    assert second.split(":")[0] == third.split(":")[0], "the same devices reuse the process"
