"""The statements of the hot path, built once per store as SQLAlchemy Core and compiled to SQL.

``apply`` and the cache calls run these straight on the DBAPI cursor: going through
SQLAlchemy's execution machinery cost about twice the database work itself (~145 us against
~55 us for a typical batch on SQLite). They are still written as Core, so the SQL is the
dialect's own, and compiled with named parameters so rows are plain dicts. JSON parameters
arrive already serialised (``dumps``), as SQLAlchemy's JSON type would have stored them.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from typing import Any, ClassVar, Final, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from retune.model.execution import TERMINAL
from retune.store.base import ValueNotStorable
from retune.store.sql import tables as t

T = TypeVar("T")

_TERMINAL: Final[list[sa.ColumnElement[str]]] = [
    sa.literal_column(f"'{phase.value}'", sa.String) for phase in sorted(TERMINAL)
]

_NOW: Final = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "CAST(extract(epoch FROM clock_timestamp()) AS DOUBLE PRECISION)",
}


_SCAN: Final[Callable[[str, int], tuple[Any, int]]] = cast(Any, json.JSONDecoder()).scan_once
_ENCODE: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
"""``json.dumps`` with these options, its encoder made once (dumps makes one per call)."""


def dumps(value: Any, where: str | Callable[[], str] = "a value") -> str:
    """JSON as the store writes it: compact, non-ASCII kept as is, strict (no ``NaN``, which
    PostgreSQL refuses). A value JSON cannot hold is a ``ValueNotStorable`` naming ``where``
    (or what ``where()`` says: the hot path names the place only when it must)."""
    try:
        return _ENCODE(value)
    except (ValueError, TypeError, RecursionError) as exc:
        where = where() if callable(where) else where
        raise ValueNotStorable(
            f"Cannot store {where}: {_why(exc)}. Nothing of this change was written; "
            "make the value smaller or of another type (a string, a file)."
        ) from None


def encoded(encode: Callable[[T], str], value: T, where: str) -> str:
    """``encode(value)`` (an encoder of ``JsonFragments``: ``dumps``' JSON, memoised), its errors
    those of ``dumps``."""
    try:
        return encode(value)
    except (ValueError, TypeError, RecursionError) as exc:
        raise ValueNotStorable(
            f"Cannot store {where}: {_why(exc)}. Nothing of this change was written; "
            "make the value smaller or of another type (a string, a file)."
        ) from None


def loads(value: Any, where: str = "a value") -> Any:
    """A JSON column read through the DBAPI: SQLite gives text, psycopg the decoded value.
    Text as ``dumps`` wrote it (no surrounding space) goes straight to the C scanner, without
    ``json.loads``'s two whitespace matches: a map's record reads a logs column per item."""
    if type(value) is str:
        try:
            found, end = _SCAN(value, 0)
        except (StopIteration, ValueError, RecursionError):
            pass  # json.loads says what is wrong, or reads what the scanner alone cannot
        else:
            if end == len(value):
                return found
    elif not isinstance(value, str | bytes):
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise ValueNotStorable(f"Cannot read {where} back from the store: {_why(exc)}.") from None


def _why(exc: BaseException) -> str:
    """What JSON could not do, in a user's words (``json``'s own messages name no place)."""
    text = str(exc)
    if "integer string conversion" in text or "int_max_str_digits" in text:
        return f"it holds an integer of more than {sys.get_int_max_str_digits()} digits"
    if "Out of range float" in text:
        return "it holds a NaN or an infinite float, which JSON cannot represent"
    if "Circular reference" in text:
        return "it contains itself"
    if isinstance(exc, RecursionError):
        return "it is nested too deeply"
    if isinstance(exc, TypeError):
        return f"it holds a value JSON cannot represent ({text})"
    return f"it is not valid JSON ({text})"


class Statements:
    """SQL for one dialect. Attributes ending in ``_sql`` are strings for the DBAPI cursor."""

    _made: ClassVar[dict[tuple[str, str, Any], Statements]] = {}

    @classmethod
    def of(cls, dialect: sa.Dialect) -> Statements:
        """The statements of ``dialect``, compiled once per process: compiling them took ~20 ms
        of CPU, which a server paid for each of its threads' stores (its first launches)."""
        key = (dialect.name, dialect.driver, getattr(dialect, "server_version_info", None))
        made = cls._made.get(key)
        if made is None:
            made = cls._made[key] = cls(dialect)  # two threads racing both compile: no harm
        return made

    def __init__(self, dialect: sa.Dialect) -> None:
        name = dialect.name
        insert: Callable[[sa.Table], Any]
        if name == "sqlite":
            insert = sqlite.insert
        else:  # imported only here: PostgreSQL's dialect costs ~40 ms of a SQLite process's start
            from sqlalchemy.dialects import postgresql

            insert = postgresql.insert
        # Named parameters on both sides: SQLite's ``:name``, psycopg's ``%(name)s``.
        compiler = sqlite.pysqlite.dialect(paramstyle="named") if name == "sqlite" else dialect

        def sql(statement: sa.ClauseElement) -> str:
            return str(statement.compile(dialect=compiler))

        x, n, a = t.executions, t.node_executions, t.attempts
        self.insert_execution_sql = sql(sa.insert(x).values(_params(x)).inline())
        self.insert_nodes_sql = sql(sa.insert(n).values(_params(n)))
        # PostgreSQL: a new execution's nodes in one statement (``insert_rows``), where
        # executemany sent a statement per row (100 nodes: ~1,400 parameters adapted one by one).
        self.arrays = name == "postgresql"
        self._sql = sql
        self._insert_rows: dict[frozenset[str], str] = {}
        self.update_executions_sql = sql(
            sa.update(x)
            .where(x.c.id == sa.bindparam("b_id"), x.c.phase.not_in(_TERMINAL))
            .values(
                phase=sa.bindparam("b_phase"),
                outputs=sa.func.coalesce(sa.bindparam("b_outputs", type_=t.JSON), x.c.outputs),
                error=sa.bindparam("b_error", type_=sa.Text),
                finished_at=sa.func.coalesce(sa.bindparam("b_finished", type_=sa.Float), x.c.finished_at),
                updated_at=sa.bindparam("b_at", type_=sa.Float),
                # A terminal execution holds no lease: nobody can take or claim it anyway, and
                # its driver then has no release to write (``api.runs.drive``).
                lease_expires_at=sa.case(
                    (sa.cast(sa.bindparam("b_finished", type_=sa.Float), sa.Float).is_not(None), sa.null()),
                    else_=x.c.lease_expires_at,
                ),
            )
        )
        self.update_nodes_sql = sql(
            sa.update(n)
            .where(
                n.c.execution_id == sa.bindparam("b_execution_id"),
                n.c.path == sa.bindparam("b_path"),
                n.c.phase.not_in(_TERMINAL),
            )
            .values(
                phase=sa.bindparam("b_phase"),
                cache=sa.func.coalesce(sa.bindparam("b_cache", type_=sa.String), n.c.cache),
                outputs=sa.func.coalesce(sa.bindparam("b_outputs", type_=t.JSON), n.c.outputs),
                error=sa.bindparam("b_error", type_=sa.Text),
                cache_reason=sa.func.coalesce(
                    sa.bindparam("b_cache_reason", type_=sa.Text), n.c.cache_reason
                ),
                items=sa.func.coalesce(sa.bindparam("b_items", type_=sa.Integer), n.c["items"]),
                started_at=sa.func.coalesce(n.c.started_at, sa.bindparam("b_started", type_=sa.Float)),
                finished_at=sa.func.coalesce(sa.bindparam("b_finished", type_=sa.Float), n.c.finished_at),
                updated_at=sa.bindparam("b_at", type_=sa.Float),
            )
        )
        upsert = insert(a).values(_params(a))
        self.upsert_attempts_sql = _positional(
            upsert.on_conflict_do_update(
                index_elements=[a.c.execution_id, a.c.path, a.c.number],
                set_={c.name: upsert.excluded[c.name] for c in a.c if not c.primary_key},
            ),
            dialect,
            t.ATTEMPT_ROW,
        )
        self._upsert_attempts: dict[int, str] = {1: self.upsert_attempts_sql}
        c = t.cache_entries
        put = insert(c).values(_params(c))
        self.upsert_cache_sql = sql(  # the latest outputs for a key win
            put.on_conflict_do_update(
                index_elements=[c.c.key],
                set_={col.name: put.excluded[col.name] for col in c.c if not col.primary_key},
            )
        )
        self.select_cache_sql = sql(
            sa.select(sa.cast(c.c.outputs, sa.Text)).where(c.c.key == sa.bindparam("key"))
        )
        # A registered row without its spec (which ``SqlStore`` keeps decoded by content hash):
        # the newest version, or one version; each launch reads one.
        r = t.registry
        self.registered_columns = tuple(col.name for col in r.c if col is not r.c.spec)
        named = sa.select(*(col for col in r.c if col is not r.c.spec)).where(
            *(r.c[key] == sa.bindparam(key) for key in ("kind", "project", "domain", "name"))
        )
        self.select_registered_latest_sql = sql(
            named.order_by(r.c.created_at.desc())
            .limit(sa.bindparam("limit", type_=sa.Integer))
            .offset(sa.bindparam("offset", type_=sa.Integer))  # SQLite's dialect adds one anyway
        )
        self.select_registered_version_sql = sql(named.where(r.c.version == sa.bindparam("version")))
        # Many keys in one statement, as one parameter: a JSON array (SQLite's json_each) or a
        # text array (PostgreSQL's ANY): no statement per count of keys.
        keys: sa.ColumnElement[bool]
        if name == "sqlite":
            keys = c.c.key.in_(
                sa.select(sa.column("value")).select_from(
                    sa.func.json_each(sa.bindparam("keys", type_=sa.Text))
                )
            )
        else:
            keys = c.c.key == sa.any_(sa.cast(sa.bindparam("keys"), postgresql.ARRAY(sa.Text)))
        self.select_cache_many_sql = sql(sa.select(c.c.key, sa.cast(c.c.outputs, sa.Text)).where(keys))
        self.select_cache_latest_sql = sql(
            sa.select(sa.cast(c.c.parts, sa.Text))
            .where(c.c.task == sa.bindparam("task"), c.c.parts.is_not(None))
            .order_by(c.c.created_at.desc())
            .limit(sa.bindparam("limit", type_=sa.Integer))
            .offset(sa.bindparam("offset", type_=sa.Integer))  # SQLite's dialect adds one anyway
        )

        self.select_execution_sql = sql(select_record(x).where(x.c.id == sa.bindparam("id")))
        self.select_nodes_sql = sql(
            select_record(n).where(n.c.execution_id == sa.bindparam("id")).order_by(n.c.position)
        )
        self.select_attempts_sql = sql(
            select_record(a).where(a.c.execution_id == sa.bindparam("id")).order_by(a.c.path, a.c.number)
        )
        # The execution page's reads: every node's progress without its config, provenance or
        # outputs (the text of those is most of a big execution's bytes), and one node whole.
        self.select_node_progress_sql = sql(
            sa.select(n.c.path, n.c.hook, n.c.task, n.c.phase, n.c.cache, n.c["items"])
            .where(n.c.execution_id == sa.bindparam("id"))
            .order_by(n.c.position)
        )
        self.select_attempt_phases_sql = sql(
            sa.select(a.c.path, a.c.item, a.c.phase)
            .where(a.c.execution_id == sa.bindparam("id"))
            .order_by(a.c.path, a.c.number)
        )
        self.select_node_sql = sql(
            select_record(n)
            .where(
                n.c.execution_id == sa.bindparam("id"),
                sa.or_(n.c.path == sa.bindparam("key"), n.c.hook == sa.bindparam("key")),
            )
            .order_by(n.c.position)
            .limit(sa.bindparam("limit", type_=sa.Integer))
            .offset(sa.bindparam("offset", type_=sa.Integer))  # SQLite's dialect adds one anyway
        )
        self.select_node_attempts_sql = sql(
            select_record(a)
            .where(a.c.execution_id == sa.bindparam("id"), a.c.path == sa.bindparam("path"))
            .order_by(a.c.number)
        )
        self.select_item_outputs_sql = sql(
            sa.select(a.c.item, sa.cast(a.c.outputs, sa.Text))
            .where(
                a.c.execution_id == sa.bindparam("id"),
                a.c.path == sa.bindparam("path"),
                a.c.item.is_not(None),
                a.c.outputs.is_not(None),
            )
            .order_by(a.c.number)
        )

        r = t.cache_reservations
        now = sa.literal_column(_NOW[name], sa.Float)  # the database's clock: one for every process
        take = insert(r).values(
            key=sa.bindparam("key"),
            owner=sa.bindparam("owner"),
            expires_at=now + sa.bindparam("ttl", type_=sa.Float),
        )
        self.reserve_sql = sql(
            take.on_conflict_do_update(
                index_elements=[r.c.key],
                set_={"owner": take.excluded.owner, "expires_at": take.excluded.expires_at},
                where=sa.or_(r.c.owner == take.excluded.owner, r.c.expires_at <= now),
            )
        )
        self.release_sql = sql(
            sa.delete(r).where(r.c.key == sa.bindparam("key"), r.c.owner == sa.bindparam("owner"))
        )

    def insert_rows(self, rows: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
        """PostgreSQL: the statement inserting ``rows`` (new nodes, in column order) at once,
        and its parameters: a column whose rows all hold one value is that value, any other
        an array. A launch's nodes differ in path, position, hook, config and provenance only,
        and psycopg adapts every item of an array in Python: nine arrays of 100 were a tenth of
        a launch's CPU."""
        first, columns = rows[0], columns_of(rows)
        alike = frozenset(
            name
            for name, values in columns.items()
            if name != "path" and values.count(first[name]) == len(rows)
        )
        statement = self._insert_rows.get(alike)
        if statement is None:
            statement = self._insert_rows[alike] = _binary(
                self._sql(_insert_arrays(t.node_executions, alike))
            )
        return statement, {name: first[name] if name in alike else values for name, values in columns.items()}

    def upsert_attempts(self, rows: int) -> str:
        """``upsert_attempts_sql`` for ``rows`` rows in one statement (``VALUES (...), (...)``),
        for SQLite: ``executemany`` steps once per row and gives up the GIL at each step, and
        with the executor's threads busy every step waited to get it back (500 rows: 1.8 ms
        alone, 1.16 s beside one busy thread; in one statement 1.9 and 24 ms)."""
        statement = self._upsert_attempts.get(rows)
        if statement is None:
            one = self.upsert_attempts_sql
            group = "(" + ", ".join("?" * len(t.ATTEMPT_ROW)) + ")"
            if one.count(group) != 1:
                raise RuntimeError(f"no single VALUES group {group} in {one}")
            statement = self._upsert_attempts[rows] = one.replace(group, ", ".join([group] * rows))
        return statement


def select_record(table: sa.Table) -> sa.Select[Any]:
    """Every column a record reads (``tables.UNREAD`` left out) in table order, JSON as its text
    (SQLite and psycopg alike), for ``rows.py``."""
    unread = t.UNREAD.get(table.name, ())
    return sa.select(
        *(sa.cast(c, sa.Text) if isinstance(c.type, sa.JSON) else c for c in table.c if c.name not in unread)
    )


def _insert_arrays(table: sa.Table, alike: frozenset[str]) -> sa.Insert:
    """``INSERT ... SELECT CAST(:alike AS type), u.column, ... FROM unnest(CAST(:column AS
    type[]), ...) AS u(column, ...)``: one row per index of the arrays, the same value of each
    column named in ``alike`` in every row. PostgreSQL only."""
    from sqlalchemy.dialects import postgresql

    columns = [c for c in table.c if not (c.primary_key and c.autoincrement is True)]
    arrays = [c for c in columns if c.name not in alike]
    unnest = sa.func.unnest(*(sa.cast(sa.bindparam(c.name), postgresql.ARRAY(c.type)) for c in arrays))
    rows = unnest.table_valued(*(c.name for c in arrays)).render_derived(name="u")
    values = (sa.cast(sa.bindparam(c.name), c.type) if c.name in alike else rows.c[c.name] for c in columns)
    return sa.insert(table).from_select([c.name for c in columns], sa.select(*values))


def _binary(sql: str) -> str:
    """psycopg's binary format for every parameter (``%(name)b``): text arrays escape each
    element in Python, a regular expression per quote, which for JSON text cost ~40 ms a launch."""
    return re.sub(r"%\((\w+)\)s", r"%(\1)b", sql)


def columns_of(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows (dicts with the same keys) as one list per column."""
    return {name: [row[name] for row in rows] for name in rows[0]}


def _positional(statement: sa.ClauseElement, dialect: sa.Dialect, order: tuple[str, ...]) -> str:
    """``statement`` with its parameters by position (SQLite's ``?``, psycopg's ``%s``), which
    must come in ``order``: the statements a map writes a row per item with."""
    if dialect.name == "sqlite":
        compiler: sa.Dialect = sqlite.pysqlite.dialect(paramstyle="qmark")
    else:
        compiler = cast(Any, type(dialect))(paramstyle="format")
        compiler.server_version_info = getattr(dialect, "server_version_info", None)
    compiled = statement.compile(dialect=compiler)
    given = tuple(cast(Any, compiled).positiontup or ())
    if given != order:
        raise RuntimeError(f"parameters in the order {given}, not {order}")
    return str(compiled)


def _params(table: sa.Table) -> dict[str, sa.BindParameter[Any]]:
    """A named parameter for every column but an autoincrement key."""
    return {
        col.name: sa.bindparam(col.name, type_=col.type)
        for col in table.c
        if not (col.primary_key and col.autoincrement is True)
    }


def compile_ahead(url: str = "sqlite://") -> None:
    """Compile the statements of ``url``'s dialect now, as its stores will want them (the run
    agent does, once, before it forks its runs)."""
    from retune.store.sql.engine import create_engine

    engine = create_engine(url)
    Statements.of(engine.dialect)  # unconnected, as a store's is when it asks (the same key)
    engine.dispose()
