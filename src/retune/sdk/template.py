"""Tasks whose body is a definition their task type runs (a query, a script), not a function.

    count = rt.SQLTask("count_orders", "select count(*) as n from orders where day = :day",
                       inputs={"day": str}, task_config=rt.SQL(cluster="warehouse"))
    greet = TemplateTask("greet", task_config=Greeting(), definition={"text": "hi {name}"},
                         inputs={"name": str}, outputs={"message": str})

A ``TemplateTask`` is a ``Task``: called in a workflow it adds a node (hooks, overrides and
caching as for any task); called outside one, its type's runner runs it here, with the task's
own config. Its ``TaskSpec`` carries the ``definition``, so a task process runs it from the
spec alone, importing no user code. Inputs and outputs are the built-in types (int, float,
str, bool, bytes, None, Any, and list, dict and Optional of them): their JSON form is what the
runner gets and gives.
"""

from __future__ import annotations

import inspect
import sys
import tempfile
import typing
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retune.errors import CompileError
from retune.model import FieldError, Resources, TaskNodeOverrides
from retune.plugins.registry import get_task_type, task_type_for_config
from retune.sdk.location import caller
from retune.sdk.task import _DECLARED, Task, cache_env_keys, task_fields
from retune.sdk.types import type_of

if TYPE_CHECKING:
    from retune.model.spec import TaskSpec

__all__ = ["SQLTask", "ShellTask", "TemplateTask"]

_ALLOWED = frozenset({"int", "float", "str", "bool", "bytes", "none", "any", "list", "dict", "optional"})


class TemplateTask(Task[..., Any]):
    """A task of a type whose runner runs ``definition`` (JSON), with typed ``inputs`` and
    ``outputs`` (a mapping name -> type, or one type for a single output ``o0``)."""

    def __init__(
        self,
        name: str,
        *,
        task_config: Any,
        definition: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        outputs: Mapping[str, Any] | Any = None,
        requests: Resources | None = None,
        limits: Resources | None = None,
        cache: bool = False,
        cache_version: str = "",
        cache_serialize: bool = False,
        retries: int = 0,
        interruptible: bool = False,
        container_image: str | None = None,
        environment: Mapping[str, str] | None = None,
        timeout: float | timedelta | None = None,
        cache_env: Sequence[str] = (),
        _depth: int = 2,
    ) -> None:
        location = caller(_depth)
        module = str(sys._getframe(_depth - 1).f_globals.get("__name__", "__main__"))
        where = f"{type(self).__name__} {name!r} ({location})"
        if not name.isidentifier():
            raise CompileError(
                f"{where}: the name must be an identifier (letters, digits, _), like a function's."
            )
        fields = task_fields(
            requests=requests,
            limits=limits,
            cache=cache,
            cache_version=cache_version,
            cache_serialize=cache_serialize,
            retries=retries,
            interruptible=interruptible,
            container_image=container_image,
            environment=environment,
            task_config=task_config,
        )
        try:
            config = TaskNodeOverrides.from_dict(fields)
            task_type = task_type_for_config(task_config)
            keys = cache_env_keys(cache_env)
            _check_json(definition, "definition")
            inputs = dict(inputs or {})
            for key, annotation in inputs.items():
                _check_type(f"inputs[{key!r}]", annotation)
            if isinstance(outputs, Mapping):
                for key, annotation in outputs.items():
                    _check_type(f"outputs[{key!r}]", annotation)
            elif outputs is not None:
                _check_type("outputs", outputs)
        except (FieldError, TypeError, ValueError) as exc:
            raise CompileError(f"{where}: {exc}") from None
        if task_type.runner is None:
            raise CompileError(f"{where}: task type {task_type.name!r} has no runner to run a definition.")
        self.definition = dict(definition)
        fn = _body(self, name, module, inputs, outputs)
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        super().__init__(
            fn, config=config, task_type=task_type.name, timeout=seconds, location=location, cache_env=keys
        )
        _DECLARED[self.name] = self

    @cached_property
    def spec(self) -> TaskSpec:
        spec: TaskSpec = super().spec
        return spec.model_copy(update={"definition": self.definition})

    def run_here(self, inputs: Mapping[str, Any]) -> Any:
        """Run this task in this process with its own config (a call outside a workflow)."""
        from retune.plugins.runner import Call

        task_type = get_task_type(self.task_type)
        assert task_type.runner is not None
        config = task_type.validate_config(self.config.to_dict().get("task_config", {}))
        with tempfile.TemporaryDirectory(prefix="retune-task-") as workdir:
            return task_type.runner(
                Call(
                    task=self.name,
                    inputs=dict(inputs),
                    config=config,
                    definition=self.definition,
                    workdir=Path(workdir),
                    environment=dict(self.config.to_dict().get("environment", {})),
                )
            )


