"""Wiring: the stores, the executor and the control plane a process talks to, from settings."""

from __future__ import annotations

import atexit
import os
import threading
from typing import TYPE_CHECKING, Any

from retune.executors.base import Executor
from retune.store.base import BlobStore, Store

if TYPE_CHECKING:
    from retune.control.plane import ControlPlane


_SHARED: dict[str, Any] = {}


def _executor(name: str | None, blobs: BlobStore) -> Executor:
    """The process's local executor, kept warm across runs (like ``ray.init``: one per process).

    Its worker processes start once, so a second ``rt.run`` in a notebook or a script does not
    pay their start-up again. A change of settings (home, capacity, images, the Ray address, the blob store) replaces it.
    """
    from retune.executors.factory import build_executor, executor_kind
    from retune.settings import load

    settings = load()
    kind = executor_kind(settings, name, origin="rt.run(executor=...)" if name is not None else None)
    key = repr(
        (
            kind,
            str(settings.home),
            sorted(settings.capacity.items()),
            sorted(settings.images.items()),
            settings.executor.ray_address,
            settings.executor.ray_start_timeout,
            settings.blobs.url,
        )
    )
    if _SHARED.get("key") != key:
        if "executor" in _SHARED:
            _SHARED.pop("executor").close()
        else:
            atexit.register(_close_shared)
        _SHARED["executor"] = build_executor(settings, blobs, kind=kind)
        _SHARED["key"] = key
    executor: Executor = _SHARED["executor"]
    return executor


def _close_shared() -> None:
    if "executor" in _SHARED:
        _SHARED.pop("executor").close()
        _SHARED.pop("key", None)


def open_default_store() -> Store:
    """The configured store (settings: RETUNE_DATABASE_URL, retune.toml, else SQLite)."""
    from retune.settings import load
    from retune.store import open_store

    return open_store(load().database_url)


_STORE_LOCK = threading.Lock()


def shared_store() -> Store:
    """The configured store, kept open across the ``rt.run`` calls of this process, as its
    executor is: opening a SQLite store and closing it (SQLite checkpoints its WAL when the last
    connection closes) cost a run ~10-20 ms; a PostgreSQL one, a connection. Another database
    URL, a database file replaced or removed, or a forked child opens its own; it is closed at
    exit."""
    from retune.settings import load
    from retune.store import default_database_url, open_store

    url = load().database_url or default_database_url()
    with _STORE_LOCK:
        held = _SHARED.get("store")
        if held is not None and _SHARED["store_key"] == (url, os.getpid(), _file_of(url)):
            store: Store = held
            return store
        if held is not None and _SHARED["store_key"][1] == os.getpid():
            held.close()  # not a parent's: a child closes nothing of it
        elif held is None:
            atexit.register(_close_store)
        _SHARED["store"] = store = open_store(url)
        _SHARED["store_key"] = (url, os.getpid(), _file_of(url))
        return store


def _file_of(url: str) -> tuple[int, int] | None:
    """Which file a SQLite URL's database is (device, inode); None for another database."""
    if not url.startswith("sqlite:///"):
        return None
    try:
        found = os.stat(url.removeprefix("sqlite:///"))
    except OSError:
        return None
    return (found.st_dev, found.st_ino)


def _close_store() -> None:
    with _STORE_LOCK:
        held = _SHARED.pop("store", None)
        key = _SHARED.pop("store_key", None)
    if held is not None and key is not None and key[1] == os.getpid():
        held.close()


def open_default_blobs() -> BlobStore:
    """The configured blob store (settings: RETUNE_BLOB_URL, retune.toml, else RETUNE_HOME/blobs)."""
    from retune.store import open_default_blobs as open_configured

    return open_configured()


SERVER_ENV = "RETUNE_SERVER"


def control_plane(server: str | None = None, token: str | None = None) -> ControlPlane:
    """The control plane to talk to: the server at ``server`` (else ``RETUNE_SERVER``) over
    HTTP, or the configured store directly (what ``retune serve`` itself would use)."""
    server = server or os.environ.get(SERVER_ENV) or None
    if server:
        from retune.client import HttpControlPlane

        return HttpControlPlane(server, token=token)
    from retune.control.local import LocalControlPlane
    from retune.executors.factory import config_check
    from retune.settings import load
    from retune.store import open_store

    settings = load()
    store = open_store(settings.database_url)
    return LocalControlPlane(store, open_default_blobs(), check=config_check(settings))
