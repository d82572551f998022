"""``retune register | launch | serve | worker``: the control plane from the command line.

Each command picks a plane with ``retune.api.control_plane``: the server at ``--server``
(or ``RETUNE_SERVER``) over HTTP, else the configured store directly. The output is the same
either way, and ``--json`` prints the records the API answers with.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from retune.cli import render
from retune.cli.errors import UsageError
from retune.cli.inputs import read_value
from retune.cli.reporting import fail, reported
from retune.errors import ExecutionFailed

F = TypeVar("F", bound=Callable[..., Any])


def server_option(command: F) -> F:
    decorate = click.option(
        "--server",
        metavar="URL",
        envvar="RETUNE_SERVER",
        help="A retune server (e.g. http://127.0.0.1:8265; env RETUNE_SERVER). Default: the local store.",
    )
    return decorate(command)


def override_options(command: F) -> F:
    command = click.option(
        "--overrides", "overrides_file", metavar="FILE", help="YAML/JSON map hook -> fields."
    )(command)
    return click.option(
        "-o", "items", multiple=True, metavar="HOOK.FIELD=VALUE", help="Override one field of one hook."
    )(command)


dry_run_option = click.option(
    "--dry-run",
    is_flag=True,
    help="Store and run nothing: show every node's effective config and where each value comes "
    "from, as the launch would record them (refusing what it would refuse).",
)


@contextmanager
def opened_plane(server: str | None) -> Iterator[Any]:
    from retune.api import control_plane

    plane = control_plane(server)
    try:
        yield plane
    finally:
        plane.close()


# -- register ---------------------------------------------------------------------------------


@click.command("register")
@click.argument("path", type=click.Path(exists=True))
@click.option("--project", required=True, help="Project to register into (e.g. flytesnacks).")
@click.option("--domain", required=True, help="Domain to register into (e.g. development).")
@click.option("--version", required=True, help="Version of everything registered (e.g. v1, a git sha).")
@server_option
@click.option("--json", "as_json", is_flag=True, help="Print the registered entities as JSON.")
@reported
def register_command(
    path: str, project: str, domain: str, version: str, server: str | None, as_json: bool
) -> None:
    """Register every task, workflow and launch plan defined in PATH (a directory or a .py file),
    with a bundle of its code that workers run.

    \b
    A registered version never changes: the same content again is a no-op, other content under
    the same version is refused (register it under a new version).

    \b
    Example:
      retune register flows/ --project flytesnacks --domain development --version v1
    """
    from retune import api

    with opened_plane(server) as plane:
        result = api.register(path, project=project, domain=domain, version=version, plane=plane)
    if as_json:
        render.emit_json(result.model_dump(mode="json"))
    else:
        render.out.print(render.registration_table(result))


# -- launch -----------------------------------------------------------------------------------

LAUNCH_HELP = """Launch a registered workflow (or, with --launch-plan, one of its launch plans).

The execution is queued; a `retune worker` runs it. TARGET is PROJECT/DOMAIN/NAME[@VERSION],
NAME the workflow's registered name (see `retune register`); without @VERSION the newest.

\b
Inputs:    -i NAME=VALUE (YAML scalars, or JSON for lists and maps), e.g. -i x=3 -i tags='[a, b]'
Overrides: -o HOOK.FIELD=VALUE as for `retune run`, e.g. -o train.mem=2Gi -o train.retries=0

\b
Example:
  retune launch flytesnacks/development/flows.training.wf@v1 -i x=3 -o train.gpu=1 --wait
