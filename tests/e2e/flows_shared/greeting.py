"""The workflow the shared-blob-store end-to-end test registers with one RETUNE_HOME and runs
with another: its bundle, its output and its log all travel through the blob store."""

from __future__ import annotations

import retune as rt


@rt.task
def greet(name: str) -> str:
    print(f"greeting {name}")
    return f"hello {name}"


@rt.workflow
def hello(name: str = "world") -> str:
    return greet(name=name)
