"""Changes into rows, rows into records: the only place that knows both shapes.

``Batch`` turns one ``apply`` call into rows grouped by statement, in the order the changes
came, with JSON already serialised. ``Decoder`` builds model records from rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from operator import itemgetter
from types import MappingProxyType
from typing import Any, Final

from retune.model.config import EffectiveConfig, JsonFragments, Provenance, Source
from retune.model.execution import (
    Attempt,
    AttemptKind,
    CacheStatus,
    Capacity,
    Execution,
    NodeExecution,
    Phase,
)
from retune.model.values.limits import LimitExceeded, check_stored
from retune.store.base import (
    AttemptChange,
    CachePut,
    Change,
    ExecutionChange,
    NewNode,
    NodeChange,
    ValueNotStorable,
)
from retune.store.sql import tables as t
from retune.store.sql.statements import dumps, encoded, loads

Row = dict[str, Any]


@dataclass(slots=True)
class Batch:
    executions: list[Row] = field(default_factory=list)
    nodes: list[Row] = field(default_factory=list)
    attempts: list[tuple[Any, ...]] = field(default_factory=list)  # tables.ATTEMPT_ROW
    cache: list[Row] = field(default_factory=list)

    @classmethod
    def of(cls, changes: Sequence[Change], now: float) -> Batch:
        batch = cls()
        for change in changes:
            if isinstance(change, NodeChange):
                batch._node(change, change.at or now)
            elif isinstance(change, AttemptChange):
                batch._attempt(change)
            elif isinstance(change, ExecutionChange):
                batch._execution(change, change.at or now)
            else:
                outputs = dumps(dict(change.outputs), f"the cached outputs of {_place(change)}")
                batch.cache.append(
                    {
                        "key": change.key,
                        "outputs": outputs,
                        "execution_id": change.execution_id,
                        "path": change.path,
                        "created_at": now,
                        "task": change.task,
                        "parts": None
                        if change.parts is None
                        else dumps(dict(change.parts), f"the cache key of {_place(change)}"),
                    }
                )
        return batch

    def _node(self, change: NodeChange, at: float) -> None:
        cache = None if change.cache is None else change.cache.value
        self.nodes.append(
            {
                "b_execution_id": change.execution_id,
                "b_path": change.path,
                "b_phase": change.phase.value,
                "b_cache": cache,
                "b_outputs": None
                if change.outputs is None
                else dumps(dict(change.outputs), lambda: f"the outputs of {_place(change)}"),
                "b_error": change.error,
                "b_cache_reason": change.cache_reason,
                "b_items": change.items,
                "b_started": at if change.phase is Phase.RUNNING else None,
                "b_finished": at if change.phase.terminal else None,
                "b_at": at,
            }
        )

    def _attempt(self, change: AttemptChange) -> None:
        """Two rows per attempt (running, ended), a map's items included: built directly, in
        ``tables.ATTEMPT_ROW``'s order, the places in error messages made only on an error."""
        attempt = change.attempt
        logs, outputs = attempt.logs, change.outputs
        self.attempts.append(
            (
                change.execution_id,
                change.path,
                attempt.number,
                _TEXT[attempt.phase],
                _TEXT[attempt.kind],
                attempt.error,
                _TEXT[attempt.capacity],
                attempt.executor,
                attempt.started_at,
                attempt.finished_at,
                "{}"
                if not logs
                else dumps(dict(logs), lambda: f"the logs of attempt {attempt.number} of {_place(change)}"),
                attempt.item,
                None
                if outputs is None
                else dumps(dict(outputs), lambda: f"the outputs of item {attempt.item} of {_place(change)}"),
            )
        )

    def _execution(self, change: ExecutionChange, at: float) -> None:
        self.executions.append(
            {
                "b_id": change.execution_id,
                "b_phase": change.phase.value,
                "b_outputs": None
                if change.outputs is None
                else dumps({RETURNED: change.outputs}, f"the outputs of execution {change.execution_id!r}"),
                "b_error": change.error,
                "b_finished": at if change.phase.terminal else None,
                "b_at": at,
            }
        )


def _place(change: NodeChange | AttemptChange | CachePut) -> str:
    return f"node {change.path!r} of execution {change.execution_id!r}"


