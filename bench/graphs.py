"""The graphs the suite compiles and resolves, built the way a user would write them.

Every builder defines its ``@rt.workflow`` functions anew on each call: a ``Workflow`` object
caches its trace and its compiled spec, so reusing one (root or sub-workflow) would time a
cache lookup instead of a compile.

One *group* of ``build_workflow`` is 40 task nodes and 4 hooks:

- a call of the sub-workflow ``block`` (10 task nodes: a chain of 3 ``prep``, a fan-out of
  4 ``score`` of which one has ``with_overrides``, a ``merge`` of the fan-out, ``train`` with
  the hook ``train`` and a default, ``to_int``), its hook aliased to ``train-G`` and given an
  outer default; every 5th block node also has ``with_overrides`` (layer 2 on a sub-workflow);
- a chain of 20 ``prep`` (every 7th with ``with_overrides``; link 10 has hook ``gG-prep``);
- a fan-out of 9 ``score`` from the chain's end (the first has hook ``gG-score``);
- a ``merge`` of the fan-out, with ``with_overrides`` and hook ``gG-merge``.

Every hook has a default in workflow code (layer 3). Groups are chained: a group's input is
the previous group's ``merge``.
"""

from __future__ import annotations

from typing import Any

import retune as rt

NODES_PER_GROUP = 40
HOOKS_PER_GROUP = 4
CHAIN_LENGTH = 20
FAN_OUT = 9
BLOCK_FAN_OUT = 4


@rt.task(retries=1)
def prep(x: int) -> int:
    return x + 1


@rt.task(cache=True, cache_version="1", retries=2, requests=rt.Resources(cpu="500m", mem="256Mi"))
def score(y: int) -> int:
    return y * 2


@rt.task(requests=rt.Resources(cpu="1", mem="1Gi"), limits=rt.Resources(cpu="2", mem="2Gi"))
def merge(xs: list[int]) -> int:
    return sum(xs)


@rt.task(
    requests=rt.Resources(cpu="1", mem="512Mi"),
    limits=rt.Resources(mem="1Gi"),
    cache=True,
    cache_version="1",
    retries=2,
    environment={"K": "V"},
)
def train(x: int) -> float:
    return x * 1.5


@rt.task
def to_int(v: float) -> int:
    return int(v)


def build_workflow(groups: int) -> rt.Workflow[Any, Any]:
    """A fresh root workflow (and fresh ``block``) of ``groups * 40`` task nodes and ``groups * 4`` hooks."""

    @rt.workflow
    def block(x: int) -> int:
        a = prep(x=x)
        b = prep(x=a)
        c = prep(x=b)
        fan = [score(y=c) for _ in range(BLOCK_FAN_OUT - 1)]
        fan.append(score(y=c).with_overrides(retries=4, environment={"BLOCK": "1"}))
        t = train(x=merge(xs=fan)).with_runtime_override(
            "train", rt.runtime_override_config(mem="2Gi", retries=3)
        )
        return to_int(v=t)

    @rt.workflow
    def root(seed: int = 1) -> int:
        x = seed
        for g in range(groups):
            node = block(x=x).with_hook_aliases(train=f"train-{g}")
            node.with_runtime_override(f"train-{g}", rt.runtime_override_config(gpu=g % 2))
            if g % 5 == 0:
                node.with_overrides(interruptible=True, environment={"GROUP": str(g)})
            x = node
            for i in range(CHAIN_LENGTH):
                x = prep(x=x)
                if i % 7 == 3:
                    x.with_overrides(retries=1, cache=True, cache_version="v2")
                if i == 10:
                    x.with_runtime_override(f"g{g}-prep", rt.runtime_override_config(cpu="500m"))
            fan = [score(y=x) for _ in range(FAN_OUT)]
            fan[0].with_runtime_override(f"g{g}-score", rt.runtime_override_config(retries=5))
            x = merge(xs=fan).with_overrides(
                requests=rt.Resources(cpu="2", mem="1Gi"), limits=rt.Resources(cpu="2", mem="2Gi")
            )
            x.with_runtime_override(f"g{g}-merge", rt.runtime_override_config(mem="4Gi"))
        return x

    return root


def hook_names(groups: int) -> list[str]:
    """Every hook of ``build_workflow(groups)``."""
    return [
        name for g in range(groups) for name in (f"train-{g}", f"g{g}-prep", f"g{g}-score", f"g{g}-merge")
    ]


def launch_plan_overrides(groups: int) -> dict[str, dict[str, Any]]:
    """Layer 4: a ``runtime_override`` for every hook, as plain dicts."""
    return {
        name: {"retries": 4, "interruptible": False, "environment": {"LP": "nightly"}}
        for name in hook_names(groups)
    }


def execution_overrides(groups: int) -> dict[str, dict[str, Any]]:
    """Layer 5: execution overrides for every hook, as plain dicts (what ``rt.run(..., overrides=)`` takes)."""
    return {
        name: {
            "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "2"}},
            "retries": i % 4,
            "environment": {"RUN": "bench"},
        }
        for i, name in enumerate(hook_names(groups))
    }


def build_chain(length: int) -> rt.Workflow[Any, Any]:
    """A fresh workflow that is one chain of ``length`` task nodes, each fed by the one before."""

    @rt.workflow
    def chain(x: int = 0) -> int:
        for _ in range(length):
            x = prep(x=x)
        return x

    return chain
