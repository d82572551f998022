"""Helpers of the server tests: the test client, settings with tokens, registration bodies."""

from __future__ import annotations

import hashlib
import io
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import retune as rt
from retune.settings import ServerSettings, Settings

from . import flows_server as flows

with warnings.catch_warnings():
    # Starlette asks for httpx2 rather than httpx (a UserWarning); it concerns its test client only.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient as _TestClient

__all__ = [
    "API",
    "LOOPBACK",
    "SECRETS",
    "TOKENS",
    "UNREADABLE",
    "Server",
    "TestClient",
    "bearer",
    "launch_body",
    "plant_unreadable_inputs",
    "registration",
    "server_settings",
    "zip_bytes",
]

API: Final = "/api/v1"
LOOPBACK: Final = "http://127.0.0.1:8265"


class TestClient(_TestClient):
    """FastAPI's test client, addressed to a loopback name as ``retune serve`` is by default
    (a server without tokens refuses any other ``Host``)."""

    __test__ = False

    def __init__(self, app: Any, base_url: str = LOOPBACK, **kwargs: Any) -> None:
        super().__init__(app, base_url=base_url, **kwargs)


PIPELINE: Final = rt.compile(flows.pipeline).spec
PIPELINE_V2: Final = rt.compile(flows.pipeline_v2).spec


def server_settings(home: Path, tokens: tuple[dict[str, Any], ...] = (), **extra: Any) -> Settings:
    """Settings of a server whose state lives in ``home`` (SQLite file and blobs)."""
    return Settings(
        home=home, capacity={"cpu": "2", "mem": "4Gi"}, server=ServerSettings(tokens=tokens), **extra
    )


def zip_bytes(**files: bytes) -> bytes:
    """A zip holding ``files`` (name -> content), stored uncompressed: a bundle the server takes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def registration(project: str = "flytesnacks", version: str = "v1", **extra: Any) -> dict[str, Any]:
    """The body of ``POST /registrations`` with the pipeline workflow."""
    return {
        "project": project,
        "domain": "development",
        "version": version,
        "workflows": [PIPELINE.model_dump(mode="json")],
        **extra,
    }


def launch_body(project: str = "flytesnacks", **fields: Any) -> dict[str, Any]:
    """The body of ``POST /executions`` launching the pipeline with x=3."""
    return {
        "project": project,
        "domain": "development",
        "workflow": PIPELINE.name,
        "inputs": {"x": 3},
        **fields,
    }


SECRETS: Final = {
    "admin": "admin-secret-0123456789",
    "reader-a": "reader-a-secret-0123456789",
    "launcher-a": "launcher-a-secret-0123456789",
    "both-b": "both-b-secret-0123456789",
}
TOKENS: Final = (
    {"name": "admin", "token": SECRETS["admin"], "projects": ["*"], "rights": ["read", "launch"]},
    {"name": "reader-a", "token": SECRETS["reader-a"], "projects": ["a"], "rights": ["read"]},
    # Stored as its sha256 only, as retune.toml should keep it.
    {
        "name": "launcher-a",
        "token_sha256": hashlib.sha256(SECRETS["launcher-a"].encode()).hexdigest(),
        "projects": ["a"],
        "rights": ["launch"],
    },
    {"name": "both-b", "token": SECRETS["both-b"], "projects": ["b"], "rights": ["read", "launch"]},
)


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {SECRETS[name]}"}


@dataclass
class Server:
    """A server with ``TOKENS`` (the ``server`` fixture)."""

    client: TestClient
    execution: str  # launched in project "a"


UNREADABLE: Final = (
    "Cannot read the inputs back from the store: it holds an integer of more than 4300 digits."
)
"""What a listing says of an execution ``plant_unreadable_inputs`` spoiled."""


def plant_unreadable_inputs(home: Path, execution_id: str) -> None:
    """Spoil the stored inputs of an execution of the server at ``home``, as an older retune or a
    hand could have: valid JSON, but an integer Python's ``json`` will not read (5,000 digits)."""
    import sqlalchemy as sa

    from retune.store.sql import tables as t

    engine = sa.create_engine(f"sqlite:///{home / 'retune.db'}")
    try:
        with engine.begin() as conn:
            x = t.executions
            huge = sa.text('\'{"x": ' + "7" * 5000 + "}'")
            conn.execute(sa.update(x).where(x.c.id == execution_id).values(inputs=huge))
    finally:
        engine.dispose()
