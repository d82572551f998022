"""Outages of the database and the blob store: saying so once (``Outage``), waiting with backoff
(``retrying``), and naming the place without its credentials (``redact``).

An outage is a fact about one place as seen by one process, so there is one ``Outage`` per
URL per process (``outage_for``), shared by every store open on it: a server with a store per
thread, or a worker whose heartbeat and engine both retry, still logs one line when the
outage starts (what, where, that it retries) and one when it ends (how long it lasted),
never a traceback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from retune.store.base import StoreUnavailable

log: Final = logging.getLogger("retune.store")
log.addHandler(logging.NullHandler())  # a library's logger: silent unless the process configures logging

GRACE: Final = 3.0
"""Seconds a call retries while the place is away, by default: what a CLI user can wait."""

BACKOFF: Final = (0.05, 2.0)
"""The first and the longest pause between tries; each pause doubles the one before."""

R = TypeVar("R")

_outages: dict[str, Outage] = {}
_outages_lock = threading.Lock()


class Outage:
    """Whether the ``what`` (database, blob store) at ``url`` is away, since when; logs each
    change of that."""

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


def retrying(
    call: Callable[[], R], outage: Outage, grace: float, lost: Callable[[Exception], str | None]
) -> R:
    """``call()``, run again with backoff while it fails because the place is away, for ``grace``
    seconds; then ``StoreUnavailable``. ``lost(exc)`` says why the place is away (and cleans up
    what the failure broke), or None when ``exc`` is an answer to raise as it is."""
    deadline: float | None = None
    pause = BACKOFF[0]
    while True:
        try:
            result = call()
        except Exception as exc:
            reason = lost(exc)
            if reason is None:
                raise
            outage.began(reason)
            now = time.monotonic()
            deadline = now + grace if deadline is None else deadline
            if now >= deadline:
                raise StoreUnavailable(outage.what, outage.url, reason) from None
            time.sleep(min(pause, deadline - now))
            pause = min(pause * 2, BACKOFF[1])
            continue
        outage.ended()
        return result


_SECRET_PARAMETERS: Final = ("password", "secret", "token")


def redact(url: str) -> str:
    """``url`` without its password (in the authority, or as a parameter named like a password,
    secret or token), for messages and logs."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    kept = [(k, v) for k, v in parse_qsl(parts.query) if not any(s in k.lower() for s in _SECRET_PARAMETERS)]
    if netloc == parts.netloc and len(kept) == len(parse_qsl(parts.query)):
        return url  # nothing to hide: as given (urlunsplit would drop sqlite:////abs's empty host)
    query = urlencode(kept, safe="/=")
    return urlunsplit(parts._replace(netloc=netloc, query=query))
