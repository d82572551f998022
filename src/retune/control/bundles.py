"""Code bundles: the files ``retune register PATH`` found, as one content-addressed zip that
workers import from (stored in the blob store under ``bundles/<sha256>.zip``).

The zip is deterministic (sorted entries, fixed times and modes), so registering the same code
twice gives the same digest and the registration is a no-op. Module names are relative to the
*bundle root*: the first directory at or above PATH without an ``__init__.py`` (pyflyte's rule),
so ``flows/training.py`` in a plain directory is the module ``training``, and inside a package
``pkg/flows/training.py`` is ``pkg.flows.training``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from retune.executors.bundles import MAX_BUNDLE_BYTES, BundleError, digest_of, extract_bundle, zip_files

__all__ = [  # extracting belongs to executors (they install bundles); re-exported for callers here
    "MAX_BUNDLE_BYTES",
    "BundleError",
    "build_bundle",
    "bundle_files",
    "bundle_root",
    "digest_of",
    "extract_bundle",
    "module_name",
]

_SKIP_DIRS: Final = frozenset({"__pycache__", "node_modules", "venv", ".venv", "build", "dist"})
_SKIP_SUFFIXES: Final = frozenset({".pyc", ".pyo", ".so.tmp"})


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
    files: dict[str, bytes] = {}
    total = 0
    for relative in bundle_files(path):
        data = (root / relative).read_bytes()
        total += len(data)
        if total > MAX_BUNDLE_BYTES:
            raise BundleError(
                f"The code under {path} is over {MAX_BUNDLE_BYTES // 2**20} MiB. Register the "
                "directory of your workflows only, and keep data out of it (pass it as inputs)."
            )
        files[relative.as_posix()] = data
    return zip_files(files)


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
