"""Settings, read once: where retune keeps its state, which images exist, how big the machine is.

Precedence, strongest first: ``RETUNE_*`` environment variables, ``retune.toml`` in the working
directory, ``RETUNE_HOME/config.toml``. Values stay raw strings here; the parts that use them
normalise them (this module imports nothing else of retune).

    # retune.toml
    [database]
    url = "postgresql://postgres@127.0.0.1:5432/retune"
    [blobs]                       # RETUNE_BLOB_URL; default: the directory RETUNE_HOME/blobs
    url = "s3://bucket/prefix"    # any fsspec URL: file:///shared/retune, s3://bucket/prefix
    [blobs.options]               # fsspec storage options (docs/decisions/0014-blob-store.md)
    endpoint_url = "http://127.0.0.1:9000"
    [images]                      # container_image -> Python interpreter
    py311 = "/opt/venvs/py311/bin/python"
    [executor]                    # what runs attempts (RETUNE_EXECUTOR): "local" (default) or "ray"
    kind = "local"
    ray_address = "10.0.0.5:6379" # the Ray cluster (RETUNE_RAY_ADDRESS); none: a local Ray instance
    ray_start_timeout = 300       # seconds an attempt may wait for Ray to start it (RETUNE_RAY_START_TIMEOUT)
    [capacity]                    # what the local executor may hand out at once
    cpu = 2
    mem = "8Gi"
    gpu = 0
    [clusters.warehouse]          # where a SQL task's task_config.cluster sends its query
    url = "postgresql://etl@db.internal:5432/warehouse"   # or duckdb:///path/to/file.duckdb
    password_env = "WAREHOUSE_PASSWORD"                   # read by the task process, never stored
    [server]                      # `retune serve` (RETUNE_SERVER_HOST, RETUNE_SERVER_PORT)
    host = "127.0.0.1"
    port = 8265
    [[server.tokens]]             # API tokens; none configured = no auth, loopback only
    name = "ci"
    token_sha256 = "9f86d0...0a08"     # printf %s "$SECRET" | sha256sum (or token = "...")
    projects = ["flytesnacks"]    # "*" = every project
    rights = ["read", "launch"]

Resources nobody set on any layer resolve to ``DEFAULT_REQUESTS``/``DEFAULT_LIMITS`` (like a
Flyte platform's ``task_resource_defaults``; docs/decisions/0002-platform-resource-defaults.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

DEFAULT_REQUESTS: Final = {"cpu": 0.25, "mem": 256 * 2**20, "gpu": 0, "storage": 0}
DEFAULT_LIMITS: Final = {"cpu": 0.25, "mem": 1 * 2**30, "gpu": 0, "storage": 0}


def retune_home() -> Path:
    """``RETUNE_HOME``, default ``~/.retune``."""
    return Path(os.environ.get("RETUNE_HOME", Path.home() / ".retune"))


class SettingsError(ValueError):
    """A configuration file cannot be read."""


@dataclass(frozen=True)
class ServerSettings:
    """The ``[server]`` table, raw: ``retune.server`` checks the port and the tokens (each
    ``[[server.tokens]]`` table as written), so a typo there cannot break other commands."""

    host: str = "127.0.0.1"
    port: str = "8265"
    tokens: tuple[Any, ...] = ()


@dataclass(frozen=True)
class ExecutorSettings:
    """The ``[executor]`` table, raw: ``retune.executors.factory`` checks the kind, naming
    ``origin`` (where it was set) when it is not one it knows."""

    kind: str = "local"
    origin: str = "the default"
    ray_address: str | None = None
    """The Ray cluster's address (``RETUNE_RAY_ADDRESS``, ``[executor] ray_address``); None: a
    local Ray instance, or the one this process already joined."""
    ray_start_timeout: str | None = None
    """Seconds an attempt may wait for its Ray task to start (``RETUNE_RAY_START_TIMEOUT``,
    ``[executor] ray_start_timeout``), raw; ``executors.ray_check`` reads it. None: its default."""


@dataclass(frozen=True)
class BlobSettings:
    """The ``[blobs]`` table: the blob store's fsspec ``url`` (None: ``RETUNE_HOME/blobs``), its
    storage ``options``, and ``source``, where the URL was set, for error messages."""

    url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    source: str = "the default blob store (RETUNE_HOME/blobs)"


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str | None = None
    blobs: BlobSettings = field(default_factory=BlobSettings)
    images: dict[str, str] = field(default_factory=dict)
    capacity: dict[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    server: ServerSettings = field(default_factory=ServerSettings)
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    clusters: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``[clusters.NAME]`` tables as written (``url``, ``password_env``, ...): the SQL task type
    checks and uses them (``retune.plugins.sql``)."""


