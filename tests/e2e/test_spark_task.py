"""A Spark task through `retune run` (DESIGN §9): real pyspark, a real JVM, a real task process.

One run serves every test here (a JVM takes seconds to start): its first attempt fails on a
Spark error, its retry runs in the same task process with a fresh JVM."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FLOWS = Path(__file__).with_name("flows_spark.py")
RETUNE = str(Path(sys.executable).with_name("retune"))

pytestmark = pytest.mark.skipif(
    shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
    reason="no Java runtime (Spark needs one; .ci/run installs openjdk-17-jre-headless)",
)


@dataclass(frozen=True)
class Run:
    record: dict[str, Any]
    env: dict[str, str]
    cwd: Path

    @property
    def node(self) -> dict[str, Any]:
        node: dict[str, Any] = self.record["nodes"][0]
        return node

    def logs(self, attempt: int, stream: str = "stdout") -> str:
        args = ["--node", "count", "--attempt", str(attempt), "--stream", stream]
        return retune("executions", "logs", self.record["id"], *args, env=self.env).stdout


def retune(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([RETUNE, *args], capture_output=True, text=True, timeout=300, env=env, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    cwd = tmp_path_factory.mktemp("spark")
    env = {**os.environ, "RETUNE_HOME": str(cwd / "home")}
    env.pop("RETUNE_DATABASE_URL", None)
    overrides = [
        "count.task_config.spark_conf[spark.sql.shuffle.partitions]=7",
        "count.task_config.spark_conf[spark.master]=local[1]",
        "count.cpu=2",  # the JVM starts faster on two cores than on the one a default request pins
    ]
    args = [arg for override in overrides for arg in ("-o", override)]
    done = retune("run", f"{FLOWS}:count_flow", "--n", "1000", *args, "--json", env=env, cwd=cwd)
    return Run(json.loads(done.stdout), env, cwd)


def test_the_session_is_built_from_the_merged_spark_conf(run: Run) -> None:
    seen = run.record["outputs"]

    assert seen["shuffle_partitions"] == "7"  # overridden at launch
    assert seen["time_zone"] == "Asia/Tokyo"  # set only in the task: kept, key by key
    assert seen["master"] == "local[1]"  # spark.master from spark_conf, not local[ceil(cpu)]
    assert (seen["driver_host"], seen["ui"]) == ("127.0.0.1", "false")  # retune's defaults


def test_a_dataframe_and_a_python_rdd_job_give_the_task_output(run: Run) -> None:
    assert run.record["phase"] == "SUCCEEDED"
    assert (run.record["outputs"]["rows"], run.record["outputs"]["doubled"]) == ("1000", str(999 * 1000))


def test_a_spark_error_is_reported_and_the_retry_in_that_process_starts_a_fresh_jvm(run: Run) -> None:
    first, second = run.node["attempts"]

    assert (first["phase"], second["phase"]) == ("FAILED", "SUCCEEDED")
    assert first["error"].startswith(
        "retune.plugins.spark.SparkTaskError: pyspark.errors.exceptions.captured.AnalysisException: "
        "[TABLE_OR_VIEW_NOT_FOUND] The table or view `no_such_table` cannot be found."
    )
    assert 'spark.sql("SELECT * FROM no_such_table").collect()' in first["error"]  # the task's line
    process = run.logs(1).split()[-1]
    assert run.logs(1) == f"attempt 1 in task process {process}\n"
    assert run.logs(2) == f"attempt 2 in task process {process}\n"


def test_the_attempt_logs_hold_warnings_only(run: Run) -> None:
    stderr = run.logs(2, "stderr")

    assert "WARN" in stderr  # Spark does write there: the check below could fail
    assert " INFO " not in stderr
    assert "[Stage 0:" not in stderr  # no console progress bar


def test_spark_leaves_no_warehouse_where_the_run_was_started(run: Run) -> None:
    # the failed attempt looked up a table, which makes Spark create its warehouse directory
    assert sorted(path.name for path in run.cwd.iterdir()) == ["home"]


def test_a_memory_limit_the_jvm_cannot_start_under_is_an_oom_saying_so(tmp_path: Path) -> None:
    env = {**os.environ, "RETUNE_HOME": str(tmp_path / "home")}
    env.pop("RETUNE_DATABASE_URL", None)
    args = ["-o", "count.mem=300Mi", "-o", "count.retries=0"]
    done = subprocess.run(
        [RETUNE, "run", f"{FLOWS}:count_flow", "--n", "5", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )

    assert done.returncode == 1, done.stderr
    (attempt,) = json.loads(done.stdout)["nodes"][0]["attempts"]
    assert attempt["phase"] == "FAILED" and attempt["kind"] == "user"
    error = attempt["error"]
    assert error.startswith("memory limit 300Mi exceeded: MemoryError: the Spark JVM could not start")
    assert "-o HOOK.mem=1Gi" in error
    assert "JAVA_GATEWAY_EXITED" not in error  # pyspark's words for it say nothing of memory
