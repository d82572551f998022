"""`make demo`: a workflow's hooks, what each node would run with and why, then two real runs.

    python examples/demo.py [-o HOOK.FIELD=VALUE ...]

1. `retune hooks`: what can be overridden at launch.
2. `rt.resolve` with launch plan 'nightly' and -o overrides: each field, its value, its source.
3. `retune run` with the defaults, then with the overrides, then `retune explain` of the second.
4. The control plane: `retune register` the file, `retune launch` its launch plan with the same
   overrides, a `retune worker --once` runs it, `retune executions show` the result.
5. `retune agent status`: the process that keeps retune loaded for the next `retune run`s
   (it ends after 10 minutes without runs; RETUNE_AGENT=0 turns it off).
State goes to RETUNE_HOME (the Makefile points it at .retune-demo/ in the repository).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import retune as rt  # noqa: E402
from retune.cli import render  # noqa: E402
from retune.overrides import parse_cli_overrides  # noqa: E402

DEFAULT_OVERRIDES = [
    "train.mem=2Gi",
    "train.env.LOG_LEVEL=debug",
    "task-ketan.retries=0",
    "features.task_config.spark_conf[spark.sql.shuffle.partitions]=64",
    "report.task_config.threads=2",
]
RETUNE = shutil.which("retune") or str(Path(sys.executable).with_name("retune"))
TARGET = str(HERE / "training.py") + ":pipeline"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-o", dest="overrides", action="append", metavar="HOOK.FIELD=VALUE")
    args = parser.parse_args()
    items = args.overrides if args.overrides is not None else DEFAULT_OVERRIDES
    flags = [part for item in items for part in ("-o", item)]
    from training import nightly

    step("1. The hooks of the workflow", ["hooks", TARGET])
    if shell(["hooks", TARGET]) != 0:
        return 2

    print(
        f"\n== 2. What each hooked node would run with: launch plan {nightly.name!r} and {' '.join(flags)}\n"
    )
    try:
        resolved = rt.resolve(nightly, overrides=parse_cli_overrides(items), name="preview")
    except rt.RetuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path, node in resolved.items():
        if node.hook in ("train", "features"):
            render.out.print(render.explain_table(_as_node(path, node)))

    step("3a. Run with the defaults", ["run", TARGET])
    shell(["run", TARGET])
    step("3b. Run again, re-tuned at launch", ["run", TARGET, *flags])
    done = subprocess.run([RETUNE, "run", TARGET, *flags, "--json"], capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return done.returncode
    record = json.loads(done.stdout)
    print(f"{record['phase']}: outputs {record['outputs']!r} (execution {record['id']})")
    for node in record["nodes"]:
        if node["hook"] == "report":  # the SQL task ran with the overridden task_config
            print(
                f"the report query (task_config {node['config']['task_config']}) returned {node['outputs']}"
            )
    step(
        "3c. Where each value of the re-tuned 'train' node came from",
        ["explain", record["id"], "--node", "train"],
    )
    shell(["explain", record["id"], "--node", "train"])
    train = next(node for node in record["nodes"] if node["hook"] == "train")
    if train["cache"] == "hit":  # `make demo` again: the cache answered, nothing ran, no logs
        print("\n== 3d. 'train' was a cache hit this time: nothing ran, so it printed nothing")
    else:
        step("3d. What it printed", ["executions", "logs", record["id"], "--node", "train"])
        shell(["executions", "logs", record["id"], "--node", "train"])
    code = control_plane(flags)
    step("5. The run agent `retune run` left for the next runs", ["agent", "status"])
    shell(["agent", "status"])
    return code


def control_plane(flags: list[str]) -> int:
    source = HERE / "training.py"
    version = "v-" + hashlib.sha256(source.read_bytes()).hexdigest()[:10]  # new code, new version
    where = ["--project", "demo", "--domain", "development", "--version", version]
    step("4a. Register the workflow, its tasks and launch plans", ["register", str(source), *where])
    if shell(["register", str(source), *where]) != 0:
        return 2
    launch = ["launch", f"demo/development/training.pipeline@{version}", "--launch-plan", "nightly", *flags]
    step("4b. Launch its launch plan 'nightly', re-tuned at launch", launch)
    launched = subprocess.run([RETUNE, *launch, "--json"], capture_output=True, text=True)
    if launched.returncode != 0:
        print(launched.stderr, file=sys.stderr)
        return launched.returncode
    execution = json.loads(launched.stdout)["id"]
    print(f"queued: {execution}")
    step("4c. A worker claims and runs what is queued", ["worker", "--once"])
    shell(["worker", "--once"])
    step("4d. The launched execution", ["executions", "show", execution])
    return shell(["executions", "show", execution])


def step(title: str, args: list[str]) -> None:
    print(f"\n== {title}\n$ retune {' '.join(args)}\n", flush=True)


def shell(args: list[str]) -> int:
    return subprocess.run([RETUNE, *args], env=os.environ).returncode


def _as_node(path: str, node: rt.NodeConfig) -> rt.NodeExecution:
    from retune.model.execution import CacheStatus, Phase

    return rt.NodeExecution(
        path, node.hook, node.task, Phase.QUEUED, CacheStatus.DISABLED, node.config, node.provenance
    )


if __name__ == "__main__":
    sys.exit(main())
