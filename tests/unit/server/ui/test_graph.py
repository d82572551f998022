"""The workflow graph SVG: what a user sees on the workflow and execution pages."""

from __future__ import annotations

import itertools
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest

from retune.model.spec import Binding, Interface, NodeSpec, TaskSpec, WorkflowSpec
from retune.server.ui import graph
from retune.server.ui.graph import graph_svg

SVG = "{http://www.w3.org/2000/svg}"


def output(node: str) -> Binding:
    return Binding(kind="output", node=node, name="o")


def task(name: str) -> TaskSpec:
    return TaskSpec(name=name, interface=Interface(), module="flows", qualname=name.rpartition(".")[2])


def workflow(*nodes: NodeSpec, name: str = "pipeline") -> WorkflowSpec:
    tasks = {node.task: task(node.task) for node in nodes}
    return WorkflowSpec(name=name, interface=Interface(), nodes=nodes, tasks=tasks)


def node(path: str, *after: str, task: str = "flows.step", **fields: object) -> NodeSpec:
    inputs = {f"x{i}": output(source) for i, source in enumerate(after)}
    return NodeSpec.model_validate({"path": path, "task": task, "inputs": inputs, **fields})


def chain(prefix: str, length: int, after: str | None = None) -> list[NodeSpec]:
    paths = [f"{prefix}n{i}" for i in range(length)]
    first = [node(paths[0], *([after] if after else []))]
    return first + [node(path, before) for before, path in itertools.pairwise(paths)]


def draw(spec: WorkflowSpec, **groups: frozenset[str]) -> ET.Element:
    """The parsed SVG, drawn under a key no other test used (the cache is per process)."""
    return ET.fromstring(graph_svg(spec, uuid.uuid4().hex, **groups))


def nodes(svg: ET.Element) -> dict[str, ET.Element]:
    found = [g for g in svg.iter(f"{SVG}g") if g.get("data-path") is not None]
    return {g.attrib["data-path"]: g for g in found}


def edges(svg: ET.Element) -> set[tuple[str, str]]:
    return {
        (e.attrib["data-from"], e.attrib["data-to"])
        for e in svg.iter(f"{SVG}path")
        if "data-from" in e.attrib
    }


def place(element: ET.Element) -> tuple[int, int]:
    match = re.fullmatch(r"translate\((-?\d+),(-?\d+)\)", element.attrib["transform"])
    assert match is not None
    return int(match[1]), int(match[2])


def box(svg: ET.Element, group: str) -> tuple[int, int, int, int]:
    element = next(
        g for g in svg.iter(f"{SVG}g") if g.get("class") == "group" and g.get("data-group") == group
    )
    rect = element.find(f"{SVG}rect")
    assert rect is not None
    x, y = int(rect.attrib["x"]), int(rect.attrib["y"])
    return x, y, x + int(rect.attrib["width"]), y + int(rect.attrib["height"])


def inside(point: tuple[int, int], area: tuple[int, int, int, int]) -> bool:
    x, y = point
    return area[0] < x and x + graph.NODE_W < area[2] and area[1] < y and y + graph.NODE_H < area[3]


def test_every_node_appears_once_with_its_path_kind_and_an_empty_phase() -> None:
    spec = workflow(node("n0"), node("n1", "n0", kind="map"), node("sub/n0", "n1"), node("sub/inner/n0"))
    text = graph_svg(spec, uuid.uuid4().hex)
    drawn = nodes(ET.fromstring(text))
    assert text.startswith("<svg")
    assert sorted(drawn) == ["n0", "n1", "sub/inner/n0", "sub/n0"]
    assert all(text.count(f'data-path="{path}"') == 1 for path in drawn)
    assert {p: g.attrib["data-kind"] for p, g in drawn.items()}["n1"] == "map"
    assert {g.attrib["data-phase"] for g in drawn.values()} == {""}
    assert drawn["sub/n0"].attrib["aria-label"] == "sub/n0: step"


