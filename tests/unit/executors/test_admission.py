"""Capacity and admission bookkeeping of the local executor."""

from __future__ import annotations

import pytest

from retune.executors.admission import (
    Ledger,
    MachineCapacity,
    gpu_devices,
    machine_capacity,
    total_memory,
    usable_cores,
)
from retune.model import ResolvedResources

GI = 2**30


def _requests(cpu: float = 1.0, mem: int = 0, gpu: int = 0) -> ResolvedResources:
    return ResolvedResources(cpu=cpu, mem=mem, gpu=gpu, storage=0)


def test_the_default_capacity_is_this_machine_with_its_detected_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    capacity = machine_capacity()

    detected = tuple(gpu_devices())
    assert capacity == MachineCapacity(float(len(usable_cores())), total_memory(), len(detected), detected)
    assert capacity.mem > 0


def test_configured_capacity_takes_kubernetes_quantities() -> None:
    assert machine_capacity({"cpu": "1500m", "mem": "8Gi", "gpu": "2"}) == MachineCapacity(
        1.5, 8 * GI, 2, ("0", "1")
    )
    assert machine_capacity({"cpu": 4}).cpu == 4.0


def test_an_unknown_capacity_name_is_refused() -> None:
    with pytest.raises(
        ValueError, match="Unknown capacity 'storage'; the local executor admits cpu, mem, gpu"
    ):
        machine_capacity({"storage": "1Gi"})


def test_requests_are_admitted_until_one_would_oversubscribe() -> None:
    ledger = Ledger(MachineCapacity(cpu=2.0, mem=4 * GI, gpu=1))

    first = ledger.take(_requests(cpu=1.5, mem=GI))
    assert ledger.fits(_requests(cpu=0.5, mem=3 * GI))
    assert not ledger.fits(_requests(cpu=0.75))
    assert not ledger.fits(_requests(cpu=0.1, mem=3 * GI + 1))
    assert not ledger.fits(_requests(cpu=0.1, gpu=2))

    ledger.give_back(first)
    assert ledger.fits(_requests(cpu=2.0, mem=4 * GI, gpu=1))


def test_fractional_requests_add_up_exactly_to_the_capacity() -> None:
    ledger = Ledger(MachineCapacity(cpu=1.0, mem=GI, gpu=0))

    for _ in range(10):
        assert ledger.fits(_requests(cpu=0.1))
        ledger.take(_requests(cpu=0.1))

    assert not ledger.fits(_requests(cpu=0.1))


def test_each_attempt_gets_ceil_cpu_cores_the_least_loaded_first() -> None:
    ledger = Ledger(MachineCapacity(cpu=64.0, mem=GI, gpu=0))
    ledger.core_load = dict.fromkeys(range(4), 0.0)  # as if on a four-core machine

    one = ledger.take(_requests(cpu=1.0))
    half = ledger.take(_requests(cpu=0.5))
    wide = ledger.take(_requests(cpu=1.2))
    ledger.give_back(one)
    again = ledger.take(_requests(cpu=3.0))

    assert (one.cores, half.cores, wide.cores) == ((0,), (1,), (2, 3))
    assert again.cores == (0, 1, 2)
    assert ledger.take(_requests(cpu=9.0)).cores == (0, 1, 2, 3)  # never more than there are


def test_gpus_are_the_visible_devices_and_each_allotment_takes_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    capacity = machine_capacity()
    assert (capacity.gpu, capacity.devices) == (2, ("3", "5"))
    assert machine_capacity({"gpu": "1"}).devices == ("3",), "[capacity] gpu takes the first N"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert machine_capacity().gpu == 0, "an empty CUDA_VISIBLE_DEVICES means none"
    assert machine_capacity({"gpu": "2"}).devices == ("0", "1"), "given more than detected: ids 0..N-1"

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    ledger = Ledger(machine_capacity())
    first = ledger.take(_requests(gpu=1))
    second = ledger.take(_requests(gpu=1))
    assert (first.devices, second.devices) == (("3",), ("5",))
    assert not ledger.fits(_requests(gpu=1))
    ledger.give_back(second)
    ledger.give_back(first)
    assert ledger.take(_requests(gpu=2)).devices == ("3", "5"), "given back in the machine's order"
