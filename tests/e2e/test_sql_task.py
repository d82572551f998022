"""The SQL task type through `retune run`, `rt.run` and the API (DESIGN §9): an execution-time
``task_config`` override changes what DuckDB does and which cluster answers; parameters are
bound, never pasted; a config that cannot run is refused at launch with nothing stored; the
password of ``password_env`` reaches the task process and nothing else; ``cluster`` enters the
cache key, ``threads`` does not.

Clusters come from a retune.toml in the run's working directory: ``local`` a DuckDB file, and
``other`` a second DuckDB file or a table of the PostgreSQL at ``RETUNE_TEST_POSTGRES_URL`` (in
a schema of its own, dropped afterwards)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

import retune as rt
from retune.control import LocalControlPlane
from retune.errors import OverrideError
from retune.model.control import Registration
from retune.server.app import create_app
from retune.settings import ServerSettings, Settings
from retune.store import open_blobs, open_store
from retune.testing import postgres_schema

from . import flows_sql

with warnings.catch_warnings():
    # Starlette asks for httpx2 rather than httpx (a UserWarning); it concerns its test client only.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

FLOWS = Path(__file__).with_name("flows_sql.py")
RETUNE = str(Path(sys.executable).with_name("retune"))
POSTGRES = os.environ.get("RETUNE_TEST_POSTGRES_URL", "")
NEEDS_POSTGRES = pytest.mark.skipif(not POSTGRES, reason="RETUNE_TEST_POSTGRES_URL is not set")
INJECTION = "x'; drop table origin; --"
SECRET_ENV = "RETUNE_TEST_SQL_SECRET"


def duckdb_file(path: Path, src: str) -> str:
    """A DuckDB file holding the table ``origin(src)`` with one row; its cluster URL."""
    with duckdb.connect(str(path)) as connection:
        connection.execute("create table origin as select ? as src", [src])
    return f"duckdb://{path}"


def write_clusters(where: Path, **clusters: dict[str, str]) -> None:
    lines = []
    for name, table in clusters.items():
        lines.append(f"[clusters.{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    (where / "retune.toml").write_text("\n".join(lines) + "\n")


@pytest.fixture
def postgres_origin() -> Iterator[str]:
    """A schema of the test PostgreSQL holding ``origin(src)`` = 'postgres'; its URL."""
    import psycopg

    with postgres_schema(POSTGRES, prefix="retune_sql") as url:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("create table origin as select 'postgres'::text as src")
        yield url


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=NEEDS_POSTGRES)])
def other(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The cluster ``other``: a second DuckDB file, or the PostgreSQL table."""
    if request.param == "duckdb":
        yield {"url": duckdb_file(tmp_path / "other.duckdb", "other duckdb")}
        return
    yield {"url": request.getfixturevalue("postgres_origin")}


