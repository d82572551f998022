"""The store through outages of a PostgreSQL of the test's own (``PrivatePostgres``, SIGKILLed
and started again; the shared one is never touched): a call waits for the database to come back
and succeeds, one log line when the outage starts and one when it ends; past its grace a call,
and the opening of a database that cannot be reached, raise ``StoreUnavailable`` naming the URL
without its password."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

import retune as rt
from retune.model.execution import Phase
from retune.store import ExecutionChange, NewExecution, NewNode, NodeChange, StoreUnavailable, open_store
from retune.testing import POSTGRES_BIN, PrivatePostgres

pytestmark = pytest.mark.skipif(
    not (POSTGRES_BIN / "initdb").exists(), reason="needs PostgreSQL's binaries to start a server of its own"
)


@rt.task
def step(x: int) -> int:
    return x


@rt.workflow
def one(x: int = 1) -> int:
    return step(x=x)


def new_execution(execution_id: str) -> NewExecution:
    nodes = [NewNode(path, config) for path, config in rt.resolve(one).items()]
    return NewExecution(execution_id, "one", "v1", {"x": 1}, nodes)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as pg:
        yield pg


@pytest.fixture
def restarted(postgres: PrivatePostgres) -> Iterator[PrivatePostgres]:
    """The server, started again after the test whatever it did to it."""
    yield postgres
    if postgres.pid is None:
        postgres.start()


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "retune.store"]


def test_a_write_during_a_database_restart_waits_for_it_and_is_committed(
    restarted: PrivatePostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="retune.store")
    with open_store(restarted.url, grace=30) as store:
        new = new_execution(f"ex-{time.monotonic_ns()}")
        store.create_execution(new)
        restarted.kill()
        threading.Timer(2.0, restarted.start).start()
        began = time.monotonic()

        store.apply([ExecutionChange(new.id, Phase.RUNNING), NodeChange(new.id, "n0", Phase.RUNNING)])

        waited = time.monotonic() - began
        assert 1.5 < waited < 25
        record = store.get_execution(new.id)
        assert (record.phase, record.node("n0").phase) == (Phase.RUNNING, Phase.RUNNING)
    lines = outage_lines(caplog)
    assert len(lines) == 2, lines
    assert "cannot be reached" in lines[0] and "retrying" in lines[0] and restarted.url in lines[0]
    assert "answers again after" in lines[1]


def test_past_its_grace_a_call_raises_store_unavailable_naming_the_url_without_its_password(
    restarted: PrivatePostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="retune.store")
    url = restarted.url.replace("postgres@", "postgres:s3cret@")  # trust auth: the password is unused
    with open_store(url, grace=1.0) as store:
        restarted.kill()
        began = time.monotonic()
        with pytest.raises(StoreUnavailable) as raised:
            store.list_executions()
        assert time.monotonic() - began < 10
        restarted.start()
        assert store.list_executions() is not None  # and it reconnects once the database is back

    assert raised.value.what == "database"
    assert raised.value.url == restarted.url
    assert "s3cret" not in str(raised.value) and not any("s3cret" in line for line in outage_lines(caplog))
    assert not any(r.exc_info for r in caplog.records), "an outage is a line, not a traceback"


def test_opening_a_database_nobody_answers_raises_store_unavailable_within_seconds(
    restarted: PrivatePostgres,
) -> None:
    restarted.kill()
    began = time.monotonic()

    with pytest.raises(
        StoreUnavailable, match=r"The database at postgresql://postgres@127\.0\.0\.1:\d+/postgres cannot"
    ):
        open_store(restarted.url)

    assert time.monotonic() - began < 10


def test_opening_a_database_that_does_not_exist_raises_store_unavailable_at_once(
    postgres: PrivatePostgres,
) -> None:
    began = time.monotonic()

    with pytest.raises(StoreUnavailable, match='database "nosuch" does not exist'):
        open_store(postgres.url.rsplit("/", 1)[0] + "/nosuch", grace=30)

    assert time.monotonic() - began < 5
