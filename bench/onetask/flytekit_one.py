"""One task, for ``pyflyte run flytekit_one.py one --x N`` (runs under bench/.venv-compare)."""

from flytekit import task, workflow


@task(cache=True, cache_version="1")
def inc(x: int) -> int:
    return x + 1


@workflow
def one(x: int = 0) -> int:
    return inc(x=x)
