"""``FsspecBlobStore``: blobs under one fsspec URL (``file:///shared/retune``, ``s3://bucket/prefix``).

A put is atomic (readers see the old blob or the whole new one) where the filesystem allows:

- on a local or mounted directory the bytes go to a temporary file in the blob's own directory,
  are flushed to disk, and ``os.replace`` swaps it in, an atomic rename on POSIX and Windows;
- on an object store (S3) one PUT of the whole object is atomic by itself;
- on another remote filesystem the put is whatever its ``pipe_file`` is.

Keys are ``/``-separated relative paths; one that is empty, absolute, or has an empty, ``.`` or
``..`` part is refused, so no key reaches outside the root.

Outages: a call that fails because the store cannot be reached (a refused or dropped connection,
a timeout, a busy or failing object store, a network mount gone stale) runs again with backoff
for ``grace`` seconds, then raises ``StoreUnavailable`` naming the URL without its credentials;
the process logs one line when the outage starts and one when it ends (``retune.store.outage``).
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Final, TypeVar

if TYPE_CHECKING:
    import fsspec

from retune.settings import SettingsError
from retune.store.base import BlobStore, InvalidKey, NotFound, StoreUnavailable
from retune.store.outage import GRACE, outage_for, redact, retrying

R = TypeVar("R")

PROTOCOL_DEFAULTS: Final[Mapping[str, Mapping[str, Any]]] = {
    # One try per call and a short connect: the store's own backoff waits through outages and
    # logs them; botocore's retries on top made one refused call take ~8 s.
    "s3": {"config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 5}},
}
"""Storage options a protocol gets unless the user's ``[blobs.options]`` give the same key."""

_AWAY_ERRNOS: Final = frozenset(
    {
        errno.EBUSY,  # s3fs: 503 SlowDown, ServiceUnavailable
        errno.EREMOTEIO,  # s3fs: 500 InternalError
        errno.EIO,
        errno.ESTALE,  # a network mount whose server went away
        errno.ENOTCONN,
        errno.ETIMEDOUT,
        errno.EHOSTDOWN,
        errno.EHOSTUNREACH,
        errno.ENETDOWN,
        errno.ENETUNREACH,
    }
)


class FsspecBlobStore:
    """The blob store at ``url``; ``options`` are fsspec storage options (``endpoint_url``...)."""

    def __init__(self, url: str, *, options: Mapping[str, Any] | None = None, grace: float = GRACE) -> None:
        self.url = redact(url)
        self.grace = grace
        self._outage = outage_for("blob store", self.url)
        local = _local_root(url)
        if local is not None:  # a directory: plain file calls, and no fsspec to import (~40 ms)
            self._fs: fsspec.AbstractFileSystem | None = None
            self._local = True
            self.root: str = os.path.realpath(local)
            return
        import fsspec

        protocol = fsspec.core.split_protocol(url)[0] or "file"
        merged = {**PROTOCOL_DEFAULTS.get(protocol, {}), **(options or {})}
        try:
            fs, root = fsspec.core.url_to_fs(url, **merged)
        except ImportError as exc:  # fsspec knows the protocol; its package is not installed
            extra = " (pip install 'retune[s3]')" if protocol == "s3" else ""
            raise SettingsError(
                f"The blob store URL {self.url!r} needs a package that is not installed: {_reason(exc)}{extra}"
            ) from None
        except ValueError as exc:
            raise SettingsError(
                f"The blob store URL {self.url!r} cannot be opened: {_reason(exc)}. Use a directory "
                "(file:///shared/retune) or an object store URL (s3://bucket/prefix)."
            ) from None
        self._fs = fs
        self._local = False
        self.root = root.rstrip("/")

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        self._retrying(lambda: self._put_local(path, data) if self._local else self._put_remote(path, data))

    def get(self, key: str) -> bytes:
        return bytes(
            self._read(key, lambda path: Path(path).read_bytes(), lambda fs, path: fs.cat_file(path))
        )

    def size(self, key: str) -> int:
        return int(self._read(key, lambda path: os.stat(path).st_size, lambda fs, path: fs.size(path)))

    def get_range(self, key: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        return bytes(
            self._read(
                key,
                lambda path: _read_local(path, start, end),
                lambda fs, path: fs.cat_file(path, start=start, end=end),
            )
        )

    def _read(
        self, key: str, local: Callable[[str], R], remote: Callable[[fsspec.AbstractFileSystem, str], R]
    ) -> R:
        """``local(path)`` on a directory, ``remote(fs, path)`` elsewhere, through outages;
        ``NotFound`` naming the key where there is no such blob."""
        path = self._path(key)
        fs = self._fs
        try:
            return self._retrying((lambda: local(path)) if fs is None else (lambda: remote(fs, path)))
        except (FileNotFoundError, IsADirectoryError):
            raise NotFound(f"No blob {key!r} in {self.url}.") from None

    def exists(self, key: str) -> bool:
        path = self._path(key)
        fs = self._fs
        if fs is None:
            return bool(self._retrying(lambda: os.path.isfile(path)))
        try:
            info = self._retrying(lambda: fs.info(path))
        except FileNotFoundError:
            return False
        return bool(info.get("type") == "file")

    def local_path(self, key: str) -> Path | None:
        """The file for ``key``, its directory created, for a same-machine writer (logs); None
        when the store is not a local directory (the writer puts the bytes instead)."""
        path = self._path(key)
        if not self._local:
            return None
        self._retrying(lambda: os.makedirs(os.path.dirname(path), exist_ok=True))
        return Path(path)

    def _put_local(self, path: str, data: bytes) -> None:
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _put_remote(self, path: str, data: bytes) -> None:
        assert self._fs is not None
        try:
            self._fs.pipe_file(path, data)
        except (FileNotFoundError, PermissionError) as exc:
            # No such bucket, or no right to write: an answer, not an outage; waiting will not help.
            raise StoreUnavailable("blob store", self.url, _reason(exc)) from None

    def _path(self, key: str) -> str:
        return "/".join((self.root, *check_key(key)))

    def _retrying(self, call: Callable[[], R]) -> R:
        return retrying(call, self._outage, self.grace, _away)

    def __repr__(self) -> str:
        return f"FsspecBlobStore({self.url!r})"


def _read_local(path: str, start: int, end: int) -> bytes:
    with open(path, "rb") as file:
        file.seek(start)
        return file.read(end - start)


def _local_root(url: str) -> str | None:
    """The directory of a plain path or a ``file://`` URL (fsspec's reading of it: the part
    after the scheme, ``~`` not expanded); None for any other URL."""
    if url.startswith("file://"):
        return url.removeprefix("file://") or "/"
    if "://" in url or "::" in url:
        return None
    return url


def _away(exc: Exception) -> str | None:
    """Why the store cannot be reached, if ``exc`` says so; None if it is the store's answer."""
    if isinstance(exc, (ConnectionError, TimeoutError, *_library_outages())):
        return _reason(exc)
    if isinstance(exc, OSError) and exc.errno in _AWAY_ERRNOS:
        return _reason(exc)
    return None


def _library_outages() -> tuple[type[BaseException], ...]:
    """botocore's connection errors (s3fs raises them as they are), if botocore is loaded: if it
    is not, none of them can have been raised, and importing it would cost every local store."""
    found = sys.modules.get("botocore.exceptions")
    if found is None:
        return ()
    return (found.ConnectionError, found.HTTPClientError)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


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
    _blobs: type[BlobStore] = FsspecBlobStore  # mypy checks that FsspecBlobStore is a BlobStore
