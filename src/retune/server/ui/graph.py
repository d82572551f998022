"""The workflow graph as SVG, laid out on the server, for the workflow and execution pages.

    graph_svg(spec, key, *, collapsed=frozenset(), expanded=frozenset()) -> str

Pure: a ``WorkflowSpec`` in, an SVG string out; no I/O, no FastAPI. The SVG is the same for every
execution of a workflow: phases are not drawn, the page colours ``g.node[data-phase=...]`` with
``static/graph.css`` and its script sets ``data-phase``. So the string is cached by ``key``, the
spec's content hash, and the groups asked to be collapsed (an LRU of ``CACHE_ENTRIES`` strings,
and at most ``CACHE_CHARS`` characters in all: a 2,000-node graph is about a megabyte).

What is drawn: every task node (``kind`` task or map; a map is a stacked double box), an edge
A -> B when an input binding of B (inside ``list`` bindings too) is an output of A, and for each
sub-workflow (the nodes whose paths share a prefix, ``sub/...``) a labelled box around its
members, nested as the sub-workflows are. Workflow inputs are not drawn.

Collapsing. A collapsed sub-workflow is one box, ``sub (12 nodes)``; the edges into and out of
its members go to it instead. The groups drawn collapsed are

    (collapsed | every top-level group, when the spec has more than COLLAPSE_ABOVE nodes)
    minus each group that is in ``expanded`` or holds a group that is

so ``expanded={"sub/inner"}`` opens ``sub`` too. Names that are not groups are ignored (they
come from a page's query string). The page's script may also toggle a ``collapsed`` class on a
``g.group``; redrawing with ``collapsed=`` is what re-lays the graph out.

The layout (Sugiyama, kept simple: about 60 ms for 2,000 nodes on 2 cores, render included;
``python -m bench ui_graph``), in order:

1. Units: each node, or the outermost collapsed group holding it; edges between units.
2. Columns: a unit's column is the longest path to it from a source (left to right, since
   names are wide). A cycle, which a compiled spec cannot have, is broken where it stalls.
3. Order: a unit's position in its column, by ``SWEEPS`` barycenter sweeps, down then up.
4. Rows: bottom-up over the sub-workflow tree, the units and boxes of each group are stacked
   in order of position, each at the lowest height free across all the columns it spans (a
   skyline), so boxes never overlap and hold exactly their members.
5. Render: groups nest (``g.group`` holds its members), edges lie beneath them.

The markup the page's CSS and script rely on:

- ``g.node[data-path][data-kind=task|map][data-phase=""]``, focusable (``tabindex``,
  ``role=button``, ``aria-label="PATH: TASK"``), with ``data-hook`` and a ``g.hook-badge`` when
  the node has a hook; ``rect.node-box`` (and ``rect.node-stack`` for a map), ``<title>``.
- ``g.group[data-group]`` holding ``rect.group-box``, the label
  ``g.group-toggle[data-group][aria-expanded=true]`` and its members.
- ``g.node.group-node[data-group][data-kind=group][aria-expanded=false]`` for a collapsed group.
- ``path.edge[data-from][data-to]`` (node paths, or a collapsed group's path).

User text (paths, task, hook and workflow names) is escaped; ids never contain it.
"""

from __future__ import annotations

import html
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Final

from retune.model.spec import Binding, NodeSpec, WorkflowSpec
from retune.server.ui.words import plural

__all__ = ["graph_svg"]

COLLAPSE_ABOVE: Final = 300
CACHE_ENTRIES: Final = 64
CACHE_CHARS: Final = 32_000_000
SWEEPS: Final = 4

NODE_W: Final = 176
NODE_H: Final = 28
COL_GAP: Final = 64
COL_W: Final = NODE_W + COL_GAP
ROW_GAP: Final = 16
ROW_H: Final = NODE_H + ROW_GAP
GROUP_HEAD: Final = 24
GROUP_PAD: Final = 8
PAD_X: Final = COL_GAP // 2 + 8
PAD_TOP: Final = 16  # room for the hook badges of the top row
LABEL_CHARS: Final = 24  # what fits in NODE_W at 12px
HOOK_CHARS: Final = 14
CHAR_W: Final = 7  # a generous average glyph width at 12px, for the widths of labels

_Key = tuple[str, frozenset[str], frozenset[str]]
_cache: OrderedDict[_Key, str] = OrderedDict()
_cache_chars = 0
_cache_lock = threading.Lock()


