"""One op, for ``dagster job execute -f dagster_one.py -j one -c CONFIG`` (runs under bench/.venv-compare).

A job's op cannot take a command-line value as a plain input; run config carries ``x``.
"""

from dagster import OpExecutionContext, job, op


@op(config_schema={"x": int})
def inc(context: OpExecutionContext) -> int:
    return int(context.op_config["x"]) + 1


@job
def one() -> None:
    inc()
