"""What enters the cache key, through `retune run` and `retune explain` (DESIGN §9): the image and
the `cache_env` keys do, and a miss says which of them changed; resources, retries and other
environment keys do not. On SQLite and on PostgreSQL, each run its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retune.testing import postgres_schema

FLOWS = Path(__file__).with_name("flows_cache.py")
RETUNE = str(Path(sys.executable).with_name("retune"))
POSTGRES = os.environ.get("RETUNE_TEST_POSTGRES_URL", "")


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql", marks=pytest.mark.skipif(not POSTGRES, reason="RETUNE_TEST_POSTGRES_URL is not set")
        ),
    ]
)
def env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The runs' environment: a second image name for this interpreter, and the store."""
    images = {"RETUNE_IMAGES": f"py-other={sys.executable}"}
    if request.param == "sqlite":
        yield images
        return
    with postgres_schema(POSTGRES, prefix="retune_cache") as url:
        yield {**images, "RETUNE_DATABASE_URL": url}


def retune(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [RETUNE, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **env}
    )
    assert done.returncode == 0, done.stderr
    return done


def run(counter: Path, *overrides: str, env: dict[str, str]) -> dict[str, Any]:
    args = [arg for override in overrides for arg in ("-o", override)]
    record: dict[str, Any] = json.loads(
        retune("run", f"{FLOWS}:predict_flow", "--counter", str(counter), *args, "--json", env=env).stdout
    )
    return next(n for n in record["nodes"] if n["hook"] == "predict") | {"id": record["id"]}


def explain(node: dict[str, Any], env: dict[str, str]) -> str:
    """What `retune explain` prints under the node's table, its lines joined."""
    text = retune("explain", node["id"], "--node", "predict", env={**env, "COLUMNS": "200"}).stdout
    return " ".join(text.split())


def test_the_image_and_cache_env_keys_enter_the_key_and_explain_names_them(
    tmp_path: Path, env: dict[str, str]
) -> None:
    counter = tmp_path / "ran"
    first = run(counter, "predict.env.MODEL_DIR=/models/a", env=env)
    again = run(counter, "predict.env.MODEL_DIR=/models/a", env=env)
    other_image = run(counter, "predict.env.MODEL_DIR=/models/a", "predict.image=py-other", env=env)
    other_model = run(counter, "predict.env.MODEL_DIR=/models/b", "predict.image=py-other", env=env)

    assert [n["cache"] for n in (first, again, other_image, other_model)] == ["miss", "hit", "miss", "miss"]
    assert counter.read_text().count("ran") == 3
    assert first["cache_reason"] == "cache miss: first run of this task (no earlier cache entry)"
    assert again["cache_reason"] is None
    assert "cache miss: container_image changed (None -> 'py-other')" in explain(other_image, env)
    shown = retune("executions", "show", other_image["id"], env={**env, "COLUMNS": "200"}).stdout
    assert f"{other_image['path']}: cache miss: container_image changed (None -> 'py-other')" in shown
    reason = explain(other_model, env)
    assert "cache miss: environment.MODEL_DIR changed" in reason
    assert "container_image" not in reason.split("cache miss:")[1]
    assert "/models/" not in reason.split("cache miss:")[1], "an environment value is never shown"


def test_resources_retries_and_other_environment_keys_keep_hitting(
    tmp_path: Path, env: dict[str, str]
) -> None:
    counter = tmp_path / "ran"
    first = run(counter, env=env)
    changed = [
        run(counter, "predict.env.LOG_LEVEL=debug", env=env),
        run(counter, "predict.cpu=1", "predict.mem=256Mi", env=env),
        run(counter, "predict.retries=3", "predict.interruptible=true", env=env),
    ]

    assert first["cache"] == "miss"
    assert [n["cache"] for n in changed] == ["hit", "hit", "hit"]
    assert counter.read_text().count("ran") == 1