def test_an_edge_joins_each_dependency_including_those_inside_list_inputs_and_no_others() -> None:
    nested = Binding(kind="list", items=(output("a"), Binding(kind="list", items=(output("b"),))))
    merge = NodeSpec(
        path="m", task="flows.merge", inputs={"xs": nested, "k": Binding(kind="input", name="k")}
    )
    spec = workflow(node("a"), node("b"), node("c", "a"), merge, node("lonely"))
    assert edges(draw(spec)) == {("a", "c"), ("a", "m"), ("b", "m")}


def test_nodes_lie_in_columns_right_of_everything_they_depend_on() -> None:
    spec = workflow(*chain("", 4), node("side"), node("late", "n3", "side"), node("early", "n0"))
    svg = draw(spec)
    x = {path: place(g)[0] for path, g in nodes(svg).items()}
    for source, target in edges(svg):
        assert x[source] < x[target], (source, target)
    assert x["late"] > x["n3"] > x["n2"] > x["n1"] > x["n0"] == x["side"]


def test_nodes_in_one_column_do_not_overlap() -> None:
    spec = workflow(
        node("root"), *(node(f"fan{i}", "root") for i in range(9)), node("m", *(f"fan{i}" for i in range(9)))
    )
    places = sorted(place(g) for g in nodes(draw(spec)).values())
    fan = [y for x, y in places if x == places[1][0]]
    assert len(fan) == 9
    assert all(b - a >= graph.NODE_H for a, b in itertools.pairwise(fan))


def test_paths_task_names_and_hooks_from_users_are_escaped() -> None:
    evil = '"><script>alert(1)</script>'
    spec = workflow(
        node(f"n{evil}", task=f"flows.{evil}", hook=evil),
        node("n1", f"n{evil}"),
        name=f"wf{evil}",
    )
    text = graph_svg(spec, uuid.uuid4().hex)
    assert "<script" not in text
    svg = ET.fromstring(text)  # still well-formed
    drawn = nodes(svg)
    assert set(drawn) == {f"n{evil}", "n1"}
    assert drawn[f"n{evil}"].attrib["data-hook"] == evil
    assert edges(svg) == {(f"n{evil}", "n1")}
    assert evil in svg.attrib["aria-label"]


def test_ids_in_the_svg_never_contain_user_text() -> None:
    text = graph_svg(workflow(node("a b"), node("sub/c", "a b")), uuid.uuid4().hex)
    assert re.findall(r'\sid="([^"]*)"', text) == ["retune-graph-arrow"]


def test_the_svg_is_sized_and_labelled_for_screen_readers() -> None:
    svg = draw(workflow(*chain("", 3)))
    width, height = int(svg.attrib["width"]), int(svg.attrib["height"])
    assert svg.attrib["viewBox"] == f"0 0 {width} {height}"
    assert svg.attrib["role"] == "img"
    assert svg.attrib["aria-label"] == "Workflow pipeline: 3 task nodes"
    assert draw(workflow(node("n0"))).attrib["aria-label"] == "Workflow pipeline: 1 task node"
    for g in nodes(svg).values():
        x, y = place(g)
        assert x >= 0 and y >= 0
        assert x + graph.NODE_W <= width and y + graph.NODE_H <= height
        assert (g.attrib["tabindex"], g.attrib["role"]) == ("0", "button")


def test_long_labels_end_in_an_ellipsis_and_the_title_gives_them_whole() -> None:
    long = "preprocess_the_entire_training_corpus"
    g = nodes(draw(workflow(node("n0", task=f"flows.{long}"))))["n0"]
    label = g.find(f"{SVG}text")
    title = g.find(f"{SVG}title")
    assert label is not None and title is not None
    assert label.text is not None and label.text.endswith("…")
    assert len(label.text) == graph.LABEL_CHARS
    assert title.text == f"n0 · flows.{long}"


