"""TemplateTask: a task whose body is a definition its type runs; checked where it is declared."""

from __future__ import annotations

from typing import Any

import pytest

import retune as rt
from retune.extend import TemplateTask
from retune.task_runtime.calls import annotation_of, template_task, with_runner

shout = rt.ShellTask(
    "shout",
    'printf %s "$word" | tr a-z A-Z > "$RETUNE_OUTPUTS/loud"; printf %s "${#1}" > "$RETUNE_OUTPUTS/length"',
    inputs={"word": str},
    outputs={"loud": str, "length": int},
)


@rt.workflow
def shout_flow(word: str) -> tuple[str, int]:
    out = shout(word=word).with_runtime_override("shout")
    return out.loud, out.length


def test_called_outside_a_workflow_it_runs_here_with_its_own_config() -> None:
    result = shout(word="hey")
    assert (result.loud, result.length) == ("HEY", 3)


def test_its_spec_carries_the_definition_and_its_outputs_are_named() -> None:
    spec = rt.compile(shout_flow).spec
    task = spec.tasks[shout.name]
    assert task.task_type == "shell"
    assert task.definition is not None and "tr a-z A-Z" in task.definition["script"]
    assert [p.name for p in task.interface.outputs] == ["loud", "length"]
    assert [p.type for p in task.interface.inputs] == ["str"]
    assert rt.compile(shout_flow).hooks["shout"].task == shout.name


def test_a_python_tasks_spec_has_no_definition_in_its_json() -> None:
    @rt.task
    def plain(x: int) -> int:
        return x

    assert "definition" not in plain.spec.model_dump(mode="json")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: TemplateTask("bad name", task_config=rt.Shell(), definition={"script": "true"}),
            "must be an identifier",
        ),
        (
            lambda: TemplateTask("t", task_config=rt.Shell(), definition={"when": object()}),
            "definition.when is object: a definition holds JSON values only",
        ),
        (
            lambda: TemplateTask("t", task_config=rt.Shell(), definition={}, inputs={"f": rt.Resources}),
            r"inputs\['f'\] is dataclass:retune.model.resources.Resources: a task without a function takes and gives built-in types only",
        ),
        (
            lambda: rt.SQLTask("q", "select :a, :b", inputs={"a": int}),
            "uses the parameter :b, which is not an input",
        ),
        (lambda: rt.SQLTask("q", "select 1", inputs={"a": int}), "input 'a' is not used by the query"),
        (lambda: rt.ShellTask("s", "   "), "the script is empty"),
    ],
)
def test_a_template_task_that_cannot_run_is_refused_where_it_is_declared(build: Any, message: str) -> None:
    with pytest.raises(rt.CompileError, match=message) as caught:
        build()
    assert "test_template.py:" in str(caught.value), "the error points at the declaration"


def test_type_strings_come_back_as_the_annotations_the_codec_uses() -> None:
    assert annotation_of("int") is int
    assert annotation_of("list[dict[str, any]]") == list[dict[str, Any]]
    assert annotation_of("dict[str, list[int]]") == dict[str, list[int]]
    assert annotation_of("optional[float]") == float | None
    assert annotation_of("myapp.Model") is Any


def test_a_runner_returning_named_outputs_is_mapped_to_the_tasks_outputs_in_order(tmp_path: Any) -> None:
    task = template_task("t", [("word", "str")], [("loud", "str"), ("length", "int")])
    run = with_runner(
        task,
        "shell",
        definition={
            "script": 'printf %s "$1" > "$RETUNE_OUTPUTS/loud"; echo 2 > "$RETUNE_OUTPUTS/length"',
            "inputs": ["word"],
            "outputs": {"loud": "str", "length": "int"},
        },
        config={"shell": "bash", "cwd": None, "env": {}},
        environment={},
        workdir=tmp_path,
    )
    assert run.fn(word="ab") == ("ab", 2)