def graph_svg(
    spec: WorkflowSpec,
    key: str,
    *,
    collapsed: AbstractSet[str] = frozenset(),
    expanded: AbstractSet[str] = frozenset(),
) -> str:
    """The SVG (a string starting with ``<svg``) of the workflow's task nodes and their dependencies.

    ``key`` is the spec's content hash: the SVG is cached by it and the two group sets, so a
    second call with the same arguments does no layout work. ``collapsed`` and ``expanded``
    name sub-workflow groups by path (``sub``, ``sub/inner``); see the module docstring.
    """
    cache_key = (key, frozenset(collapsed), frozenset(expanded))
    with _cache_lock:
        svg = _cache.get(cache_key)
        if svg is not None:
            _cache.move_to_end(cache_key)
            return svg
    # Laid out outside the lock: two first calls for one key may both lay out, which is cheaper
    # than making every other page wait behind a 2,000-node layout.
    svg = _render(spec, _layout(spec, _folded(spec, cache_key[1], cache_key[2])))
    _remember(cache_key, svg)
    return svg


def _remember(key: _Key, svg: str) -> None:
    global _cache_chars
    with _cache_lock:
        if key in _cache:
            return
        _cache[key] = svg
        _cache_chars += len(svg)
        while len(_cache) > CACHE_ENTRIES or (_cache_chars > CACHE_CHARS and len(_cache) > 1):
            _cache_chars -= len(_cache.popitem(last=False)[1])


def _folded(spec: WorkflowSpec, collapsed: frozenset[str], expanded: frozenset[str]) -> frozenset[str]:
    """The groups drawn collapsed: the rule of the module docstring."""
    wanted = set(collapsed)
    if len(spec.nodes) > COLLAPSE_ABOVE:
        wanted.update(node.path.split("/", 1)[0] for node in spec.nodes if "/" in node.path)
    return frozenset(g for g in wanted if not any(e == g or e.startswith(g + "/") for e in expanded))


# -- 1. units and edges --------------------------------------------------------------------------


@dataclass(slots=True)
class _Unit:
    """What one box stands for: a node, or a collapsed group (``node`` None) of ``members`` nodes."""

    name: str
    node: NodeSpec | None
    parent: str  # the innermost expanded group holding it; "" at the top level
    members: int = 1


@dataclass(slots=True)
class _Group:
    """An expanded group's box: its columns, and its top and height in pixels."""

    first: int
    last: int
    height: int
    top: int = 0
    weight: float = 0.0  # the sum of its units' positions, for the order of its box
    units: int = 0


@dataclass(slots=True)
class _Layout:
    """Everything ``_render`` needs: units with their columns and tops (px), edges, group boxes."""

    units: list[_Unit]
    edges: list[tuple[int, int]]
    column: list[int]
    top: list[int]
    groups: dict[str, _Group] = field(default_factory=dict)  # the expanded ones
    subgroups: dict[str, list[str]] = field(default_factory=dict)  # the expanded ones in each ("" top)
    counts: dict[str, int] = field(default_factory=dict)  # nodes in each group, expanded or not
    width: int = 0
    height: int = 0


def _layout(spec: WorkflowSpec, folded: frozenset[str]) -> _Layout:
    """Where every unit, edge and group box goes (phases 1-4 of the module docstring)."""
    units, unit_of = _units(spec.nodes, folded)
    edges = _edges(spec.nodes, unit_of)
    column = _columns(len(units), edges)
    position = _order(column, edges)
    layout = _Layout(units, edges, column, [0] * len(units), counts=_counts(spec.nodes))
    _place(layout, position)
    return layout


def _units(nodes: Iterable[NodeSpec], folded: frozenset[str]) -> tuple[list[_Unit], dict[str, int]]:
    """The units in spec order, and the unit of each node path."""
    units: list[_Unit] = []
    index: dict[tuple[bool, str], int] = {}
    unit_of: dict[str, int] = {}
    for node in nodes:
        groups = _ancestors(node.path)
        fold = next((g for g in groups if g in folded), None)
        name = node.path if fold is None else fold
        found = index.get((fold is not None, name))
        if found is None:
            found = index[(fold is not None, name)] = len(units)
            parent = (groups[-1] if groups else "") if fold is None else _parent(fold)
            units.append(_Unit(name, node if fold is None else None, parent, 0))
        units[found].members += 1
        unit_of[node.path] = found
    return units, unit_of


