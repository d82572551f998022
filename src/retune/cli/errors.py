"""CLI errors: one clear message, no traceback, a non-zero exit."""

from __future__ import annotations


class UsageError(Exception):
    """The command line cannot be carried out as given (exit code 2)."""

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}. {fix}".strip())
