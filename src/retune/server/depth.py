"""JSON bodies checked before anything parses them: 128 levels of nesting at most, and text.

Both refusals are a 422 with our ``InputError`` body (FastAPI itself answers a body it cannot
decode with a bare 400, which the API does not document).

Python's JSON parser and pydantic recurse: a body nested a few hundred levels deep overflows
pydantic (a 500 at about 254 levels in ``task_config``) and one of a thousand levels the parser
itself. Every later step that walks a value (the overrides' deep merge, the values codec, the
store's encoder, a worker decoding inputs) recurses too. So the depth is counted here, on the
raw bytes and without recursion, before anything parses the body, and a body deeper than
``MAX_DEPTH`` is refused with a 422 naming where it goes too deep. No value deeper than that
can then enter the system through the API.

128 leaves room for every document retune itself sends (a registration's specs nest about a
dozen levels) around any value the values codec accepts (``retune.model.values.limits``: 100
levels, so that a value ``rt.run`` takes can be sent to the API too), and stays far below the
depths that break a parser (about 250 for pydantic here, 1000 for ``json``).
"""

from __future__ import annotations

import json
import re
from typing import Final

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retune.server.errors import BodyTooLarge
from retune.server.limits import BUNDLES

MAX_DEPTH: Final = 128
SHOWN: Final = 8  # parts of the path shown before "..."
_TOKEN: Final = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},:]', re.DOTALL)
_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
_OPENING: Final = frozenset(b"[{")


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> str | None:
    """Where ``body`` first nests deeper than ``limit`` (``inputs.x[0][0]``...), else None.

    A linear scan of the tokens that matter (strings, brackets, commas, colons); a body that is
    not JSON is left for the parser to refuse.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return None  # cannot be deeper: the common case costs two C-speed counts
    if _depth(body) <= limit:
        return None  # a body of many small objects (a launch's 50 overrides): brackets only
    path: list[str | int] = []  # per open container: its current key (object) or index (array)
    kinds: list[int] = []
    expect_key = False
    for match in _TOKEN.finditer(body):
        token = match.group()
        first = token[0]
        if first == 0x22:  # a string
            if expect_key and kinds and kinds[-1] == 0x7B:
                path[-1] = token[1:-1].decode(errors="replace")
            expect_key = False
        elif first in (0x7B, 0x5B):  # { [
            kinds.append(first)
            path.append("" if first == 0x7B else 0)
            expect_key = first == 0x7B
            if len(kinds) > limit:
                return _render(path)
        elif first in (0x7D, 0x5D):  # } ]
            if kinds:
                kinds.pop()
                path.pop()
        elif first == 0x2C:  # ,
            if kinds and kinds[-1] == 0x5B:
                index = path[-1]
                path[-1] = index + 1 if isinstance(index, int) else 0
            expect_key = bool(kinds) and kinds[-1] == 0x7B
        else:  # :
            expect_key = False
    return None


def _depth(body: bytes) -> int:
    """The deepest nesting of ``body``, as ``too_deep`` counts it, without naming where.

    Strings go first (the same pattern, at C speed), then everything but brackets: what is left
    is a few hundred bytes to walk, where the walk over every token took ~1.5 ms for a launch's
    8 KB body. A closing bracket with nothing open is ignored, as ``too_deep`` ignores it.
    """
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in _OPENING:
            depth += 1
            deepest = max(deepest, depth)
        elif depth:
            depth -= 1
    return deepest


def _render(path: list[str | int]) -> str:
    # The path of the container that opened one level too deep, i.e. its parent's key.
    parts = path[:-1]
    text = ""
    for part in parts[:SHOWN]:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    if len(parts) > SHOWN:
        text += "..."
    return text or "(the body)"


def refusal_body(where: str) -> dict[str, object]:
    return {
        "detail": {
            "error": "InputError",
            "message": f"The request body nests arrays and objects deeper than {MAX_DEPTH} levels, "
            f"at {where}",
            "input": where,
            "fix": f"Send values nested at most {MAX_DEPTH} levels deep (flatten them, e.g. a list "
            "of rows rather than lists in lists), or pass the data by reference (a path or URL as "
            "an input).",
        }
    }


class JsonDepth:
    """ASGI middleware: reads the body (already held under its size limit by ``BodyLimit``),
    refuses it when too deep, else hands it on unchanged. Bundles (zip bytes) are not JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(BUNDLES):
            await self.app(scope, receive, send)
            return
        try:
            body, last = await _read(receive)
        except BodyTooLarge as refusal:
            response = JSONResponse(refusal.body, status_code=413, headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        refused = _undecodable(scope, body)
        where = too_deep(body) if refused is None else None
        if where is not None:
            refused = refusal_body(where)
        if refused is not None:
            await JSONResponse(refused, status_code=422)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # http.disconnect, once the app waits for it
            replayed = True
            return {**last, "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _undecodable(scope: Scope, body: bytes) -> dict[str, object] | None:
    """Our 422 for a body FastAPI would parse as JSON but cannot decode (it is not UTF-8/16/32)."""
    content_type = Headers(scope=scope).get("content-type", "")
    if not body or (content_type and "json" not in content_type.split(";")[0]):
        return None  # not parsed as JSON: the route's validation answers for it
    try:
        body.decode(json.detect_encoding(body))
    except UnicodeDecodeError as exc:
        return {
            "detail": {
                "error": "InputError",
                "message": f"The request body is not JSON text: byte {exc.start} is not {exc.encoding}",
                "input": "body",
                "fix": "Send the body as UTF-8 encoded JSON (Content-Type: application/json).",
            }
        }
    return None


async def _read(receive: Receive) -> tuple[bytes, Message]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), {"type": "http.request"}
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), message
