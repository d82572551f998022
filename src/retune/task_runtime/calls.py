"""Finding a task's function and running calls of it: decode inputs, call, encode outputs.

Outputs are named as ``retune.sdk.specs.output_params`` names them: nothing for ``-> None``,
``o0`` for one value, ``o0, o1, ...`` for a tuple, field names for a ``NamedTuple``.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import traceback
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from retune.model.types import parse_type
from retune.model.values import BlobLike, LimitExceeded, decode, encode

__all__ = [
    "CallFailed",
    "LoadedTask",
    "annotation_of",
    "describe",
    "load_task",
    "output_names",
    "run_calls",
    "template_task",
    "with_runner",
]


class CallFailed(Exception):
    """A call could not run or raised; ``str()`` is the error the attempt reports."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


@dataclass(frozen=True, slots=True)
class LoadedTask:
    name: str
    fn: Callable[..., Any]
    inputs: Mapping[str, Any]
    """Parameter name -> annotation (``Any`` when there is none)."""
    outputs: tuple[tuple[str, Any], ...] | None
    """``(name, annotation)`` per output, or ``None`` for a single value named ``o0``."""
    single: Any = None
    """The annotation of a single output."""


_LOADED: dict[Any, LoadedTask] = {}
_ON_PATH: set[str] = set()


def load_task(
    name: str, module: str, qualname: str, pickled: bytes | None, sys_path: Sequence[str]
) -> LoadedTask:
    """The task's function, imported by reference or unpickled, with its annotations (cached)."""
    key: Any = pickled if pickled is not None else (module, qualname)
    loaded = _LOADED.get(key)
    if loaded is None:
        _extend_path(sys_path)
        target = _unpickle(name, pickled) if pickled is not None else _import(name, module, qualname)
        loaded = _LOADED[key] = _inspect(name, _function_of(target))
    return loaded


def template_task(
    name: str, inputs: Sequence[tuple[str, str]], outputs: Sequence[tuple[str, str]]
) -> LoadedTask:
    """A task with no function (a query, a script): its inputs and outputs typed from their
    type strings; ``with_runner`` gives it the function that runs its definition."""

    def no_function(**_: Any) -> Any:
        raise CallFailed(f"Task {name!r} has no Python function: its task type's runner runs it.")

    typed_outputs = tuple((output, annotation_of(kind)) for output, kind in outputs)
    single = len(typed_outputs) == 1 and typed_outputs[0][0] == "o0"
    return LoadedTask(
        name=name,
        fn=no_function,
        inputs={input_name: annotation_of(kind) for input_name, kind in inputs},
        outputs=None if single else typed_outputs,
        single=typed_outputs[0][1] if single else None,
    )


def with_runner(
    task: LoadedTask,
    task_type: str,
    *,
    definition: Mapping[str, Any] | None,
    config: Mapping[str, Any],
    environment: Mapping[str, str],
    workdir: Path,
    run_with_context: Callable[[Mapping[str, Any], Mapping[str, Callable[[], Any]], Callable[[], Any]], Any]
    | None = None,
) -> LoadedTask:
    """``task`` whose calls go through its type's runner (``retune.plugins``), or ``task`` as it
    is for a type with none (``python``). Loading the type imports its plugin: only here."""
    if task_type == "python" and definition is None:
        return task
    from retune.plugins.registry import get_task_type
    from retune.plugins.runner import Call

    try:
        runner = get_task_type(task_type).runner
    except KeyError as exc:
        raise CallFailed(f"{exc.args[0]} (in the task process, {sys.executable})", exc) from None
    if runner is None:
        if definition is not None:
            raise CallFailed(f"Task type {task_type!r} has no runner, so task {task.name!r} cannot run.")
        return task
    function = None if definition is not None else task.fn
    names = tuple(name for name, _ in task.outputs or ())

    def run(**inputs: Any) -> Any:
        value = runner(
            Call(
                task=task.name,
                inputs=inputs,
                config=config,
                definition=definition,
                workdir=workdir,
                environment=environment,
                function=function,
                run_with_context=run_with_context,
            )
        )
        if definition is not None and names and isinstance(value, Mapping):
            missing = [name for name in names if name not in value]
            if missing:
                raise TypeError(f"the runner of task type {task_type!r} gave no output {', '.join(missing)}")
            return tuple(value[name] for name in names)
        return value

    return LoadedTask(name=task.name, fn=run, inputs=task.inputs, outputs=task.outputs, single=task.single)


