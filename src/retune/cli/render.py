"""One renderer for humans (rich tables) and machines (``--json``: the records' own field names)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from retune.model import RESOURCE_NAMES
from retune.model.execution import Attempt, AttemptKind, Phase
from retune.model.resources import format_quantity

# rich, the compiler (pydantic) and the control-plane models load only when something is
# rendered: `retune --help` and `retune run FILE:WF --help` print none of it (issue 12's
# start-up budget), and `import retune` already brought in the three modules above.
if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from retune.compiler.compiled import Hook
    from retune.model import EffectiveConfig, Provenance
    from retune.model.control import RegistrationResult
    from retune.model.execution import Execution, NodeExecution

    out: Console
    err: Console

PHASE_STYLE = {
    Phase.SUCCEEDED: "green",
    Phase.FAILED: "red",
    Phase.RUNNING: "yellow",
    Phase.QUEUED: "dim",
    Phase.SKIPPED: "dim",
    Phase.ABORTED: "magenta",
}


def __getattr__(name: str) -> Any:
    """``render.out`` and ``render.err``, the consoles, made on first use (see the imports above)."""
    if name not in ("out", "err"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return console(name)


def console(name: str) -> Console:
    """The ``"out"`` or ``"err"`` console, made once."""
    made: Console | None = globals().get(name)
    if made is None:
        from rich.console import Console

        # Piped output (CI logs, `make demo`) gets a wide console rather than rich's 80 columns.
        stream = sys.stdout if name == "out" else sys.stderr
        made = Console(stderr=name == "err", highlight=False, width=None if stream.isatty() else 140)
        globals()[name] = made
    return made


def escape(text: str) -> str:
    """rich's markup escape, imported on first use."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _table(**options: Any) -> Table:
    """A table at least as wide as its title (as the terminal allows): rich wraps a title to
    its table's width, and a narrow table broke ``Execution ... worker NAME`` over two lines."""
    from rich.table import Table
    from rich.text import Text

    title = options.get("title")
    if isinstance(title, str) and "min_width" not in options:
        options["min_width"] = Text.from_markup(title).cell_len
    return Table(**options)


SHOWN_LINES = 30
SHOWN_CHARS = 4000


def shorten(value: Any) -> str:
    """A value's repr cut to what a terminal can show (``--json`` prints it whole); built by
    ``reprlib``, so a 200 MB output is never turned into one big string first."""
    import reprlib

    short = reprlib.Repr()
    short.maxstring = short.maxother = 400
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 50
    short.maxlevel = 6
    text = short.repr(value)
    if "..." in text:
        text += "  (cut short: --json shows it whole)"
    return text


def shorten_text(text: str, fix: str) -> str:
    """At most ``SHOWN_LINES`` lines and ``SHOWN_CHARS`` characters of ``text`` (its end, where
    a traceback says what happened), with ``fix`` saying where the rest is."""
    lines = text[-SHOWN_CHARS:].splitlines()
    if len(text) <= SHOWN_CHARS and len(lines) <= SHOWN_LINES:
        return text
    return "\n".join([f"... (cut short: {fix})", *lines[-SHOWN_LINES:]])


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def hooks_to_json(hooks: Mapping[str, Hook]) -> dict[str, Any]:
    """The same map ``GET /workflows/.../hooks`` answers (one builder for both)."""
    from retune.control.validation import hooks_document

    return hooks_document(hooks)


def hooks_table(workflow: str, hooks: Mapping[str, Hook]) -> Table:
    table = _table(title=f"Hooks of {workflow}", title_justify="left")
    for column in ("hook", "node", "task", "declared at", "default"):
        table.add_column(column)
    for name, hook in hooks.items():
        table.add_row(
            name, ", ".join(hook.nodes), hook.task, hook.declared_at, describe(hook.default.to_dict())
        )
    if not hooks:
        table.caption = "No hooks: mark a node with .with_runtime_override(NAME) to make it overridable."
    return table