def retune(*args: str, code: int = 0, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [RETUNE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", **env},
    )
    assert done.returncode == code, (done.stdout, done.stderr)
    return done


def run(workflow: str, *args: str) -> dict[str, Any]:
    """The record of ``retune run FLOWS:workflow --json``: ``--name=value`` args are inputs,
    the others overrides; the run succeeded."""
    inputs = [arg for arg in args if arg.startswith("--")]
    overrides = [part for arg in args if not arg.startswith("--") for part in ("-o", arg)]
    record: dict[str, Any] = json.loads(
        retune("run", f"{FLOWS}:{workflow}", *inputs, *overrides, "--json").stdout
    )
    assert record["phase"] == "SUCCEEDED", record["error"]
    return record


def stored_executions(home: Path) -> list[Any]:
    store = open_store(f"sqlite:///{home / 'retune.db'}")
    try:
        return store.list_executions()
    finally:
        store.close()


# --- 1. an override changes what DuckDB does --------------------------------------------------


def test_threads_and_memory_limit_overrides_reach_duckdb(tmp_path: Path) -> None:
    write_clusters(tmp_path, local={"url": duckdb_file(tmp_path / "local.duckdb", "local")})

    record = run("settings_flow", "probe.task_config.threads=3", "probe.task_config.memory_limit=1GB")

    [row] = record["outputs"]
    assert row["threads"] == 3  # declared 1
    assert row["memory_limit"] == "953.6 MiB"  # DuckDB shows 1GB in MiB
    node = record["nodes"][0]
    assert node["config"]["task_config"] == {"cluster": "local", "threads": 3, "memory_limit": "1GB"}
    assert node["provenance"]["task_config.threads"]["layer"] == "execution"


# --- 2, 3, 6. another cluster, bound parameters, the cache key --------------------------------


def test_a_cluster_override_sends_the_query_elsewhere_and_misses_the_cache_threads_hit(
    tmp_path: Path, other: dict[str, str]
) -> None:
    write_clusters(tmp_path, local={"url": duckdb_file(tmp_path / "local.duckdb", "local")}, other=other)
    note = f"--note={INJECTION}"

    first = run("origin_flow", note)
    more_threads = run("origin_flow", note, "where.task_config.threads=2")
    elsewhere = run("origin_flow", note, "where.task_config.cluster=other")

    rows = [first["outputs"], more_threads["outputs"], elsewhere["outputs"]]
    expected_src = "postgres" if other["url"].startswith("postgresql") else "other duckdb"
    assert [r[0]["src"] for r in rows] == ["local", "local", expected_src]
    # The input arrived as a value, and the ':note' literal was left alone, on both clusters.
    assert all(r == [{"src": r[0]["src"], "note": INJECTION, "literal": ":note"}] for r in rows)
    assert [_node(r)["cache"] for r in (first, more_threads, elsewhere)] == ["miss", "hit", "miss"]
    explained = " ".join(retune("explain", elsewhere["id"], "--node", "where").stdout.split())
    assert "cache miss: task_config.cluster changed ('local' -> 'other')" in explained
    # Nobody dropped a table.
    assert _rows(f"duckdb://{tmp_path / 'local.duckdb'}") == [("local",)]
    assert _rows(other["url"]) == [(expected_src,)]


def _rows(url: str) -> list[tuple[Any, ...]]:
    """``origin``'s rows, read straight from the cluster at ``url``."""
    if url.startswith("duckdb://"):
        with duckdb.connect(url.removeprefix("duckdb://"), read_only=True) as connection:
            return connection.execute("select src from origin").fetchall()
    import psycopg

    with psycopg.connect(url) as connection:
        return connection.execute("select src from origin").fetchall()


def _node(record: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = record["nodes"][0]
    return node


# --- 4. refused at launch, nothing stored, the field named -------------------------------------


@pytest.mark.parametrize(
    ("override", "field", "problem"),
    [
        (
            "where.task_config.cluster=nope",
            "task_config.cluster",
            "no cluster 'nope' is configured (clusters: leaky, local;",
        ),
        ("where.task_config.threads=0", "task_config.threads", "greater than or equal to 1"),
        ("where.task_config.threads=abc", "task_config.threads", "valid integer"),
        ("where.task_config.thread=2", "task_config.thread", "a sql task_config has no field 'thread'"),
        ("where.task_config.memory_limit=lots", "task_config.memory_limit", "is not a size"),
        ("where.task_config.task_type=spark", "task_config.task_type", "cannot be given a spark task_config"),
        (
            "where.task_config.cluster=leaky",
            "task_config.cluster",
            "cluster 'leaky' has a password in its url",
        ),
    ],
)
def test_a_config_that_cannot_run_is_refused_by_retune_run_naming_the_field(
    tmp_path: Path, retune_home: Path, override: str, field: str, problem: str
) -> None:
    write_clusters(
        tmp_path,
        local={"url": duckdb_file(tmp_path / "local.duckdb", "local")},
        leaky={"url": "postgresql://etl:topsecret@127.0.0.1:1/warehouse"},
    )

    done = retune("run", f"{FLOWS}:origin_flow", "-o", override, code=2)

    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"field '{field}'" in done.stderr and problem in done.stderr
    assert "topsecret" not in done.stderr
    assert stored_executions(retune_home) == []


def test_rt_run_refuses_an_unknown_cluster_a_malformed_or_unknown_field_and_a_spark_config(
    tmp_path: Path, retune_home: Path
) -> None:
    write_clusters(tmp_path, local={"url": duckdb_file(tmp_path / "local.duckdb", "local")})

    with pytest.raises(OverrideError) as unknown:
        rt.run(flows_sql.origin_flow, overrides={"where": {"task_config": {"cluster": "warehouse"}}})
    with pytest.raises(OverrideError) as spark:
        rt.run(flows_sql.spark_config_flow)

    assert (unknown.value.hook, unknown.value.field) == ("where", "task_config.cluster")
    assert "no cluster 'warehouse' is configured (clusters: local;" in str(unknown.value)
    assert spark.value.field == "task_config.task_type"
    assert "a sql task cannot be given a spark task_config" in str(spark.value)
    for config, field in [({"threads": 0}, "task_config.threads"), ({"thread": 2}, "task_config.thread")]:
        with pytest.raises(OverrideError) as caught:
            rt.run(flows_sql.origin_flow, overrides={"where": {"task_config": config}})
        assert (caught.value.hook, caught.value.field) == ("where", field)
    with pytest.raises(OverrideError) as typed:  # a config object of another type, as an override
        rt.run(flows_sql.origin_flow, overrides={"where": {"task_config": rt.Spark(spark_conf={"a": "b"})}})
    assert typed.value.field == "task_config.task_type"
    assert stored_executions(retune_home) == []


def test_the_api_refuses_an_unknown_cluster_a_malformed_or_unknown_field_and_another_type_with_422(
    tmp_path: Path,
) -> None:
    settings = Settings(
        home=tmp_path / "server",
        capacity={"cpu": "2", "mem": "4Gi"},
        server=ServerSettings(),
        clusters={"local": {"url": duckdb_file(tmp_path / "local.duckdb", "local")}},
    )
    settings.home.mkdir()
    spec = rt.compile(flows_sql.origin_flow).spec
    plane = LocalControlPlane(
        open_store(f"sqlite:///{settings.home / 'retune.db'}"), open_blobs(settings.home / "blobs")
    )
    try:
        plane.register(Registration(project="demo", domain="dev", version="v1", workflows=(spec,)))
    finally:
        plane.close()
    body = {"project": "demo", "domain": "dev", "workflow": spec.name, "inputs": {"note": "n"}}

    bad = [  # (task_config override, field named, words of the message)
        (
            {"cluster": "warehouse"},
            "task_config.cluster",
            "no cluster 'warehouse' is configured (clusters: local;",
        ),
        ({"threads": "abc"}, "task_config.threads", "should be a valid integer"),
        ({"thread": 2}, "task_config.thread", "a sql task_config has no field 'thread'"),
        ({"task_type": "spark"}, "task_config.task_type", "a sql task cannot be given a spark task_config"),
    ]
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8265") as http:
        refused = [
            http.post("/api/v1/executions", json={**body, "overrides": {"where": {"task_config": config}}})
            for config, _, _ in bad
        ]
        accepted = http.post("/api/v1/executions", json=body)
        listed = http.get("/api/v1/executions").json()

    for answer, (_, field, words) in zip(refused, bad, strict=True):
        assert answer.status_code == 422, answer.text
        detail = answer.json()["detail"]
        assert (detail["hook"], detail["field"]) == ("where", field)
        assert words in detail["message"]
    assert accepted.status_code == 201, accepted.text
    assert [e["id"] for e in listed["executions"]] == [accepted.json()["id"]], "nothing refused was stored"


def test_a_query_with_a_missing_parameter_is_refused_by_retune_run_in_one_line(tmp_path: Path) -> None:
    flow = tmp_path / "typo.py"
    flow.write_text(
        "import retune as rt\n"
        "count = rt.SQLTask('count', 'select :day as day, :dya as typo', inputs={'day': str})\n"
        "@rt.workflow\n"
        "def wf(day: str = 'mon') -> list[dict]:\n"
        "    return count(day=day)\n"
    )

    done = retune("run", f"{flow}:wf", code=2)

    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert (
        "SQLTask 'count' (typo.py:2): the query uses the parameter :dya, which is not an input" in done.stderr
    )


# --- 5. credentials ---------------------------------------------------------------------------


@NEEDS_POSTGRES
def test_the_password_reaches_the_task_process_and_no_record_api_or_log(
    tmp_path: Path, retune_home: Path, postgres_origin: str
) -> None:
    secret = f"pw-{uuid.uuid4().hex}"
    write_clusters(
        tmp_path,
        local={"url": duckdb_file(tmp_path / "local.duckdb", "local")},
        other={"url": postgres_origin, "password_env": SECRET_ENV},
    )

    done = retune(
        "run",
        f"{FLOWS}:secret_flow",
        "-o",
        "where.task_config.cluster=other",
        "--json",
        **{SECRET_ENV: secret},
    )
    record = json.loads(done.stdout)
    shown = retune("executions", "show", record["id"])

    assert record["phase"] == "SUCCEEDED", record["error"]
    rows, digest = record["outputs"]
    assert rows[0]["src"] == "postgres"
    assert digest == hashlib.sha256(secret.encode()).hexdigest(), "the task process connected with it"
    settings = Settings(home=retune_home, capacity={"cpu": "2", "mem": "4Gi"}, server=ServerSettings())
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8265") as http:
        api = [http.get(f"/api/v1/executions/{record['id']}").text]
        api += [
            http.get(f"/api/v1/executions/{record['id']}/logs", params={"node": hook, "stream": stream}).text
            for hook in ("where", "digest")
            for stream in ("stdout", "stderr")
        ]
    assert "connected to test" in "".join(api), "the logs were read"
    for text in (done.stdout, done.stderr, shown.stdout, shown.stderr, *api):
        assert secret not in text
    stored = [path.read_bytes() for path in retune_home.rglob("*") if path.is_file()]
    assert stored and not any(secret.encode() in content for content in stored)


def test_an_unset_password_env_fails_the_node_naming_the_cluster_the_variable_and_where_to_set_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    write_clusters(
        tmp_path,
        local={"url": duckdb_file(tmp_path / "local.duckdb", "local")},
        other={"url": "postgresql://etl@127.0.0.1:1/warehouse", "password_env": SECRET_ENV},
    )

    done = retune("run", f"{FLOWS}:origin_flow", "-o", "where.task_config.cluster=other", code=1)

    assert (
        f"Cluster 'other' reads its password from the environment variable {SECRET_ENV!r} "
        "(password_env in [clusters.other]), which is not set where this task ran"
    ) in done.stderr
    assert f"Set {SECRET_ENV} in the environment of the worker that runs the task" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "MissingPassword" not in done.stdout + done.stderr  # a user's setup, not retune's insides


# --- 7. a DuckDB file that is not there ---------------------------------------------------------


def test_a_mistyped_duckdb_path_fails_the_node_naming_the_cluster_and_path_and_creates_no_file(
    tmp_path: Path,
) -> None:
    duckdb_file(tmp_path / "local.duckdb", "local")
    typo = tmp_path / "locl.duckdb"
    write_clusters(tmp_path, local={"url": f"duckdb://{typo}"})

    done = retune("run", f"{FLOWS}:origin_flow", code=1)

    assert f"Cluster 'local' is the DuckDB file {typo}, which does not exist on " in done.stderr
    assert "or add create = true to that table to let the first query create the file" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not typo.exists()
    assert "Table with name origin does not exist" not in done.stdout + done.stderr
