"""``retune executions list | show | logs | resume | relaunch | recover | abort``.

Without ``--server`` (or ``RETUNE_SERVER``), ``list``, ``show`` and ``logs`` read the local
store, runs of ``retune run`` included; with it, they ask the server (launched executions).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from typing import Any

import click

from retune.cli import render
from retune.cli.control import finish, opened_plane, override_options, read_overrides, server_option
from retune.cli.errors import UsageError
from retune.cli.reporting import reported
from retune.errors import ExecutionFailed


@click.group("executions")
def executions_group() -> None:
    """List, show, read the logs of, resume, relaunch, recover and abort executions."""


PAGE = 20
"""``retune executions list``'s page size unless ``--limit`` says otherwise."""
EXECUTION_PHASES = ("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "ABORTED")
"""The phases an execution can be in (``SKIPPED`` is for nodes only)."""


@executions_group.command("list")
@click.option(
    "--limit", default=PAGE, show_default=True, type=click.IntRange(min=1), help="Executions per page."
)
@click.option(
    "--before",
    metavar="EXECUTION",
    help="Only the executions older than this one (the last of the previous page): the next page.",
)
@click.option("--project", help="Only launched executions of this project.")
@click.option("--domain", help="Only launched executions of this domain.")
@click.option("--workflow", help="Only launched executions of this workflow (its name).")
@click.option(
    "--phase",
    type=click.Choice(EXECUTION_PHASES, case_sensitive=False),
    help="Only executions in this phase.",
)
@server_option
@click.option("--json", "as_json", is_flag=True, help="A JSON list; the last id is the next page's --before.")
@reported
def executions_list(
    limit: int,
    before: str | None,
    project: str | None,
    domain: str | None,
    workflow: str | None,
    phase: str | None,
    server: str | None,
    as_json: bool,
) -> None:
    """The newest executions first, a page at a time.

    Without --server and filters, every execution of the local store, runs of `retune run`
    included; with them, the launched executions. Below the table, the command that lists
    the next page, if there is one.

    \b
    Examples:
      retune executions list --server http://127.0.0.1:8265 --project flytesnacks --limit 5
      retune executions list --phase failed --before ex-1a2b3c4d5e6f
    """
    from retune.model.execution import Phase

    wanted = None if phase is None else Phase(phase.upper())
    if server or project or domain or workflow or wanted:
        with opened_plane(server) as plane:
            found = plane.list_executions(
                project=project,
                domain=domain,
                workflow=workflow,
                phase=wanted,
                limit=limit + 1,
                before=before,
            )
    else:
        found = open_store().list_executions(limit=limit + 1, before=before)
    records = found[:limit]
    if as_json:
        render.emit_json([r.to_dict() for r in records])
        return
    render.out.print(render.executions_table(records))
    if len(found) > limit:
        given = {"--server": server, "--project": project, "--domain": domain, "--workflow": workflow}
        given |= {"--phase": phase and phase.lower(), "--limit": None if limit == PAGE else str(limit)}
        options = "".join(f" {name} {shlex.quote(value)}" for name, value in given.items() if value)
        render.out.print(
            f"Older: retune executions list{options} --before {records[-1].id}", markup=False, highlight=False
        )


@executions_group.command("show")
@click.argument("execution_id", metavar="EXECUTION")
@server_option
@click.option("--json", "as_json", is_flag=True)
@reported
def executions_show(execution_id: str, server: str | None, as_json: bool) -> None:
    """One execution: its nodes, their phases, cache status and attempts.

    \b
    Example:
      retune executions show x3f9a1c2b --json
    """
    record = _record(execution_id, server)
    if as_json:
        render.emit_json(record.to_dict())
    else:
        render.print_execution(record)


@executions_group.command("logs")
@click.argument("execution_id", metavar="EXECUTION")
@click.option("--node", "node_key", metavar="PATH|HOOK", required=True)
@click.option("--attempt", type=int, help="Attempt number (default: the last).")
@click.option("--stream", type=click.Choice(["stdout", "stderr"]), default="stdout", show_default=True)
@server_option
@reported
def executions_logs(
    execution_id: str, node_key: str, attempt: int | None, stream: str, server: str | None
) -> None:
    """Print what one attempt of a node wrote to stdout or stderr.

    \b
    Example:
      retune executions logs x3f9a1c2b --node train --stream stderr
    """
    record = _record(execution_id, server)
    node = node_of(record, node_key)
    if not node.attempts:
        raise UsageError(f"node {node.path} has no attempts (cache: {node.cache.value})")
    chosen = (
        node.attempts[-1]
        if attempt is None
        else next((a for a in node.attempts if a.number == attempt), None)
    )
    if chosen is None:
        raise UsageError(f"node {node.path} has no attempt {attempt}", f"It has 1..{len(node.attempts)}.")
    if chosen.logs.get(stream) is None:
        raise UsageError(f"attempt {chosen.number} of {node.path} kept no {stream}")
    if server:
        with opened_plane(server) as plane:
            sys.stdout.write(plane.logs(execution_id, node.path, chosen.number, stream))
        return
    from retune.control.logs import read_log  # what the server's logs route reads through

    for text in read_log(_blobs(), chosen.logs[stream]):
        sys.stdout.write(text)


@executions_group.command("resume")
@click.argument("execution_id", metavar="EXECUTION")
@reported
def executions_resume(execution_id: str) -> None:
    """Carry on an execution whose engine stopped here; nodes that succeeded do not run again.

    \b
    Example:
      retune executions resume x3f9a1c2b
    """
    from retune import api

    record = api.resume(execution_id)
    render.print_execution(record)
    if record.error:
        raise ExecutionFailed(record)


@executions_group.command("relaunch")
@click.argument("execution_id", metavar="EXECUTION")
@override_options
@click.option("--idempotency-key", metavar="KEY", help="Relaunching again with this key returns the first.")
@click.option("--wait", is_flag=True, help="Wait until it ends; exit 1 if it failed or was aborted.")
@server_option
@click.option("--json", "as_json", is_flag=True, help="Print the new execution as JSON.")
@reported
def executions_relaunch(
    execution_id: str,
    items: Sequence[str],
    overrides_file: str | None,
    idempotency_key: str | None,
    wait: bool,
    server: str | None,
    as_json: bool,
) -> None:
    """Launch a launched execution again: same workflow version, inputs and overrides, with the
    hooks named by -o / --overrides changed field by field.

    \b
    Example:
      retune executions relaunch x3f9a1c2b -o train.mem=4Gi
    """
    from retune.model.control import RelaunchRequest

    request = RelaunchRequest(
        overrides=read_overrides(items, overrides_file), idempotency_key=idempotency_key
    )
    with opened_plane(server) as plane:
        finish(plane, plane.relaunch(execution_id, request), wait=wait, as_json=as_json)


@executions_group.command("recover")
@click.argument("execution_id", metavar="EXECUTION")
@click.option("--wait", is_flag=True, help="Wait until it ends; exit 1 if it failed or was aborted.")
@server_option
@click.option("--json", "as_json", is_flag=True, help="Print the new execution as JSON.")
@reported
def executions_recover(execution_id: str, wait: bool, server: str | None, as_json: bool) -> None:
    """Run again only the nodes of a FAILED or ABORTED execution that did not succeed, with the
    config they had; succeeded nodes keep their outputs.

    \b
    Example:
      retune executions recover x3f9a1c2b --wait
    """
    with opened_plane(server) as plane:
        finish(plane, plane.recover(execution_id), wait=wait, as_json=as_json)


@executions_group.command("abort")
@click.argument("execution_id", metavar="EXECUTION")
@server_option
@click.option("--json", "as_json", is_flag=True, help="Print the execution as JSON.")
@reported
def executions_abort(execution_id: str, server: str | None, as_json: bool) -> None:
    """Abort a launched execution: a queued one at once, a running one at its worker's next
    heartbeat (its running tasks are stopped).

    \b
    Example:
      retune executions abort x3f9a1c2b
    """
    with opened_plane(server) as plane:
        record = plane.abort(execution_id)
    if as_json:
        render.emit_json(record.to_dict())
    elif record.phase.terminal:
        render.out.print(f"execution {record.id}: {record.phase.value}")
    else:
        render.out.print(f"execution {record.id}: abort requested; its worker stops it shortly")


def _record(execution_id: str, server: str | None) -> Any:
    if server:
        with opened_plane(server) as plane:
            return plane.get_execution(execution_id)
    return open_store().get_execution(execution_id)


def node_of(record: Any, key: str) -> Any:
    try:
        return record.node(key)
    except KeyError as exc:
        raise UsageError(str(exc.args[0]).rstrip(".")) from None


def open_store() -> Any:
    """The configured store (the CLI's reads without --server)."""
    from retune.api import open_default_store

    return open_default_store()


def _blobs() -> Any:
    from retune.api import open_default_blobs

    return open_default_blobs()