class SQLTask(TemplateTask):
    """``rt.SQLTask(name, query, inputs={"k": int}, task_config=rt.SQL(cluster="warehouse"))``: a
    node returning ``list[dict[str, Any]]``, one dict per row; ``:k`` placeholders are bound as
    parameters, never pasted into the text (DESIGN §9)."""

    def __init__(
        self,
        name: str,
        query: str,
        *,
        inputs: Mapping[str, Any] | None = None,
        task_config: Any = None,
        **fields: Any,
    ) -> None:
        from retune.plugins.sql import SQL, sql_definition

        try:
            definition = sql_definition(query, {key: type_of(value) for key, value in (inputs or {}).items()})
        except ValueError as exc:
            raise CompileError(f"SQLTask {name!r} ({caller(2)}): {exc}") from None
        super().__init__(
            name,
            task_config=SQL() if task_config is None else task_config,
            definition=definition,
            inputs=inputs,
            outputs=list[dict[str, Any]],
            _depth=3,
            **fields,
        )


class ShellTask(TemplateTask):
    """``rt.ShellTask(name, script, inputs={...}, outputs={...}, task_config=rt.Shell(...))``:
    inputs reach the script as environment variables and arguments, never pasted into its
    text; each output is read from the file ``$RETUNE_OUTPUTS/NAME`` the script writes."""

    def __init__(
        self,
        name: str,
        script: str,
        *,
        inputs: Mapping[str, Any] | None = None,
        outputs: Mapping[str, Any] | None = None,
        task_config: Any = None,
        **fields: Any,
    ) -> None:
        from retune.plugins.shell import Shell, shell_definition

        try:
            definition = shell_definition(
                script,
                {key: type_of(value) for key, value in (inputs or {}).items()},
                {key: type_of(value) for key, value in (outputs or {}).items()},
            )
        except ValueError as exc:
            raise CompileError(f"ShellTask {name!r} ({caller(2)}): {exc}") from None
        super().__init__(
            name,
            task_config=Shell() if task_config is None else task_config,
            definition=definition,
            inputs=inputs,
            outputs=dict(outputs or {}),
            _depth=3,
            **fields,
        )


def _body(task: TemplateTask, name: str, module: str, inputs: Mapping[str, Any], outputs: Any) -> Any:
    """A function with the task's signature, so that tracing, binding and the spec treat it as
    any task's; calling it runs the task here."""
    if isinstance(outputs, Mapping):
        returns: Any = typing.NamedTuple(f"{name}_outputs", list(outputs.items())) if outputs else None
    else:
        returns = outputs

    def body(**kwargs: Any) -> Any:
        value = task.run_here(kwargs)
        if isinstance(outputs, Mapping) and isinstance(value, Mapping) and returns is not None:
            return returns(**{key: value[key] for key in outputs})
        return value

    body.__name__ = body.__qualname__ = name
    body.__module__ = module
    parameters = [
        inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
        for key, annotation in inputs.items()
    ]
    body.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]
    body.__annotations__ = {**inputs, "return": returns}
    return body


def _check_type(where: str, annotation: Any) -> None:
    kind = type_of(annotation)
    words = set(kind.replace("[", " ").replace("]", " ").replace(",", " ").split())
    if not words <= _ALLOWED:
        raise TypeError(
            f"{where} is {kind}: a task without a function takes and gives built-in types only "
            "(int, float, str, bool, bytes, None, Any; list, dict and Optional of them)"
        )


def _check_json(value: Any, where: str) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has the key {key!r}: keys must be strings (it is stored as JSON)")
            _check_json(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_json(item, f"{where}[{index}]")
    elif not (value is None or isinstance(value, str | int | float | bool)):
        raise TypeError(f"{where} is {type(value).__name__}: a definition holds JSON values only")
