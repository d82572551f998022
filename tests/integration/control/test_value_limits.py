"""Nothing a client or a task hands over stops the queue (DESIGN §7): on real SQLite and
PostgreSQL stores, a real worker and real task processes, every value is either stored and read
back exactly, or refused naming the input or output and the limit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import retune as rt
from retune.control import LocalControlPlane
from retune.errors import InputError
from retune.executors.local import LocalExecutor
from retune.model.control import ExecutionRequest, LaunchPlanRequest
from retune.model.execution import AttemptKind, Phase
from retune.store import NotFound, open_blobs, open_store
from retune.testing import register_source
from retune.worker import Worker

FLOWS = """
from typing import Any

import retune as rt


@rt.task
def echo(x: Any) -> Any:
    return x


@rt.task
def half(f: float) -> float:
    return f / 2


@rt.task(retries=1)
def poison(kind: str) -> Any:
    if kind == "int":
        return 10**5000
    value = []
    for _ in range(150):
        value = [value]
    return value


@rt.workflow
def echo_wf(x: Any = None) -> Any:
    return echo(x=x)


@rt.workflow
def half_wf(f: float = 1.0) -> float:
    return half(f=f)


@rt.workflow
def poison_wf(kind: str = "int") -> Any:
    return poison(kind=kind)
"""

BUNDLE_KEY = "bundles/" + "0" * 64 + ".zip"


@dataclass
class Setup:
    plane: LocalControlPlane
    worker: Worker
    flows: ModuleType
    names: dict[str, str]

    def launch(self, workflow: str, **inputs: Any) -> str:
        request = ExecutionRequest(project="p", domain="d", workflow=self.names[workflow], inputs=inputs)
        return self.plane.launch(request)[0].id

    def run(self, workflow: str, **inputs: Any) -> rt.model.execution.Execution:
        execution_id = self.launch(workflow, **inputs)
        assert self.worker.serve(once=True) == 1
        return self.plane.get_execution(execution_id)


@pytest.fixture
def setup(database_url: str, tmp_path: Path) -> Iterator[Setup]:
    store, blobs = open_store(database_url), open_blobs(tmp_path / "blobs")
    plane = LocalControlPlane(store, blobs)
    flows, specs = register_source(plane, FLOWS, tmp_path, ("echo_wf", "half_wf", "poison_wf"))
    executor = LocalExecutor(blobs)
    worker = Worker(store, blobs, executor, lease=5, poll=0.05)
    names = {spec.name.rsplit(".", 1)[-1]: spec.name for spec in specs}
    try:
        yield Setup(plane, worker, flows, names)
    finally:
        executor.close()
        store.close()


def deep(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


REFUSED = {
    "a 5,000-digit integer": (10**5000, "an integer of more than 4300 digits"),
    "101 levels of nesting": (deep(101), "more than 100 levels deep"),
    "300 levels of nesting": (deep(300), "more than 100 levels deep"),
    "a NaN where the input is Any": (float("nan"), "a non-finite float"),
    "a lone surrogate": ("a\ud800b", "not valid Unicode"),
    "over 16 MiB": ("x" * (16 * 2**20), "over 16,777,216 characters"),
    "a pickle reference": ({"$pickle": "values/" + "ab" * 32}, r"pickled-value reference \(\$pickle\)"),
    "a bundle as bytes": ({"$bytes": BUNDLE_KEY}, "outside values/"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_launch_input_over_a_limit_is_refused_naming_the_input_and_the_limit_and_creates_nothing(
    setup: Setup, case: str
) -> None:
    value, limit = REFUSED[case]
    with pytest.raises(InputError, match=rf"Input 'x' cannot be stored: .*{limit}") as caught:
        setup.launch("echo_wf", x=value)
    assert caught.value.input == "x"
    assert caught.value.fix
    assert setup.plane.list_executions(project="p") == []


def test_a_launch_plan_whose_default_is_a_pickle_reference_is_refused_and_not_stored(setup: Setup) -> None:
    request = LaunchPlanRequest(
        project="p",
        domain="d",
        name="sneaky",
        workflow=setup.names["echo_wf"],
        default_inputs={"x": [{"$pickle": BUNDLE_KEY}]},
    )
    with pytest.raises(InputError, match=r"Launch plan 'sneaky': default_inputs 'x' cannot be stored"):
        setup.plane.create_launch_plan(request)
    with pytest.raises(NotFound):
        setup.plane.get_launch_plan("p", "d", "sneaky")


def test_values_just_under_each_limit_are_stored_and_read_back_exactly(setup: Setup) -> None:
    longest = -int("9" * 4300)
    for value in (longest, deep(100), "nul \x00 and 🎉", [1.5, -(2**63), None, {"é": True}]):
        record = setup.run("echo_wf", x=value)
        assert record.phase is Phase.SUCCEEDED, record.error
        assert setup.plane.get_execution(record.id).inputs == {"x": value}
        assert record.outputs == value


def test_a_non_finite_float_for_a_float_input_is_stored_as_the_float_codec_writes_it(setup: Setup) -> None:
    record = setup.run("half_wf", f=float("inf"))
    assert (record.phase, record.inputs, record.outputs) == (
        Phase.SUCCEEDED,
        {"f": "Infinity"},
        "Infinity",
    )


@pytest.mark.parametrize(
    ("kind", "limit"), [("int", "an integer of more than 4300 digits"), ("deep", "more than 100 levels deep")]
)
def test_an_output_over_a_limit_fails_its_node_as_a_user_error_and_the_worker_runs_the_next_execution(
    setup: Setup, kind: str, limit: str
) -> None:
    poisoned = setup.launch("poison_wf", kind=kind)
    after = setup.launch("echo_wf", x=7)
    assert setup.worker.serve(once=True) == 2  # the same worker, still alive, ran both

    failed = setup.plane.get_execution(poisoned)
    assert failed.phase is Phase.FAILED
    attempts = failed.node("n0").attempts
    assert [a.kind for a in attempts] == [AttemptKind.USER, AttemptKind.USER]  # retries=1, none system
    error = attempts[-1].error or ""
    assert f"Output 'o0' of task '{setup.flows.__name__}.poison' cannot be stored: it" in error
    assert limit in error
    assert setup.plane.get_execution(after).outputs == 7
