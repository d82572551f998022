"""rt.run holds inputs and outputs to the value limits: a refused input is an InputError naming
it and the limit before anything is stored; an output over a limit fails its node as the user's
error naming the output (real task processes, the local executor, SQLite under RETUNE_HOME)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import retune as rt
from retune import api
from retune.control import LocalControlPlane
from retune.model.execution import AttemptKind, Phase
from retune.store import NotFound, open_blobs, open_store

from . import flows_values as flows


def deep(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def executions_in_store() -> int:
    store = open_store()
    try:
        return len(store.list_executions(limit=1000))
    finally:
        store.close()


@pytest.mark.parametrize(
    ("value", "limit"),
    [
        (10**5000, "an integer of more than 4300 digits"),
        (deep(101), "more than 100 levels deep"),
        (deep(5000), "more than 100 levels deep"),
        ("x" * (16 * 2**20 - 1), "over 16,777,216 characters"),
    ],
    ids=["huge int", "101 levels", "5000 levels", "16 MiB"],
)
def test_an_input_over_a_limit_is_an_input_error_naming_it_and_nothing_is_stored(
    value: Any, limit: str
) -> None:
    with pytest.raises(rt.InputError, match=f"Input 'x' cannot be stored: .*{limit}") as caught:
        rt.run(flows.echo_flow, inputs={"x": value})
    assert caught.value.input == "x"
    assert executions_in_store() == 0


def test_inputs_just_under_the_limits_round_trip_exactly() -> None:
    for value in (int("9" * 4300), deep(100), "x" * (16 * 2**20 - 2)):
        assert rt.run(flows.echo_flow, inputs={"x": value}).outputs == value


@pytest.mark.parametrize(("kind", "limit"), [("int", "4300 digits"), ("deep", "100 levels deep")])
def test_an_output_over_a_limit_fails_its_node_as_a_user_error_naming_the_output(
    kind: str, limit: str
) -> None:
    record = rt.run(flows.poison_flow, inputs={"kind": kind}, raise_on_failure=False)

    assert record.phase is Phase.FAILED
    attempts = record.node("n0").attempts
    assert [a.kind for a in attempts] == [AttemptKind.USER, AttemptKind.USER]  # retries=1 spent, no system
    error = attempts[-1].error or ""
    assert f"Output 'o0' of task '{flows.poison.name}' cannot be stored" in error
    assert limit in (record.error or "")


def test_registering_a_launch_plan_whose_default_is_over_a_limit_names_it_and_registers_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    module = f"flows_{uuid.uuid4().hex[:10]}"
    (code / f"{module}.py").write_text(PLAN_FLOW, encoding="utf-8")
    monkeypatch.setattr(sys, "path", list(sys.path))
    plane = LocalControlPlane(open_store(f"sqlite:///{tmp_path}/r.db"), open_blobs(tmp_path / "blobs"))
    try:
        with pytest.raises(
            rt.InputError, match=r"default_inputs\['x'\]=<int> cannot be stored: .*4300 digits"
        ):
            api.register(code, project="p", domain="d", version="v1", plane=plane)
        with pytest.raises(NotFound):
            plane.get_workflow("p", "d", f"{module}.wf")
    finally:
        plane.close()


PLAN_FLOW = """
import retune as rt


@rt.task
def echo(x: int) -> int:
    return x


@rt.workflow
def wf(x: int = 1) -> int:
    return echo(x=x)


huge = rt.LaunchPlan.get_or_create(workflow=wf, name="huge", default_inputs={"x": 10**5000})
"""