def _ancestors(path: str) -> list[str]:
    """``a/b/n0`` -> ``["a", "a/b"]``: the groups a node belongs to, outermost first."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _counts(nodes: Iterable[NodeSpec]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in nodes:
        for group in _ancestors(node.path):
            counts[group] = counts.get(group, 0) + 1
    return counts


def _parent(group: str) -> str:
    return group.rpartition("/")[0]


def _edges(nodes: Iterable[NodeSpec], unit_of: dict[str, int]) -> list[tuple[int, int]]:
    """Unit-to-unit dependencies, once each; none inside a collapsed group."""
    edges: set[tuple[int, int]] = set()
    for node in nodes:
        target = unit_of[node.path]
        for path in _sources(node.inputs.values()):
            source = unit_of.get(path)
            if source is not None and source != target:
                edges.add((source, target))
    return sorted(edges)


def _sources(bindings: Iterable[Binding]) -> Iterator[str]:
    for binding in bindings:
        if binding.kind == "output" and binding.node is not None:
            yield binding.node
        elif binding.kind == "list":
            yield from _sources(binding.items)


# -- 2. columns, 3. order --------------------------------------------------------------------------


def _columns(count: int, edges: list[tuple[int, int]]) -> list[int]:
    """Longest path from a source (Kahn's order); a stalled cycle is entered at its first unit."""
    successors: list[list[int]] = [[] for _ in range(count)]
    waiting = [0] * count
    for source, target in edges:
        successors[source].append(target)
        waiting[target] += 1
    column, placed = [0] * count, [False] * count
    ready = deque(u for u in range(count) if waiting[u] == 0)
    unplaced = 0
    for _ in range(count):
        while not ready or placed[ready[0]]:
            if ready:
                ready.popleft()
                continue
            while placed[unplaced]:
                unplaced += 1
            ready.append(unplaced)
        unit = ready.popleft()
        placed[unit] = True
        for target in successors[unit]:
            if not placed[target]:
                column[target] = max(column[target], column[unit] + 1)
                waiting[target] -= 1
                if waiting[target] == 0:
                    ready.append(target)
    return column


def _order(column: list[int], edges: list[tuple[int, int]]) -> list[float]:
    """Each unit's position in its column after barycenter sweeps (fewer crossings, straighter rows)."""
    count = len(column)
    layers: list[list[int]] = [[] for _ in range(max(column, default=-1) + 1)]
    for unit in range(count):
        layers[column[unit]].append(unit)
    predecessors: list[list[int]] = [[] for _ in range(count)]
    successors: list[list[int]] = [[] for _ in range(count)]
    for source, target in edges:
        predecessors[target].append(source)
        successors[source].append(target)
    position = [0.0] * count
    for layer in layers:
        for index, unit in enumerate(layer):
            position[unit] = float(index)
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        neighbours = predecessors if down else successors
        for layer in layers if down else reversed(layers):
            layer.sort(key=lambda u: (_barycenter(position, neighbours[u], position[u]), position[u]))
            for index, unit in enumerate(layer):
                position[unit] = float(index)
    return position


def _barycenter(position: list[float], neighbours: list[int], default: float) -> float:
    if not neighbours:
        return default
    return sum(position[n] for n in neighbours) / len(neighbours)


# -- 4. rows ---------------------------------------------------------------------------------------


def _place(layout: _Layout, position: list[float]) -> None:
    """Stack each group's units and boxes in a skyline, innermost groups first; then make tops absolute."""
    children: dict[str, list[int]] = {"": []}
    for unit, data in enumerate(layout.units):
        children.setdefault(data.parent, []).append(unit)
        for group in _ancestors(data.parent):
            children.setdefault(group, [])
    for group in children:
        if group:
            layout.subgroups.setdefault(_parent(group), []).append(group)
    relative: dict[str, int] = {}
    for group in sorted(children, key=lambda g: -g.count("/") if g else 1):
        items = [(position[u], layout.column[u], layout.column[u], ROW_H, u, "") for u in children[group]]
        items += [_group_item(layout.groups[g], g) for g in layout.subgroups.get(group, ())]
        content = _stack(sorted(items), layout.top, relative)
        if group:
            layout.groups[group] = _box(layout, position, items, content)
    _absolute(layout, relative)


_Item = tuple[float, int, int, int, int, str]  # order, first column, last column, height, unit, group


def _group_item(box: _Group, group: str) -> _Item:
    return (box.weight / box.units, box.first, box.last, box.height + ROW_GAP, -1, group)


def _stack(items: list[_Item], top: list[int], relative: dict[str, int]) -> int:
    """Each item at the lowest height free in all its columns; the height of the whole stack."""
    skyline: dict[int, int] = {}
    for _, first, last, height, unit, group in items:
        y = max(skyline.get(c, 0) for c in range(first, last + 1))
        for c in range(first, last + 1):
            skyline[c] = y + height
        if group:
            relative[group] = y
        else:
            top[unit] = y
    return max(skyline.values(), default=ROW_H)


def _box(layout: _Layout, position: list[float], items: list[_Item], content: int) -> _Group:
    """A group's box around its stacked items; its order among its siblings is its units' mean position."""
    box = _Group(
        min(i[1] for i in items), max(i[2] for i in items), GROUP_HEAD + content - ROW_GAP + GROUP_PAD
    )
    for item in items:
        if item[5]:
            inner = layout.groups[item[5]]
            box.weight, box.units = box.weight + inner.weight, box.units + inner.units
        else:
            box.weight, box.units = box.weight + position[item[4]], box.units + 1
    return box


def _absolute(layout: _Layout, relative: dict[str, int]) -> None:
    """Relative tops (within their group's content) to tops in the SVG, outermost groups first."""
    content_top = {"": PAD_TOP}
    for group in sorted(layout.groups, key=lambda g: g.count("/")):
        box = layout.groups[group]
        box.top = content_top[_parent(group)] + relative[group]
        content_top[group] = box.top + GROUP_HEAD
    for unit, data in enumerate(layout.units):
        layout.top[unit] += content_top[data.parent]
    bottoms = [t + NODE_H for t in layout.top] + [b.top + b.height for b in layout.groups.values()]
    layout.width = 2 * PAD_X + (max(layout.column, default=0) + 1) * COL_W - COL_GAP
    layout.height = max(bottoms, default=0) + PAD_TOP


# -- 5. render -------------------------------------------------------------------------------------


def _render(spec: WorkflowSpec, layout: _Layout) -> str:
    label = _escape(f"Workflow {spec.name}: {plural(len(spec.nodes), 'task node')}")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="workflow-graph" viewBox="0 0 {layout.width} '
        f'{layout.height}" width="{layout.width}" height="{layout.height}" role="img" aria-label="{label}" '
        'font-family="sans-serif" font-size="12" fill="#1e293b">',
        '<defs><marker id="retune-graph-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="8" '
        'markerHeight="8" orient="auto"><path d="M0,0L8,4L0,8z" fill="#94a3b8"/></marker></defs>',
        '<g class="edges" fill="none" stroke="#94a3b8" marker-end="url(#retune-graph-arrow)">',
    ]
    parts += [_edge(layout, source, target) for source, target in layout.edges]
    parts.append("</g>")
    members: dict[str, list[int]] = {}
    for unit, data in enumerate(layout.units):
        members.setdefault(data.parent, []).append(unit)
    _render_members(spec, layout, "", members, parts)
    parts.append("</svg>")
    return "".join(parts)