@lru_cache(maxsize=8)
def load(cwd: Path | None = None) -> Settings:
    """The merged settings (cached per working directory; ``load.cache_clear()`` in tests)."""
    home = retune_home()
    merged: dict[str, dict[str, Any]] = {
        "database": {},
        "blobs": {},
        "images": {},
        "capacity": {},
        "server": {},
        "executor": {},
        "clusters": {},
    }
    sources = []
    blobs_source = BlobSettings.source
    executor_origin = ExecutorSettings.origin
    for path in (home / "config.toml", (cwd or Path.cwd()) / "retune.toml"):
        if path.is_file():
            for section, values in _read(path).items():
                if isinstance(values, dict) and section in merged:
                    merged[section].update(values)
                    if section == "blobs" and "url" in values:
                        blobs_source = f"[blobs] url in {path}"
                    if section == "executor" and "kind" in values:
                        executor_origin = f"[executor] kind in {path}"
            sources.append(str(path))
    env = os.environ
    if "RETUNE_EXECUTOR" in env:
        merged["executor"]["kind"] = env["RETUNE_EXECUTOR"]
        executor_origin = "RETUNE_EXECUTOR"
    if env.get("RETUNE_RAY_ADDRESS"):
        merged["executor"]["ray_address"] = env["RETUNE_RAY_ADDRESS"]
    if env.get("RETUNE_RAY_START_TIMEOUT"):
        merged["executor"]["ray_start_timeout"] = env["RETUNE_RAY_START_TIMEOUT"]
    if "RETUNE_DATABASE_URL" in env:
        merged["database"]["url"] = env["RETUNE_DATABASE_URL"]
    if env.get("RETUNE_BLOB_URL"):
        merged["blobs"]["url"], blobs_source = env["RETUNE_BLOB_URL"], "RETUNE_BLOB_URL"
    for name in ("cpu", "mem", "gpu"):
        if f"RETUNE_CAPACITY_{name.upper()}" in env:
            merged["capacity"][name] = env[f"RETUNE_CAPACITY_{name.upper()}"]
    for item in filter(None, env.get("RETUNE_IMAGES", "").split(",")):
        image, _, interpreter = item.partition("=")
        merged["images"][image.strip()] = interpreter.strip()
    for name in ("host", "port"):
        if f"RETUNE_SERVER_{name.upper()}" in env:
            merged["server"][name] = env[f"RETUNE_SERVER_{name.upper()}"]
    return Settings(
        home=home,
        database_url=merged["database"].get("url"),
        blobs=_blobs(merged["blobs"], blobs_source),
        images={str(k): str(v) for k, v in merged["images"].items()},
        capacity={str(k): str(v) for k, v in merged["capacity"].items()},
        sources=tuple(sources),
        server=_server(merged["server"]),
        executor=_executor(merged["executor"], executor_origin),
        clusters={
            str(k): dict(v) if isinstance(v, dict) else {"url": v} for k, v in merged["clusters"].items()
        },
    )


def _executor(table: dict[str, Any], origin: str) -> ExecutorSettings:
    address, start = table.get("ray_address"), table.get("ray_start_timeout")
    return ExecutorSettings(
        kind=str(table.get("kind", "local")),
        origin=origin,
        ray_address=None if address in (None, "") else str(address),
        ray_start_timeout=None if start in (None, "") else str(start),
    )


def _server(table: dict[str, Any]) -> ServerSettings:
    tokens = table.get("tokens", [])
    return ServerSettings(
        host=str(table.get("host", ServerSettings.host)),
        port=str(table.get("port", ServerSettings.port)),
        # The later file's list replaces the earlier one's, like any other key.
        tokens=tuple(tokens) if isinstance(tokens, list) else (tokens,),
    )


def _blobs(table: dict[str, Any], source: str) -> BlobSettings:
    url, options = table.get("url"), table.get("options", {})
    if url is not None and (not isinstance(url, str) or not url):
        raise SettingsError(
            f"{source} is {url!r}; give an fsspec URL such as 'file:///shared/retune' or 's3://bucket/prefix'."
        )
    if not isinstance(options, dict):
        raise SettingsError(
            f"[blobs] options is {options!r}, not a table; write it as [blobs.options] with one "
            'fsspec storage option a line, such as endpoint_url = "http://127.0.0.1:9000".'
        )
    return BlobSettings(url=url, options=dict(options), source=source)


def _read(path: Path) -> dict[str, Any]:
    import tomllib  # only when there is a file to read: most runs have none (~5 ms of start-up)

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"Cannot read {path}: {exc}. Fix or remove the file.") from None
