"""Typed values: Python values <-> JSON-compatible *encoded* values, driven by annotations.

``encode(value, annotation)`` returns something ``json.dumps`` accepts; ``decode(data,
annotation)`` gives back an equal value. The annotation decides the shape, so nothing is
tagged with type names and small values cost about a microsecond (see docs/decisions/0006).

- JSON as is: ``None``, ``bool``, ``int``, ``float`` (non-finite ones as ``"NaN"``,
  ``"Infinity"``, ``"-Infinity"``), ``str``, ``Literal``.
- JSON built from parts: ``list``, ``tuple``, ``set``/``frozenset`` (sorted), ``dict`` (str or
  int keys as an object, other keys as ``[key, value]`` pairs), ``Optional``, unions of
  primitives, dataclasses, ``NamedTuple``, ``TypedDict``, pydantic models, ``datetime``,
  ``date``, ``time``, ``timedelta`` (seconds), ``Enum`` (its value), ``UUID``, ``Decimal``.
- Blobs, content-addressed under ``values/<sha256>``: ``bytes`` (``{"$bytes": key}``),
  ``File`` (``{"$file": key, "name": ...}``), ``Directory`` (a deterministic tar,
  ``{"$dir": key, "name": ...}``), ``pathlib.Path`` (either, by what is on disk), and
  ``Pickled[T]`` (cloudpickle, opt-in, with a ``UserWarning``: ``{"$pickle": key}``).
- ``Any`` (or no annotation): JSON-native values, bytes, ``File`` and ``Directory`` only, since
  nothing else could be decoded back to the same type.

Anything else raises ``TypeError`` naming the type and how to opt in. What ``encode`` returns
is held to the limits of ``limits`` (depth, integer digits, size, ...): one over them raises
``LimitExceeded``, a ``ValueError``, naming the limit. Stdlib only: pydantic
is looked up in ``sys.modules`` (a pydantic class cannot exist without it) and cloudpickle
is imported only to pickle.
"""

import os
from typing import Any

from retune.model.values.base import BlobLike, Io, Mismatch
from retune.model.values.blobs import PICKLE, Directory, File, Pickled
from retune.model.values.build import codec_for
from retune.model.values.limits import LimitExceeded, check_given, check_stored, shown, too_deep

__all__ = [
    "PICKLE",
    "BlobLike",
    "Directory",
    "File",
    "LimitExceeded",
    "Pickled",
    "check",
    "check_given",
    "check_stored",
    "decode",
    "encode",
    "shown",
]


def encode(value: Any, annotation: Any = Any, *, blobs: BlobLike | None = None) -> Any:
    """``value`` as JSON-compatible data, shaped by ``annotation``; blobs go to ``blobs``.

    Raises ``TypeError`` if it does not fit ``annotation``, ``LimitExceeded`` if it could not be
    stored and read back (too deep, an integer too long, too large: see ``limits``)."""
    try:
        data = codec_for(annotation).enc(value, blobs)
    except Mismatch as exc:
        raise TypeError(exc.render("encode", annotation)) from None
    except RecursionError:  # deeper than the stack; the walk below refuses anything over MAX_DEPTH
        raise too_deep() from None
    check_stored(data)
    return data


def decode(
    data: Any,
    annotation: Any = Any,
    *,
    blobs: BlobLike | None = None,
    workdir: str | os.PathLike[str] | None = None,
) -> Any:
    """The value ``encode`` was given. Files and directories are written under ``workdir``
    (default: a temporary directory removed when the process exits)."""
    try:
        return codec_for(annotation).dec(data, Io(blobs, workdir))
    except Mismatch as exc:
        raise TypeError(exc.render("decode", annotation)) from None
    except RecursionError:  # only data stored before the limits existed can be this deep
        raise too_deep() from None


def check(annotation: Any) -> None:
    """Raise ``TypeError`` if values of ``annotation`` can never be encoded."""
    codec_for(annotation)
