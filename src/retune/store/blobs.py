"""``LocalBlobStore``: blobs as files under one directory, through fsspec's local filesystem.

A put is atomic (readers see the old blob or the whole new one): the bytes go to a temporary
file in the blob's own directory, are flushed to disk, and ``os.replace`` swaps it in, an atomic
rename on POSIX and Windows alike. Keys are ``/``-separated relative paths; one that is empty,
absolute, or has an empty, ``.`` or ``..`` part is refused, so no key reaches outside the root.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from fsspec.implementations.local import LocalFileSystem

from retune.store.base import BlobStore, InvalidKey, NotFound


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._fs = LocalFileSystem()

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        self._fs.makedirs(str(path.parent), exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return bytes(self._fs.cat_file(str(path)))
        except (FileNotFoundError, IsADirectoryError):
            raise NotFound(f"No blob {key!r} in {self.root}.") from None

    def exists(self, key: str) -> bool:
        return bool(self._fs.isfile(str(self._path(key))))

    def local_path(self, key: str) -> Path:
        """The file for ``key``, its directory created, for a same-machine writer (logs)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key))

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"


def check_key(key: str) -> tuple[str, ...]:
    """The parts of a valid key; ``InvalidKey`` says what is wrong with any other."""
    if not isinstance(key, str) or not key:
        raise InvalidKey(f"Blob key {key!r} is empty; use a relative path such as 'executions/e1/n0/out'.")
    if "\\" in key or "\0" in key:
        raise InvalidKey(f"Blob key {key!r} contains a backslash or NUL; separate its parts with '/'.")
    if key.startswith("/") or PurePosixPath(key).is_absolute() or (len(key) > 1 and key[1] == ":"):
        raise InvalidKey(f"Blob key {key!r} is absolute; keys are relative to the blob store's root.")
    parts = tuple(key.split("/"))
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidKey(
            f"Blob key {key!r} has an empty, '.' or '..' part; keys name a file inside the store, "
            "like 'executions/e1/n0/out'."
        )
    return parts


if TYPE_CHECKING:
    _blobs: type[BlobStore] = LocalBlobStore  # mypy checks that LocalBlobStore is a BlobStore
