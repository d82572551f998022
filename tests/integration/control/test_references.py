"""Reference workflows and tasks: a registered workflow called by name from another team's
workflow. Its interface and hooks come from the registry, a parent's hook default and a
launch-time override reach a hook inside it, and a worker runs its tasks from the bundle they
were registered with."""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import retune as rt
from retune import settings
from retune.control import LocalControlPlane
from retune.control.bundles import build_bundle
from retune.errors import CompileError
from retune.executors.local import LocalExecutor
from retune.model.control import ExecutionRequest, Registration
from retune.model.execution import Phase
from retune.model.spec import WorkflowSpec
from retune.store import open_blobs, open_store
from retune.worker import Worker

TEAM_A = """
import os
import retune as rt


@rt.task
def scale(x: int) -> int:
    return x * int(os.environ.get("FACTOR", "1"))


@rt.workflow
def shared(x: int) -> int:
    return scale(x=x).with_runtime_override("scale", rt.runtime_override_config(retries=1))
"""

TEAM_B = """
import retune as rt

shared = rt.reference_workflow("team-a", "production", "{module}.shared", "v1")
scale = rt.reference_task("team-a", "production", "{module}.scale", "v1")


@rt.task
def plus_one(x: int) -> int:
    return x + 1


@rt.workflow
def parent(x: int = 1) -> int:
    y = shared(x=plus_one(x=x)).with_runtime_override("scale", rt.runtime_override_config(retries=4))
    return scale(x=y).with_runtime_override("again")
"""


def _import(directory: Path, module: str) -> object:
    sys.path.insert(0, str(directory))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(str(directory))


@pytest.fixture
def plane(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalControlPlane]:
    monkeypatch.setenv("RETUNE_DATABASE_URL", database_url)
    monkeypatch.setenv("RETUNE_HOME", str(tmp_path / "home"))
    settings.load.cache_clear()
    store = open_store(database_url)
    plane = LocalControlPlane(store, open_blobs(tmp_path / "home" / "blobs"))
    yield plane
    store.close()
    settings.load.cache_clear()


def _register(
    plane: LocalControlPlane, directory: Path, spec: WorkflowSpec, project: str, domain: str
) -> None:
    digest = plane.put_bundle(build_bundle(directory))
    own = tuple(t for t in spec.tasks.values() if t.bundle is None)
    plane.register(
        Registration(
            project=project, domain=domain, version="v1", bundle=digest, workflows=(spec,), tasks=own
        )
    )


def _team_a_registered_and_team_b_written(plane: LocalControlPlane, tmp_path: Path) -> tuple[str, str, Path]:
    """Team a's workflow registered in team-a/production; team b's module, which references it,
    written (not imported). Returns both module names and team b's directory."""
    team_a, team_b = tmp_path / "a", tmp_path / "b"
    team_a.mkdir()
    team_b.mkdir()
    a_module, b_module = f"team_a_{uuid.uuid4().hex[:6]}", f"team_b_{uuid.uuid4().hex[:6]}"
    (team_a / f"{a_module}.py").write_text(TEAM_A)
    (team_b / f"{b_module}.py").write_text(TEAM_B.format(module=a_module))
    _register(plane, team_a, rt.compile(_import(team_a, a_module).shared).spec, "team-a", "production")
    return a_module, b_module, team_b


def test_a_reference_workflows_hooks_take_the_parents_defaults_and_launch_overrides(
    plane: LocalControlPlane, tmp_path: Path
) -> None:
    _, b_module, team_b = _team_a_registered_and_team_b_written(plane, tmp_path)

    compiled = rt.compile(_import(team_b, b_module).parent)
    assert sorted(compiled.hooks) == ["again", "scale"]
    assert compiled.hooks["scale"].nodes == ("shared/n0",)
    assert compiled.hooks["scale"].default.retries == 4  # the parent's default over the registered one
    _register(plane, team_b, compiled.spec, "team-b", "development")

    launched, _ = plane.launch(
        ExecutionRequest(
            project="team-b",
            domain="development",
            workflow=f"{b_module}.parent",
            inputs={"x": 2},
            overrides={"scale": {"environment": {"FACTOR": "10"}}, "again": {"environment": {"FACTOR": "3"}}},
        )
    )
    node = launched.node("scale")
    assert node.config.retries == 4
    assert node.provenance["retries"].layer.value == "workflow"
    assert node.provenance["environment.FACTOR"].layer.value == "execution"

    executor = LocalExecutor(plane.blobs)
    try:
        Worker(plane.store, plane.blobs, executor).serve(once=True)
    finally:
        executor.close()
    done = plane.get_execution(launched.id)
    assert done.phase is Phase.SUCCEEDED, done.error
    assert done.outputs == (2 + 1) * 10 * 3


def test_rt_run_runs_a_reference_workflow_from_its_registered_bundle(
    plane: LocalControlPlane, tmp_path: Path
) -> None:
    a_module, b_module, team_b = _team_a_registered_and_team_b_written(plane, tmp_path)
    sys.modules.pop(a_module)  # the run must import team a's code from its bundle, not from here

    sys.path.insert(0, str(team_b))  # team b runs its own code from where it lives
    try:
        done = rt.run(
            importlib.import_module(b_module).parent,
            inputs={"x": 1},
            overrides={"scale": {"environment": {"FACTOR": "5"}}},
            store=plane.store,
        )
    finally:
        sys.path.remove(str(team_b))
    assert done.outputs == (1 + 1) * 5
    assert done.node("scale").config.retries == 4


def test_a_reference_to_nothing_registered_is_a_compile_error_naming_it(plane: LocalControlPlane) -> None:
    missing = rt.reference_workflow("team-a", "production", "nowhere.wf", "v1")

    @rt.workflow
    def uses_missing(x: int = 1) -> int:
        return missing(x=x)  # type: ignore[no-any-return]

    with pytest.raises(
        CompileError, match=r"reference workflow team-a/production/nowhere.wf@v1 .*retune register"
    ):
        rt.compile(uses_missing)
