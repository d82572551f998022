"""Helpers of the server tests: the test client, settings with tokens, registration bodies."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Final

import retune as rt
from retune.settings import ServerSettings, Settings

from . import flows_server as flows

with warnings.catch_warnings():
    # Starlette asks for httpx2 rather than httpx (a UserWarning); it concerns its test client only.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

__all__ = ["API", "TestClient", "launch_body", "registration", "server_settings"]

API: Final = "/api/v1"
PIPELINE: Final = rt.compile(flows.pipeline).spec
PIPELINE_V2: Final = rt.compile(flows.pipeline_v2).spec


def server_settings(home: Path, tokens: tuple[dict[str, Any], ...] = (), **extra: Any) -> Settings:
    """Settings of a server whose state lives in ``home`` (SQLite file and blobs)."""
    return Settings(
        home=home, capacity={"cpu": "2", "mem": "4Gi"}, server=ServerSettings(tokens=tokens), **extra
    )


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
