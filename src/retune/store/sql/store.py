"""``SqlStore``: the ``Store`` in SQLite or PostgreSQL.

One connection for the store's life, calls serialised on it. Two paths:

- the hot path (executions and the cache; ``apply`` runs twice or so per task attempt) runs
  statements compiled once (``statements.py``) straight on the DBAPI cursor. A batch is one
  transaction of a few statements whatever its size: one UPDATE per table (``executemany``),
  one upsert for attempts, one for cache entries;
- everything else (registering specs, explaining a rejected batch) is plain SQLAlchemy Core.

Terminal phases are guarded in the UPDATE itself (``WHERE phase NOT IN (terminal)``) and the
row count checked, so the rule holds across processes without reading first.

Outages (docs/decisions/0012-outages.md): every call that meets a lost connection reconnects
and runs again, with backoff, for ``grace`` seconds, then raises ``StoreUnavailable``. Running
a call again is safe because a transaction that failed on a lost connection was rolled back,
unless the COMMIT itself was lost: then it may have been written, and

- ``apply`` may meet its own terminal transitions (``IllegalTransition``): if the stored phases
  are exactly those the batch wrote, the batch was written and the call succeeds; its other
  statements (non-terminal phases, attempt and cache upserts) are idempotent;
- ``create_execution`` may meet its own row: ids are never reused, so it is this one;
- the control plane's calls are idempotent (a registration again is a no-op, a lease renewed
  twice is renewed), except ``claim_execution``, which may claim a second execution: the
  first stays held by this worker until its lease expires, and is claimed again then.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, Final, ParamSpec, TypeVar

import sqlalchemy as sa

from retune.model.config import SHARED_FRAGMENTS
from retune.model.execution import (
    Attempt,
    CacheStatus,
    Execution,
    NodeExecution,
    NodeProgress,
    Phase,
    count_items,
)
from retune.store.base import (
    AttemptChange,
    CachePut,
    Change,
    Conflict,
    ExecutionChange,
    IllegalTransition,
    Lease,
    NewExecution,
    NodeChange,
    NotFound,
    Registered,
    Store,
    StoreUnavailable,
)
from retune.store.outage import GRACE, outage_for, redact, retrying
from retune.store.registry import refuse
from retune.store.sql import control
from retune.store.sql import tables as t
from retune.store.sql.engine import WRITE, create_engine, normalize_url
from retune.store.sql.outage import CommitLost, Lost, connection_lost, quietly, reason_of, transient
from retune.store.sql.rows import COLUMNS, Batch, Decoder, node_row
from retune.store.sql.schema import ensure_schema
from retune.store.sql.statements import Statements, dumps, loads, select_record

P = ParamSpec("P")
R = TypeVar("R")


def _reconnecting(method: Callable[Concatenate[SqlStore, P], R]) -> Callable[Concatenate[SqlStore, P], R]:
    """Run ``method`` again on a new connection when it met a lost one (``SqlStore._retrying``)."""

    @functools.wraps(method)
    def retried(self: SqlStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._retrying(lambda: method(self, *args, **kwargs))

    return retried


class SqlStore:
    """The store in a SQL database at ``url``, upgraded to this retune's schema on open.

    Thread-safe (calls are serialised on the store's one connection) and safe across processes.
    While the database cannot be reached, opening and every call retry for ``grace`` seconds.
    """

    _conn: sa.Connection
    _dbapi: Any

    def __init__(self, url: str, *, migrate: bool = True, grace: float = GRACE) -> None:
        self.url = normalize_url(url)
        self.grace = grace
        self.engine = create_engine(self.url)
        self._lock = threading.RLock()
        self._sqlite = self.engine.dialect.name == "sqlite"
        self._driver: Any = self.engine.dialect.loaded_dbapi
        self._integrity_error: type[Exception] = self._driver.IntegrityError
        self._sql = Statements.of(self.engine.dialect)
        self._outage = outage_for("database", redact(url))
        self._connected = False
        # Registered specs by content hash, shared read-only (``Registered.spec`` is a Mapping)
        # by every store of the process.
        self._specs = control.SHARED_SPECS
        try:
            self._retrying(lambda: ensure_schema(self._conn) if migrate else None)
        except BaseException:
            self.engine.dispose()
            raise

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
            "inputs": dumps(dict(new.inputs), f"the inputs of execution {new.id!r}"),
            "outputs": None,
            "error": None,
            "overrides": dumps(dict(new.overrides), f"the overrides of execution {new.id!r}"),
            "created_at": created,
            "updated_at": now,
            "finished_at": None,
            "project": new.project,
            "domain": new.domain,
            "bundle": new.bundle,
            "parent_id": new.parent_id,
            "worker": new.worker,
            "lease_expires_at": now + new.lease if new.worker is not None else None,
            "abort_requested": False,
            "idempotency_key": new.idempotency_key,
            "request_hash": new.request_hash,
        }
        # Shared with the API's answer, which encodes the same configs and provenances next.
        nodes = [node_row(new.id, i, node, now, SHARED_FRAGMENTS) for i, node in enumerate(new.nodes)]
        commit_lost = False

        def once() -> None:
            nonlocal commit_lost
            try:
                self._create(new.id, execution, nodes)
            except CommitLost:
                commit_lost = True
                raise
            except Conflict:
                if not commit_lost:  # else: the lost COMMIT was written; ids are never reused
                    raise

        self._retrying(once)

    def _create(self, execution_id: str, execution: dict[str, Any], nodes: list[dict[str, Any]]) -> None:
        sql = self._sql
        with self._raw() as cursor:
            if sql.arrays and nodes:
                self._create_pipelined(cursor, execution_id, execution, nodes)
                return
            try:
                cursor.execute(sql.insert_execution_sql, execution)
            except self._integrity_error:
                raise _exists(execution_id) from None
            if nodes:
                _write(cursor, sql.insert_nodes_sql, nodes)

    def _create_pipelined(
        self, cursor: Any, execution_id: str, execution: dict[str, Any], nodes: list[dict[str, Any]]
    ) -> None:
        """PostgreSQL: both INSERTs sent together (psycopg's pipeline), the nodes as one statement;
        a refusal surfaces when the pipeline syncs, so the table it names tells which one failed."""
        try:
            with self._dbapi.pipeline():
                cursor.execute(self._sql.insert_execution_sql, execution)
                cursor.execute(*self._sql.insert_rows(nodes))
        except self._integrity_error as exc:
            if getattr(getattr(exc, "diag", None), "table_name", None) == t.executions.name:
                raise _exists(execution_id) from None
            raise

    def apply(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        batch = Batch.of(changes, time.time())  # a value JSON cannot hold is refused here, before any I/O
        commit_lost = False

        def once() -> None:
            nonlocal commit_lost
            try:
                self._apply(batch, changes)
            except CommitLost:
                commit_lost = True
                raise
            except IllegalTransition:
                if not (commit_lost and self._written(changes)):
                    raise

        self._retrying(once)

    def _apply(self, batch: Batch, changes: Sequence[Change]) -> None:
        sql = self._sql
        try:
            with self._raw() as cursor:
                if batch.executions:
                    _write_guarded(cursor, sql.update_executions_sql, batch.executions)
                if batch.nodes:
                    _write_guarded(cursor, sql.update_nodes_sql, batch.nodes)
                if batch.attempts:
                    try:
                        if self._sqlite:
                            _write_in_statements(cursor, sql.upsert_attempts, batch.attempts)
                        else:  # psycopg pipelines executemany's statements
                            _write(cursor, sql.upsert_attempts_sql, batch.attempts)
                    except self._integrity_error as exc:  # the node does not exist
                        raise _Rejected from exc
                if batch.cache:
                    _write(cursor, sql.upsert_cache_sql, batch.cache)
        except _Rejected:
            raise IllegalTransition(self._explain_rejection(changes)) from None

    def _written(self, changes: Sequence[Change]) -> bool:
        """Whether the stored phases are those ``changes`` leave: the batch whose COMMIT was lost
        was written (the engine is its execution's one writer, so nothing came after it)."""
        wanted: dict[tuple[str, str | None], str] = {}
        for change in changes:
            if isinstance(change, ExecutionChange):
                wanted[(change.execution_id, None)] = change.phase.value
            elif isinstance(change, NodeChange):
                wanted[(change.execution_id, change.path)] = change.phase.value
        ids = {key[0] for key in wanted}
        x, n = t.executions, t.node_executions
        with self._transaction() as conn:
            stored: dict[tuple[str, str | None], str] = {
                (row.id, None): row.phase
                for row in conn.execute(sa.select(x.c.id, x.c.phase).where(x.c.id.in_(ids)))
            }
            for row in conn.execute(
                sa.select(n.c.execution_id, n.c.path, n.c.phase).where(n.c.execution_id.in_(ids))
            ):
                stored[(row.execution_id, row.path)] = row.phase
        return all(stored.get(key) == phase for key, phase in wanted.items())

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

    @_reconnecting
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

    @_reconnecting
    def execution_progress(self, execution_id: str) -> tuple[Execution, tuple[NodeProgress, ...]]:
        sql = self._sql
        with self._raw(write=False) as cursor:
            row = self._execution_row(cursor, execution_id)
            tries: dict[str, list[tuple[int | None, Phase]]] = {}
            cursor.execute(sql.select_attempt_phases_sql, {"id": execution_id})
            for path, item, phase in cursor.fetchall():
                tries.setdefault(path, []).append((item, Phase(phase)))
            cursor.execute(sql.select_node_progress_sql, {"id": execution_id})
            nodes = tuple(
                NodeProgress(
                    path,
                    hook,
                    task,
                    Phase(phase),
                    CacheStatus(cache),
                    len(tries.get(path, ())),
                    count_items(items, tries.get(path, ())),
                )
                for path, hook, task, phase, cache, items in cursor.fetchall()
            )
        return Decoder().execution(row, ()), nodes

    @_reconnecting
    def get_node(self, execution_id: str, key: str) -> tuple[Execution, NodeExecution]:
        sql, decode = self._sql, Decoder()
        with self._raw(write=False) as cursor:
            row = self._execution_row(cursor, execution_id)
            cursor.execute(sql.select_node_sql, {"id": execution_id, "key": key, "limit": 1, "offset": 0})
            values = cursor.fetchone()
            if values is None:
                raise NotFound(f"Execution {execution_id} has no node or hook {key!r}.")
            path = values[COLUMNS["node_executions"].index("path")]
            cursor.execute(sql.select_node_attempts_sql, {"id": execution_id, "path": path})
            attempts = [decode.attempt(found)[1] for found in cursor.fetchall()]
            node = decode.node(values, attempts)
        return decode.execution(row, ()), node

    def _execution_row(self, cursor: Any, execution_id: str) -> Any:
        """The execution's row, the first read of a snapshot (PostgreSQL: repeatable read, as
        SQLite's BEGIN gives)."""
        if not self._sqlite:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute(self._sql.select_execution_sql, {"id": execution_id})
        row = cursor.fetchone()
        if row is None:
            raise NotFound(f"No execution {execution_id!r} in the store.")
        return row

    @_reconnecting
    def list_executions(self, *, limit: int = 50, before: str | None = None) -> list[Execution]:
        return self._listed(select_record(t.executions), limit, before)

    # -- the control plane: registry, claims, aborts (statements in control.py) ---------------

    @_reconnecting
    def register(
        self,
        project: str,
        domain: str,
        version: str,
        items: Sequence[tuple[str, Mapping[str, Any]]],
        bundle: str | None,
    ) -> list[Registered]:
        def once() -> list[Registered]:
            now = time.time()
            found, conflicts = [], []
            with self._transaction(write=True) as conn:
                for kind, spec in items:
                    try:
                        found.append(
                            control.register(conn, kind, project, domain, version, spec, bundle, now)
                        )
                    except Conflict as exc:
                        conflicts.append(str(exc))
                if conflicts:  # raised inside the transaction: nothing of the batch is written
                    raise refuse(conflicts, project, domain, version)
            return found

        try:
            return once()
        except sa.exc.IntegrityError:
            # Another process registered the same entity meanwhile (ten `retune run`s of one
            # workflow at once on PostgreSQL): read again, a no-op if its content is equal.
            return once()

    @_reconnecting
    def registered(
        self, kind: str, project: str, domain: str, name: str, version: str | None = None
    ) -> Registered:
        # Each launch asks: its row read on the raw connection, the spec from ``_specs`` by
        # content hash; a spec not seen yet, or no such row (an error naming what exists), below.
        sql, params = self._sql, {"kind": kind, "project": project, "domain": domain, "name": name}
        with self._raw(write=False) as cursor:
            if version is None:
                cursor.execute(sql.select_registered_latest_sql, params | {"limit": 1, "offset": 0})
            else:
                cursor.execute(sql.select_registered_version_sql, params | {"version": version})
            values = cursor.fetchone()
        if values is not None:
            row = dict(zip(sql.registered_columns, values, strict=True))
            spec = self._specs.get(row["content_hash"])
            if spec is not None:
                return Registered(**row, spec=spec, created=False)
        with self._transaction() as conn:
            return control.registered(conn, kind, project, domain, name, version, self._specs)

    @_reconnecting
    def list_registered(
        self,
        kind: str,
        project: str | None,
        domain: str | None,
        name: str | None = None,
        *,
        specs: bool = True,
    ) -> list[Registered]:
        with self._transaction() as conn:
            return control.list_registered(conn, kind, project, domain, name, specs=specs)

    @_reconnecting
    def claim_execution(self, worker: str, lease: float) -> str | None:
        with self._transaction(write=True) as conn:
            return control.claim(conn, worker, lease, time.time(), skip_locked=not self._sqlite)

    @_reconnecting
    def take_execution(self, execution_id: str, worker: str, lease: float) -> str | None:
        with self._transaction(write=True) as conn:
            return control.take(conn, execution_id, worker, lease, time.time())

    @_reconnecting
    def renew_lease(self, execution_id: str, worker: str, lease: float) -> Lease:
        with self._transaction(write=True) as conn:
            return control.renew(conn, execution_id, worker, lease, time.time())

    @_reconnecting
    def release_execution(self, execution_id: str, worker: str) -> None:
        with self._transaction(write=True) as conn:
            control.release(conn, execution_id, worker)

    @_reconnecting
    def request_abort(self, execution_id: str) -> bool:
        with self._transaction(write=True) as conn:
            return control.request_abort(conn, execution_id, time.time())

    @_reconnecting
    def find_execution(self, idempotency_key: str) -> tuple[str, str | None] | None:
        with self._transaction() as conn:
            return control.find_by_key(conn, idempotency_key)

    @_reconnecting
    def list_launched(
        self,
        *,
        project: str | None = None,
        domain: str | None = None,
        workflow: str | None = None,
        phase: Phase | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> list[Execution]:
        # The executions table's columns only: a listing never reads a node.
        x = t.executions
        query = select_record(x).where(x.c.project.is_not(None))
        for column, value in ((x.c.project, project), (x.c.domain, domain), (x.c.workflow, workflow)):
            if value is not None:
                query = query.where(column == value)
        if phase is not None:
            query = query.where(x.c.phase == phase.value)
        return self._listed(query, limit, before)

    def _listed(self, query: sa.Select[Any], limit: int, before: str | None) -> list[Execution]:
        """The executions ``query`` selects (``select_record`` of the executions table), newest
        first by ``created_at`` then ``id``, after execution ``before`` where given."""
        x = t.executions
        decode = Decoder()
        with self._transaction() as conn:
            if before is not None:  # keyset paging: rows launched meanwhile shift nothing
                at = conn.execute(sa.select(x.c.created_at).where(x.c.id == before)).scalar()
                if at is None:
                    raise NotFound(f"No execution {before!r} to list the executions before.")
                query = query.where(
                    sa.or_(x.c.created_at < at, sa.and_(x.c.created_at == at, x.c.id < before))
                )
            order = (x.c.created_at.desc(), x.c.id.desc())
            rows = conn.execute(query.order_by(*order).limit(limit)).all()
        return [decode.summary(tuple(row)) for row in rows]

    @_reconnecting
    def item_outputs(self, execution_id: str, path: str) -> dict[int, Mapping[str, Any]]:
        with self._raw(write=False) as cursor:
            cursor.execute(self._sql.select_item_outputs_sql, {"id": execution_id, "path": path})
            where = f"the outputs of an item of node {path!r} of execution {execution_id!r}"
            return {int(item): dict(loads(text, where)) for item, text in cursor.fetchall()}

    # -- cache -----------------------------------------------------------------------------

    @_reconnecting
    def cache_get(self, key: str) -> Mapping[str, Any] | None:
        with self._raw(write=False, single=True) as cursor:
            cursor.execute(self._sql.select_cache_sql, {"key": key})
            found = cursor.fetchone()
        return None if found is None else dict(loads(found[0]))

    @_reconnecting
    def cache_get_many(self, keys: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        if not keys:
            return {}
        wanted = json.dumps(list(keys)) if self._sqlite else list(keys)
        with self._raw(write=False, single=True) as cursor:
            cursor.execute(self._sql.select_cache_many_sql, {"keys": wanted})
            found = cursor.fetchall()
        return {key: dict(loads(outputs)) for key, outputs in found}

    @_reconnecting
    def cache_latest(self, task: str) -> Mapping[str, Any] | None:
        with self._raw(write=False) as cursor:
            cursor.execute(self._sql.select_cache_latest_sql, {"task": task, "limit": 1, "offset": 0})
            found = cursor.fetchone()
        return None if found is None else dict(loads(found[0]))

    @_reconnecting
    def cache_reserve(self, key: str, owner: str, ttl: float) -> bool:
        with self._raw() as cursor:
            cursor.execute(self._sql.reserve_sql, {"key": key, "owner": owner, "ttl": float(ttl)})
            return bool(cursor.rowcount == 1)

    @_reconnecting
    def cache_release(self, key: str, owner: str) -> None:
        with self._raw() as cursor:
            cursor.execute(self._sql.release_sql, {"key": key, "owner": owner})

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._connected:
                quietly(self._conn.close)
                self._connected = False
            self.engine.dispose()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqlStore({self.engine.url!r})"

    # -- outages: reconnect and run again, with backoff, for ``grace`` seconds --------------

    def _retrying(self, call: Callable[[], R]) -> R:
        def connected() -> R:
            self._connect()
            return call()

        return retrying(connected, self._outage, self.grace, self._lost_reason)

    def _lost_reason(self, exc: Exception) -> str | None:
        """Why the connection was lost (it is dropped, for the next try to open another), or
        None if ``exc`` is the database's answer."""
        if not self._lost(exc):
            return None
        self._disconnect()
        return reason_of(exc.__cause__ if isinstance(exc, Lost) and exc.__cause__ else exc)

    def _connect(self) -> None:
        with self._lock:
            if self._connected:
                return
            try:
                self._conn = self.engine.connect()
            except sa.exc.DBAPIError as exc:
                # Refused, reset, starting up, unknown host: worth waiting for. A server that
                # answered with an error of its own (no such database, bad password) is not.
                if transient(exc):
                    raise Lost from exc
                raise StoreUnavailable("database", self._outage.url, reason_of(exc)) from None
            self._dbapi = self._conn.connection.dbapi_connection
            self._connected = True

    def _disconnect(self) -> None:
        with self._lock:
            if self._connected:
                quietly(self._conn.invalidate)
                quietly(self._conn.close)
                self._connected = False

    def _lost(self, exc: BaseException) -> bool:
        """Whether ``exc`` says the connection was lost (not: the statement was refused)."""
        return not self._sqlite and connection_lost(exc, self._driver, getattr(self, "_dbapi", None))

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
    def _raw(self, *, write: bool = True, single: bool = False) -> Iterator[Any]:
        """A DBAPI cursor in a transaction, committed on success, rolled back otherwise.
        ``single``: one read statement, which SQLite runs as a transaction of its own (no
        ``BEGIN``/``COMMIT`` around it: ~15 us less for each node's cache lookup)."""
        if single and self._sqlite and not write:
            with self._lock:
                cursor = self._dbapi.cursor()
                try:
                    yield cursor
                finally:
                    quietly(cursor.close)
            return
        with self._lock:
            dbapi = self._dbapi
            cursor = dbapi.cursor()
            try:
                if self._sqlite:
                    cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield cursor
            except BaseException:
                quietly(dbapi.rollback)  # on a lost connection the server rolled back already
                raise
            else:
                try:
                    dbapi.commit()
                except Exception as exc:
                    if self._lost(exc):
                        raise CommitLost from exc
                    raise
            finally:
                quietly(cursor.close)


def _write(cursor: Any, sql: str, rows: Sequence[Mapping[str, Any]] | Sequence[tuple[Any, ...]]) -> int:
    """Run ``sql`` once per row; the number of rows it touched. One row goes without
    ``executemany``, which costs psycopg a pipeline and its round trips."""
    if len(rows) == 1:
        cursor.execute(sql, rows[0])
    else:
        cursor.executemany(sql, rows)
    return int(cursor.rowcount)


STATEMENT_ROWS: Final = 128
"""The most rows one multi-row statement writes: 13 parameters each, well under SQLite's limit
of 32,766 parameters a statement."""


def _write_in_statements(cursor: Any, sql_for: Callable[[int], str], rows: Sequence[tuple[Any, ...]]) -> None:
    """``rows`` written a few statements of many rows each (``sql_for(n)``: the statement for
    ``n`` rows): runs of ``STATEMENT_ROWS``, then the rest in powers of two, so that a store
    prepares at most 8 statement texts whatever the batch."""
    start = 0
    while start < len(rows):
        left = len(rows) - start
        count = STATEMENT_ROWS if left >= STATEMENT_ROWS else 1 << (left.bit_length() - 1)
        chunk = rows[start : start + count]
        cursor.execute(sql_for(count), [value for row in chunk for value in row])
        start += count


def _write_guarded(cursor: Any, sql: str, rows: list[dict[str, Any]]) -> None:
    """``_write`` an UPDATE guarded by its WHERE clause; every row must have matched."""
    if _write(cursor, sql, rows) != len(rows):
        raise _Rejected


def _exists(execution_id: str) -> Conflict:
    return Conflict(f"An execution with id {execution_id!r} already exists; ids are never reused.")


class _Rejected(Exception):
    """Internal: a guarded write touched fewer rows than asked; the transaction rolls back."""


if TYPE_CHECKING:
    _store: type[Store] = SqlStore  # mypy checks that SqlStore is a Store
