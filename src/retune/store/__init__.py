"""Where retune keeps state: a SQL database for records, a blob store for large values and logs.

    open_store()          RETUNE_DATABASE_URL, else SQLite at RETUNE_HOME/retune.db (migrated on open)
    open_default_blobs()  RETUNE_BLOB_URL / [blobs] url, an fsspec URL, else RETUNE_HOME/blobs
    open_blobs()          the blob store at one fsspec URL or directory

SQLAlchemy, Alembic and fsspec load only when one of these is called: ``import retune`` and
``import retune.store`` stay light.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retune.settings import Settings, load, retune_home
from retune.store.base import (
    AttemptChange,
    BlobStore,
    CachePut,
    Change,
    Conflict,
    ExecutionChange,
    IllegalTransition,
    InvalidKey,
    NewExecution,
    NewNode,
    NodeChange,
    NotFound,
    Store,
    StoreError,
    StoreUnavailable,
    ValueNotStorable,
)

if TYPE_CHECKING:
    from retune.store.blobs import FsspecBlobStore
    from retune.store.sql import SqlStore

__all__ = [
    "AttemptChange",
    "BlobStore",
    "CachePut",
    "Change",
    "Conflict",
    "ExecutionChange",
    "IllegalTransition",
    "InvalidKey",
    "NewExecution",
    "NewNode",
    "NodeChange",
    "NotFound",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "ValueNotStorable",
    "default_database_url",
    "open_blobs",
    "open_default_blobs",
    "open_store",
]


def default_database_url() -> str:
    """``RETUNE_DATABASE_URL``, else the SQLite file ``RETUNE_HOME/retune.db``."""
    return os.environ.get("RETUNE_DATABASE_URL") or f"sqlite:///{retune_home() / 'retune.db'}"


def open_store(url: str | None = None, *, grace: float | None = None) -> SqlStore:
    """The store at ``url`` (``default_database_url()`` when None), upgraded to this retune's schema.

    ``postgresql://`` URLs use psycopg 3 (the ``retune[postgres]`` extra). While the database
    cannot be reached, opening and every call retry with backoff for ``grace`` seconds (a few by
    default, what a CLI can wait), then raise ``StoreUnavailable``; a worker passes its lease.
    """
    from retune.store.outage import GRACE
    from retune.store.sql import SqlStore

    return SqlStore(url or default_database_url(), grace=GRACE if grace is None else grace)


def open_blobs(
    url: str | Path | None = None, *, options: Mapping[str, Any] | None = None, grace: float | None = None
) -> FsspecBlobStore:
    """The blob store at the fsspec ``url`` (or directory), ``RETUNE_HOME/blobs`` when None.

    ``options`` are fsspec storage options (for S3: ``endpoint_url``, ``key``, ``secret``...).
    While the store cannot be reached, every call retries with backoff for ``grace`` seconds (a
    few by default), then raises ``StoreUnavailable``.
    """
    from retune.store.blobs import FsspecBlobStore
    from retune.store.outage import GRACE

    where = str(url) if url is not None else str(retune_home() / "blobs")
    return FsspecBlobStore(where, options=options, grace=GRACE if grace is None else grace)


def open_default_blobs(settings: Settings | None = None, *, grace: float | None = None) -> FsspecBlobStore:
    """The configured blob store: ``settings.blobs`` (RETUNE_BLOB_URL, ``[blobs] url`` and
    ``[blobs.options]``), else the directory ``blobs`` in ``settings.home``. The one place that
    builds it from settings, for the CLI, ``rt.run``, the server and workers alike."""
    from retune.settings import SettingsError

    settings = settings or load()
    url = settings.blobs.url or str(settings.home / "blobs")
    try:
        return open_blobs(url, options=settings.blobs.options, grace=grace)
    except SettingsError as exc:
        raise SettingsError(f"{settings.blobs.source}: {exc}") from None
