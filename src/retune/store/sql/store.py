"""``SqlStore``: the ``Store`` in SQLite or PostgreSQL.

One connection for the store's life, calls serialised on it. Two paths:

- the hot path (executions and the cache; ``apply`` runs twice or so per task attempt) runs
  statements compiled once (``statements.py``) straight on the DBAPI cursor. A batch is one
  transaction of a few statements whatever its size: one UPDATE per table (``executemany``),
  one upsert for attempts, one for cache entries, one insert for events;
- everything else (registering specs, the event log, explaining a rejected batch) is plain
  SQLAlchemy Core.

Terminal phases are guarded in the UPDATE itself (``WHERE phase NOT IN (terminal)``) and the
row count checked, so the rule holds across processes without reading first.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import BaseModel

from retune.model.execution import Attempt, Execution, Phase
from retune.model.spec import LaunchPlanSpec, TaskSpec, WorkflowSpec
from retune.store.base import (
    AttemptChange,
    CachePut,
    Change,
    Conflict,
    Event,
    ExecutionChange,
    IllegalTransition,
    Lease,
    NewExecution,
    NodeChange,
    NotFound,
    Registered,
    Store,
)
from retune.store.sql import control
from retune.store.sql import tables as t
from retune.store.sql.engine import WRITE, create_engine, normalize_url
from retune.store.sql.rows import Batch, Decoder, event_record, event_row, node_row
from retune.store.sql.schema import ensure_schema
from retune.store.sql.statements import Statements, dumps, loads


class SqlStore:
    """The store in a SQL database at ``url``, upgraded to this retune's schema on open.

    Thread-safe (calls are serialised on the store's one connection) and safe across processes.
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = normalize_url(url)
        self.engine = create_engine(self.url)
        self._lock = threading.RLock()
        self._conn = self.engine.connect()
        if migrate:
            try:
                ensure_schema(self._conn)
            except BaseException:
                self.close()
                raise
        self._sqlite = self.engine.dialect.name == "sqlite"
        self._dbapi: Any = self._conn.connection.dbapi_connection
        self._integrity_error: type[Exception] = self.engine.dialect.loaded_dbapi.IntegrityError
        self._sql = Statements(self.engine.dialect)

    # -- registered specs: versioned and immutable -----------------------------------------

    def put_workflow(self, spec: WorkflowSpec, version: str) -> None:
        self._put_spec(t.workflows, "Workflow", spec, version)

    def get_workflow(self, name: str, version: str) -> WorkflowSpec:
        return WorkflowSpec.model_validate(self._get_spec(t.workflows, "workflow", name, version))

    def put_task(self, spec: TaskSpec, version: str) -> None:
        self._put_spec(t.tasks, "Task", spec, version)

    def get_task(self, name: str, version: str) -> TaskSpec:
        return TaskSpec.model_validate(self._get_spec(t.tasks, "task", name, version))

    def put_launch_plan(self, spec: LaunchPlanSpec, version: str) -> None:
        self._put_spec(t.launch_plans, "Launch plan", spec, version)

    def get_launch_plan(self, name: str, version: str) -> LaunchPlanSpec:
        return LaunchPlanSpec.model_validate(self._get_spec(t.launch_plans, "launch plan", name, version))

    def _put_spec(self, table: sa.Table, label: str, spec: BaseModel, version: str) -> None:
        document = spec.model_dump(mode="json")
        name = str(document["name"])
        digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
        row = {
            "name": name,
            "version": version,
            "spec": document,
            "content_hash": digest,
            "created_at": time.time(),
        }
        with self._transaction(write=True) as conn:
            if conn.execute(self._sql.insert_spec(table), row).rowcount == 1:
                return
            stored = conn.execute(
                sa.select(table.c.content_hash, table.c.spec).where(
                    table.c.name == name, table.c.version == version
                )
            ).one()
        if stored.content_hash != digest:
            differs = sorted(
                k for k in document.keys() | stored.spec.keys() if document.get(k) != stored.spec.get(k)
            )
            raise Conflict(
                f"{label} {name!r} version {version!r} is already registered with other content "
                f"(spec differs in: {', '.join(differs)}). A registered version never changes: "
                "register the new content under a new version."
            )

    def _get_spec(self, table: sa.Table, label: str, name: str, version: str) -> dict[str, Any]:
        with self._transaction() as conn:
            document = conn.execute(
                sa.select(table.c.spec).where(table.c.name == name, table.c.version == version)
            ).scalar()
            if document is not None:
                return dict(document)
            versions = conn.execute(
                sa.select(table.c.version).where(table.c.name == name).order_by(table.c.version)
            ).scalars()
            known = ", ".join(repr(v) for v in versions)
        has = f"its versions are {known}" if known else f"no {label} of that name is registered"
        raise NotFound(f"No {label} {name!r} version {version!r} in the store; {has}.")

    # -- executions ------------------------------------------------------------------------

    def create_execution(self, new: NewExecution) -> None:
        now = time.time()
        created = new.created_at or now
        execution = {
            "id": new.id,
            "workflow": new.workflow,
            "workflow_version": new.workflow_version,
            "launch_plan": new.launch_plan,
            "phase": Phase.QUEUED.value,
            "inputs": dumps(dict(new.inputs)),
            "outputs": None,
            "error": None,
            "overrides": dumps(dict(new.overrides)),
            "created_at": created,
            "updated_at": now,
            "finished_at": None,
            "project": new.project,
            "domain": new.domain,
            "bundle": new.bundle,
            "parent_id": new.parent_id,
            "worker": None,
            "lease_expires_at": None,
            "abort_requested": False,
            "idempotency_key": new.idempotency_key,
            "request_hash": new.request_hash,
        }
        memo: dict[int, str] = {}  # nodes of one task without a hook share their config and provenance
        nodes = [node_row(new.id, i, node, now, memo) for i, node in enumerate(new.nodes)]
        with self._raw() as cursor:
            try:
                cursor.execute(self._sql.insert_execution_sql, execution)
            except self._integrity_error:
                raise Conflict(
                    f"An execution with id {new.id!r} already exists; ids are never reused."
                ) from None
            if nodes:
                _write(cursor, self._sql.insert_nodes_sql, nodes)
            cursor.execute(
                self._sql.insert_events_sql, event_row(created, "execution", new.id, None, Phase.QUEUED)
            )

    def apply(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        batch = Batch.of(changes, time.time())
        sql = self._sql
        try:
            with self._raw() as cursor:
                if batch.executions:
                    _write_guarded(cursor, sql.update_executions_sql, batch.executions)
                if batch.nodes:
                    _write_guarded(cursor, sql.update_nodes_sql, batch.nodes)
                if batch.attempts:
                    try:
                        _write(cursor, sql.upsert_attempts_sql, batch.attempts)
                    except self._integrity_error as exc:  # the node does not exist
                        raise _Rejected from exc
                if batch.cache:
                    _write(cursor, sql.upsert_cache_sql, batch.cache)
                _write(cursor, sql.insert_events_sql, batch.events)
        except _Rejected:
            raise IllegalTransition(self._explain_rejection(changes)) from None

    def _explain_rejection(self, changes: Sequence[Change]) -> str:
        """Replay a rejected batch over the committed phases to name the change at fault."""
        ids = {c.execution_id for c in changes if not isinstance(c, CachePut)}
        with self._transaction() as conn:
            executions = {
                row.id: row.phase
                for row in conn.execute(
                    sa.select(t.executions.c.id, t.executions.c.phase).where(t.executions.c.id.in_(ids))
                )
            }
            nodes = {
                (row.execution_id, row.path): row.phase
                for row in conn.execute(
                    sa.select(
                        t.node_executions.c.execution_id, t.node_executions.c.path, t.node_executions.c.phase
                    ).where(t.node_executions.c.execution_id.in_(ids))
                )
            }
        for change in changes:
            if isinstance(change, ExecutionChange):
                if change.execution_id not in executions:
                    return f"No execution {change.execution_id!r} in the store."
                was = executions[change.execution_id]
                if Phase(was).terminal:
                    return (
                        f"Execution {change.execution_id!r} is already {was}, a terminal phase; "
                        f"it cannot become {change.phase.value}. Nothing in this batch was written."
                    )
                executions[change.execution_id] = change.phase.value
            elif isinstance(change, NodeChange | AttemptChange):
                key = (change.execution_id, change.path)
                if key not in nodes:
                    return f"No node {change.path!r} in execution {change.execution_id!r}."
                if isinstance(change, NodeChange):
                    if Phase(nodes[key]).terminal:
                        return (
                            f"Node {change.path!r} of execution {change.execution_id!r} is already "
                            f"{nodes[key]}, a terminal phase; it cannot become {change.phase.value}. "
                            "Nothing in this batch was written."
                        )
                    nodes[key] = change.phase.value
        return "The batch was rejected: another process changed the same rows meanwhile. Nothing was written."

    def get_execution(self, execution_id: str) -> Execution:
        sql, decode = self._sql, Decoder()
        with self._raw(write=False) as cursor:
            if not self._sqlite:  # one snapshot for the three reads, as SQLite's BEGIN gives
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute(sql.select_execution_sql, {"id": execution_id})
            row = cursor.fetchone()
            if row is None:
                raise NotFound(f"No execution {execution_id!r} in the store.")
            attempts: dict[str, list[Attempt]] = {}
            cursor.execute(sql.select_attempts_sql, {"id": execution_id})
            for values in cursor.fetchall():
                path, attempt = decode.attempt(values)
                attempts.setdefault(path, []).append(attempt)
            cursor.execute(sql.select_nodes_sql, {"id": execution_id})
            nodes = tuple(decode.node(values, attempts.get(values[1], ())) for values in cursor.fetchall())
        return decode.execution(row, nodes)

    def list_executions(self, *, limit: int = 50, offset: int = 0) -> list[Execution]:
        decode = Decoder()
        with self._raw(write=False) as cursor:
            cursor.execute(self._sql.list_executions_sql, {"limit": limit, "offset": offset})
            rows = cursor.fetchall()
        return [decode.execution(row, ()) for row in rows]

    def events(self, execution_id: str) -> list[Event]:
        """The event log of one execution, oldest first: one entry per change written."""
        with self._transaction() as conn:
            rows = conn.execute(
                sa.select(t.events).where(t.events.c.execution_id == execution_id).order_by(t.events.c.id)
            ).all()
        return [event_record(row) for row in rows]

    # -- the control plane: registry, claims, aborts (statements in control.py) ---------------

    def register(
        self,
        project: str,
        domain: str,
        version: str,
        items: Sequence[tuple[str, Mapping[str, Any]]],
        bundle: str | None,
    ) -> list[Registered]:
        now = time.time()
        found, conflicts = [], []
        with self._transaction(write=True) as conn:
            for kind, spec in items:
                try:
                    found.append(control.register(conn, kind, project, domain, version, spec, bundle, now))
                except Conflict as exc:
                    conflicts.append(str(exc))
            if conflicts:  # raised inside the transaction: nothing of the batch is written
                raise control.refuse(conflicts, project, domain, version)
        return found

    def registered(
        self, kind: str, project: str, domain: str, name: str, version: str | None = None
    ) -> Registered:
        with self._transaction() as conn:
            return control.registered(conn, kind, project, domain, name, version)

    def list_registered(
        self, kind: str, project: str, domain: str, name: str | None = None
    ) -> list[Registered]:
        with self._transaction() as conn:
            return control.list_registered(conn, kind, project, domain, name)

    def claim_execution(self, worker: str, lease: float) -> str | None:
        with self._transaction(write=True) as conn:
            return control.claim(conn, worker, lease, time.time(), skip_locked=not self._sqlite)

    def take_execution(self, execution_id: str, worker: str, lease: float) -> str | None:
        with self._transaction(write=True) as conn:
            return control.take(conn, execution_id, worker, lease, time.time())

    def renew_lease(self, execution_id: str, worker: str, lease: float) -> Lease:
        with self._transaction(write=True) as conn:
            return control.renew(conn, execution_id, worker, lease, time.time())

    def release_execution(self, execution_id: str, worker: str) -> None:
        with self._transaction(write=True) as conn:
            control.release(conn, execution_id, worker)

    def request_abort(self, execution_id: str) -> bool:
        with self._transaction(write=True) as conn:
            return control.request_abort(conn, execution_id, time.time())

    def find_execution(self, idempotency_key: str) -> tuple[str, str | None] | None:
        with self._transaction() as conn:
            return control.find_by_key(conn, idempotency_key)

    def list_launched(
        self, *, project: str | None = None, domain: str | None = None, limit: int = 50
    ) -> list[Execution]:
        x = t.executions
        query = sa.select(x.c.id).where(x.c.project.is_not(None))
        if project is not None:
            query = query.where(x.c.project == project)
        if domain is not None:
            query = query.where(x.c.domain == domain)
        with self._transaction() as conn:
            ids = conn.execute(query.order_by(x.c.seq.desc()).limit(limit)).scalars().all()
        return [replace(self.get_execution(i), nodes=()) for i in ids]

    # -- cache -----------------------------------------------------------------------------

    def cache_get(self, key: str) -> Mapping[str, Any] | None:
        with self._raw(write=False) as cursor:
            cursor.execute(self._sql.select_cache_sql, {"key": key})
            found = cursor.fetchone()
        return None if found is None else dict(loads(found[0]))

    def cache_reserve(self, key: str, owner: str, ttl: float) -> bool:
        with self._raw() as cursor:
            cursor.execute(self._sql.reserve_sql, {"key": key, "owner": owner, "ttl": float(ttl)})
            return bool(cursor.rowcount == 1)

    def cache_release(self, key: str, owner: str) -> None:
        with self._raw() as cursor:
            cursor.execute(self._sql.release_sql, {"key": key, "owner": owner})

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self.engine.dispose()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqlStore({self.engine.url!r})"

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[sa.Connection]:
        """A SQLAlchemy transaction on the store's connection."""
        with self._lock:
            conn = self._conn
            if write:
                conn.info[WRITE] = True
            with conn.begin():
                yield conn

    @contextmanager
    def _raw(self, *, write: bool = True) -> Iterator[Any]:
        """A DBAPI cursor in a transaction, committed on success, rolled back otherwise."""
        with self._lock:
            cursor = self._dbapi.cursor()
            try:
                if self._sqlite:
                    cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield cursor
            except BaseException:
                self._dbapi.rollback()
                raise
            else:
                self._dbapi.commit()
            finally:
                cursor.close()


def _write(cursor: Any, sql: str, rows: list[dict[str, Any]]) -> int:
    """Run ``sql`` once per row; the number of rows it touched. One row goes without
    ``executemany``, which costs psycopg a pipeline and its round trips."""
    if len(rows) == 1:
        cursor.execute(sql, rows[0])
    else:
        cursor.executemany(sql, rows)
    return int(cursor.rowcount)


def _write_guarded(cursor: Any, sql: str, rows: list[dict[str, Any]]) -> None:
    """``_write`` an UPDATE guarded by its WHERE clause; every row must have matched."""
    if _write(cursor, sql, rows) != len(rows):
        raise _Rejected


class _Rejected(Exception):
    """Internal: a guarded write touched fewer rows than asked; the transaction rolls back."""


if TYPE_CHECKING:
    _store: type[Store] = SqlStore  # mypy checks that SqlStore is a Store
