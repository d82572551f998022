"""A lean HTTP/1.1 load generator for the server rows: ``clients`` keep-alive connections on one
asyncio loop, each sending the same pre-encoded request one after another.

What a load generator such as ``wrk`` or ``oha`` does, in a few lines of stdlib: the request is
encoded once, an answer is read by its ``Content-Length`` and checked by a function the row
gives. The server's share of this 2-core machine is what a throughput row measures, so the
generator should take little of it: twenty ``httpx.Client`` threads (the generator before this
one) spent 5-6 ms of CPU per launch, mostly building requests and parsing 154 KB answers under
the GIL; this one spends well under 1 ms (``Load.cpu_per_request`` says how much, in the same
run).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

Check = Callable[[int, bytes], None]
"""``check(status, body)``: raise if the answer is not the expected one."""


@dataclass(frozen=True)
class Load:
    latencies: list[float]
    """Seconds from sending each timed request to its whole answer (warm-ups not included)."""
    wall: float
    """Seconds from the release of the clients to the last answer."""
    cpu: float
    """CPU seconds this process spent meanwhile (the generator's own cost)."""

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall

    @property
    def cpu_per_request(self) -> float:
        return self.cpu / len(self.latencies)


def request_bytes(
    base: str, method: str, path: str, body: bytes = b"", content_type: str = "application/json"
) -> bytes:
    """One HTTP/1.1 request to ``base`` + ``path``, keep-alive, encoded."""
    host = urlsplit(base).netloc
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    if body or method in {"POST", "PUT", "PATCH"}:
        head += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


def load(base: str, request: bytes, check: Check, *, clients: int, per_client: int) -> Load:
    """``clients`` connections, each sending ``request`` once untimed (the warm-up, all at once),
    then, all released together, ``per_client`` times timed."""
    return asyncio.run(_load(base, request, check, clients, per_client))


async def _load(base: str, request: bytes, check: Check, clients: int, per_client: int) -> Load:
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    connections = [await asyncio.open_connection(host, port) for _ in range(clients)]
    try:
        # The warm-up: one request per connection, all at once, as the clients of a busy server
        # arrive (and as the threads of the generator before this one did).
        await asyncio.gather(*(_exchange(reader, writer, request, check) for reader, writer in connections))
        latencies: list[float] = []

        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for _ in range(per_client):
                began = time.perf_counter()
                await _exchange(reader, writer, request, check)
                latencies.append(time.perf_counter() - began)

        cpu, began = time.process_time(), time.perf_counter()
        await asyncio.gather(*(client(reader, writer) for reader, writer in connections))
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    finally:
        for _, writer in connections:
            writer.close()
    return Load(latencies, wall, cpu)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, check: Check
) -> None:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
        elif name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
            raise RuntimeError("the server answered chunked; this generator reads Content-Length only")
    if length is None:
        raise RuntimeError(f"the answer has no Content-Length: {head!r}")
    check(status, await reader.readexactly(length))
