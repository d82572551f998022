"""``rt.run`` given no store keeps the process's default store open from one run to the next (as
it keeps its executor: ``api.wiring.shared_store``), and follows the settings: another
RETUNE_HOME gets another store, and a database removed between runs is created again, never
written to while gone.

Real SQLite files and task processes; flows_batches.py's map."""

from __future__ import annotations

import shutil
from pathlib import Path

import flows_batches as flows
import pytest

import retune as rt
from retune import settings
from retune.api import wiring
from retune.model.execution import Execution, Phase
from retune.store import open_store


def run(where: Path) -> Execution:
    where.mkdir(parents=True, exist_ok=True)
    record = rt.run(flows.items, {"jobs": [f"{where}|{i}|ok" for i in range(3)]})
    assert record.phase is Phase.SUCCEEDED
    return record


def stored(home: Path, execution_id: str) -> Phase:
    with open_store(f"sqlite:///{home}/retune.db") as store:
        return store.get_execution(execution_id).phase


def test_runs_share_the_store_until_the_settings_or_the_file_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_home, second_home = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("RETUNE_HOME", str(first_home))
    settings.load.cache_clear()

    one = run(tmp_path / "jobs")
    kept = wiring.shared_store()
    two = run(tmp_path / "jobs2")

    assert wiring.shared_store() is kept
    assert stored(first_home, one.id) is stored(first_home, two.id) is Phase.SUCCEEDED

    monkeypatch.setenv("RETUNE_HOME", str(second_home))
    settings.load.cache_clear()
    three = run(tmp_path / "jobs3")
    assert wiring.shared_store() is not kept
    assert stored(second_home, three.id) is Phase.SUCCEEDED

    shutil.rmtree(second_home)  # a user clears RETUNE_HOME between two runs of a notebook
    four = run(tmp_path / "jobs4")
    assert stored(second_home, four.id) is Phase.SUCCEEDED  # in the new file, not the removed one
    settings.load.cache_clear()
