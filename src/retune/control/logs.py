"""An attempt's logs in the blob store: which one, the whole text in pieces, or its end.

    log_key(execution_id, node, attempt, stream) -> (Attempt, key)  NotFound says what there is
    read_log(blobs, key) -> Iterator[str]          the whole text, CHUNK bytes at a time
    log_tail(blobs, key, limit) -> (str, int)      the text of the last ``limit`` bytes, the size

The API's ``GET /executions/{id}/logs``, the web UI (the node panel's end of each log and its
whole-log link) and ``retune executions logs`` read logs through these, so they agree on what a
log is: UTF-8 with undecodable bytes replaced (never a character split between two pieces), and a
log not written yet (the attempt has printed nothing so far) is empty, not an error. A log on a
local disk is read piece by piece, however long it is; a remote one (fsspec) is read whole, the
only read the ``BlobStore`` seam offers.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import BinaryIO, Final

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
    """The whole log as text, in pieces. The blob is opened (or read, if remote) before this
    returns, so an answer that streams the pieces has already found out whether it exists."""
    try:
        if not blobs.exists(key):
            return iter(())
        path = blobs.local_path(key)  # after exists(): it makes the directory of a new key
        if path is None:
            return iter((blobs.get(key).decode(errors="replace"),))
        return _decoded(path.open("rb"))
    except _MISSING:
        return iter(())


def log_tail(blobs: BlobStore, key: str, limit: int) -> tuple[str, int]:
    """The last ``limit`` bytes of a log as text, and the size of the whole log in bytes."""
    try:
        if not blobs.exists(key):
            return "", 0
        path = blobs.local_path(key)
        if path is not None:  # a local file: read only its end, however long the log is
            with path.open("rb") as file:
                size = file.seek(0, 2)
                file.seek(max(0, size - limit))
                data = file.read()
        else:
            data = blobs.get(key)
            size = len(data)
    except _MISSING:
        return "", 0
    return data[-limit:].decode(errors="replace"), size


def _decoded(file: BinaryIO) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with file:
        while data := file.read(CHUNK):
            if text := decoder.decode(data):
                yield text
        if rest := decoder.decode(b"", final=True):
            yield rest