def describe(overrides: Mapping[str, Any]) -> str:
    parts = [f"{path}={value}" for path, value in leaves(overrides)]
    return " ".join(parts) or "-"


def leaves(tree: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            found += leaves(value, path + ".")
        elif path.startswith(("resources.", "requests.", "limits.")):
            found.append((path, format_quantity(path.rsplit(".", 1)[-1], value)))
        else:
            found.append((path, value))
    return found


def config_rows(config: EffectiveConfig, provenance: Provenance) -> Iterable[tuple[str, str, str]]:
    for kind in ("requests", "limits"):
        resources = getattr(config, kind)
        for name in RESOURCE_NAMES:
            path = f"{kind}.{name}"
            yield path, format_quantity(name, getattr(resources, name)), source(provenance, path)
    for name in (
        "cache",
        "cache_serialize",
        "cache_version",
        "retries",
        "interruptible",
        "container_image",
        "timeout",
    ):
        yield name, repr(getattr(config, name)), source(provenance, name)
    for key, value in config.environment.items():
        yield f"environment.{key}", repr(value), source(provenance, f"environment.{key}")
    for path, value in leaves(config.task_config, "task_config."):
        yield path, repr(value), source(provenance, path)


def source(provenance: Provenance, path: str) -> str:
    found = provenance.get(path)
    if found is None:
        return "-"
    hook = f" (hook {found.hook})" if found.hook else ""
    return f"{found.layer.value}: {found.name}{hook}"


def explain_table(node: NodeExecution) -> Table:
    hook = f"hook {node.hook!r}" if node.hook else "no hook"
    table = _table(title=f"{node.path}  task {node.task}  {hook}", title_justify="left")
    for column in ("field", "value", "from"):
        table.add_column(column)
    for row in config_rows(node.config, node.provenance):
        table.add_row(*row)
    if node.cache_reason:  # "cache miss: container_image changed ('py311' -> 'py312')"
        table.caption = escape(node.cache_reason)
        table.caption_justify = "left"
    return table


def execution_table(record: Execution) -> Table:
    style = PHASE_STYLE.get(record.phase, "")
    ran_by = f"  worker {escape(record.worker)}" if record.worker else ""
    table = _table(
        title=f"Execution {record.id}  [{style}]{record.phase.value}[/]  {record.workflow}{ran_by}",
        title_justify="left",
    )
    for column in ("node", "hook", "task", "phase", "cache", "attempts"):
        table.add_column(column)
    for node in record.nodes:
        attempts = attempts_text(node)
        table.add_row(
            node.path,
            node.hook or "",
            node.task,
            f"[{PHASE_STYLE.get(node.phase, '')}]{node.phase.value}[/]",
            node.cache.value,
            attempts,
        )
    if record.error:
        table.caption = f"[red]{escape(record.error.splitlines()[0][:SHOWN_CHARS])}[/]"
    return table


def attempts_text(node: NodeExecution) -> str:
    """The attempts column: ``1:failed, 2:lost/system, 3:succeeded`` (an attempt of the system's
    budget says so: a lost or preempted worker, which spends none of the node's retries); for a
    map node its items, ``items 3/4, 1 failed``, and the attempts beyond one per item (retries,
    lost ones)."""
    counts = node.item_counts()
    if counts is None:
        return ", ".join(_attempt_text(a) for a in node.attempts) or "-"
    text = f"items {counts['succeeded']}/{counts['total']}"
    for state in ("failed", "running", "aborted"):
        if counts[state]:
            text += f", {counts[state]} {state}"
    again = len(node.attempts) - len({a.item for a in node.attempts})
    if again:
        text += f", {again} retr{'ies' if again > 1 else 'y'}"
    return text


def _attempt_text(attempt: Attempt) -> str:
    shown = f"{attempt.number}:{attempt.phase.value.lower()}"
    return shown if attempt.kind is AttemptKind.USER else f"{shown}/{attempt.kind.value}"


def print_dry_run(record: Execution, *, as_json: bool) -> None:
    """A dry run: what would be stored, every node's config with the source of each value."""
    if as_json:
        emit_json(record.to_dict())
        return
    count = len(record.nodes)
    console("out").print(
        f"Dry run of {record.workflow}: nothing was stored or run (its id {record.id} names the "
        f"execution layer only). {count} node{'s' * (count != 1)} would run:",
        soft_wrap=True,
    )
    for node in record.nodes:
        console("out").print(explain_table(node))


def print_execution(record: Execution) -> None:
    """The execution's table, why cached nodes missed, then the error of each failed node (the
    traceback, cut short)."""
    console("out").print(execution_table(record))
    for text in cache_reasons(record):
        console("out").print(text, soft_wrap=True)
    for text in node_errors(record):
        console("out").print(text, soft_wrap=True)


SHOWN_REASONS: Final = 10


def cache_reasons(record: Execution) -> list[str]:
    """``node: cache miss: what changed`` for the nodes that missed the cache with a reason
    (the first ten; ``retune explain`` shows any node's)."""
    missed = [node for node in record.nodes if node.cache_reason]
    lines = [f"{escape(node.path)}: {escape(node.cache_reason or '')}" for node in missed[:SHOWN_REASONS]]
    if len(missed) > SHOWN_REASONS:
        lines.append(
            f"... and {len(missed) - SHOWN_REASONS} more cache misses (retune explain {record.id} --node PATH)"
        )
    return lines


def node_errors(record: Execution) -> list[str]:
    """The error of each failed node's last failed attempt, traceback included, cut short."""
    shown = []
    for node in record.nodes:
        failed = [a for a in node.attempts if a.error and a.phase is Phase.FAILED]
        if node.phase is not Phase.FAILED or not failed:
            continue
        last = failed[-1]
        text = shorten_text(last.error or "", f"retune executions show {record.id} --json")
        shown.append(
            f"[red]{escape(node.path)}[/] attempt {last.number} ({last.kind.value}):\n{escape(text)}"
        )
    return shown


def executions_table(records: Iterable[Execution]) -> Table:
    table = _table(title="Executions", title_justify="left")
    for column in ("id", "workflow", "phase", "launch plan", "error"):
        table.add_column(column)
    for record in records:
        table.add_row(
            record.id,
            record.workflow,
            f"[{PHASE_STYLE.get(record.phase, '')}]{record.phase.value}[/]",
            record.launch_plan or "",
            _listed_error(record),
        )
    return table


def _listed_error(record: Execution) -> str:
    """The first line of the error, cut short; a record whose data cannot be read says so in
    whole instead (it is all there is to see of it: ``show`` refuses it)."""
    if record.unreadable:
        return f"[yellow]{escape(record.unreadable)}[/]"
    return (record.error or "").split("\n", 1)[0][:80]


def registration_table(result: RegistrationResult) -> Table:
    entities = result.entities
    created = sum(1 for e in entities if e.created)
    first = entities[0] if entities else None
    where = f" in {first.project}/{first.domain} version {first.version}" if first else ""
    table = _table(title=f"Registered{where}", title_justify="left")
    for column in ("kind", "name", "status"):
        table.add_column(column)
    for entity in entities:
        status = "[green]created[/]" if entity.created else "[dim]unchanged[/]"
        table.add_row(entity.kind.replace("_", " "), entity.name, status)
    bundle = f"; code bundle {first.bundle[:12]}" if first and first.bundle else ""
    table.caption = f"{created} created, {len(entities) - created} unchanged{bundle}"
    if not entities:
        table.caption = "Nothing found: no @task, @workflow or LaunchPlan is defined in these files."
    return table


def launched_line(record: Execution) -> str:
    where = f"{record.project}/{record.domain} " if record.project else ""
    plan = f" (launch plan {record.launch_plan})" if record.launch_plan else ""
    return (
        f"execution {record.id} {record.phase.value}: {where}{record.workflow}@{record.workflow_version}{plan}\n"
        f"follow it: retune executions show {record.id}"
    )
