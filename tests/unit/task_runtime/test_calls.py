"""Finding a task's function and running calls of it, inside this process."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, NamedTuple

import cloudpickle
import pytest

from retune.sdk.specs import output_params
from retune.task_runtime.calls import CallFailed, load_task, output_names, run_calls

from . import tasks_runtime

MODULE = tasks_runtime.__name__


def _load(qualname: str) -> Any:
    return load_task(qualname, MODULE, qualname, None, ())


def test_a_task_is_imported_by_reference_and_its_function_is_called() -> None:
    loaded = _load("area")

    assert loaded.fn is tasks_runtime.area.fn
    assert loaded.inputs == {"box": tasks_runtime.Box}


def test_plain_and_nested_functions_load_too() -> None:
    assert _load("plain").fn is tasks_runtime.plain
    assert _load("Holder.nested").fn(2) == 20


def test_inputs_are_decoded_and_outputs_encoded_by_the_annotations(tmp_path: Path) -> None:
    outputs = run_calls(_load("area"), [{"box": {"width": 2, "height": 3}}], blobs=None, workdir=tmp_path)

    assert outputs == [{"o0": 6}]


@pytest.mark.parametrize(
    ("qualname", "call", "expected"),
    [
        ("divide", {"a": 7, "b": 2}, {"o0": 3, "o1": 1}),
        ("stats", {"values": [1, 2, 3]}, {"total": 6, "mean": 2.0}),
        ("nothing", {"x": 1}, {}),
        ("unannotated", {"x": [1, "a"]}, {}),
    ],
)
def test_outputs_are_named_like_the_task_interface(
    qualname: str, call: dict[str, Any], expected: dict[str, Any], tmp_path: Path
) -> None:
    assert run_calls(_load(qualname), [call], blobs=None, workdir=tmp_path) == [expected]


def test_a_map_attempt_runs_every_call_in_order(tmp_path: Path) -> None:
    seen: list[int] = []

    outputs = run_calls(
        _load("plain"), [{"x": i} for i in range(5)], blobs=None, workdir=tmp_path, on_call=seen.append
    )

    assert outputs == [{"o0": i + 1} for i in range(5)]
    assert seen == [0, 1, 2, 3, 4]


def test_a_user_exception_reports_type_message_and_user_frames_only(tmp_path: Path) -> None:
    with pytest.raises(CallFailed) as failed:
        run_calls(_load("fails"), [{"x": -1}], blobs=None, workdir=tmp_path)

    error = str(failed.value)
    assert error.startswith("ValueError: x must not be negative, got -1\nTraceback (most recent call last):")
    assert "tasks_runtime.py" in error
    assert "in fails" in error
    assert "task_runtime/calls.py" not in error


def test_a_failing_item_of_a_map_is_named_by_its_index(tmp_path: Path) -> None:
    with pytest.raises(CallFailed, match=r"^item 2: ValueError: x must not be negative, got -5"):
        run_calls(_load("fails"), [{"x": 1}, {"x": 2}, {"x": -5}], blobs=None, workdir=tmp_path)


def test_system_exit_in_a_task_is_a_failure_not_an_exit(tmp_path: Path) -> None:
    with pytest.raises(CallFailed, match=r"^SystemExit: 3"):
        run_calls(_load("exits"), [{"x": 1}], blobs=None, workdir=tmp_path)


def test_outputs_that_do_not_match_the_annotation_are_reported(tmp_path: Path) -> None:
    with pytest.raises(CallFailed, match=r"Outputs of task 'lies': TypeError: declares 2 outputs \(o0, o1\)"):
        run_calls(_load("lies"), [{"x": 1}], blobs=None, workdir=tmp_path)


def test_an_input_that_cannot_be_decoded_names_the_input(tmp_path: Path) -> None:
    with pytest.raises(CallFailed, match=r"Input 'box' of task 'area': TypeError: .*needs field 'height'"):
        run_calls(_load("area"), [{"box": {"width": 1}}], blobs=None, workdir=tmp_path)


def test_a_task_in_main_cannot_be_imported_and_says_how_to_send_it() -> None:
    with pytest.raises(CallFailed, match=r"defined in __main__.*send it by value"):
        load_task("t", "__main__", "t", None, ())


def test_a_missing_module_is_reported_with_the_task() -> None:
    with pytest.raises(
        CallFailed, match=r"Cannot import task 'gone' \(no_such_module\.gone\): ModuleNotFoundError"
    ):
        load_task("gone", "no_such_module", "gone", None, ())


def test_a_task_sent_by_value_is_unpickled(tmp_path: Path) -> None:
    offset = 100

    def local(x: int) -> int:
        return x + offset

    loaded = load_task("local", "tests", "local", cloudpickle.dumps(local), ())

    assert run_calls(loaded, [{"x": 1}], blobs=None, workdir=tmp_path) == [{"o0": 101}]


def test_the_directory_of_the_tasks_bundle_is_prepended(tmp_path: Path) -> None:
    (tmp_path / "elsewhere_module.py").write_text("def f(x: int) -> int:\n    return -x\n")

    loaded = load_task("f", "elsewhere_module", "f", None, (str(tmp_path),))

    assert loaded.fn(3) == -3


class Point(NamedTuple):
    x: int
    y: int


@pytest.mark.parametrize(
    "annotation",
    [int, None, type(None), inspect.Signature.empty, tuple[int, str], Point, list[int]],
    ids=repr,
)
def test_output_names_agree_with_the_sdk_interface(annotation: Any) -> None:
    from_sdk = [p.name for p in output_params(annotation)]
    names = output_names(annotation)
    from_runtime = ["o0"] if names is None else [name for name, _ in names]

    assert from_runtime == from_sdk


def test_an_exception_whose_message_cannot_be_built_is_still_described() -> None:
    from retune.task_runtime.calls import describe

    class Garbled(Exception):
        def __str__(self) -> str:
            raise ZeroDivisionError

    try:
        raise Garbled
    except Garbled as exc:
        text = describe(exc)
    assert ".<locals>.Garbled: " in text.splitlines()[0]
    assert "<unprintable Garbled: its __str__ raised ZeroDivisionError>" in text
    assert "raise Garbled" in text, "the traceback is kept"
