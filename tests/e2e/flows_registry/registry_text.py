"""Tasks and a workflow with hooks, for `retune register` in tests/e2e/test_cli_control.py."""

from __future__ import annotations

import retune as rt


def exclaim(text: str, times: int) -> str:
    """A plain helper that registry_plans.py imports: workers must find it in the bundle."""
    return text + "!" * times


@rt.task
def clean(word: str) -> str:
    return word.strip().lower()


@rt.task(requests=rt.Resources(cpu="250m", mem="128Mi"), retries=1)
def shout(word: str, times: int) -> str:
    if times < 0:
        raise ValueError(f"times must be at least 0, got {times}")
    return exclaim(word.upper(), times)


@rt.workflow
def loud(word: str, times: int = 2) -> str:
    cleaned = clean(word=word).with_runtime_override("clean")
    return shout(word=cleaned, times=times).with_runtime_override(
        "shout", rt.runtime_override_config(retries=2)
    )
