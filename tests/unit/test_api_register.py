"""`api.register`: what it finds in a path, under which module names, and how it refuses.

Each test writes its flows under a fresh directory with module names of its own, since the
modules are imported into this process.
"""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from retune import api
from retune.control import LocalControlPlane
from retune.control.bundles import extract_bundle
from retune.errors import InputError, RegistrationError
from retune.store import Conflict, open_blobs, open_store

FLOW = """
    import datetime

    import retune as rt


    def helper(word: str) -> str:
        return word + "!"


    @rt.task(retries=1)
    def shout(word: str) -> str:
        return helper(word.upper())


    @rt.task
    def unused(x: int) -> int:
        return x


    @rt.workflow
    def loud(word: str, when: datetime.date, pair: tuple[int, str] = (1, "a")) -> str:
        return shout(word=word).with_runtime_override("shout")
"""


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[LocalControlPlane]:
    opened = LocalControlPlane(open_store(f"sqlite:///{tmp_path}/retune.db"), open_blobs(tmp_path / "blobs"))
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def name() -> str:
    """A module name no other test uses."""
    return f"flows_{uuid.uuid4().hex[:10]}"


def write(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def register(path: Path, plane: LocalControlPlane, version: str = "v1") -> dict[str, tuple[str, bool]]:
    result = api.register(path, project="demo", domain="dev", version=version, plane=plane)
    return {e.name: (e.kind, e.created) for e in result.entities}


def test_finds_the_tasks_workflows_and_launch_plans_each_file_defines(
    tmp_path: Path, plane: LocalControlPlane, name: str
) -> None:
    write(tmp_path / "code" / f"{name}.py", FLOW)
    write(
        tmp_path / "code" / f"{name}_plans.py",
        f"""
        import datetime

        import retune as rt
        from {name} import helper, loud, shout  # imported: registered once, by {name}.py

        nightly = rt.LaunchPlan.get_or_create(
            workflow=loud, name="{name}_nightly", default_inputs={{"when": datetime.date(2024, 1, 2)}},
            runtime_override={{"shout": {{"retries": 4}}}},
        )
        """,
    )

    found = register(tmp_path / "code", plane)

    assert found == {
        f"{name}.shout": ("task", True),
        f"{name}.unused": ("task", True),
        f"{name}.loud": ("workflow", True),
        f"{name}_nightly": ("launch_plan", True),
    }


def test_records_module_names_relative_to_the_bundle_root(
    tmp_path: Path, plane: LocalControlPlane, name: str
) -> None:
    write(tmp_path / "repo" / name / "__init__.py", "")
    write(tmp_path / "repo" / name / "flows" / "__init__.py", "")
    write(tmp_path / "repo" / name / "flows" / "training.py", FLOW)

    register(tmp_path / "repo" / name / "flows", plane)

    workflow = plane.get_workflow("demo", "dev", f"{name}.flows.training.loud")
    task = workflow.spec.tasks[f"{name}.flows.training.shout"]
    assert (task.module, task.qualname) == (f"{name}.flows.training", "shout")
    bundle = extract_bundle(
        plane.blobs.get(f"bundles/{workflow.bundle}.zip"), workflow.bundle or "", tmp_path
    )
    assert (bundle / name / "flows" / "training.py").is_file()
    assert (bundle / name / "__init__.py").is_file()


def test_registers_what_its_workflows_use_from_outside_the_path_and_nothing_else_of_it(
    tmp_path: Path, plane: LocalControlPlane, name: str
) -> None:
    write(tmp_path / "lib" / f"{name}_lib.py", FLOW)
    write(
        tmp_path / "code" / f"{name}.py",
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path / "lib")!r})

        import retune as rt
        from {name}_lib import loud, shout, unused  # defined elsewhere: only what uses_lib uses counts


        @rt.workflow
        def uses_lib(word: str) -> str:
            return shout(word=word)
        """,
    )

    found = register(tmp_path / "code", plane)

    assert found == {f"{name}_lib.shout": ("task", True), f"{name}.uses_lib": ("workflow", True)}


def test_launch_plan_inputs_are_stored_encoded_by_the_workflow_annotations(
    tmp_path: Path, plane: LocalControlPlane, name: str
) -> None:
    write(
        tmp_path / "code" / f"{name}.py",
        FLOW
        + f"""
    plan = rt.LaunchPlan.get_or_create(
        workflow=loud, name="{name}_plan",
        default_inputs={{"when": datetime.date(2024, 1, 2)}}, fixed_inputs={{"pair": (2, "b")}},
    )
    """,
    )

    register(tmp_path / "code", plane)

    plan = plane.get_launch_plan("demo", "dev", f"{name}_plan").spec
    assert plan.default_inputs == {"when": "2024-01-02"}
    assert plan.fixed_inputs == {"pair": [2, "b"]}
    assert plan.workflow_version == "v1"


def test_registering_the_same_code_again_is_a_no_op(
    tmp_path: Path, plane: LocalControlPlane, name: str
) -> None:
    write(tmp_path / "code" / f"{name}.py", FLOW)
    register(tmp_path / "code", plane)

    again = register(tmp_path / "code", plane)

    assert set(again.values()) == {("task", False), ("workflow", False)}


def test_other_code_under_a_registered_version_is_refused_saying_what_changed(
    tmp_path: Path, plane: LocalControlPlane, name: str
) -> None:
    write(tmp_path / "code" / f"{name}.py", FLOW)
    register(tmp_path / "code", plane)
    write(tmp_path / "code" / "notes.txt", "the bundle holds every file of the path")

    with pytest.raises(Conflict) as refused:
        register(tmp_path / "code", plane)

    assert "version 'v1' is already registered in demo/dev with other content" in str(refused.value)
    assert "The specs are the same: the code differs" in str(refused.value)
    assert register(tmp_path / "code", plane, version="v2")[f"{name}.loud"] == ("workflow", True)


def test_an_import_error_names_the_file_line_and_exception(
    tmp_path: Path, plane: LocalControlPlane, name: str
) -> None:
    write(tmp_path / "code" / f"{name}.py", "import retune\n\nvalue = 1 / 0\n")

    with pytest.raises(RegistrationError) as refused:
        register(tmp_path / "code", plane)

    message = str(refused.value)
    assert f"Cannot import code/{name}.py (module {name!r}) at code/{name}.py:3" in message
    assert "ZeroDivisionError: division by zero" in message
    assert plane.store.list_registered("workflow", "demo", "dev", None) == []


def test_a_file_whose_module_name_is_taken_is_refused(tmp_path: Path, plane: LocalControlPlane) -> None:
    write(tmp_path / "code" / "json.py", "x = 1\n")

    with pytest.raises(RegistrationError, match=r"code/json.py would be the module 'json', but that"):
        register(tmp_path / "code", plane)


def test_a_path_that_defines_nothing_is_refused(tmp_path: Path, plane: LocalControlPlane, name: str) -> None:
    write(tmp_path / "code" / f"{name}.py", "import retune\n")

    with pytest.raises(RegistrationError, match="No @task, @workflow or LaunchPlan is defined in code"):
        register(tmp_path / "code", plane)


def test_a_project_name_that_cannot_be_stored_is_an_input_error(
    tmp_path: Path, plane: LocalControlPlane, name: str
) -> None:
    write(tmp_path / "code" / f"{name}.py", FLOW)

    with pytest.raises(InputError, match="project 'my project' is not valid") as refused:
        api.register(tmp_path / "code", project="my project", domain="dev", version="v1", plane=plane)

    assert refused.value.input == "project"
