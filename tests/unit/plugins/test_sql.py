"""The sql task type: which ``:name`` is a placeholder, how values are bound and come back, which
clusters and configs are refused. Queries run on real DuckDB files, and on the PostgreSQL at
``RETUNE_TEST_POSTGRES_URL`` when it is set."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from retune.plugins.registry import TaskConfigError, get_task_type
from retune.plugins.runner import Call, RunnerError
from retune.plugins.sql import (
    SQL,
    Cluster,
    MissingPassword,
    _with,
    check_sql,
    cluster,
    placeholders,
    run_sql,
    sql_definition,
)
from retune.settings import Settings
from retune.testing import postgres_schema

POSTGRES = os.environ.get("RETUNE_TEST_POSTGRES_URL", "")
INJECTION = "x'; drop table origin; --"


def names(query: str) -> list[str]:
    return [name for _, _, name in placeholders(query)]


def run(
    query: str, inputs: dict[str, Any], url: str, table: dict[str, Any] | None = None, **config: Any
) -> Any:
    """``query`` run by the sql runner on the cluster ``c`` at ``url`` (more of its table in ``table``)."""
    call = Call(
        task="q",
        inputs=inputs,
        config=SQL(cluster="c", **config).model_dump(mode="json"),
        definition=sql_definition(query, dict.fromkeys(inputs, "str")),
    )
    call.settings = Settings(home=Path("/nonexistent"), clusters={"c": {"url": url, **(table or {})}})
    return run_sql(call)


@pytest.fixture
def warehouse(tmp_path: Path) -> str:
    """A DuckDB file with the table ``origin``; its cluster URL."""
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create table origin as select 'duck' as src")
    return f"duckdb://{path}"


@pytest.fixture
def postgres() -> Iterator[str]:
    """A fresh schema of the test PostgreSQL with the table ``origin``; its URL."""
    if not POSTGRES:
        pytest.skip("RETUNE_TEST_POSTGRES_URL is not set")
    import psycopg

    with postgres_schema(POSTGRES, prefix="retune_sql_unit") as url:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("create table origin as select 'pg'::text as src")
        yield url


# --- placeholders ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "select ':day'",
        "select 'it''s :day'",
        "select E'it\\'s :day'",
        'select "col:day" from t',
        "select 1 -- :day\n",
        "select /* :day /* nested */ :day */ 1",
        "select x::date",
        "select $$ :day $$",
        "select $q$ it's :day $q$",
        "select l[a:day] from t",
        "select arr[1:day] from t",
    ],
)
def test_a_colon_in_a_literal_name_comment_cast_or_slice_is_not_a_placeholder(query: str) -> None:
    assert names(query) == []


def test_placeholders_are_found_around_literals_and_before_a_cast() -> None:
    query = "select :a, ':b', \"c:d\", :e::date -- :f\n, :g /* :h */ from t where x = (:a)"

    assert names(query) == ["a", "e", "g", "a"]
    assert [query[start:end] for start, end, _ in placeholders(query)] == [":a", ":e", ":g", ":a"]


def test_with_writes_each_drivers_placeholder_and_doubles_percent_for_psycopg() -> None:
    query = "select :a, '50%', :b::int, ':a'"

    assert _with(query, "duckdb") == "select $a, '50%', $b::int, ':a'"
    assert _with(query, "psycopg") == "select %(a)s, '50%%', %(b)s::int, ':a'"


def test_a_missing_parameter_and_an_unused_input_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"uses the parameter :dya, which is not an input \(inputs: day\)"):
        sql_definition("select :day, :dya", {"day": "str"})
    with pytest.raises(ValueError, match=r"input 'spare' is not used by the query"):
        sql_definition("select :day", {"day": "str", "spare": "int"})
    with pytest.raises(ValueError, match="a query parameter is an int, float, str, bool or None"):
        sql_definition("select :day", {"day": "list[int]"})


# --- binding and values ------------------------------------------------------------------------


def test_an_injection_arrives_as_a_value_on_duckdb(warehouse: str) -> None:
    rows = run("select src, :note as note, ':note' as literal from origin", {"note": INJECTION}, warehouse)

    assert rows == [{"src": "duck", "note": INJECTION, "literal": ":note"}]
    assert run("select count(*) as n from origin", {}, warehouse) == [{"n": 1}]


def test_an_injection_arrives_as_a_value_on_postgresql(postgres: str) -> None:
    rows = run("select src, :note as note, :note || '%' as twice from origin", {"note": INJECTION}, postgres)

    assert rows == [{"src": "pg", "note": INJECTION, "twice": INJECTION + "%"}]
    assert run("select count(*) as n from origin", {}, postgres) == [{"n": 1}]


def test_a_percent_sign_survives_a_query_without_parameters_on_postgresql(postgres: str) -> None:
    assert run("select 'a%b' as p, 7 % 4 as m", {}, postgres) == [{"p": "a%b", "m": 3}]


def test_duckdb_values_come_back_as_json_holds_them() -> None:
    [row] = run(
        "select 1.25::decimal(10,2) as d, 'NaN'::double as nan, date '2024-01-02' as day, "
        "interval 90 second as span, '6ba7b810-9dad-11d1-80b4-00c04fd430c8'::uuid as id, "
        "map([1], ['a']) as m, {'k': [1, 2]} as s, null as nothing",
        {},
        "duckdb:///:memory:",
    )

    assert row == {
        "d": 1.25,
        "nan": "NaN",
        "day": "2024-01-02",
        "span": 90.0,
        "id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        "m": {"1": "a"},
        "s": {"k": [1, 2]},
        "nothing": None,
    }


def test_postgresql_values_come_back_as_json_holds_them(postgres: str) -> None:
    [row] = run(
        "select '10.0.0.1'::inet as address, int4range(1, 3) as span, 'Infinity'::float8 as inf, "
        "1.5::numeric as n, array[1, 2] as a, '{\"k\": 1}'::jsonb as j",
        {},
        postgres,
    )

    assert row == {
        "address": "10.0.0.1",
        "span": "[1, 3)",
        "inf": "Infinity",
        "n": 1.5,
        "a": [1, 2],
        "j": {"k": 1},
    }


def test_a_write_is_committed_on_duckdb_and_postgresql_says_no_rows(warehouse: str) -> None:
    assert run("insert into origin values (:src)", {"src": "more"}, warehouse) == [{"Count": 1}]
    assert run("select src from origin order by src", {}, warehouse) == [{"src": "duck"}, {"src": "more"}]


def test_a_statement_without_rows_gives_no_rows_on_postgresql(postgres: str) -> None:
    assert run("insert into origin values (:src)", {"src": "more"}, postgres) == []
    assert run("select src from origin order by src", {}, postgres) == [{"src": "more"}, {"src": "pg"}]


# --- DuckDB settings and URLs ------------------------------------------------------------------


def test_threads_and_memory_limit_are_applied_to_duckdb() -> None:
    [row] = run(
        "select current_setting('threads') as t, current_setting('memory_limit') as m",
        {},
        "duckdb:///:memory:",
        threads=3,
        memory_limit="512MB",
    )

    assert row == {"t": 3, "m": "488.2 MiB"}


@pytest.mark.parametrize("url", ["duckdb:///:memory:", "duckdb://:memory:", "duckdb:"])
def test_in_memory_duckdb_urls(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    assert run("select 1 as one", {}, url) == [{"one": 1}]
    assert list(tmp_path.iterdir()) == []


def test_a_relative_duckdb_path_is_read_from_the_working_directory(
    warehouse: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(Path(warehouse.removeprefix("duckdb://")).parent)

    assert run("select src from origin", {}, "duckdb:w.duckdb") == [{"src": "duck"}]


def test_the_url_query_is_duckdb_configuration(warehouse: str) -> None:
    with pytest.raises(duckdb.InvalidInputException, match="read-only"):
        run("insert into origin values ('x')", {}, f"{warehouse}?access_mode=read_only")


@pytest.mark.parametrize("query", ["select src from origin", "create table origin as select 'lost' as src"])
def test_a_duckdb_file_that_does_not_exist_is_refused_naming_the_cluster_and_the_path(
    query: str, warehouse: str
) -> None:
    typo = Path(warehouse.removeprefix("duckdb://")).with_name("w.duckbd")

    with pytest.raises(RunnerError) as refused:
        run(query, {}, f"duckdb://{typo}")

    assert str(refused.value).startswith(f"Cluster 'c' is the DuckDB file {typo}, which does not exist on ")
    assert "Fix the path in the url of [clusters.c] in retune.toml, or add create = true" in str(
        refused.value
    )
    assert not typo.exists()  # neither a read nor a write made an empty database there


def test_a_relative_duckdb_path_that_does_not_exist_names_the_directory_it_was_read_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    with pytest.raises(RunnerError, match="does not exist") as refused:
        run("select 1 as one", {}, "duckdb:data/w.duckdb")

    assert (
        f"the DuckDB file {tmp_path}/data/w.duckdb, relative to the task's working directory {tmp_path},"
        in str(refused.value)
    )


def test_a_cluster_with_create_true_creates_its_duckdb_file_on_the_first_query(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"

    run("create table t as select 1 as one", {}, f"duckdb://{path}", {"create": True})

    assert path.is_file()
    assert run("select one from t", {}, f"duckdb://{path}") == [{"one": 1}]  # create no longer needed


# --- config and clusters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field", "problem"),
    [
        ({"threads": 0}, "task_config.threads", "greater than or equal to 1"),
        ({"threads": "abc"}, "task_config.threads", "valid integer"),
        ({"threads": True}, "task_config.threads", "threads is a number of threads, not true"),
        ({"memory_limit": "lots"}, "task_config.memory_limit", "memory_limit 'lots' is not a size"),
        ({"memory_limit": "1000"}, "task_config.memory_limit", "is not a size"),
        ({"thread": 2}, "task_config.thread", "a sql task_config has no field 'thread'"),
        ({"task_type": "spark"}, "task_config.task_type", "a sql task cannot be given a spark task_config"),
    ],
)
def test_a_config_that_cannot_run_is_refused_naming_the_field(
    config: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(TaskConfigError) as refused:
        get_task_type("sql").validate_config(config)

    assert refused.value.field == field
    assert problem in refused.value.problem


@pytest.mark.parametrize("size", ["2GB", "512MiB", "1.5 gb", "100b", "50%"])
def test_memory_limits_duckdb_reads_are_accepted(size: str) -> None:
    assert get_task_type("sql").validate_config({"memory_limit": size})["memory_limit"] == size


def clusters(**tables: dict[str, Any]) -> Settings:
    return Settings(home=Path("/nonexistent"), clusters=tables, sources=("/work/retune.toml",))


def test_an_unknown_cluster_names_the_configured_ones_and_the_files_read() -> None:
    with pytest.raises(TaskConfigError) as refused:
        cluster("warehous", clusters(warehouse={"url": "duckdb:///w"}, lake={"url": "duckdb:///l"}))

    assert refused.value.field == "task_config.cluster"
    assert refused.value.problem == (
        "no cluster 'warehous' is configured (clusters: lake, warehouse; settings read: /work/retune.toml)"
    )


def test_the_default_cluster_is_in_memory_duckdb_unless_configured() -> None:
    assert cluster("default", clusters()) == Cluster("default", "duckdb:///:memory:")
    assert cluster("default", clusters(default={"url": "duckdb:///d"})) == Cluster("default", "duckdb:///d")


def test_create_is_read_from_the_clusters_table_and_off_by_default() -> None:
    settings = clusters(a={"url": "duckdb:///a", "create": True}, b={"url": "duckdb:///b"})

    assert (cluster("a", settings).create, cluster("b", settings).create) == (True, False)


def test_a_key_no_cluster_reads_is_refused_at_launch_with_the_key_it_resembles() -> None:
    with pytest.raises(TaskConfigError) as refused:
        check_sql({"cluster": "w"}, clusters(w={"url": "duckdb:///w.duckdb", "creat": True}))

    assert refused.value.problem == (
        "cluster 'w' has creat = ..., which no cluster reads (a cluster takes url, password_env, create)"
    )
    assert refused.value.fix == "Did you mean 'create'? Fix or drop creat in [clusters.w] of retune.toml."


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"url": "postgresql://etl:hunter2@db/w"}, "has a password in its url"),
        ({"url": "postgresql://etl@db/w?password=hunter2"}, "has a password in its url"),
        ({"url": "mysql://etl:hunter2@db/w"}, "has a url of scheme 'mysql'"),
        ({"url": "duckdb://data/w.duckdb"}, "has a duckdb url with the host 'data'"),
        (
            {"url": "postgresql://etl@db/w", "password_env": "MY PASSWORD"},
            "is not the name of an environment",
        ),
        ({}, "has a url of scheme ''"),
        ({"url": "duckdb:///w.duckdb", "create": "yes"}, "has create = 'yes', which is not true or false"),
        (
            {"url": "postgresql://etl@db/w", "create": True},
            "has create = true, which only a DuckDB file uses",
        ),
    ],
)
def test_a_cluster_url_that_cannot_work_is_refused_without_quoting_it(
    table: dict[str, Any], problem: str
) -> None:
    with pytest.raises(TaskConfigError) as refused:
        check_sql({"cluster": "w"}, clusters(w=table))  # the launch check

    assert refused.value.field == "task_config.cluster"
    assert problem in refused.value.problem
    assert "hunter2" not in str(refused.value)


def test_the_launch_check_leaves_a_missing_duckdb_file_to_the_machine_that_runs_the_task() -> None:
    # The server and a Ray driver check launches too, and may never see the workers' files.
    check_sql({"cluster": "w"}, clusters(w={"url": "duckdb:///nowhere/w.duckdb"}))


def test_an_unset_password_env_is_a_clear_error_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RETUNE_TEST_NO_SUCH_PASSWORD", raising=False)
    call = Call(task="q", inputs={}, config=SQL(cluster="c").model_dump(), definition={"query": "select 1"})
    call.settings = clusters(
        c={"url": "postgresql://etl@127.0.0.1:1/w", "password_env": "RETUNE_TEST_NO_SUCH_PASSWORD"}
    )

    with pytest.raises(MissingPassword) as refused:
        run_sql(call)

    assert isinstance(refused.value, RunnerError)  # reported as its message alone
    assert str(refused.value).startswith(
        "Cluster 'c' reads its password from the environment variable 'RETUNE_TEST_NO_SUCH_PASSWORD' "
        "(password_env in [clusters.c]), which is not set where this task ran ("
    )
    assert "Set RETUNE_TEST_NO_SUCH_PASSWORD in the environment of the worker that runs the task" in str(
        refused.value
    )


def test_a_cluster_the_task_process_settings_lack_is_a_runner_error_naming_them() -> None:
    call = Call(task="q", inputs={}, config=SQL(cluster="c").model_dump(), definition={"query": "select 1"})
    call.settings = clusters(d={"url": "duckdb:///:memory:"})

    with pytest.raises(RunnerError) as refused:
        run_sql(call)

    assert str(refused.value).startswith(
        "task_config.cluster: no cluster 'c' is configured (clusters: d; settings read: /work/retune.toml), "
        "in the settings of the task process on "
    )
