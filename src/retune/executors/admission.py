"""How much of the machine the local executor may hand out, and what it has handed out.

Admission counts the *requests* (cpu cores, memory bytes, GPUs) of running attempts against
the capacity; an attempt starts only when its requests fit, so concurrent attempts never
oversubscribe the machine. Each running attempt is also given ``ceil(cpu)`` cores of its own
(the least loaded ones) through CPU affinity, and exactly ``gpu`` devices of its own: their ids
go into its ``CUDA_VISIBLE_DEVICES`` (``Allotment.devices``), and an attempt that asked for none
sees none.

GPUs are those this process may use: the ids in its own ``CUDA_VISIBLE_DEVICES`` when set, else
one per ``/proc/driver/nvidia/gpus/*`` (NVIDIA's driver); ``[capacity] gpu = N`` takes the first
N of them, or ids ``0..N-1`` where fewer are detected.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from retune.model import ResolvedResources
from retune.model.resources import format_quantity, normalise

ADMITTED: Final = ("cpu", "mem", "gpu")
_EPSILON: Final = 1e-9


@dataclass(frozen=True, slots=True)
class MachineCapacity:
    cpu: float
    mem: int
    gpu: int
    devices: tuple[str, ...] = ()
    """The GPU ids handed out, ``gpu`` of them."""

    def get(self, name: str) -> float | int:
        value: float | int = getattr(self, name)
        return value

    def describe(self) -> str:
        return ", ".join(f"{n}={format_quantity(n, self.get(n))}" for n in ADMITTED)


def machine_capacity(given: Mapping[str, str | int | float] | None = None) -> MachineCapacity:
    """The capacity: ``given`` (Kubernetes quantities, e.g. ``{"cpu": "2", "mem": "8Gi"}``) over
    what this machine has (usable cores, total RAM, no GPU)."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(ADMITTED))
    if unknown:
        raise ValueError(f"Unknown capacity {unknown[0]!r}; the local executor admits {', '.join(ADMITTED)}.")
    values = {name: normalise(name, value) for name, value in given.items()}
    detected = gpu_devices()
    gpu = int(values.get("gpu", len(detected)))
    devices = tuple(detected[:gpu]) if len(detected) >= gpu else tuple(str(i) for i in range(gpu))
    return MachineCapacity(
        cpu=float(values.get("cpu", len(usable_cores()))),
        mem=int(values.get("mem", total_memory())),
        gpu=gpu,
        devices=devices,
    )


def gpu_devices() -> list[str]:
    """The GPU ids this process may hand out (see the module docstring)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [part.strip() for part in visible.split(",") if part.strip()]
        return [] if not ids or ids[0] in ("-1", "NoDevFiles") else ids
    try:
        return [str(i) for i in range(len(os.listdir("/proc/driver/nvidia/gpus")))]
    except OSError:
        return []


def usable_cores() -> list[int]:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def total_memory() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@dataclass(frozen=True, slots=True)
class Allotment:
    """What one running attempt holds: its requests, the cores it was pinned to, its GPUs."""

    cpu: float
    mem: int
    gpu: int
    cores: tuple[int, ...]
    devices: tuple[str, ...] = ()


class Ledger:
    """Requests handed out so far. Not thread-safe: the executor holds its lock around it."""

    def __init__(self, capacity: MachineCapacity) -> None:
        self.capacity = capacity
        self.cpu = 0.0
        self.mem = 0
        self.gpu = 0
        self.core_load = dict.fromkeys(usable_cores(), 0.0)
        self.free_devices = list(capacity.devices)

    def fits(self, requests: ResolvedResources) -> bool:
        capacity = self.capacity
        return (
            self.cpu + requests.cpu <= capacity.cpu + _EPSILON
            and self.mem + requests.mem <= capacity.mem
            and self.gpu + requests.gpu <= capacity.gpu
        )

    def take(self, requests: ResolvedResources) -> Allotment:
        self.cpu += requests.cpu
        self.mem += requests.mem
        self.gpu += requests.gpu
        count = min(max(1, math.ceil(requests.cpu - _EPSILON)), len(self.core_load))
        cores = tuple(sorted(sorted(self.core_load, key=lambda core: (self.core_load[core], core))[:count]))
        for core in cores:
            self.core_load[core] += requests.cpu / count
        devices = tuple(self.free_devices[: requests.gpu])
        del self.free_devices[: requests.gpu]
        return Allotment(requests.cpu, requests.mem, requests.gpu, cores, devices)

    def give_back(self, allotment: Allotment) -> None:
        self.cpu = max(0.0, self.cpu - allotment.cpu)
        self.mem -= allotment.mem
        self.gpu -= allotment.gpu
        for core in allotment.cores:
            self.core_load[core] = max(0.0, self.core_load[core] - allotment.cpu / len(allotment.cores))
        order = self.capacity.devices
        self.free_devices = sorted([*self.free_devices, *allotment.devices], key=order.index)
