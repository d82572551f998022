"""Workflows whose hooks live in sub-workflows: defaults from outer workflows, aliases."""

import retune as rt


@rt.task(requests=rt.Resources(cpu="500m", mem="256Mi"), retries=1)
def load(x: int) -> int:
    return x + 1


@rt.task
def fit(x: int) -> int:
    return x * 2


@rt.task
def evaluate(x: int) -> float:
    return x / 2


@rt.workflow
def pipeline(x: int) -> float:
    a = load(x=x).with_runtime_override("load", rt.runtime_override_config(cpu=1, retries=2))  # load-hook
    b = fit(x=a).with_runtime_override("fit", rt.runtime_override_config(mem="1Gi", environment={"A": "in"}))
    return evaluate(x=b).with_runtime_override("evaluate")


@rt.workflow
def tuned(x: int) -> float:
    return (
        pipeline(x=x)
        .with_runtime_override("load", rt.runtime_override_config(retries=4))
        .with_runtime_override("fit", rt.runtime_override_config(mem="2Gi", environment={"B": "out"}))
        .with_runtime_override("evaluate", rt.runtime_override_config(cpu=2))
    )


@rt.workflow
def middle(x: int) -> float:
    wanted = rt.runtime_override_config(retries=6, mem="1Gi")
    return pipeline(x=x).with_runtime_override("load", wanted)  # middle-calls-pipeline


@rt.workflow
def top(x: int) -> float:
    wanted = rt.runtime_override_config(retries=8)
    return middle(x=x).with_runtime_override("load", wanted)  # top-calls-middle


@rt.workflow
def twice(x: int) -> float:
    pipeline(x=x)
    return pipeline(x=x).with_hook_aliases(load="load-b", fit="fit-b", evaluate="evaluate-b")


@rt.workflow
def renamed_in_middle(x: int) -> float:
    return pipeline(x=x).with_hook_aliases(load="mid-load")


@rt.workflow
def renamed_again(x: int) -> float:
    return (
        renamed_in_middle(x=x)
        .with_hook_aliases(**{"mid-load": "top-load"})
        .with_runtime_override("top-load", rt.runtime_override_config(retries=9))
    )