"""


@click.command("launch", help=LAUNCH_HELP)
@click.argument("target", metavar="PROJECT/DOMAIN/NAME[@VERSION]")
@click.option("--launch-plan", metavar="NAME", help="Launch this launch plan of the workflow.")
@click.option("-i", "input_items", multiple=True, metavar="NAME=VALUE", help="One workflow input.")
@override_options
@click.option(
    "--idempotency-key", metavar="KEY", help="Launching again with this key returns the first execution."
)
@click.option("--wait", is_flag=True, help="Wait until it ends; exit 1 if it failed or was aborted.")
@dry_run_option
@click.option("--json", "as_json", is_flag=True, help="Print the execution record as JSON.")
@server_option
@reported
def launch_command(
    target: str,
    launch_plan: str | None,
    input_items: Sequence[str],
    items: Sequence[str],
    overrides_file: str | None,
    idempotency_key: str | None,
    wait: bool,
    dry_run: bool,
    as_json: bool,
    server: str | None,
) -> None:
    from retune.api import validated
    from retune.model.control import ExecutionRequest

    project, domain, name, version = parse_target(target)
    overrides = read_overrides(items, overrides_file)
    with opened_plane(server) as plane:
        inputs: dict[str, Any] = {}
        if input_items:
            params = {p.name: p.type for p in _inputs_of(plane, project, domain, name, version, launch_plan)}
            inputs = parse_input_items(input_items, params)
        elif launch_plan is not None:
            _check_plan(plane, project, domain, name, version, launch_plan)
        request = validated(
            ExecutionRequest,
            project=project,
            domain=domain,
            workflow=None if launch_plan else name,
            launch_plan=launch_plan,
            version=version,
            inputs=inputs,
            overrides=overrides,
            idempotency_key=idempotency_key,
        )
        record, created = plane.launch(request, dry_run=dry_run)
        if dry_run:
            render.print_dry_run(record, as_json=as_json)
            return
        if not created and not as_json:
            render.err.print(
                f"idempotency key {idempotency_key!r} seen before: this is the execution it launched"
            )
        finish(plane, record, wait=wait, as_json=as_json)


def parse_target(target: str) -> tuple[str, str, str, str | None]:
    """``PROJECT/DOMAIN/NAME[@VERSION]`` -> its four parts."""
    reference, at, version = target.partition("@")
    parts = reference.split("/")
    if len(parts) != 3 or not all(parts) or (at and not version):
        raise UsageError(
            f"{target!r} is not PROJECT/DOMAIN/NAME[@VERSION]",
            "Write e.g. flytesnacks/development/flows.training.wf@v1.",
        )
    return parts[0], parts[1], parts[2], version or None


def read_overrides(items: Sequence[str], overrides_file: str | None) -> dict[str, Any]:
    """``--overrides FILE`` then ``-o`` items, merged field by field (a later one wins), as
    ``{hook: fields}``. Malformed ones raise ``OverrideError`` here, before any request."""
    from retune.overrides import combine_maps, load_overrides_file, parse_cli_overrides

    merged = combine_maps(
        load_overrides_file(overrides_file) if overrides_file else {}, parse_cli_overrides(items)
    )
    return {hook: fields.to_dict() for hook, fields in merged.items()}


def parse_input_items(items: Sequence[str], types: dict[str, str]) -> dict[str, Any]:
    """``["x=3", "tags=[a, b]"]`` -> ``{"x": 3, "tags": ["a", "b"]}``, each value read by the
    same grammar as ``retune run``'s flags (``cli.inputs.read_value``); the server checks types."""
    values: dict[str, Any] = {}
    for item in items:
        name, eq, raw = item.partition("=")
        name = name.strip()
        if not eq or not name:
            raise UsageError(f"-i {item!r} is not NAME=VALUE", "Write e.g. -i x=3.")
        values[name] = read_value(raw, types.get(name, "any"), f"-i {name}")
    return values


def _inputs_of(
    plane: Any, project: str, domain: str, name: str, version: str | None, launch_plan: str | None
) -> Any:
    """The workflow's input parameters (to read -i values by their type)."""
    if launch_plan is not None:
        plan = _check_plan(plane, project, domain, name, version, launch_plan)
        return plane.get_workflow(
            project, domain, plan.spec.workflow, plan.spec.workflow_version or plan.version
        ).spec.interface.inputs
    return plane.get_workflow(project, domain, name, version).spec.interface.inputs


def _check_plan(
    plane: Any, project: str, domain: str, name: str, version: str | None, launch_plan: str
) -> Any:
    plan = plane.get_launch_plan(project, domain, launch_plan, version)
    if plan.spec.workflow != name:
        raise UsageError(
            f"launch plan {launch_plan!r} launches workflow {plan.spec.workflow!r}, not {name!r}",
            f"Write {project}/{domain}/{plan.spec.workflow} --launch-plan {launch_plan}.",
        )
    return plan


