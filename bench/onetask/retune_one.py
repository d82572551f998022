"""One task, for ``retune run retune_one.py:one --x N`` (the fixed cost of the CLI)."""

import retune as rt


@rt.task(cache=True, cache_version="1")
def inc(x: int) -> int:
    return x + 1


@rt.workflow
def one(x: int = 0) -> int:
    return inc(x=x)
