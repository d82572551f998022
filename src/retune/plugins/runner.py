"""What a task type's runner is handed, in the task process, for each call it runs.

    runner(call) -> value

``call.inputs`` are the decoded inputs, ``call.config`` the node's merged and validated
``task_config``, ``call.definition`` the task's definition (a query, a script: ``TemplateTask``),
and ``call.call_function(**extras)`` runs the task's Python function with ``extras`` visible on
``rt.current_context()`` (``lazy={"spark": make_session}``: made on first access, so
``rt.current_context().spark`` starts a JVM only for tasks that use it). ``call.settings`` are the
settings of the process that started the task process (retune.toml, ``RETUNE_*``), read on
first use. The value returned is encoded against the task's outputs: what the function would
return, or, for a task with named outputs and no function, a mapping output name -> value.

A runner raises to fail the call (a user error, its message and traceback reported); what it
writes to stdout and stderr lands in the attempt's logs. It raises ``RunnerError`` for a call
that cannot run as things are set up where it runs (a variable unset on the worker, a file that
is not there): the fix is outside the task's code, so the message alone is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retune.settings import Settings


class RunnerError(Exception):
    """A call that cannot run as things are set up where it runs, found by the runner before
    running it: a cluster's password variable unset on the worker, a database file that does not
    exist. Still a ``user`` attempt; its error is the message alone, which says what is missing,
    where and how to provide it, without a traceback through retune's own frames."""


@dataclass
class Call:
    task: str
    """The task's name."""
    inputs: Mapping[str, Any]
    config: Mapping[str, Any]
    """The merged, validated ``task_config`` of the node this call runs for."""
    definition: Mapping[str, Any] | None = None
    """The task's definition, for a task with no Python function (``TemplateTask``)."""
    workdir: Path = field(default_factory=Path.cwd)
    """A scratch directory of the attempt, removed after it."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """The node's effective ``environment`` (already in ``os.environ`` for the call)."""
    function: Callable[..., Any] | None = None
    """The task's Python function, or ``None`` for a ``TemplateTask``."""
    run_with_context: (
        Callable[[Mapping[str, Any], Mapping[str, Callable[[], Any]], Callable[[], Any]], Any] | None
    ) = None
    """Set by the task runtime: runs a thunk with extras (and lazy extras) on ``rt.current_context()``."""

    def call_function(self, *, lazy: Mapping[str, Callable[[], Any]] | None = None, **extras: Any) -> Any:
        """The task's function called with ``inputs``; ``extras`` are attributes of
        ``rt.current_context()`` while it runs, and so are ``lazy`` ones, each made by its
        factory on first access (a SparkSession only for the tasks that use it)."""
        function = self.function
        if function is None:
            raise TypeError(
                f"Task {self.task!r} has no Python function to call: its type runs its definition."
            )
        if self.run_with_context is None or not (extras or lazy):
            return function(**self.inputs)
        return self.run_with_context(extras, lazy or {}, lambda: function(**self.inputs))

    @cached_property
    def settings(self) -> Settings:
        from retune import settings

        return settings.load()
