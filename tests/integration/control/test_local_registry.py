"""One registry: ``rt.run`` registers what it runs (spec and code bundle) in the same registry as
``retune register``, under the project and domain ``_local`` and a version derived from content,
so the execution can be resumed from the store alone (tests/e2e/test_cli_interrupt.py resumes
one whose code is gone). SQLite and PostgreSQL."""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import retune as rt
from retune.executors.bundles import bundle_key
from retune.executors.local import LocalExecutor
from retune.model.control import LOCAL
from retune.store import open_blobs, open_store
from retune.store.sql import SqlStore

FLOWS = """
import retune as rt


@rt.task
def double(x: int) -> int:
    return {factor} * x


@rt.workflow
def doubled(x: int) -> int:
    return double(x=x)
"""


@pytest.fixture
def flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "local_registry_flows.py").write_text(FLOWS.format(factor=2))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path / "local_registry_flows.py"
    sys.modules.pop("local_registry_flows", None)


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    with open_store(database_url) as opened:
        yield opened


def test_a_local_run_is_registered_with_its_code_and_a_code_change_is_a_new_version(
    flows: Path, store: SqlStore, tmp_path: Path
) -> None:
    blobs = open_blobs(tmp_path / "blobs")
    module = importlib.import_module("local_registry_flows")
    with LocalExecutor(blobs) as executor:
        first = rt.run(module.doubled, inputs={"x": 3}, executor=executor, store=store, blobs=blobs)

        found = store.registered("workflow", LOCAL, LOCAL, first.workflow, first.workflow_version)
        assert found.bundle is not None and blobs.exists(bundle_key(found.bundle))
        assert first.project is None  # a local run: no worker claims it
        again = rt.run(module.doubled, inputs={"x": 4}, executor=executor, store=store, blobs=blobs)
        assert again.workflow_version == first.workflow_version  # same code, same version: no new row

        time.sleep(0.01)
        flows.write_text(FLOWS.format(factor=10))
        module = importlib.reload(module)
        changed = rt.run(module.doubled, inputs={"x": 3}, executor=executor, store=store, blobs=blobs)

    assert (first.outputs, changed.outputs) == (6, 30)  # the task process ran the new code
    assert changed.workflow_version != first.workflow_version
    versions = [r.version for r in store.list_registered("workflow", LOCAL, LOCAL, first.workflow)]
    assert sorted(versions) == sorted({first.workflow_version, changed.workflow_version})


def test_the_control_plane_finds_the_spec_a_local_run_ran(
    flows: Path, store: SqlStore, tmp_path: Path
) -> None:
    from retune.control import LocalControlPlane

    blobs = open_blobs(tmp_path / "blobs")
    module = importlib.import_module("local_registry_flows")
    with LocalExecutor(blobs) as executor:
        execution = rt.run(module.doubled, inputs={"x": 3}, executor=executor, store=store, blobs=blobs)

    spec, content_hash = LocalControlPlane(store, blobs).spec_of(execution)
    assert spec.name == execution.workflow
    assert [node.path for node in execution.nodes] == [node.path for node in spec.nodes]
    found = store.registered("workflow", LOCAL, LOCAL, execution.workflow, execution.workflow_version)
    assert content_hash == found.content_hash


def test_a_run_through_another_store_registers_there_too(
    flows: Path, store: SqlStore, tmp_path: Path
) -> None:
    # rt.run remembers what it registered through a store object (a notebook's second run reads
    # no registry): another database is another object, and gets its registration.
    blobs = open_blobs(tmp_path / "blobs")
    module = importlib.import_module("local_registry_flows")
    with LocalExecutor(blobs) as executor, open_store(f"sqlite:///{tmp_path / 'other.db'}") as other:
        first = rt.run(module.doubled, inputs={"x": 3}, executor=executor, store=store, blobs=blobs)
        second = rt.run(module.doubled, inputs={"x": 3}, executor=executor, store=other, blobs=blobs)

        assert second.workflow_version == first.workflow_version
        found = other.registered("workflow", LOCAL, LOCAL, second.workflow, second.workflow_version)
        assert found.version == first.workflow_version
