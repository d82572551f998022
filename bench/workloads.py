"""The execution workloads of the issue-3 rows, for retune, and the same functions called directly.

Three shapes, the same in every framework compared (see ``bench/compare/``):

- ``chain(n)``: ``n`` calls of ``inc``, each fed by the one before;
- ``fan(n)``: ``n`` independent ``add(x, k=i)`` nodes, then one ``total`` of their results
  (``n + 1`` task nodes); each node has its own ``k`` so no two share a cache key;
- ``mapped``: ``rt.map_task(inc)`` over a list (one map node, one call per item).

Every task caches (``cache=True``), so each node's cache is looked up and written; the suite
gives every repetition inputs no earlier repetition used, so every lookup misses. The tasks
live at module level in this importable module: worker processes import them by reference.
"""

from __future__ import annotations

from typing import Any

import retune as rt


@rt.task(cache=True, cache_version="1")
def inc(x: int) -> int:
    return x + 1


@rt.task(cache=True, cache_version="1")
def add(x: int, k: int) -> int:
    return x + k


@rt.task(cache=True, cache_version="1")
def total(xs: list[int]) -> int:
    return sum(xs)


def build_chain(length: int) -> rt.Workflow[Any, Any]:
    """A chain of ``length`` ``inc`` nodes."""

    @rt.workflow
    def chain(x: int = 0) -> int:
        for _ in range(length):
            x = inc(x=x)
        return x

    return chain


def build_fan(width: int) -> rt.Workflow[Any, Any]:
    """``width`` independent ``add`` nodes reduced by one ``total``: ``width + 1`` nodes."""

    @rt.workflow
    def fan(x: int = 0) -> int:
        return total(xs=[add(x=x, k=k) for k in range(width)])

    return fan


@rt.workflow
def mapped(xs: list[int]) -> list[int]:
    return rt.map_task(inc)(x=xs)


def build_mixed(blocks: int, chain: int, width: int) -> rt.Workflow[Any, Any]:
    """``blocks`` times: a chain of ``chain`` nodes, a fan-out of ``width``, a reduce; blocks chained."""

    @rt.workflow
    def mixed(x: int = 0) -> int:
        for _ in range(blocks):
            for _ in range(chain):
                x = inc(x=x)
            x = total(xs=[add(x=x, k=k) for k in range(width)])
        return x

    return mixed


# -- the same functions, called directly ------------------------------------------------------


def direct_chain(length: int, x: int) -> int:
    for _ in range(length):
        x = inc.fn(x=x)
    return x


def direct_fan(width: int, x: int) -> int:
    return total.fn(xs=[add.fn(x=x, k=k) for k in range(width)])


def direct_map(xs: list[int]) -> list[int]:
    return [inc.fn(x=v) for v in xs]


def direct_mixed(blocks: int, chain: int, width: int, x: int) -> int:
    for _ in range(blocks):
        x = direct_chain(chain, x)
        x = direct_fan(width, x)
    return x
