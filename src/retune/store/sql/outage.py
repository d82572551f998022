"""Outages of the database: what a lost connection looks like (``connection_lost``), whether a
failed connect is worth trying again (``transient``). Saying so once and waiting with backoff
are the store's, shared with the blob store (``retune.store.outage``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import suppress
from typing import Any, Final

from retune.store.outage import redact as redact  # re-exported: the worker names its database with it


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
