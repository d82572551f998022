"""The code bundle of a local run (``sdk.code``): the user's imported modules under their module
paths, tasks no process can import sent by value, rebuilt only when something changed."""

from __future__ import annotations

import importlib
import io
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import retune as rt
from retune.executors.bundles import PICKLED
from retune.sdk.code import local_code


def names(data: bytes) -> set[str]:
    return set(zipfile.ZipFile(io.BytesIO(data)).namelist())


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An importable package ``codepkg`` with a task module, imported from ``tmp_path``."""
    root = tmp_path / "codepkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "flows.py").write_text(
        "import retune as rt\n\n@rt.task\ndef double(x: int) -> int:\n    return 2 * x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("codepkg.flows")
    yield root
    for name in ("codepkg", "codepkg.flows"):
        sys.modules.pop(name, None)


def test_the_users_modules_go_in_under_their_module_path_and_installed_code_does_not(package: Path) -> None:
    code = local_code([("codepkg.flows.double", "codepkg.flows", "double")])

    inside = names(code.data)
    assert {"codepkg/__init__.py", "codepkg/flows.py"} <= inside
    assert "unit/sdk/test_code.py" in inside or "sdk/test_code.py" in inside  # this test module too
    assert not any(n.startswith(("retune/", "pytest/", "_pytest/", "pydantic/")) for n in inside)
    assert "json/__init__.py" not in inside  # the standard library
    assert code.pickled == {}


def test_a_task_defined_inside_a_function_travels_by_value() -> None:
    @rt.task
    def local_add(x: int) -> int:
        return x + 1

    name = local_add.name
    code = local_code([(name, local_add.fn.__module__, local_add.fn.__qualname__)])

    assert set(code.pickled) == {name}
    assert f"{PICKLED}/{name}.pkl" in names(code.data)


def test_the_same_code_gives_the_same_bundle_and_a_changed_module_a_new_one(package: Path) -> None:
    task = [("codepkg.flows.double", "codepkg.flows", "double")]
    first = local_code(task)
    assert local_code(task) is first  # nothing changed: not even re-zipped

    time.sleep(0.01)  # a new mtime even on coarse clocks
    (package / "flows.py").write_text((package / "flows.py").read_text() + "\n# changed\n")
    changed = local_code(task)

    assert changed.digest != first.digest
    assert b"# changed" in zipfile.ZipFile(io.BytesIO(changed.data)).read("codepkg/flows.py")


def test_a_module_whose_file_is_gone_is_left_out(package: Path) -> None:
    (package / "flows.py").unlink()

    code = local_code([])

    assert "codepkg/flows.py" not in names(code.data)
