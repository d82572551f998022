"""Properties of layering, over random overrides: associative, unset is an identity, provenance names
the last layer that set each path.

``task_config`` is generated with a fixed shape per key (a key always holds a map, or always a
leaf), as a task type's schema guarantees; a map replaced by a leaf or by an empty map is covered
in test_merge_rules. ``cache`` is never false here: a later ``cache=false`` under an earlier
``cache_serialize=true`` cannot be combined into one override (also in test_merge_rules), and
``interruptible`` exercises the same replace rule with ``False``.
"""

import copy
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from retune.model import UNSET, Layer, Source, TaskNodeOverrides
from retune.overrides.merge import Draft, apply, combine

SETTINGS = settings(max_examples=200, deadline=None)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(UNSET), strategy)


QUANTITIES = {
    "cpu": st.integers(0, 64_000).map(lambda millis: f"{millis}m"),
    "mem": st.integers(0, 2**40),
    "gpu": st.integers(0, 8),
    "storage": st.sampled_from(["0", "1Gi", "10Gi", "500M"]),
}
named_resources = st.fixed_dictionaries({}, optional=QUANTITIES)
resources = st.fixed_dictionaries({}, optional={"requests": named_resources, "limits": named_resources})
text = st.text(alphabet="xyz01", max_size=3)
environment = st.dictionaries(st.sampled_from(["A", "B", "C", "LOG"]), text, max_size=4)
conf = st.dictionaries(st.sampled_from(["a", "b", "c"]), text, min_size=1, max_size=3)
task_config = st.fixed_dictionaries(
    {},
    optional={
        "spark_conf": conf,
        "hadoop_conf": conf,
        "executor_path": st.one_of(st.none(), text),
        "nested": st.fixed_dictionaries({}, optional={"inner": conf, "threads": st.integers(1, 8)}).filter(
            bool
        ),
    },
)


@st.composite
def overrides(draw: st.DrawFn) -> TaskNodeOverrides:
    fields = {
        "resources": draw(maybe(resources)),
        "cache": draw(maybe(st.just(True))),
        "cache_serialize": draw(maybe(st.booleans())),
        "cache_version": draw(maybe(text)),
        "retries": draw(maybe(st.integers(0, 100))),
        "interruptible": draw(maybe(st.booleans())),
        "container_image": draw(maybe(st.sampled_from(["py311", "py312", "ghcr.io/acme/gpu:1"]))),
        "environment": draw(maybe(environment)),
        "task_config": draw(maybe(task_config)),
    }
    return TaskNodeOverrides(**fields)


def applied(*layers: tuple[TaskNodeOverrides, Source]) -> Draft:
    draft = Draft.empty()
    for layer, source in layers:
        apply(draft, layer, source)
    return draft


def paths(overrides: TaskNodeOverrides) -> Iterator[tuple[str, Any]]:
    """Every (field path, value) an override sets, read from its wire form alone."""
    for field, value in overrides.to_dict().items():
        if field == "resources":
            for kind, named in value.items():
                yield from ((f"{kind}.{name}", quantity) for name, quantity in named.items())
        elif field == "environment":
            yield from ((f"environment.{key}", item) for key, item in value.items())
        elif field == "task_config":
            yield from _leaves(value, "task_config")
        else:
            yield field, value


def _leaves(tree: dict[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}.{key}")
        else:
            yield f"{prefix}.{key}", value


def value_at(draft: Draft, path: str) -> Any:
    field, _, rest = path.partition(".")
    value = draft.values[field]
    for part in rest.split(".") if rest else ():
        value = value[part]
    return value


A = Source(Layer.WORKFLOW, "a", "h")
B = Source(Layer.LAUNCH_PLAN, "b", "h")
C = Source(Layer.EXECUTION, "c", "h")


@SETTINGS
@given(overrides(), overrides(), overrides())
def test_combine_is_associative(a: TaskNodeOverrides, b: TaskNodeOverrides, c: TaskNodeOverrides) -> None:
    assert combine(combine(a, b), c).to_dict() == combine(a, combine(b, c)).to_dict()


@SETTINGS
@given(overrides(), overrides(), overrides(), overrides())
def test_a_combined_pair_acts_like_its_parts(
    base: TaskNodeOverrides, a: TaskNodeOverrides, b: TaskNodeOverrides, c: TaskNodeOverrides
) -> None:
    start = Source(Layer.TASK, "t")
    one_by_one = applied((base, start), (a, A), (b, A), (c, B))
    paired = applied((base, start), (combine(a, b), A), (c, B))
    assert paired.values == one_by_one.values


@SETTINGS
@given(overrides(), overrides())
def test_an_all_unset_layer_is_an_identity(base: TaskNodeOverrides, other: TaskNodeOverrides) -> None:
    draft = applied((base, A), (other, B))
    values, provenance = copy.deepcopy(draft.values), dict(draft.provenance)
    apply(draft, TaskNodeOverrides(), C)
    assert draft.values == values
    assert draft.provenance == provenance
    assert C not in draft.provenance.values()
    nothing = TaskNodeOverrides()
    assert combine(base, nothing).to_dict() == combine(nothing, base).to_dict() == combine(base).to_dict()


@SETTINGS
@given(st.lists(overrides(), min_size=1, max_size=6))
def test_provenance_names_the_last_layer_that_set_each_path(layers: list[TaskNodeOverrides]) -> None:
    sources = [Source(list(Layer)[i % len(Layer)], f"layer-{i}", "h") for i in range(len(layers))]
    draft = applied(*zip(layers, sources, strict=True))
    expected_source: dict[str, Source] = {}
    expected_value: dict[str, Any] = {}
    for layer, source in zip(layers, sources, strict=True):
        for path, value in paths(layer):
            expected_source[path] = source
            expected_value[path] = value
    assert draft.provenance == expected_source
    assert {path: value_at(draft, path) for path in expected_value} == expected_value


@SETTINGS
@given(overrides())
def test_combine_of_one_override_keeps_what_it_sets(single: TaskNodeOverrides) -> None:
    assert dict(paths(combine(single))) == dict(paths(single))
