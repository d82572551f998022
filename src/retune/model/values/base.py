"""What every codec shares: the ``Codec`` interface, mismatches and where they sit, blob I/O."""

from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import Any, Final, Protocol

from retune.model.values.limits import VALUE_KEY, shown

BLOB_PREFIX: Final = "values/"


class BlobLike(Protocol):
    """What the codec needs of a blob store (``retune.store.base.BlobStore`` is one)."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...


class Mismatch(TypeError):
    """A value that does not fit its annotation; containers add where it sits."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.where: list[str] = []

    def at(self, segment: str) -> Mismatch:
        self.where.insert(0, segment)
        return self

    def render(self, verb: str, annotation: Any) -> str:
        where = f" at {''.join(self.where)}" if self.where else ""
        return f"Cannot {verb} a value as {type_name(annotation)}{where}: {self.problem}"


def expected(kind: str, value: Any) -> Mismatch:
    return Mismatch(f"expected {kind}, got {type(value).__name__} {shown(value)}")


def type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        module = annotation.__module__
        return annotation.__qualname__ if module == "builtins" else f"{module}.{annotation.__qualname__}"
    return repr(annotation).replace("typing.", "")


def unsupported(annotation: Any) -> TypeError:
    name = type_name(annotation)
    return TypeError(
        f"retune cannot pass values of type {name} between tasks: inputs and outputs are stored as JSON "
        "(primitives, list, tuple, dict, Optional, dataclasses, pydantic models, datetime, Enum) "
        "or as blobs (bytes, rt.File, rt.Directory, pathlib.Path). Make it a dataclass or a pydantic "
        f"model, or opt in to pickling with rt.Pickled[{name}]."
    )


class Io:
    """Where blobs live and where decoded files go (built once per ``decode``)."""

    __slots__ = ("blobs", "workdir")

    def __init__(self, blobs: BlobLike | None, workdir: str | os.PathLike[str] | None) -> None:
        self.blobs = blobs
        self.workdir = workdir

    def store(self) -> BlobLike:
        return need_blobs(self.blobs)

    def fresh_dir(self) -> Path:
        root = Path(self.workdir) if self.workdir is not None else default_workdir()
        root.mkdir(parents=True, exist_ok=True)
        import tempfile

        return Path(tempfile.mkdtemp(dir=root))


class Codec:
    __slots__ = ()

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        raise NotImplementedError

    def dec(self, data: Any, io: Io) -> Any:
        raise NotImplementedError


def need_blobs(blobs: BlobLike | None) -> BlobLike:
    if blobs is None:
        raise Mismatch("bytes, files and directories travel through the blob store, and none was given")
    return blobs


def put_blob(blobs: BlobLike | None, data: bytes) -> str:
    import hashlib  # here, not at import: 2 ms that only blobs need

    store = need_blobs(blobs)
    key = BLOB_PREFIX + hashlib.sha256(data).hexdigest()
    exists = getattr(store, "exists", None)
    if exists is None or not exists(key):
        store.put(key, data)
    return key


def marker_key(data: Any, tag: str) -> str:
    if type(data) is not dict or type(data.get(tag)) is not str:
        raise expected(f'a {{"{tag}": key}} blob reference', data)
    key = typing.cast(str, data[tag])
    if VALUE_KEY.fullmatch(key) is None:  # only what put_blob writes: never a bundle, a log, ...
        raise Mismatch(
            f"the blob reference {{{tag!r}: {shown(key)}}} does not name a value (values/<sha256>)"
        )
    return key


_workdir: Path | None = None


def default_workdir() -> Path:
    global _workdir
    if _workdir is None:
        import atexit
        import shutil
        import tempfile

        _workdir = Path(tempfile.mkdtemp(prefix="retune-values-"))
        atexit.register(shutil.rmtree, _workdir, ignore_errors=True)
    return _workdir
