"""Code bundles: the files ``retune register PATH`` found, as one content-addressed zip that
workers import from (stored in the blob store under ``bundles/<sha256>.zip``).

The zip is deterministic (sorted entries, fixed times and modes), so registering the same code
twice gives the same digest and the registration is a no-op. Module names are relative to the
*bundle root*: the first directory at or above PATH without an ``__init__.py`` (pyflyte's rule),
so ``flows/training.py`` in a plain directory is the module ``training``, and inside a package
``pkg/flows/training.py`` is ``pkg.flows.training``.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

MAX_BUNDLE_BYTES: Final = 64 * 2**20
_SKIP_DIRS: Final = frozenset({"__pycache__", "node_modules", "venv", ".venv", "build", "dist"})
_SKIP_SUFFIXES: Final = frozenset({".pyc", ".pyo", ".so.tmp"})
_EPOCH: Final = (1980, 1, 1, 0, 0, 0)


class BundleError(ValueError):
    """A path that cannot be bundled (missing, too large), or a bundle that is not one."""


def bundle_root(path: Path) -> Path:
    """The directory module names are relative to: at or above ``path``, without ``__init__.py``."""
    path = path.resolve()
    root = path.parent if path.is_file() else path
    while (root / "__init__.py").is_file() and root.parent != root:
        root = root.parent
    return root


def bundle_files(path: Path) -> list[Path]:
    """The files to bundle, relative to ``bundle_root(path)``, sorted: everything under ``path``
    but caches, virtual environments and hidden files; and the ``__init__.py`` of each package
    between the root and ``path``."""
    path = path.resolve()
    if not path.exists():
        raise BundleError(f"{path} does not exist. Give the directory (or file) of your workflows.")
    root = bundle_root(path)
    found: set[Path] = set()
    if path.is_file():
        found.add(path.relative_to(root))
    else:
        found.update(p.relative_to(root) for p in _walk(path))
    package = path.parent if path.is_file() else path
    while package != root:
        found.add((package / "__init__.py").relative_to(root))
        package = package.parent
    return sorted(found)


def build_bundle(path: Path) -> bytes:
    """The deterministic zip of ``bundle_files(path)``."""
    root = bundle_root(path)
    buffer = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in bundle_files(path):
            data = (root / relative).read_bytes()
            total += len(data)
            if total > MAX_BUNDLE_BYTES:
                raise BundleError(
                    f"The code under {path} is over {MAX_BUNDLE_BYTES // 2**20} MiB. Register the "
                    "directory of your workflows only, and keep data out of it (pass it as inputs)."
                )
            info = zipfile.ZipInfo(relative.as_posix(), date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def extract_bundle(data: bytes, digest: str, cache: Path) -> Path:
    """The directory ``cache/<digest>`` holding the bundle's files, extracted once (atomically:
    a half-extracted bundle is never seen, even with several workers on one machine)."""
    target = cache / digest
    if target.is_dir():
        return target
    if digest_of(data) != digest:
        raise BundleError(f"Bundle {digest} does not match its digest; the blob store is damaged.")
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


def module_name(path: Path) -> str:
    """The module a file of the bundle is imported as: ``pkg/flows/training.py`` -> ``pkg.flows.training``."""
    parts = list(path.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _walk(path: Path) -> Iterator[Path]:
    for directory, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
        for name in sorted(files):
            if name.startswith(".") or Path(name).suffix in _SKIP_SUFFIXES:
                continue
            yield Path(directory) / name
