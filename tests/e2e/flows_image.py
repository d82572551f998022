"""A workflow for the image test: it imports nothing a bare venv lacks (no pydantic, no plugins)."""

from __future__ import annotations

import sys

import retune as rt


@rt.task
def where_am_i() -> str:
    return sys.executable


@rt.workflow
def image_flow() -> str:
    return where_am_i().with_runtime_override("image")