def test_map_nodes_are_stacked_and_hooked_nodes_show_their_hook() -> None:
    drawn = nodes(draw(workflow(node("m", kind="map"), node("t", "m", hook="train"), node("plain"))))
    classes = {p: [r.get("class") for r in g.iter(f"{SVG}rect")] for p, g in drawn.items()}
    assert classes["m"] == ["node-stack", "node-box"]
    assert classes["plain"] == ["node-box"]
    assert drawn["t"].attrib["data-hook"] == "train"
    badge = drawn["t"].find(f"{SVG}g[@class='hook-badge']/{SVG}text")
    assert badge is not None and badge.text is not None and "train" in badge.text
    assert "data-hook" not in drawn["plain"].attrib


def test_sub_workflow_members_lie_inside_their_group_box_and_others_outside() -> None:
    spec = workflow(
        node("n0"),
        *chain("sub/", 3, after="n0"),
        *chain("sub/inner/", 2, after="sub/n0"),
        node("n1", "sub/n2", "sub/inner/n1"),
        *chain("other/", 3, after="n0"),
        *chain("free", 4),
        node("x0", "n0"),
        node("x1", "sub/n0"),
        *chain("late/", 3, after="x1"),
        *chain("early/", 5),
    )
    svg = draw(spec)
    drawn = {path: place(g) for path, g in nodes(svg).items()}
    for group in ("sub", "sub/inner", "other", "late", "early"):
        area = box(svg, group)
        members = {p for p in drawn if p.startswith(group + "/")}
        assert members and all(inside(drawn[p], area) for p in members), group
        others = set(drawn) - members
        assert not any(_overlaps(drawn[p], area) for p in others), group
    assert _contains(box(svg, "sub"), box(svg, "sub/inner"))
    sub = next(g for g in svg.iter(f"{SVG}g") if g.get("data-group") == "sub" and g.get("class") == "group")
    assert {g.attrib["data-path"] for g in sub.iter(f"{SVG}g") if "data-path" in g.attrib} == {
        "sub/n0",
        "sub/n1",
        "sub/n2",
        "sub/inner/n0",
        "sub/inner/n1",
    }
    toggle = next(g for g in sub if g.get("class") == "group-toggle")
    assert (toggle.attrib["data-group"], toggle.attrib["aria-expanded"]) == ("sub", "true")


def _overlaps(point: tuple[int, int], area: tuple[int, int, int, int]) -> bool:
    x, y = point
    return x < area[2] and area[0] < x + graph.NODE_W and y < area[3] and area[1] < y + graph.NODE_H


def _contains(outer: tuple[int, int, int, int], inner: tuple[int, int, int, int]) -> bool:
    return outer[0] < inner[0] and outer[1] < inner[1] and inner[2] < outer[2] and inner[3] < outer[3]


def test_collapsing_a_group_draws_one_box_for_it_and_redirects_its_edges() -> None:
    spec = workflow(
        node("n0"),
        *chain("sub/", 3, after="n0"),
        *chain("sub/inner/", 9, after="sub/n0"),
        node("n1", "sub/n2", "sub/inner/n8"),
    )
    svg = draw(spec, collapsed=frozenset({"sub"}))
    assert set(nodes(svg)) == {"n0", "n1"}
    group_nodes = [g for g in svg.iter(f"{SVG}g") if "group-node" in g.get("class", "").split()]
    assert [g.attrib["data-group"] for g in group_nodes] == ["sub"]
    assert "sub (12 nodes)" in "".join(group_nodes[0].itertext())
    assert edges(svg) == {("n0", "sub"), ("sub", "n1")}
    assert not any(g.get("class") == "group" for g in svg.iter(f"{SVG}g"))


def test_collapsing_a_nested_group_keeps_its_parent_open_around_it() -> None:
    spec = workflow(*chain("sub/", 2), *chain("sub/inner/", 4, after="sub/n1"), node("n9", "sub/inner/n3"))
    svg = draw(spec, collapsed=frozenset({"sub/inner"}))
    assert set(nodes(svg)) == {"sub/n0", "sub/n1", "n9"}
    assert edges(svg) == {("sub/n0", "sub/n1"), ("sub/n1", "sub/inner"), ("sub/inner", "n9")}
    group_node = next(g for g in svg.iter(f"{SVG}g") if g.get("data-kind") == "group")
    assert inside(place(group_node), box(svg, "sub"))


