"""``POST /executions?dry_run=true``: what the launch would create, stored nowhere."""

from __future__ import annotations

import json
from typing import Any

from .support import API, TestClient, launch_body

OVERRIDES = {
    "train": {"retries": 5, "resources": {"requests": {"cpu": 2}}, "environment": {"LOG": "debug"}},
    "prepare": {"resources": {"limits": {"mem": "1Gi"}}},
}


def configs(record: dict[str, Any]) -> str:
    """Every node's config and provenance, the execution's own id taken out of the names."""
    nodes = {n["path"]: {"config": n["config"], "provenance": n["provenance"]} for n in record["nodes"]}
    return json.dumps(nodes, sort_keys=True).replace(record["id"], "<execution>")


def stored(client: TestClient) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get(f"{API}/executions").json()["executions"]
    return found


def test_a_dry_run_stores_nothing_and_shows_the_configs_and_provenance_the_launch_then_stores(
    client: TestClient,
) -> None:
    planned = client.post(
        f"{API}/executions", params={"dry_run": "true"}, json=launch_body(overrides=OVERRIDES)
    )

    assert planned.status_code == 200, planned.text
    assert "Location" not in planned.headers
    assert stored(client) == []
    launched = client.post(f"{API}/executions", json=launch_body(overrides=OVERRIDES))
    assert launched.status_code == 201
    record = client.get(f"{API}/executions/{launched.json()['id']}").json()
    assert configs(planned.json()) == configs(record)
    train = next(n for n in planned.json()["nodes"] if n["hook"] == "train")
    assert train["config"]["retries"] == 5
    assert train["provenance"]["retries"]["layer"] == "execution"
    assert train["provenance"]["environment.LOG"]["layer"] == "execution"


def test_a_dry_run_refuses_what_the_launch_would_refuse_naming_the_hook(client: TestClient) -> None:
    refused = client.post(
        f"{API}/executions", params={"dry_run": "true"}, json=launch_body(overrides={"trian": {"retries": 1}})
    )

    assert refused.status_code == 422
    assert refused.json()["detail"]["hook"] == "trian"
    assert stored(client) == []
