"""Outages of the database: what a lost connection looks like (``connection_lost``), and saying
so once (``Outage``).

An outage is a fact about one database as seen by one process, so there is one ``Outage`` per
URL per process (``outage_for``), shared by every store open on it: a server with a store per
thread, or a worker whose heartbeat and engine both retry, still logs one line when the
outage starts (what, where, that it retries) and one when it ends (how long it lasted),
never a traceback.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

log: Final = logging.getLogger("retune.store")
log.addHandler(logging.NullHandler())  # a library's logger: silent unless the process configures logging

_outages: dict[str, Outage] = {}
_outages_lock = threading.Lock()


class Outage:
    """Whether the database at ``url`` is away, since when; logs each change of that."""

    def __init__(self, what: str, url: str) -> None:
        self.what = what
        self.url = url
        self.since: float | None = None
        self._lock = threading.Lock()

    def began(self, reason: str) -> None:
        with self._lock:
            if self.since is not None:
                return
            self.since = time.monotonic()
        log.warning(
            "The %s at %s cannot be reached (%s); retrying with backoff.", self.what, self.url, reason
        )

    def ended(self) -> None:
        if self.since is None:  # the common case, read without the lock
            return
        with self._lock:
            since, self.since = self.since, None
        if since is not None:
            log.warning(
                "The %s at %s answers again after %.1f s.", self.what, self.url, time.monotonic() - since
            )


def outage_for(what: str, url: str) -> Outage:
    """The one ``Outage`` of this process for the ``what`` at ``url`` (a redacted URL)."""
    with _outages_lock:
        found = _outages.get(url)
        if found is None:
            found = _outages[url] = Outage(what, url)
        return found


def redact(url: str) -> str:
    """``url`` without its password (in the authority or as a ``password=`` parameter), for
    messages and logs."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k.lower() != "password"], safe="/=")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def reason_of(exc: BaseException) -> str:
    """The driver's first line, without SQLAlchemy's wrapping (``(psycopg.OperationalError)``)."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()
    return text[0] if text else type(inner).__name__


def connection_lost(exc: BaseException, driver: Any, dbapi: Any) -> bool:
    """Whether ``exc`` says the connection was lost (not: the statement was refused): a
    ``Lost``, SQLAlchemy's ``connection_invalidated``, or the driver's operational or interface
    error on a connection that is now broken or closed."""
    if isinstance(exc, Lost):
        return True
    invalidated = getattr(exc, "connection_invalidated", None)
    if invalidated:
        return True
    if invalidated is not None:  # a SQLAlchemy DBAPIError: look at the driver's error inside
        exc = getattr(exc, "orig", None) or exc
    if not isinstance(exc, driver.OperationalError | driver.InterfaceError):
        return False
    return bool(getattr(dbapi, "broken", False) or getattr(dbapi, "closed", False))


class Lost(Exception):
    """The connection was lost (its cause says how)."""


class CommitLost(Lost):
    """The connection was lost during COMMIT, so the transaction may have been written."""


_ANSWERED: Final = re.compile(r"FATAL:(?!\s+the database system is)")
"""A server's refusal of a connection (no such database or role, authentication failed);
``the database system is starting up`` (or shutting down, or in recovery) is worth waiting for.
psycopg carries no SQLSTATE on connection failures, so the message is all there is."""


def transient(exc: BaseException) -> bool:
    """Whether a failed connect is worth trying again."""
    return _ANSWERED.search(str(getattr(exc, "orig", None) or exc)) is None


def quietly(close: Callable[[], object]) -> None:
    """Close or roll back what may already be broken; its error would hide the one that matters."""
    with suppress(Exception):
        close()