def node_row(execution_id: str, position: int, node: NewNode, now: float, fragments: JsonFragments) -> Row:
    """A new node: ``QUEUED``, cache ``disabled`` until the engine looks it up (as ``MemoryStore``),
    unless it is carried over, finished, from the execution it recovers. ``fragments`` encodes
    each config and provenance the nodes share once."""
    path, resolved = node.path, node.resolved
    where = f"node {path!r} of execution {execution_id!r}"
    return {
        "execution_id": execution_id,
        "path": path,
        "position": position,
        "hook": resolved.hook,
        "task": resolved.task,
        "phase": node.phase.value,
        "cache": node.cache.value,
        "config": encoded(fragments.config, resolved.config, f"the config of {where}"),
        "provenance": encoded(fragments.provenance, resolved.provenance, f"the provenance of {where}"),
        "outputs": None if node.outputs is None else dumps(dict(node.outputs), f"the outputs of {where}"),
        "error": None,
        "started_at": None,
        "finished_at": None,
        "updated_at": now,
        "cache_reason": None,
        "items": None,
    }


COLUMNS: Final = {
    table.name: tuple(c.name for c in table.c if c.name not in t.UNREAD.get(table.name, ()))
    for table in (t.executions, t.node_executions, t.attempts)
}
"""Column names in the order ``statements.select_record`` reads them (``tables.UNREAD`` left out)."""


_ATTEMPT: Final = itemgetter(
    *(
        COLUMNS["attempts"].index(name)
        for name in (
            "path",
            "number",
            "phase",
            "kind",
            "error",
            "capacity",
            "executor",
            "started_at",
            "finished_at",
            "logs",
            "item",
        )
    )
)
_PHASES: Final = {member.value: member for member in Phase}
_KINDS: Final = {member.value: member for member in AttemptKind}
_CAPACITIES: Final = {member.value: member for member in Capacity}
_TEXT: Final[dict[str, str]] = {
    member: member.value for enum in (Phase, AttemptKind, Capacity) for member in enum
}
"""The stored text of a member (``.value`` is a property in Python, ~0.3 us; an attempt's two
rows ask six). Members are ``str``: a member and its text are the same key."""


RETURNED = "$returned"
"""An execution's return value is stored as ``{"$returned": value}``: a bare number in a JSON
column of SQLite would be read as a number by the column's NUMERIC affinity (an int past 2**63
as a float, a 4,300-digit one as ``-Inf``), and a bare string from psycopg could not be told from
text to decode. Rows of older versions hold the outputs mapping itself."""


def returned(stored: Any) -> Any:
    if isinstance(stored, dict) and len(stored) == 1 and RETURNED in stored:
        return stored[RETURNED]
    return stored  # written before the value was wrapped


def read_value(column: str, stored: Any, where: str) -> Any:
    """An execution's ``inputs``, ``outputs`` (unwrapped) or ``overrides``, each entry held to
    the limits it was written under (``model/values/limits.py``): one past them (an infinite
    float, a lone surrogate: from an older retune or a hand) would break whoever reads it next,
    a JSON encoder or a task. Entry by entry because the limits are per value (one input, one
    output, one hook's overrides), and the column holds several."""
    value = loads(stored, where)
    if column == "outputs":
        value = returned(value)
    try:
        if type(value) is dict:
            for key, entry in value.items():
                _check_entry(key, entry)
        elif type(value) is list:
            for index, entry in enumerate(value):
                _check_entry(index, entry)
        else:
            check_stored(value)
    except LimitExceeded as exc:
        raise ValueNotStorable(f"Cannot read {where} back from the store: {exc}.") from None
    return value


def _check_entry(key: Any, entry: Any) -> None:
    """``check_stored(entry)``, the place it names prefixed with ``key``."""
    try:
        check_stored(entry)
    except LimitExceeded as exc:
        raise LimitExceeded(exc.problem, exc.fix, f"[{key!r}]{exc.where}") from None


