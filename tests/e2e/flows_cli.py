"""A workflow for the CLI's read commands: it prints, and one hook has a default."""

from __future__ import annotations

import sys

import retune as rt


@rt.task(retries=1)
def shout(word: str) -> str:
    print(f"shouting {word}")
    print("to stderr", file=sys.stderr)
    return word.upper()


@rt.workflow
def shout_flow(word: str = "hi") -> str:
    return shout(word=word).with_runtime_override("shout", rt.runtime_override_config(retries=2))
