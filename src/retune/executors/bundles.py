"""Code bundles as executors see them: a content-addressed zip in the blob store
(``bundles/<sha256>.zip``) that a task process imports from once it is extracted.

A ``TaskRef`` names its bundle by digest, never a path on the launcher's machine, so whoever
runs an attempt (a task process here, a `retune worker` elsewhere, a resumed run next week) installs the
same code from the blob store. ``retune register`` builds bundles from a directory
(``control.bundles``), ``rt.run`` from the modules it loaded (``sdk.code``); both write them
with ``zip_files``, so equal files give equal digests.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from retune.executors.base import Blobs

PICKLED: Final = "_retune_pickled"
"""The bundle's folder of tasks sent by value (``<task name>.pkl``, cloudpickle): tasks defined
in ``__main__``, in a notebook or inside a function, which no task process can import."""

MAX_BUNDLE_BYTES: Final = 64 * 2**20
"""The most code a bundle may hold: data belongs in inputs, not next to the code."""

_EPOCH: Final = (1980, 1, 1, 0, 0, 0)


class BundleError(ValueError):
    """A path that cannot be bundled (missing, too large), or a bundle that is not one."""


def bundle_key(digest: str) -> str:
    """Where the bundle with this digest lives in the blob store."""
    return f"bundles/{digest}.zip"


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_digest(data: bytes, digest: str) -> bytes:
    """``data``, if it is the bundle named ``digest``; ``BundleError`` if the store damaged it."""
    if digest_of(data) != digest:
        raise BundleError(f"Bundle {digest} does not match its digest; the blob store is damaged.")
    return data


def zip_files(files: Mapping[str, bytes]) -> bytes:
    """The deterministic zip of ``files`` (archive name -> content): sorted entries, fixed
    times and modes, so the same files always give the same bytes and the same digest."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return buffer.getvalue()


def pickled_tasks(data: bytes) -> dict[str, bytes]:
    """Task name -> cloudpickled function, for the tasks a bundle sends by value."""
    found = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            folder, _, file = name.partition("/")
            if folder == PICKLED and file.endswith(".pkl"):
                found[file.removesuffix(".pkl")] = archive.read(name)
    return found


def extract_bundle(data: bytes, digest: str, cache: Path) -> Path:
    """The directory ``cache/<digest>`` holding the bundle's files, extracted once (atomically:
    a half-extracted bundle is never seen, even with several workers on one machine)."""
    target = cache / digest
    if target.is_dir():
        return target
    check_digest(data, digest)
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=cache))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.infolist():
                relative = Path(member.filename)
                if relative.is_absolute() or ".." in relative.parts:
                    raise BundleError(f"Bundle {digest} holds an unsafe path {member.filename!r}.")
            archive.extractall(scratch)
        try:
            os.rename(scratch, target)
        except OSError:
            if not target.is_dir():  # not another process that won the race
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return target


class InstalledBundles:
    """Bundles installed from the blob store under ``cache`` (``cache/<digest>``), each read and
    extracted once; what a task process puts on its ``sys.path`` for a ``TaskRef.bundle``."""

    def __init__(self, blobs: Blobs, cache: Path) -> None:
        self.blobs = blobs
        self.cache = cache
        self._paths: dict[str, Path] = {}
        self._lock = threading.Lock()

    def path(self, digest: str) -> Path:
        """Raises the blob store's error for a bundle it does not hold, ``BundleError`` for a
        damaged one. A bundle's directory removed since (a user clearing RETUNE_HOME between
        two runs of a notebook) is extracted again: a task process not yet holding its modules
        would not find them (``ModuleNotFoundError``)."""
        with self._lock:
            found = self._paths.get(digest)
            if found is None or not found.is_dir():
                found = self.cache / digest
                if not found.is_dir():
                    found = extract_bundle(self.blobs.get(bundle_key(digest)), digest, self.cache)
                self._paths[digest] = found
            return found
