"""An attempt's logs in the blob store: which one, the whole text in pieces, or its end.

    log_key(execution_id, node, attempt, stream) -> (Attempt, key)  NotFound says what there is
    read_log(blobs, key) -> Iterator[str]          the whole text, CHUNK bytes at a time
    log_tail(blobs, key, limit) -> (str, int)      the text of the last ``limit`` bytes, the size

The API's ``GET /executions/{id}/logs``, the web UI (the node panel's end of each log and its
whole-log link) and ``retune executions logs`` read logs through these, so they agree on what a
log is: UTF-8 with undecodable bytes replaced (never a character split between two pieces), and a
log not written yet (the attempt has printed nothing so far) is empty, not an error. Every log is
read through ``BlobStore.size`` and ``get_range``, a piece at a time, on a local disk and on an
object store alike (a ranged GET there): however long the log, a reader holds one piece, and the
tail of a 200 MB log is one read of its end.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Final

from retune.model.execution import Attempt, NodeExecution
from retune.store.base import BlobStore, NotFound

CHUNK: Final = 256 * 1024
_MISSING: Final = (FileNotFoundError, NotFound, KeyError)  # a blob the attempt has not written yet


def log_key(execution_id: str, node: NodeExecution, attempt: int | None, stream: str) -> tuple[Attempt, str]:
    """Attempt number ``attempt`` of ``node`` (None: its latest) and the blob key of its ``stream``
    (``stdout`` or ``stderr``); ``NotFound`` names the attempts or streams there are."""
    where = f"node {node.path!r} of {execution_id}"
    if not node.attempts:
        raise NotFound(f"The {where} has not run yet: it has no attempt, so no logs.")
    if attempt is None:
        chosen = node.attempts[-1]
    else:
        found = [a for a in node.attempts if a.number == attempt]
        if not found:
            numbers = ", ".join(str(a.number) for a in node.attempts)
            raise NotFound(f"The {where} has no attempt {attempt} (its attempts: {numbers}).")
        chosen = found[0]
    key = chosen.logs.get(stream)
    if key is None:
        kept = ", ".join(sorted(chosen.logs)) or "none"
        raise NotFound(f"Attempt {chosen.number} of the {where} kept no {stream!r} (it kept: {kept}).")
    return chosen, key


def read_log(blobs: BlobStore, key: str) -> Iterator[str]:
    """The whole log as text, in pieces of ``CHUNK`` bytes, up to the size it had when asked
    (a running attempt's log grows). Its size is read before this returns, so an answer that
    streams the pieces has already found out whether it exists."""
    try:
        size = blobs.size(key)
    except _MISSING:
        return iter(())
    return _decoded(blobs, key, size)


def log_tail(blobs: BlobStore, key: str, limit: int) -> tuple[str, int]:
    """The last ``limit`` bytes of a log as text, and the size of the whole log in bytes."""
    try:
        size = blobs.size(key)
        data = blobs.get_range(key, max(0, size - limit), size)
    except _MISSING:
        return "", 0
    return data.decode(errors="replace"), size


def _decoded(blobs: BlobStore, key: str, size: int) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    start = 0
    while start < size:
        try:
            data = blobs.get_range(key, start, min(size, start + CHUNK))
        except _MISSING:  # removed meanwhile: what was read is what there is
            break
        if not data:  # shorter than it was (rewritten meanwhile)
            break
        start += len(data)
        if text := decoder.decode(data):
            yield text
    if rest := decoder.decode(b"", final=True):
        yield rest
