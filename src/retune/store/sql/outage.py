"""Outages of the database: what a lost connection looks like, and saying so once.

An outage is a fact about one database as seen by one process, so there is one ``Outage`` per
URL per process (``outage_for``), shared by every store open on it: a server with a store per
thread, or a worker whose heartbeat and engine both retry, still logs one line when the
outage starts (what, where, that it retries) and one when it ends (how long it lasted),
never a traceback.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Final
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
