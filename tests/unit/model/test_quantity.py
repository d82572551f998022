"""Kubernetes quantities: what users write for cpu, mem, gpu and storage, and what it becomes."""

import pytest

from retune.model import QuantityError, Resources
from retune.model.quantity import MAX_CPU, MAX_GPU, MAX_MEM, parse_bytes, parse_cpu, parse_gpu

GI = 2**30
MI = 2**20


@pytest.mark.parametrize(
    ("given", "cores"),
    [
        ("500m", 0.5),
        ("2", 2.0),
        (2, 2.0),
        (0.5, 0.5),
        ("0.25", 0.25),
        (".5", 0.5),
        ("1500m", 1.5),
        ("1e-3", 0.001),
        (" 2 ", 2.0),
        ("0", 0.0),
    ],
)
def test_cpu_is_read_as_cores(given: object, cores: float) -> None:
    assert parse_cpu(given) == cores
    assert isinstance(parse_cpu(given), float)


@pytest.mark.parametrize(
    ("given", "size"),
    [
        ("512Mi", 512 * MI),
        ("1Gi", GI),
        ("1G", 10**9),
        ("1e9", 10**9),
        ("1k", 1000),
        ("1Ki", 1024),
        ("2Ti", 2 * 2**40),
        (1024, 1024),
        ("1536", 1536),
        ("1.5Gi", 1536 * MI),
    ],
)
def test_memory_is_read_as_bytes(given: object, size: int) -> None:
    assert parse_bytes("mem", given) == size
    assert isinstance(parse_bytes("mem", given), int)


@pytest.mark.parametrize(("given", "size"), [("1.5", 2), ("0.1Ki", 103), ("1.0001k", 1001)])
def test_fractional_bytes_round_up_to_the_next_whole_byte(given: str, size: int) -> None:
    # The module promises "fractions round up": 0.1Ki is 102.4 bytes, which fits only in 103.
    assert parse_bytes("mem", given) == size


def test_storage_uses_the_same_units_as_memory() -> None:
    assert Resources(storage="10Gi").storage == 10 * GI
    assert Resources(storage="5G").storage == 5 * 10**9


@pytest.mark.parametrize(("given", "count"), [(1, 1), ("2", 2), (2.0, 2), ("0", 0)])
def test_gpu_is_a_whole_number(given: object, count: int) -> None:
    assert parse_gpu(given) == count
    assert isinstance(parse_gpu(given), int)


@pytest.mark.parametrize(
    ("resource", "given", "reason", "fix"),
    [
        ("cpu", "-1", "is negative", "zero or more"),
        ("mem", "-512Mi", "is negative", "zero or more"),
        ("gpu", -1, "is negative", "zero or more"),
        ("cpu", "2Gi", "unknown unit 'Gi'", "millicores (500m)"),
        ("mem", "1GB", "unknown unit 'GB'", "e.g. 512Mi"),
        ("mem", "1gi", "unknown unit 'gi'", "Ki, Mi, Gi, Ti"),
        ("storage", "10XB", "unknown unit 'XB'", "e.g. 512Mi"),
        ("cpu", "lots", "is not a quantity", "such as 2, 0.5 or 500m"),
        ("mem", "", "is not a quantity", "such as 512Mi, 1Gi"),
        ("mem", "1 Gi x", "is not a quantity", "such as 512Mi, 1Gi"),
        ("cpu", True, "is not a quantity", "such as 2, 0.5 or 500m"),
        ("mem", [1], "is not a quantity", "such as 512Mi, 1Gi"),
        ("cpu", float("nan"), "is not a finite quantity", "such as 2, 0.5 or 500m"),
        ("mem", float("inf"), "is not a finite quantity", "such as 512Mi, 1Gi"),
        ("gpu", 1.5, "is not a whole number", "whole GPUs, e.g. gpu=1"),
        ("gpu", "1Gi", "is not a whole number", "whole GPUs, e.g. gpu=1"),
        ("mem", "2000Ti", "absurdly large", "Check the unit: Mi and Gi, not Ti"),
        ("storage", "2Ei", "absurdly large", "Check the unit"),
        ("cpu", "2000", "absurdly large", "Check the unit"),
        ("gpu", "65", "absurdly large", "Check the unit"),
        ("mem", "1E1000000", "is out of range", "such as 512Mi, 1Gi"),  # found by the API fuzzer
        ("cpu", "1e-1000000", "is out of range", "such as 2, 0.5 or 500m"),
    ],
)
def test_bad_quantities_are_refused_with_a_fix(resource: str, given: object, reason: str, fix: str) -> None:
    with pytest.raises(QuantityError) as caught:
        Resources(**{resource: given})
    error = caught.value
    assert error.resource == resource
    assert reason in error.reason
    assert fix in error.fix
    assert f"{resource}={given!r}" in str(error)
    assert fix in str(error)


def test_quantity_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="is negative"):
        Resources(cpu=-2)


def test_ceilings_themselves_are_accepted() -> None:
    assert Resources(cpu=MAX_CPU, mem=MAX_MEM, gpu=MAX_GPU).to_dict() == {
        "cpu": MAX_CPU,
        "mem": MAX_MEM,
        "gpu": MAX_GPU,
    }


def test_just_past_the_memory_ceiling_is_refused() -> None:
    with pytest.raises(QuantityError, match="absurdly large"):
        Resources(mem=MAX_MEM + 1)
