"""Every engine test also checks that the record ``Engine.run`` answers is the one the store
holds: the engine builds it from what it wrote rather than reading it back (``_Run.final``)."""

from __future__ import annotations

from typing import Any

import pytest

from retune.engine import Engine
from retune.model.execution import Execution


@pytest.fixture(autouse=True)
def _answers_the_stored_record(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Engine.run

    def run(self: Engine, execution_id: str, *args: Any, **kwargs: Any) -> Execution:
        record = real(self, execution_id, *args, **kwargs)
        assert record == self.store.get_execution(execution_id)
        return record

    monkeypatch.setattr(Engine, "run", run)
