"""Values kept in the blob store: ``bytes``, ``File``, ``Directory``, ``Path`` and ``Pickled[T]``.

Content-addressed (``values/<sha256>``), so equal content is stored once and hashes equally
in cache keys. A directory is stored as a tar that depends only on names, contents and modes.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar

from retune.model.values.base import BlobLike, Codec, Io, Mismatch, expected, marker_key, put_blob, type_name


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class File:
    """A file passed between tasks by content: ``rt.File("data.csv")``.

    Encoding stores its bytes in the blob store; decoding writes them to a fresh local file
    with the same base name, so ``path`` differs across a round trip and the content does not.
    """

    path: Path

    def __init__(self, path: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "path", Path(path))

    def __fspath__(self) -> str:
        return str(self.path)

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.path.read_text(encoding=encoding)


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class Directory:
    """A directory tree passed between tasks by content: ``rt.Directory("out/")``."""

    path: Path

    def __init__(self, path: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "path", Path(path))

    def __fspath__(self) -> str:
        return str(self.path)


class _PickleMarker:
    def __repr__(self) -> str:
        return "retune.PICKLE"


PICKLE: Final = _PickleMarker()
"""``Annotated[T, PICKLE]`` opts ``T`` in to pickling; ``Pickled[T]`` spells the same."""

_T = TypeVar("_T")
Pickled = Annotated[_T, PICKLE]


class BytesCodec(Codec):
    __slots__ = ()

    def __init__(self, cls: type) -> None:
        pass

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if type(value) is not bytes:
            raise expected("bytes", value)
        return {"$bytes": put_blob(blobs, value)}

    def dec(self, data: Any, io: Io) -> Any:
        return io.store().get(marker_key(data, "$bytes"))


def encode_file(path: Path, blobs: BlobLike | None) -> dict[str, str]:
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise Mismatch(f"cannot read file {str(path)!r}: {exc.strerror}") from None
    return {"$file": put_blob(blobs, content), "name": path.name}


def decode_file(data: Any, io: Io) -> Path:
    key = marker_key(data, "$file")
    path = io.fresh_dir() / _safe_name(data.get("name"), "file")
    path.write_bytes(io.store().get(key))
    return path


def encode_dir(path: Path, blobs: BlobLike | None) -> dict[str, str]:
    if not path.is_dir():
        raise Mismatch(f"{str(path)!r} is not a directory")
    return {"$dir": put_blob(blobs, _tar(path)), "name": path.name}


def decode_dir(data: Any, io: Io) -> Path:
    import io as stdio
    import tarfile

    key = marker_key(data, "$dir")
    path = io.fresh_dir() / _safe_name(data.get("name"), "dir")
    path.mkdir()
    with tarfile.open(fileobj=stdio.BytesIO(io.store().get(key)), mode="r") as archive:
        archive.extractall(path, filter="data")
    return path


def _tar(root: Path) -> bytes:
    """A tar of ``root``'s tree that depends only on names, contents and modes."""
    import io as stdio
    import tarfile

    buffer = stdio.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in sorted(root.rglob("*")):
            info = archive.gettarinfo(str(path), arcname=path.relative_to(root).as_posix())
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isfile():
                with path.open("rb") as handle:
                    archive.addfile(info, handle)
            else:
                archive.addfile(info)
    return buffer.getvalue()


def _safe_name(name: Any, fallback: str) -> str:
    if type(name) is not str or name in ("", ".", "..") or "/" in name or "\\" in name:
        return fallback
    return name


class FileCodec(Codec):
    __slots__ = ()

    def __init__(self, cls: type) -> None:
        pass

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if not isinstance(value, File):
            raise expected("rt.File", value)
        return encode_file(value.path, blobs)

    def dec(self, data: Any, io: Io) -> Any:
        return File(decode_file(data, io))


class DirectoryCodec(Codec):
    __slots__ = ()

    def __init__(self, cls: type) -> None:
        pass

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if not isinstance(value, Directory):
            raise expected("rt.Directory", value)
        return encode_dir(value.path, blobs)

    def dec(self, data: Any, io: Io) -> Any:
        return Directory(decode_dir(data, io))


class PathCodec(Codec):
    """A ``Path`` names a file or a directory; what is on disk decides which is stored."""

    __slots__ = ("cls",)

    def __init__(self, cls: type) -> None:
        self.cls: Any = cls

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        if not isinstance(value, os.PathLike):
            raise expected("a path", value)
        path = Path(value)
        return encode_dir(path, blobs) if path.is_dir() else encode_file(path, blobs)

    def dec(self, data: Any, io: Io) -> Any:
        if type(data) is dict and "$dir" in data:
            return self.cls(decode_dir(data, io))
        return self.cls(decode_file(data, io))


class PickleCodec(Codec):
    """``Pickled[T]``: the user opted in; cloudpickle bytes in the blob store, with a warning."""

    __slots__ = ("inner",)

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def enc(self, value: Any, blobs: BlobLike | None) -> Any:
        import cloudpickle

        warnings.warn(
            f"Pickling a {type_name(type(value))} for rt.Pickled[{type_name(self.inner)}]: it can only be read "
            "back by the same versions of Python and of its library.",
            UserWarning,
            stacklevel=3,
        )
        return {"$pickle": put_blob(blobs, cloudpickle.dumps(value))}

    def dec(self, data: Any, io: Io) -> Any:
        import pickle

        return pickle.loads(io.store().get(marker_key(data, "$pickle")))
