"""Retries and placement, Flyte's semantics.

- A user failure (the task raised, timed out, ran out of memory) consumes ``retries``.
- A system failure (the task process was lost, or interruptible capacity was preempted)
  consumes the system budget (``SYSTEM_RETRIES``) and never the user's retries.
- An interruptible node may run on interruptible capacity, except its last attempt: once one
  more user failure would end the node, or preemptions have used all but one system retry,
  the attempt is placed on on-demand capacity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from retune.model import EffectiveConfig
from retune.model.execution import Attempt, AttemptKind, Capacity, Phase

SYSTEM_RETRIES: Final = 3


def failures(attempts: Sequence[Attempt], kind: AttemptKind) -> int:
    return sum(1 for a in attempts if a.kind is kind and a.phase is Phase.FAILED)


def may_retry(attempts: Sequence[Attempt], config: EffectiveConfig) -> bool:
    """After a failed attempt: is there budget left for another?"""
    return failures(attempts, AttemptKind.USER) <= config.retries and (
        failures(attempts, AttemptKind.SYSTEM) <= SYSTEM_RETRIES
    )


def placement(attempts: Sequence[Attempt], config: EffectiveConfig, *, offered: bool) -> Capacity:
    """Where the next attempt runs."""
    if not (config.interruptible and offered):
        return Capacity.ON_DEMAND
    last_user = failures(attempts, AttemptKind.USER) >= config.retries
    last_system = failures(attempts, AttemptKind.SYSTEM) >= SYSTEM_RETRIES
    return Capacity.ON_DEMAND if last_user or last_system else Capacity.INTERRUPTIBLE
