"""The code of a local run, as a bundle: what ``rt.run`` registers with the workflow, so that any
process (a task process, ``retune executions resume`` next week, a worker elsewhere) runs its
tasks from the store alone, never from a path on the launcher's machine.

What goes in is pyflyte's ``--copy auto`` rule:

1. every module this process imported from outside the Python installation (the standard
   library, site-packages, retune itself), under the path its name gives (``pkg.flows`` ->
   ``pkg/flows.py``, with ``pkg/__init__.py``);
2. by value (cloudpickle, under ``executors.bundles.PICKLED``), each task no process could import
   by name: one defined in ``__main__``, a notebook or inside a function.

A module the launcher never imported is not in it: import helpers at module level, or register
the directory with ``retune register``. Files are read once per change (size and mtime), and the
zip is rebuilt only when something changed, so repeated runs pay a ``stat`` per module.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from retune.executors.bundles import MAX_BUNDLE_BYTES, PICKLED, BundleError, digest_of, zip_files
from retune.sdk.task import declared_task


@dataclass(frozen=True, slots=True)
class LocalCode:
    """A bundle of the launcher's code: its zip, its digest, and the tasks it sends by value."""

    digest: str
    data: bytes = field(repr=False)
    pickled: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    """Task name -> its cloudpickled function, for the tasks sent by value."""


_LOCK: Final = threading.Lock()
_READ: dict[str, tuple[int, int, bytes]] = {}  # real path -> (mtime_ns, size, content)
_LAST: dict[Any, LocalCode] = {}  # what the last bundle was built from -> it


def local_code(tasks: Iterable[tuple[str, str, str]]) -> LocalCode:
    """The bundle for ``(name, module, qualname)`` tasks: the launcher's own modules, and the
    tasks that cannot be imported by name pickled by value."""
    with _LOCK:
        stamped = {arcname: (path, *_stamp(path)) for arcname, path in _user_modules()}
        # a module whose file is gone (a test's temporary directory) cannot be bundled or imported
        files = {arcname: found[0] for arcname, found in stamped.items() if found[2] >= 0}
        stamps = tuple(sorted((arcname, *stamped[arcname][1:]) for arcname in files))
        pickled = {
            f"{PICKLED}/{name}.pkl": _pickle(name)
            for name, module, qualname in tasks
            if _by_value(module, qualname, files)
        }
        key = (stamps, tuple(sorted((k, digest_of(v)) for k, v in pickled.items())))
        found = _LAST.get(key)
        if found is None:
            contents = {arcname: _read(path) for arcname, path in files.items()} | pickled
            if sum(len(data) for data in contents.values()) > MAX_BUNDLE_BYTES:
                raise BundleError(
                    f"The code this run imported is over {MAX_BUNDLE_BYTES // 2**20} MiB. Keep data "
                    "out of Python modules (pass it as inputs), or register the workflow's "
                    "directory with retune register and launch it."
                )
            data = zip_files(contents)
            by_name = {k.removeprefix(PICKLED + "/").removesuffix(".pkl"): v for k, v in pickled.items()}
            found = LocalCode(digest_of(data), data, by_name)
            _LAST.clear()  # one entry: a long-lived process keeps only its current code
            _LAST[key] = found
        return found


_CLASSIFIED: dict[tuple[str, object], tuple[str, str] | None] = {}
"""(module name, its ``__file__``) -> (archive name, real path) if it is the user's code: a
process holds a thousand modules, and resolving each path again on every run would cost more
than the run's bookkeeping."""


def _user_modules() -> list[tuple[str, str]]:
    """(archive name, real path) of every imported module that is the user's code."""
    found = []
    for name, module in list(sys.modules.items()):
        key = (name, getattr(module, "__file__", None))
        if key not in _CLASSIFIED:
            _CLASSIFIED[key] = _classify(name, module)
        entry = _CLASSIFIED[key]
        if entry is not None:
            found.append(entry)
    return found


def _classify(name: str, module: ModuleType | None) -> tuple[str, str] | None:
    file = getattr(module, "__file__", None)
    if name == "__main__" or not isinstance(file, str) or file.startswith(_installation()):
        return None  # most modules: resolving their paths' links (a syscall per part) costs more
    path = _source(module)
    if path is None or path.startswith(_installation()):
        return None
    arcname = _arcname(name, path)
    return None if arcname is None else (arcname, path)


def _source(module: ModuleType | None) -> str | None:
    file = getattr(module, "__file__", None)
    if not isinstance(file, str) or not file.endswith(".py"):
        return None
    return os.path.realpath(file)


def _arcname(name: str, path: str) -> str | None:
    """Where module ``name`` goes in the bundle, if its file is where its name says (a module
    loaded from a path under another name cannot be imported by that name: it is skipped)."""
    parts = name.split(".")
    tail = "/".join(parts) + ("/__init__.py" if path.endswith("__init__.py") else ".py")
    return tail if path.replace(os.sep, "/").endswith("/" + tail) else None


_INSTALLATION: list[tuple[str, ...]] = []


def _installation() -> tuple[str, ...]:
    """Directories of the Python installation and of retune: code every process already has."""
    if not _INSTALLATION:
        paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
        paths.update(sysconfig.get_paths().values())
        paths.update(site.getsitepackages())
        paths.add(site.getusersitepackages())
        paths.add(str(Path(__file__).resolve().parent.parent))  # the retune package
        # each as given and as resolved: a module's __file__ is either, and starting with the
        # given one (a venv's site-packages under a linked directory) is enough to be inside
        given = {os.path.join(os.path.abspath(p), "") for p in paths if p}
        _INSTALLATION.append(tuple(given | {os.path.join(os.path.realpath(p), "") for p in given}))
    return _INSTALLATION[0]


def _by_value(module: str, qualname: str, files: dict[str, str]) -> bool:
    if module == "__main__" or "<locals>" in qualname:
        return True
    loaded = sys.modules.get(module)
    if loaded is None:
        return True  # declared by a module that is gone (a notebook cell run as a file)
    path = _source(loaded)
    # the user's module that is not in the bundle (loaded under another name than its path)
    return path is not None and not path.startswith(_installation()) and path not in files.values()


def _pickle(name: str) -> bytes:
    task = declared_task(name)
    if task is None:
        raise BundleError(f"Task {name!r} is not declared in this process, so it cannot be sent by value.")
    import cloudpickle

    data: bytes = cloudpickle.dumps(task.fn)
    return data


def _stamp(path: str) -> tuple[int, int]:
    try:
        stat = os.stat(path)
    except OSError:
        return (0, -1)
    return (stat.st_mtime_ns, stat.st_size)


def _read(path: str) -> bytes:
    mtime, size = _stamp(path)
    cached = _READ.get(path)
    if cached is not None and cached[:2] == (mtime, size):
        return cached[2]
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BundleError(f"Cannot read {path} to bundle it: {exc.strerror}.") from None
    _READ[path] = (mtime, size, data)
    return data