def _render_members(
    spec: WorkflowSpec, layout: _Layout, group: str, members: dict[str, list[int]], parts: list[str]
) -> None:
    """The groups directly inside ``group`` (recursively), then its units."""
    for inner in layout.subgroups.get(group, ()):
        parts.append(_group_open(layout, inner))
        _render_members(spec, layout, inner, members, parts)
        parts.append("</g>")
    for unit in members.get(group, ()):
        data = layout.units[unit]
        x, y = _x(layout.column[unit]), layout.top[unit]
        if data.node is None:
            parts.append(_group_node(data, x, y))
        else:
            parts.append(_node(spec, data.node, x, y))


def _x(column: int) -> int:
    return PAD_X + column * COL_W


def _edge(layout: _Layout, source: int, target: int) -> str:
    x1, y1 = _x(layout.column[source]) + NODE_W, layout.top[source] + NODE_H // 2
    x2, y2 = _x(layout.column[target]) - 2, layout.top[target] + NODE_H // 2
    ends = f'data-from="{_escape(layout.units[source].name)}" data-to="{_escape(layout.units[target].name)}"'
    if x2 <= x1 or y1 == y2:  # a straight line: a row, or back across a broken cycle
        return f'<path class="edge" {ends} d="M{x1} {y1}L{x2} {y2}"/>'
    mid = (x1 + x2) // 2
    return f'<path class="edge" {ends} d="M{x1} {y1}C{mid} {y1} {mid} {y2} {x2} {y2}"/>'