_SCALARS: dict[str, Any] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "bytes": bytes,
    "none": None,
}


def annotation_of(kind: str) -> Any:
    """A type string (``list[dict[str, int]]``) back to an annotation, for the built-in types a
    task without a function may take; anything else is ``Any`` (its JSON form as it is)."""
    head, args = parse_type(kind)
    if not args:
        return _SCALARS.get(head, Any)
    if head == "list" and len(args) == 1:
        return list[annotation_of(args[0])]  # type: ignore[misc]
    if head == "dict" and len(args) == 2:
        return dict[annotation_of(args[0]), annotation_of(args[1])]  # type: ignore[misc]
    if head == "optional" and len(args) == 1:
        return typing.Optional[annotation_of(args[0])]  # noqa: UP045 - built at run time
    return Any


def _extend_path(sys_path: Sequence[str]) -> None:
    for entry in reversed(sys_path):
        if entry not in _ON_PATH:
            _ON_PATH.add(entry)
            if entry not in sys.path:
                sys.path.insert(0, entry)


def _unpickle(name: str, pickled: bytes) -> Any:
    import pickle

    try:
        return pickle.loads(pickled)
    except Exception as exc:
        raise CallFailed(
            f"Cannot load task {name!r} sent by value: {describe(exc, full=False)}. It was pickled by "
            "another Python or with modules this interpreter cannot import.",
            exc,
        ) from None


def _import(name: str, module: str, qualname: str) -> Any:
    if module == "__main__" or "<locals>" in qualname:
        where = "in __main__" if module == "__main__" else "inside a function"
        raise CallFailed(
            f"Task {name!r} is defined {where}, so a task process cannot import it; "
            "send it by value (TaskRef.pickled, cloudpickle)."
        )
    try:
        target: Any = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
    except Exception as exc:
        raise CallFailed(f"Cannot import task {name!r} ({module}.{qualname}): {describe(exc)}", exc) from None
    return target


def _function_of(target: Any) -> Callable[..., Any]:
    """An ``@rt.task`` object's function (``.fn``), a map task's task's, or the function itself."""
    for holder in (target, getattr(target, "task", None)):
        fn = getattr(holder, "fn", None)
        if callable(fn):
            return typing.cast(Callable[..., Any], fn)
    if not callable(target):
        raise CallFailed(f"{target!r} is not a task or a function.")
    return typing.cast(Callable[..., Any], target)


def _inspect(name: str, fn: Callable[..., Any]) -> LoadedTask:
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
        signature = inspect.signature(fn)
    except Exception as exc:
        raise CallFailed(f"Cannot read the annotations of task {name!r}: {describe(exc)}", exc) from None
    inputs = {p: hints.get(p, Any) for p in signature.parameters}
    returned = hints.get("return", signature.return_annotation)
    outputs = output_names(returned)
    return LoadedTask(name=name, fn=fn, inputs=inputs, outputs=outputs, single=returned)


def output_names(annotation: Any) -> tuple[tuple[str, Any], ...] | None:
    """``(name, annotation)`` per output, or ``None`` for one output named ``o0``."""
    bare = typing.get_args(annotation)[0] if typing.get_origin(annotation) is Annotated else annotation
    if bare in (None, type(None), inspect.Signature.empty):
        return ()
    if isinstance(bare, type) and issubclass(bare, tuple) and hasattr(bare, "_fields"):
        hints = typing.get_type_hints(bare, include_extras=True)
        return tuple((field, hints.get(field, Any)) for field in bare._fields)
    args = typing.get_args(bare)
    if typing.get_origin(bare) is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        return tuple((f"o{i}", arg) for i, arg in enumerate(args))
    return None