def big_grouped_workflow() -> WorkflowSpec:
    """301 nodes: 30 sub-workflows of 10 and one node after them all."""
    members = [node(f"g{i}/n{j}", *([f"g{i}/n{j - 1}"] if j else [])) for i in range(30) for j in range(10)]
    return workflow(*members, node("end", *(f"g{i}/n9" for i in range(30))))


def test_graphs_over_300_nodes_start_with_their_sub_workflows_collapsed() -> None:
    svg = draw(big_grouped_workflow())
    assert set(nodes(svg)) == {"end"}
    assert len([g for g in svg.iter(f"{SVG}g") if g.get("data-kind") == "group"]) == 30
    assert ("g7", "end") in edges(svg)


def test_expanded_groups_stay_open_in_a_large_graph() -> None:
    svg = draw(big_grouped_workflow(), expanded=frozenset({"g3"}))
    assert set(nodes(svg)) == {"end", *(f"g3/n{j}" for j in range(10))}
    assert ("g3/n9", "end") in edges(svg)


def test_expanding_a_nested_group_opens_the_groups_around_it() -> None:
    spec = workflow(*chain("a/b/", 3), node("a/n0"), *(node(f"x{i}") for i in range(300)))
    svg = draw(spec, expanded=frozenset({"a/b"}))
    assert {"a/b/n0", "a/n0"} <= set(nodes(svg))


def test_a_second_call_with_the_same_key_is_served_from_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[frozenset[str]] = []
    layout: Callable[..., object] = graph._layout

    def counted(spec: WorkflowSpec, folded: frozenset[str]) -> object:
        calls.append(folded)
        return layout(spec, folded)

    monkeypatch.setattr(graph, "_layout", counted)
    spec, key = workflow(*chain("sub/", 3), node("n9", "sub/n2")), uuid.uuid4().hex
    first = graph_svg(spec, key)
    assert graph_svg(spec, key) is first
    assert len(calls) == 1
    collapsed = graph_svg(spec, key, collapsed=frozenset({"sub"}))
    assert collapsed != first
    assert graph_svg(spec, key, collapsed=frozenset({"sub"})) is collapsed
    assert calls == [frozenset(), frozenset({"sub"})]


def test_the_cache_holds_a_bounded_number_of_graphs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph, "CACHE_ENTRIES", 3)
    spec = workflow(node("n0"))
    keys = [uuid.uuid4().hex for _ in range(5)]
    drawn = [graph_svg(spec, key) for key in keys]
    assert graph_svg(spec, keys[-1]) is drawn[-1]
    assert graph_svg(spec, keys[0]) is not drawn[0]  # evicted, drawn again


def test_a_cycle_a_compiled_spec_cannot_have_still_draws_every_node() -> None:
    svg = draw(workflow(node("a", "b"), node("b", "a"), node("c", "b")))
    assert set(nodes(svg)) == {"a", "b", "c"}
    assert edges(svg) == {("a", "b"), ("b", "a"), ("b", "c")}


def test_an_empty_workflow_draws_an_empty_graph() -> None:
    svg = draw(workflow())
    assert nodes(svg) == {} and edges(svg) == set()
    assert int(svg.attrib["width"]) > 0 and int(svg.attrib["height"]) > 0


def test_a_2000_node_workflow_renders_every_node_in_a_reasonable_size() -> None:
    members = [node(f"c{c}n{i}", *([f"c{c}n{i - 1}"] if i else [])) for c in range(20) for i in range(100)]
    spec = workflow(*members[:-1], node("fan-in", *(f"c{c}n99" for c in range(19)), "c19n98"))
    text = graph_svg(spec, uuid.uuid4().hex)
    svg = ET.fromstring(text)
    assert len(nodes(svg)) == 2000
    assert len(edges(svg)) == 19 * 99 + 98 + 20
    assert len(text.encode()) < 1_500_000
