"""``retune serve``: the REST API (FastAPI) over the control plane. It holds no user code.

    serve(host, port)      uvicorn on create_app(); [server] of retune.toml gives the defaults
    app.create_app()       the FastAPI app (tests use it with fastapi.testclient.TestClient)

Importing this package loads neither FastAPI nor uvicorn; ``serve`` and ``retune.server.app``
do. Decisions (tokens, the loopback rule, limits, status codes):
docs/decisions/0010-server-auth.md.
"""

from __future__ import annotations

import ipaddress
from typing import Final

from retune.settings import Settings, SettingsError, load

__all__ = ["is_loopback", "serve"]

LOOPBACK_NAMES: Final = frozenset({"localhost"})


def serve(host: str | None = None, port: int | None = None, *, workers: int = 1) -> None:
    """Serve the API until interrupted, on ``host:port`` (default ``[server]``: 127.0.0.1:8265),
    in ``workers`` processes, each with a socket of its own on the port (``server.processes``;
    each builds its own app).

    Raises ``SettingsError`` before binding anything when the settings cannot work, or when
    ``host`` is not a loopback address and no ``[[server.tokens]]`` are configured: the API
    would then be open to the network.
    """
    import uvicorn

    from retune.heap import settle
    from retune.server.app import create_app
    from retune.server.auth import load_tokens

    settings = load()
    host = host if host is not None else settings.server.host
    port = port if port is not None else parse_port(settings)
    if not 0 <= port <= 65535:
        raise SettingsError(f"Port {port} is not a port number; give one from 1 to 65535, e.g. 8265.")
    if not load_tokens(settings) and not is_loopback(host):
        raise SettingsError(
            f"Refusing to serve on {host!r} without API tokens: anyone who can reach it could launch "
            "code. Configure [[server.tokens]] in retune.toml (name, token or token_sha256, projects, "
            "rights), or bind 127.0.0.1."
        )
    if workers < 1:
        raise SettingsError(f"--workers {workers} is not a number of processes; give 1 or more, e.g. 2.")
    app = create_app(settings)  # refuses bad tokens or [capacity] here, before any process starts
    if workers == 1:
        settle()
        uvicorn.run(app, host=host, port=port, log_level="info")
        return
    # One process runs the routes under one GIL: launches are CPU-bound (parse, resolve, JSON),
    # so a second core needs a second process. Migrate once here, so that N workers starting
    # together never race to create the schema; each worker then opens its own connections.
    from retune.server.app import database_url
    from retune.store import open_store

    open_store(database_url(settings)).close()
    from retune.server.processes import serve_processes

    status = serve_processes(host, port, workers)
    if status:
        raise SystemExit(status)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``: addresses only this machine can reach."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_port(settings: Settings) -> int:
    raw = settings.server.port
    if raw.isdigit() and 0 < int(raw) < 65536:
        return int(raw)
    raise SettingsError(
        f"[server] port (or RETUNE_SERVER_PORT) is {raw!r}; give a port number from 1 to 65535, e.g. 8265."
    )