_BOX = f'width="{NODE_W}" height="{NODE_H}" rx="4" fill="#fff" stroke="#64748b"'


def _node(spec: WorkflowSpec, node: NodeSpec, x: int, y: int) -> str:
    task = spec.tasks[node.task].name if node.task in spec.tasks else node.task
    short = task.rpartition(".")[2]
    path = _escape(node.path)
    title = f"{node.path} · {task}" + ("\nmap task" if node.kind == "map" else "")
    hook = ""
    if node.hook is not None:
        title += f"\nhook: {node.hook}"
        hook = f' data-hook="{_escape(node.hook)}"'
    stack = f'<rect class="node-stack" x="4" y="-4" {_BOX}/>' if node.kind == "map" else ""
    text = _fit(f"{node.path.rpartition('/')[2]} · {short}", LABEL_CHARS)
    return (
        f'<g class="node" data-path="{path}" data-kind="{node.kind}" data-phase=""{hook} tabindex="0" '
        f'role="button" aria-label="{path}: {_escape(short)}" transform="translate({x},{y})">'
        f'<title>{_escape(title)}</title>{stack}<rect class="node-box" {_BOX}/>'
        f'<text x="8" y="18">{_escape(text)}</text>{_hook_badge(node.hook)}</g>'
    )


def _hook_badge(hook: str | None) -> str:
    """A pill on the node's top-right corner naming its hook: the handle overrides are given by."""
    if hook is None:
        return ""
    text = _fit(f"⚓ {hook}", HOOK_CHARS)
    width = len(text) * 6 + 10
    return (
        f'<g class="hook-badge"><rect x="{NODE_W - width - 6}" y="-8" width="{width}" height="14" rx="7" '
        f'fill="#fef3c7" stroke="#d97706"/><text x="{NODE_W - width - 1}" y="2" font-size="10">'
        f"{_escape(text)}</text></g>"
    )


def _group_node(unit: _Unit, x: int, y: int) -> str:
    group = _escape(unit.name)
    count = plural(unit.members, "node")
    text = _fit(f"▸ {unit.name.rpartition('/')[2]} ({count})", LABEL_CHARS)
    return (
        f'<g class="node group-node" data-group="{group}" data-kind="group" data-phase="" tabindex="0" '
        f'role="button" aria-expanded="false" aria-label="{group}: collapsed sub-workflow of {count}" '
        f'transform="translate({x},{y})"><title>{group} ({count})</title>'
        f'<rect class="node-stack" x="4" y="-4" {_BOX}/><rect class="node-box" {_BOX}/>'
        f'<text x="8" y="18">{_escape(text)}</text></g>'
    )


def _group_open(layout: _Layout, group: str) -> str:
    """A group's element, its box and its label, left open for its members."""
    box = layout.groups[group]
    inset = 4 + 5 * min(group.count("/"), 5)  # nested boxes starting in one column stay apart
    left = _x(box.first) - COL_GAP // 2 + inset
    width = _x(box.last) + NODE_W + COL_GAP // 2 - inset - left
    count = layout.counts[group]
    about = f"{group} ({plural(count, 'node')})"
    text = _fit(f"▾ {group.rpartition('/')[2]} ({count})", max(4, (width - 16) // CHAR_W))
    name = _escape(group)
    return (
        f'<g class="group" data-group="{name}"><rect class="group-box" x="{left}" y="{box.top}" '
        f'width="{width}" height="{box.height}" rx="6" fill="rgba(100,116,139,.06)" stroke="#cbd5e1"/>'
        f'<g class="group-toggle" data-group="{name}" tabindex="0" role="button" aria-expanded="true" '
        f'aria-label="Collapse sub-workflow {_escape(about)}"><title>{_escape(about)}</title>'
        f'<text x="{left + 8}" y="{box.top + 16}">{_escape(text)}</text></g>'
    )


def _fit(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _escape(text: str) -> str:
    return html.escape(text, quote=True)