def finish(plane: Any, record: Any, *, wait: bool, as_json: bool) -> None:
    """Print the execution (after waiting for its end with ``wait``); a failed or aborted one
    that was waited for exits 1."""
    from retune.model.execution import Phase

    if wait:
        record = wait_for(plane, record.id, quiet=as_json)
    if as_json:
        render.emit_json(record.to_dict())
    elif wait:
        render.print_execution(record)
        if record.outputs is not None:
            render.out.print(f"outputs: {render.shorten(record.outputs)}", soft_wrap=True)
    else:
        render.out.print(render.launched_line(record))
    if wait and record.phase is Phase.FAILED:
        raise ExecutionFailed(record)
    if wait and record.phase is Phase.ABORTED:
        fail(f"execution {record.id} was aborted before it finished", 1)


UNCLAIMED_WARNING = 5.0
"""Seconds a waited-for execution may stay QUEUED before ``--wait`` says no worker took it."""


def wait_for(plane: Any, execution_id: str, *, quiet: bool) -> Any:
    """Poll until the execution reaches a terminal phase (every 0.25 s, slowing to 2 s)."""
    from retune.model.execution import Phase

    delay, last = 0.25, None
    warn_at = time.monotonic() + UNCLAIMED_WARNING
    try:
        while True:
            record = plane.get_execution(execution_id)
            if record.phase != last and not quiet:
                render.err.print(f"{execution_id}: {record.phase.value}")
                last = record.phase
            if record.phase.terminal:
                return record
            if record.phase is Phase.QUEUED and time.monotonic() > warn_at:
                warn_at = float("inf")
                render.err.print(
                    f"no worker has claimed {execution_id} after {UNCLAIMED_WARNING:.0f} s. Start one "
                    "against the same database with: retune worker (RETUNE_DATABASE_URL, RETUNE_HOME "
                    "as for the server); still waiting",
                    soft_wrap=True,
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)
    except KeyboardInterrupt:
        render.err.print(
            f"stopped waiting; execution {execution_id} carries on "
            f"(abort it with: retune executions abort {execution_id})"
        )
        raise SystemExit(130) from None


# -- serve and worker -------------------------------------------------------------------------


@click.command("serve")
@click.option("--host", help="Interface to bind (default: [server] host of retune.toml, else 127.0.0.1).")
@click.option("--port", type=int, help="Port to bind (default: [server] port of retune.toml, else 8265).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Server processes on the port, each with a socket of its own (the kernel spreads "
    "connections over them); one per core serves more launches per second. A process that "
    "dies is replaced.",
)
@reported
def serve_command(host: str | None, port: int | None, workers: int) -> None:
    """Serve the REST API (/api/v1, OpenAPI at /openapi.json) and the web UI over the configured
    store (RETUNE_DATABASE_URL, else SQLite under RETUNE_HOME). Executions it launches are run
    by `retune worker`.

    \b
    Example:
      retune serve --port 8265 &
      retune worker &
      retune launch flytesnacks/development/flows.training.wf --server http://127.0.0.1:8265
    """
    from retune.server import serve

    serve(host, port, workers=workers)


@click.command("worker")
@click.option("--name", metavar="NAME", help="Name shown on the executions it runs (default: host:pid).")
@click.option("--lease", type=float, metavar="SECONDS", help="How long a claim lasts without a heartbeat.")
@click.option("--once", is_flag=True, help="Run what is queued now, then exit.")
@click.option(
    "--executor",
    metavar="KIND",
    help="What runs the attempts: local or ray (default: [executor] kind of retune.toml, RETUNE_EXECUTOR, else local).",
)
@reported
def worker_command(name: str | None, lease: float | None, once: bool, executor: str | None) -> None:
    """Run launched executions from the configured store until stopped (Ctrl-C or SIGTERM).

    Several workers may share one PostgreSQL store; an execution whose worker died is picked up
    again when its lease runs out, without re-running the nodes that finished.

    \b
    Example:
      RETUNE_DATABASE_URL=postgresql://retune@db/retune retune worker --name gpu-box-1
    """
    from retune.heap import settle
    from retune.worker import run_worker

    options: dict[str, Any] = {"name": name, "once": once, "executor": executor}
    if lease is not None:
        options["lease"] = lease
    settle()  # imports done: what they made lives as long as the worker
    ran = run_worker(**options)
    if once:
        render.err.print(f"ran {ran} execution{'s' if ran != 1 else ''}")