class Decoder:
    """Records from raw rows (JSON still text). Nodes that share a config or a provenance (a map's
    items, a fan-out of one task) share one decoded, immutable object: decoding 2,000 alike
    nodes costs little more than decoding one."""

    def __init__(self) -> None:
        self._configs: dict[str, EffectiveConfig] = {}
        self._provenances: dict[str, Provenance] = {}
        self._sources: dict[tuple[str, str, str | None], Source] = {}

    def execution(self, values: Sequence[Any], nodes: tuple[NodeExecution, ...]) -> Execution:
        """The record; ``ValueNotStorable`` names the column that cannot be read back."""
        row = dict(zip(COLUMNS["executions"], values, strict=True))
        where = f"of execution {row['id']!r}"
        return self._execution(
            row, nodes, lambda column: read_value(column, row[column], f"the {column} {where}")
        )

    def summary(self, values: Sequence[Any]) -> Execution:
        """The record without its nodes, for a listing: a JSON column that cannot be read back
        is left empty and named in ``unreadable``, so that one bad row hides no other."""
        row = dict(zip(COLUMNS["executions"], values, strict=True))
        problems: list[str] = []

        def read(column: str) -> Any:
            try:
                return read_value(column, row[column], f"the {column}")
            except ValueNotStorable as exc:
                problems.append(str(exc))
                return None

        execution = self._execution(row, (), read)
        return replace(execution, unreadable=" ".join(problems)) if problems else execution

    @staticmethod
    def _execution(row: Row, nodes: tuple[NodeExecution, ...], read: Callable[[str], Any]) -> Execution:
        outputs = None if row["outputs"] is None else read("outputs")
        return Execution(
            id=row["id"],
            workflow=row["workflow"],
            workflow_version=row["workflow_version"],
            launch_plan=row["launch_plan"],
            phase=Phase(row["phase"]),
            nodes=nodes,
            inputs=read("inputs") or {},
            outputs=outputs,
            error=row["error"],
            overrides=read("overrides") or {},
            created_at=row["created_at"],
            finished_at=row["finished_at"],
            project=row["project"],
            domain=row["domain"],
            parent_id=row["parent_id"],
            worker=row["worker"],
        )

    def node(self, values: Sequence[Any], attempts: Sequence[Attempt]) -> NodeExecution:
        row = dict(zip(COLUMNS["node_executions"], values, strict=True))
        return NodeExecution(
            path=row["path"],
            hook=row["hook"],
            task=row["task"],
            phase=Phase(row["phase"]),
            cache=CacheStatus(row["cache"]),
            config=self._config(row["config"]),
            provenance=self._provenance(row["provenance"]),
            attempts=tuple(attempts),
            outputs=None
            if row["outputs"] is None
            else loads(
                row["outputs"], f"the outputs of node {row['path']!r} of execution {row['execution_id']!r}"
            ),
            error=row["error"],
            cache_reason=row["cache_reason"],
            items=row["items"],
        )

    def attempt(self, values: Sequence[Any]) -> tuple[str, Attempt]:
        """The node path and the attempt. By position, enums by table: a map's record holds an
        attempt per item (a 500-item map's record was ~40% attempts' decoding)."""
        path, number, phase, kind, error, capacity, executor, started, finished, logs, item = _ATTEMPT(values)
        return path, Attempt(
            number=number,
            phase=_PHASES.get(phase) or Phase(phase),
            kind=_KINDS.get(kind) or AttemptKind(kind),
            error=error,
            capacity=_CAPACITIES.get(capacity) or Capacity(capacity),
            executor=executor,
            started_at=started,
            finished_at=finished,
            logs=MappingProxyType(loads(logs)),
            item=item,
        )

    def _config(self, text: str) -> EffectiveConfig:
        config = self._configs.get(text)
        if config is None:
            config = self._configs[text] = EffectiveConfig.from_dict(loads(text))
        return config

    def _provenance(self, text: str) -> Provenance:
        provenance = self._provenances.get(text)
        if provenance is None:
            provenance = self._provenances[text] = MappingProxyType(
                {path: self._source(src) for path, src in loads(text).items()}
            )
        return provenance

    def _source(self, data: Mapping[str, Any]) -> Source:
        key = (data["layer"], data["name"], data.get("hook"))
        source = self._sources.get(key)
        if source is None:
            source = self._sources[key] = Source.from_dict(data)
        return source