def run_calls(
    task: LoadedTask,
    calls: Sequence[Mapping[str, Any]],
    *,
    blobs: BlobLike | None,
    workdir: Path,
    on_call: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every call in order; the first failure raises ``CallFailed`` (prefixed by the item
    index when there are several calls)."""
    results = []
    for index, call in enumerate(calls):
        try:
            if on_call is not None:
                on_call(index)
            results.append(_run_one(task, call, blobs, workdir))
        except CallFailed as exc:
            if len(calls) == 1:
                raise
            raise CallFailed(f"item {index}: {exc}", exc.cause) from None
    return results


def _run_one(
    task: LoadedTask, call: Mapping[str, Any], blobs: BlobLike | None, workdir: Path
) -> dict[str, Any]:
    kwargs = {}
    for name, data in call.items():
        try:
            kwargs[name] = decode(data, task.inputs.get(name, Any), blobs=blobs, workdir=workdir)
        except Exception as exc:
            raise CallFailed(
                f"Input {name!r} of task {task.name!r}: {describe(exc, full=False)}", exc
            ) from None
    try:
        result = task.fn(**kwargs)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: the task process lives on
        raise CallFailed(describe(exc), exc) from None
    return _encode_outputs(task, result, blobs)


def _encode_outputs(task: LoadedTask, result: Any, blobs: BlobLike | None) -> dict[str, Any]:
    outputs = task.outputs
    if outputs is None:
        return {"o0": _encode_output(task, "o0", result, task.single, blobs)}
    if not outputs:
        return {}
    if not isinstance(result, tuple) or len(result) != len(outputs):
        names = ", ".join(name for name, _ in outputs)
        raise CallFailed(
            f"Outputs of task {task.name!r}: TypeError: declares {len(outputs)} outputs ({names}) but returned "
            f"{type(result).__name__}"
        )
    return {
        name: _encode_output(task, name, value, ann, blobs)
        for (name, ann), value in zip(outputs, result, strict=True)
    }


def _encode_output(task: LoadedTask, name: str, value: Any, annotation: Any, blobs: BlobLike | None) -> Any:
    """One output encoded; one that cannot be stored fails the call (a user failure: the task's
    own value), naming the output and, for a limit, the limit and the way around it."""
    try:
        return encode(value, annotation, blobs=blobs)
    except LimitExceeded as exc:
        raise CallFailed(
            f"Output {name!r} of task {task.name!r} cannot be stored: {exc}. {exc.fix}", exc
        ) from None
    except Exception as exc:
        raise CallFailed(f"Output {name!r} of task {task.name!r}: {describe(exc, full=False)}", exc) from None


_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))


def describe(exc: BaseException, *, full: bool = True) -> str:
    """``Type: message``, then (``full``) the traceback through user code only; a runner's
    ``RunnerError`` is its message alone (what to set up where, not where retune noticed)."""
    # Only a runner raises one, so its module is loaded by then: a plain Python task's process
    # never imports the plugins just to describe its error.
    runner = sys.modules.get("retune.plugins.runner")
    if runner is not None and isinstance(exc, runner.RunnerError):
        return str(exc)
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    try:
        text = str(exc)
    except Exception as unprintable:  # a task's exception whose __str__ fails: say so, not crash
        text = f"<unprintable {kind.__name__}: its __str__ raised {type(unprintable).__name__}>"
    head = f"{name}: {text}" if text else name
    if not full:
        return head
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_RUNTIME_DIR)]
    if not frames:
        return head
    shown = "".join(traceback.format_list(frames[-10:])).rstrip()
    return f"{head}\nTraceback (most recent call last):\n{shown}"
