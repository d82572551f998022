"""Where retune keeps state: a SQL database for records, a blob store for large values and logs.

    open_store()   RETUNE_DATABASE_URL, else SQLite at RETUNE_HOME/retune.db (migrated on open)
    open_blobs()   a local directory, RETUNE_HOME/blobs by default

SQLAlchemy, Alembic and fsspec load only when one of these is called: ``import retune`` and
``import retune.store`` stay light.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from retune.settings import retune_home
from retune.store.base import (
    AttemptChange,
    BlobStore,
    CachePut,
    Change,
    Conflict,
    Event,
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
    from retune.store.blobs import LocalBlobStore
    from retune.store.sql import SqlStore

__all__ = [
    "AttemptChange",
    "BlobStore",
    "CachePut",
    "Change",
    "Conflict",
    "Event",
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
    from retune.store.sql import SqlStore
    from retune.store.sql.store import GRACE

    return SqlStore(url or default_database_url(), grace=GRACE if grace is None else grace)


def open_blobs(root: Path | None = None) -> LocalBlobStore:
    """The blob store in the directory ``root``, ``RETUNE_HOME/blobs`` when None."""
    from retune.store.blobs import LocalBlobStore

    return LocalBlobStore(root if root is not None else retune_home() / "blobs")
