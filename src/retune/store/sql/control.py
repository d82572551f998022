"""The control plane's statements: the registry, claiming launched executions by lease, aborts.

Plain SQLAlchemy Core over one connection in a transaction the caller opened (``SqlStore``
does). None of this is on the engine's hot path: a claim or a lease renewal is one statement
or two every few seconds per worker.

Claiming takes the oldest launched execution that is queued, or running under a lease that
expired (its worker died: the new worker adopts it and the engine resumes it from the store).
On PostgreSQL the row is locked with ``FOR UPDATE SKIP LOCKED``, so concurrent workers each get
a different one without waiting; on SQLite the whole claim runs under the database's write lock
(``BEGIN IMMEDIATE``), which serialises workers just as well at SQLite's scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from retune.model.execution import Phase
from retune.store.base import Conflict, Lease, NotFound, Registered
from retune.store.registry import content_hash, difference, missing
from retune.store.sql import tables as t

_LIVE = (Phase.QUEUED.value, Phase.RUNNING.value)
_SPECS_KEPT = 256


def register(
    conn: sa.Connection,
    kind: str,
    project: str,
    domain: str,
    version: str,
    spec: Mapping[str, Any],
    bundle: str | None,
    now: float,
) -> Registered:
    """Insert, or find the same content already there; other content under the version is a Conflict."""
    r = t.registry
    name = str(spec["name"])
    digest = content_hash(spec)
    key = (r.c.kind == kind, r.c.project == project, r.c.domain == domain, r.c.name == name)
    # Without the spec: the same content again (every rt.run of unchanged code) is told by its
    # hash, and the stored spec is decoded only to say what differs.
    without_spec = sa.select(*(c for c in r.c if c is not r.c.spec)).where(*key, r.c.version == version)
    stored = conn.execute(without_spec).first()
    if stored is None:
        conn.execute(
            sa.insert(r).values(
                kind=kind,
                project=project,
                domain=domain,
                name=name,
                version=version,
                spec=dict(spec),
                content_hash=digest,
                bundle=bundle,
                created_at=now,
            )
        )
        return Registered(
            kind, project, domain, name, version, dict(spec), bundle, now, created=True, content_hash=digest
        )
    if stored.content_hash == digest and stored.bundle == bundle:
        return _registered(stored, created=False, spec=dict(spec))
    stored_spec = conn.execute(sa.select(r.c.spec).where(*key, r.c.version == version)).scalar_one()
    differs = difference(kind, spec, stored_spec, bundle, stored.bundle)
    if differs is not None:
        raise Conflict(differs)
    return _registered(stored, created=False, spec=stored_spec)


Specs = dict[str, Mapping[str, Any]]
"""Decoded specs by content hash: what a hash names never changes."""

SHARED_SPECS: Specs = {}
"""The process's ``Specs``, which every ``SqlStore`` reads and fills: a server keeps a store per
thread, and each decoding the 100-node spec on its first launch was ~10 ms of that launch."""


def registered(
    conn: sa.Connection,
    kind: str,
    project: str,
    domain: str,
    name: str,
    version: str | None,
    specs: Specs | None = None,
) -> Registered:
    """One version, or the newest registered when ``version`` is None.

    The row is read without its spec, which comes from ``specs`` by content hash when it is
    there: each launch looks its workflow up, and decoding a 100-node spec was a tenth of one.
    """
    r = t.registry
    key = (r.c.kind == kind, r.c.project == project, r.c.domain == domain, r.c.name == name)
    query = sa.select(*(c for c in r.c if c is not r.c.spec)).where(*key)
    if version is not None:
        query = query.where(r.c.version == version)
    row = conn.execute(query.order_by(r.c.created_at.desc()).limit(1)).first()
    if row is not None:
        spec = None if specs is None else specs.get(row.content_hash)
        if spec is None:
            spec = conn.execute(sa.select(r.c.spec).where(*key, r.c.version == row.version)).scalar_one()
            if specs is not None:
                if len(specs) >= _SPECS_KEPT:
                    specs.clear()
                specs[row.content_hash] = spec
        return _registered(row, created=False, spec=spec)
    versions = conn.execute(sa.select(r.c.version).where(*key).order_by(r.c.created_at)).scalars().all()
    names = (
        conn.execute(
            sa.select(r.c.name)
            .distinct()
            .where(r.c.kind == kind, r.c.project == project, r.c.domain == domain)
            .order_by(r.c.name)
        )
        .scalars()
        .all()
    )
    raise missing(kind, project, domain, name, version, versions, names)


def list_registered(
    conn: sa.Connection,
    kind: str,
    project: str | None,
    domain: str | None,
    name: str | None,
    *,
    specs: bool = True,
) -> list[Registered]:
    r = t.registry
    columns = list(r.c) if specs else [c for c in r.c if c.name != "spec"]
    query = sa.select(*columns).where(r.c.kind == kind)
    for column, value in ((r.c.project, project), (r.c.domain, domain), (r.c.name, name)):
        if value is not None:
            query = query.where(column == value)
    order = (r.c.project, r.c.domain, r.c.name, r.c.created_at.desc())
    rows = conn.execute(query.order_by(*order)).all()
    return [_registered(row, created=False, spec=None if specs else {}) for row in rows]


def claim(conn: sa.Connection, worker: str, lease: float, now: float, *, skip_locked: bool) -> str | None:
    x = t.executions
    query = (
        sa.select(x.c.id)
        .where(
            x.c.project.is_not(None),
            x.c.phase.in_(_LIVE),
            sa.or_(x.c.lease_expires_at.is_(None), x.c.lease_expires_at < now),
        )
        .order_by(x.c.seq)
        .limit(1)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    found = conn.execute(query).scalar()
    if found is None:
        return None
    conn.execute(sa.update(x).where(x.c.id == found).values(worker=worker, lease_expires_at=now + lease))
    return str(found)


def take(conn: sa.Connection, execution_id: str, worker: str, lease: float, now: float) -> str | None:
    """Hold one live execution for ``worker`` unless another holder's lease is still running.
    Returns None when taken, else the name of the live holder."""
    x = t.executions
    taken = conn.execute(
        sa.update(x)
        .where(
            x.c.id == execution_id,
            x.c.phase.in_(_LIVE),
            sa.or_(x.c.lease_expires_at.is_(None), x.c.lease_expires_at < now, x.c.worker == worker),
        )
        .values(worker=worker, lease_expires_at=now + lease)
    ).rowcount
    if taken == 1:
        return None
    holder = conn.execute(sa.select(x.c.worker).where(x.c.id == execution_id)).scalar()
    return str(holder or "")


def renew(conn: sa.Connection, execution_id: str, worker: str, lease: float, now: float) -> Lease:
    x = t.executions
    held = conn.execute(
        sa.update(x)
        .where(x.c.id == execution_id, x.c.worker == worker, x.c.phase.in_(_LIVE))
        .values(lease_expires_at=now + lease)
    ).rowcount
    abort = conn.execute(sa.select(x.c.abort_requested).where(x.c.id == execution_id)).scalar()
    return Lease(held=held == 1, abort_requested=bool(abort))


def release(conn: sa.Connection, execution_id: str, worker: str) -> None:
    x = t.executions
    conn.execute(
        sa.update(x).where(x.c.id == execution_id, x.c.worker == worker).values(lease_expires_at=None)
    )


def request_abort(conn: sa.Connection, execution_id: str, now: float) -> bool:
    """Abort a queued execution nobody claimed at once (True); flag any other live one for its
    worker, whose engine stops at its next heartbeat (False). Terminal ones are left as they are."""
    x, n = t.executions, t.node_executions
    phase = conn.execute(sa.select(x.c.phase).where(x.c.id == execution_id)).scalar()
    if phase is None:
        raise NotFound(f"No execution {execution_id!r}.")
    done = conn.execute(
        sa.update(x)
        .where(x.c.id == execution_id, x.c.phase == Phase.QUEUED.value, x.c.worker.is_(None))
        .values(
            phase=Phase.ABORTED.value,
            error="aborted before it started",
            abort_requested=True,
            updated_at=now,
            finished_at=now,
        )
    ).rowcount
    if done:
        conn.execute(
            sa.update(n)
            .where(n.c.execution_id == execution_id, n.c.phase == Phase.QUEUED.value)
            .values(phase=Phase.ABORTED.value, updated_at=now, finished_at=now)
        )
        return True
    conn.execute(
        sa.update(x).where(x.c.id == execution_id, x.c.phase.in_(_LIVE)).values(abort_requested=True)
    )
    return False


def find_by_key(conn: sa.Connection, idempotency_key: str) -> tuple[str, str | None] | None:
    x = t.executions
    row = conn.execute(
        sa.select(x.c.id, x.c.request_hash).where(x.c.idempotency_key == idempotency_key)
    ).first()
    return None if row is None else (str(row.id), row.request_hash)


def _registered(row: Any, *, created: bool, spec: Mapping[str, Any] | None = None) -> Registered:
    return Registered(
        kind=row.kind,
        project=row.project,
        domain=row.domain,
        name=row.name,
        version=row.version,
        spec=dict(row.spec) if spec is None else spec,
        bundle=row.bundle,
        created_at=row.created_at,
        created=created,
        content_hash=row.content_hash,
    )
