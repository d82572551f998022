"""The pipe between the local executor and a task process: length-prefixed pickle frames.

Stdlib only, because the task process imports it too (``retune.task_runtime`` keeps a tiny import
budget). One frame is an 8-byte big-endian length and a pickle (protocol 5) of a tuple whose
first item names the message:

    executor -> task     ("run", attempt)            attempt: a dict of plain values
                         ("blob", data | None)       answer to a "blob_get"
    task   -> executor   ("ready", pid, executable)  once, after start-up
                         ("blob_get", key)           a blob the codec needs while decoding
                         ("blob_put", key, data)     a blob the codec wrote while encoding
                         ("done", outputs)           encoded outputs, one mapping per call
                         ("failed", kind, error)     kind: "user" or "oom"

Closing the executor's end of the pipe tells the task process to exit.
"""

from __future__ import annotations

import os
import pickle
import struct
from typing import Any, Final

HEADER: Final = struct.Struct("!Q")

HOLD: Final = 0.005
"""Seconds the executor lets the answers of a batch's attempts gather in the pipe before it reads
them (``executors.local``): one wake-up for several."""
_CHUNK: Final = 1 << 16


def send(fd: int, message: tuple[Any, ...]) -> None:
    """Write one frame; blocks only while the pipe is full."""
    body = pickle.dumps(message, protocol=5)
    frame = memoryview(HEADER.pack(len(body)) + body)
    while frame:
        frame = frame[os.write(fd, frame) :]


class Reader:
    """Reads frames from ``fd``, keeping what arrived beyond the current one."""

    __slots__ = ("buffer", "fd")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()

    def pending(self) -> bool:
        """True when a whole frame is already buffered (so waiting on the fd would be wrong)."""
        buffer = self.buffer
        return len(buffer) >= HEADER.size and len(buffer) >= HEADER.size + HEADER.unpack_from(buffer)[0]

    def recv(self) -> tuple[Any, ...]:
        """The next message; ``EOFError`` when the other side has gone."""
        self._fill(HEADER.size)
        size = HEADER.size + HEADER.unpack_from(self.buffer)[0]
        self._fill(size)
        body = bytes(memoryview(self.buffer)[HEADER.size : size])
        del self.buffer[:size]
        message: tuple[Any, ...] = pickle.loads(body)
        return message

    def _fill(self, size: int) -> None:
        while len(self.buffer) < size:
            chunk = os.read(self.fd, max(_CHUNK, size - len(self.buffer)))
            if not chunk:
                raise EOFError("the other end of the pipe closed")
            self.buffer += chunk
