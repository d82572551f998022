"""Kubernetes quantities, normalised: cpu -> float cores, mem/storage -> int bytes, gpu -> int.

Accepted forms follow Kubernetes: ``500m`` and ``2`` for cpu; ``512Mi``, ``1Gi``, ``1G``,
``1e9`` or a plain number of bytes for memory and storage; a whole number for gpu.
Anything past a sane ceiling (a typo such as ``mem=1000Ti``) is refused rather than
scheduled, so a mistake shows up at launch instead of as a task that never starts.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Final

MAX_CPU: Final = 1024.0
MAX_MEM: Final = 2**50  # 1Pi
MAX_STORAGE: Final = 2**60  # 1Ei
MAX_GPU: Final = 64

_BINARY: Final = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL: Final = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_QUANTITY = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]{0,2})\s*$")


class QuantityError(ValueError):
    """A resource quantity that cannot be read, or is out of range."""

    def __init__(self, resource: str, value: object, reason: str, fix: str) -> None:
        self.resource = resource
        self.value = value
        self.reason = reason
        self.fix = fix
        super().__init__(f"{resource}={value!r} {reason}. {fix}")


def parse_cpu(value: object) -> float:
    """Cores as a float: ``"500m"`` -> 0.5, ``2`` -> 2.0."""
    number, suffix = _split("cpu", value, "a number of cores such as 2, 0.5 or 500m")
    if suffix not in ("", "m"):
        raise QuantityError(
            "cpu",
            value,
            f"has an unknown unit {suffix!r}",
            "Write cores (2, 0.5) or millicores (500m).",
        )
    cores = number / 1000 if suffix == "m" else number
    return float(_check_range("cpu", value, cores, MAX_CPU, f"{MAX_CPU:g} cores"))


def parse_bytes(resource: str, value: object) -> int:
    """Bytes as an int: ``"1Gi"`` -> 1073741824, ``"1G"`` -> 10**9; fractions round up."""
    number, suffix = _split(resource, value, "a size such as 512Mi, 1Gi or a number of bytes")
    if suffix == "":
        scale = 1
    elif suffix in _BINARY:
        scale = _BINARY[suffix]
    elif suffix in _DECIMAL:
        scale = _DECIMAL[suffix]
    else:
        raise QuantityError(
            resource,
            value,
            f"has an unknown unit {suffix!r}",
            "Use Ki, Mi, Gi, Ti (powers of 1024) or k, M, G, T (powers of 1000), e.g. 512Mi.",
        )
    size = (number * scale).to_integral_value(rounding=ROUND_CEILING)  # a fraction of a byte is a byte
    ceiling = MAX_MEM if resource == "mem" else MAX_STORAGE
    return int(_check_range(resource, value, size, ceiling, format_bytes(ceiling)))


def parse_gpu(value: object) -> int:
    """A whole number of GPUs."""
    number, suffix = _split("gpu", value, "a whole number such as 1")
    if suffix or number != number.to_integral_value():
        raise QuantityError("gpu", value, "is not a whole number", "Ask for whole GPUs, e.g. gpu=1.")
    return int(_check_range("gpu", value, number, MAX_GPU, str(MAX_GPU)))


def format_bytes(size: int) -> str:
    """The shortest exact binary form: 1073741824 -> ``1Gi``; 1500 -> ``1500``."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        scale = _BINARY[suffix]
        if size and size % scale == 0:
            return f"{size // scale}{suffix}"
    return str(size)


def format_cpu(cores: float) -> str:
    """``0.5`` -> ``500m``; ``2.0`` -> ``2``."""
    if cores == int(cores):
        return str(int(cores))
    return f"{round(cores * 1000)}m"


def _split(resource: str, value: object, example: str) -> tuple[Decimal, str]:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise QuantityError(resource, value, "is not a quantity", f"Write {example}.")
    if isinstance(value, int | float | Decimal):
        number, suffix = Decimal(str(value)), ""
    else:
        match = _QUANTITY.match(value)
        if match is None:
            raise QuantityError(resource, value, "is not a quantity", f"Write {example}.")
        try:
            number = Decimal(match.group(1))
        except InvalidOperation:  # pragma: no cover - the regex admits only decimals
            raise QuantityError(resource, value, "is not a quantity", f"Write {example}.") from None
        suffix = match.group(2)
    if not number.is_finite():
        raise QuantityError(resource, value, "is not a finite quantity", f"Write {example}.")
    if number and not -40 < number.adjusted() < 40:  # 1E1000000 would overflow the arithmetic
        raise QuantityError(resource, value, "is out of range", f"Write {example}.")
    return number, suffix


def _check_range(resource: str, raw: object, amount: Decimal, ceiling: float, shown: str) -> Decimal:
    if amount < 0:
        raise QuantityError(resource, raw, "is negative", "Resource quantities are zero or more.")
    if amount > Decimal(str(ceiling)):
        raise QuantityError(
            resource,
            raw,
            f"is absurdly large (more than {shown})",
            "Check the unit: Mi and Gi, not Ti.",
        )
    return amount
