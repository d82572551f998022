"""Workflows run through the run agent: what a task sees of the command's environment and
working directory, and a step that sleeps (to interrupt)."""

from __future__ import annotations

import os
from pathlib import Path

import retune as rt


@rt.task
def look(name: str) -> str:
    note = Path("note.txt").read_text().strip() if Path("note.txt").exists() else "-"
    return f"{os.environ.get('GREETING', '-')}/{note}/{name}"


@rt.workflow
def greet(name: str = "x") -> str:
    return look(name=name)
