"""``retune``: run workflows with launch-time overrides, and see what ran with what, and why."""

from __future__ import annotations

import contextlib
import gc
import shutil
import signal
import sys
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

import click

from retune.cli import render, reporting
from retune.cli.agent_commands import agent_group
from retune.cli.control import (
    dry_run_option,
    launch_command,
    register_command,
    serve_command,
    worker_command,
)
from retune.cli.errors import UsageError
from retune.cli.executions import executions_group, node_of, open_store
from retune.cli.inputs import parse_input_flags, signature_inputs
from retune.cli.loading import load_target
from retune.cli.reporting import reported
from retune.errors import ExecutionFailed
from retune.heap import settle


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="retune")
@click.option(
    "--debug", is_flag=True, help="Show the traceback of an unexpected error (also RETUNE_DEBUG=1)."
)
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """retune runs workflows whose task nodes can be re-tuned at launch time.

    Mark a node with .with_runtime_override("NAME") in your workflow, then change its
    resources, cache, retries, image, environment or task_config when you launch it:

    \b
        retune run flows.py:pipeline --x 3 -o train.mem=2Gi -o train.retries=0

    Or register them, and launch them for a `retune worker` to run:

    \b
        retune register flows/ --project demo --domain dev --version v1
        retune launch demo/dev/flows.pipeline -i x=3 -o train.mem=2Gi --wait
    """
    if debug:
        reporting.debug["on"] = True
    if ctx.invoked_subcommand != "run":  # see main(): only `run` keeps the collector paused
        gc.enable()


RUN_HELP = """Run FILE:WORKFLOW locally, with launch-time overrides.

Inputs are flags named after the workflow's parameters (--x 3); see them with:
retune run FILE:WORKFLOW --help, and the hooks you can override with: retune hooks FILE:WORKFLOW

\b
Overrides (-o HOOK.FIELD=VALUE, repeatable; a later one wins):
  cpu, mem, gpu, storage   request and limit, e.g. -o train.mem=2Gi
  requests.R, limits.R     one of them,       e.g. -o train.limits.cpu=4
  retries, cache, cache_version, cache_serialize, interruptible
  image                    container image,   e.g. -o train.image=py311
  env.NAME                 environment,       e.g. -o train.env.LOG=debug
  task_config.a.b          task type config,  e.g. -o etl.task_config.cluster=large
"""


@cli.command(
    "run",
    help=RUN_HELP,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
)
@click.argument("target", metavar="FILE:WORKFLOW", required=False)
@click.option(
    "-o", "items", multiple=True, metavar="HOOK.FIELD=VALUE", help="Override one field of one hook."
)
@click.option("--overrides", "overrides_file", metavar="FILE", help="YAML/JSON map hook -> fields.")
@click.option("--launch-plan", metavar="NAME", help="Run through this launch plan of the workflow.")
@click.option(
    "--executor",
    metavar="KIND",
    help="What runs the attempts: local or ray (default: [executor] kind of retune.toml, RETUNE_EXECUTOR, else local).",
)
@dry_run_option
@click.option("--json", "as_json", is_flag=True, help="Print the execution record as JSON.")
@click.option(
    "-h", "--help", "show_help", is_flag=True, help="Show this message (with a target: its inputs)."
)
@click.pass_context
@reported
def run_command(
    ctx: click.Context,
    target: str | None,
    items: Sequence[str],
    overrides_file: str | None,
    launch_plan: str | None,
    executor: str | None,
    dry_run: bool,
    as_json: bool,
    show_help: bool,
) -> None:
    if show_help or target is None:
        click.echo(ctx.get_help())
        if target is not None:
            _print_target_help(target)
        elif not show_help:
            raise UsageError("FILE:WORKFLOW is missing", "Write e.g. retune run flows.py:pipeline.")
        return
    from retune import api
    from retune.cli.control import read_overrides

    workflow_or_plan = _with_launch_plan(load_target(target), launch_plan)
    workflow = getattr(workflow_or_plan, "workflow", workflow_or_plan)
    inputs = parse_input_flags(ctx.args, workflow.interface.inputs)
    overrides = read_overrides(items, overrides_file)
    if dry_run:
        planned = api.run(
            workflow_or_plan,
            inputs,
            overrides,
            executor=executor,
            origin="-o" if items else "overrides",
            dry_run=True,
        )
        render.print_dry_run(planned, as_json=as_json)
        return
    progress = _Progress(live=not as_json)
    with _sigterm_interrupts():
        try:  # the collector resumes when the execution starts (_Progress), at the latest here
            record = api.run(
                workflow_or_plan,
                inputs,
                overrides,
                executor=executor,
                raise_on_failure=False,
                origin="-o" if items else (overrides_file or "overrides"),
                progress=progress,
            )
        finally:
            gc.enable()
            progress.close()
    if as_json:
        render.emit_json(record.to_dict())
    else:
        render.print_execution(record)
        if record.outputs is not None:
            render.out.print(f"outputs: {render.shorten(record.outputs)}", soft_wrap=True)
        render.out.print(f"explain: retune explain {record.id}")
    if record.error:
        raise ExecutionFailed(record)


@cli.command("hooks")
@click.argument("target", metavar="FILE:WORKFLOW")
@click.option("--json", "as_json", is_flag=True, help="Print the hook map as JSON.")
@reported
def hooks_command(target: str, as_json: bool) -> None:
    """List the hooks of FILE:WORKFLOW: what can be overridden at launch, and its defaults.

    \b
    Example:
      retune hooks flows.py:pipeline --json
    """
    from retune import api

    compiled = api.compile(load_target(target))
    if as_json:
        render.emit_json(render.hooks_to_json(compiled.hooks))
    else:
        render.out.print(render.hooks_table(compiled.name, compiled.hooks))


@cli.command("explain")
@click.argument("execution_id", metavar="EXECUTION")
@click.option("--node", "node_key", metavar="PATH|HOOK", help="Only this node.")
@click.option("--json", "as_json", is_flag=True)
@reported
def explain_command(execution_id: str, node_key: str | None, as_json: bool) -> None:
    """Show each node's effective config: every field, its value, and where it came from;
    for a node that missed the cache, what changed since its task's last cache entry.

    \b
    Example:
      retune explain x3f9a1c2b --node train
    """
    record = open_store().get_execution(execution_id)
    nodes = [node_of(record, node_key)] if node_key else list(record.nodes)
    if as_json:
        render.emit_json(
            {
                n.path: {
                    k: v
                    for k, v in n.to_dict().items()
                    if k in ("hook", "task", "config", "provenance", "cache", "cache_reason")
                }
                for n in nodes
            }
        )
        return
    for node in nodes:
        render.out.print(render.explain_table(node))


def _print_target_help(target: str) -> None:
    """The inputs of the target, read from its signature; its hooks when they come cheap.

    Listing hooks means compiling, which needs the pydantic specs: ~100 ms before any of the
    compiler runs, the bulk of this command (issue 12 gives it 3x ``import retune``). So they
    are listed here only when the file has loaded the specs already (a launch plan, a
    reference); otherwise the help names ``retune hooks``, which lists them with their defaults.
    """
    loaded = load_target(target)
    workflow = getattr(loaded, "workflow", loaded)
    click.echo(f"\nInputs of {workflow.name}:")
    for param in signature_inputs(workflow.fn, workflow.signature):
        default = f" (default {param.default!r})" if param.has_default else " (required)"
        click.echo(f"  --{param.name} {param.type.upper()}{default}")
    if "retune.model.spec" not in sys.modules:
        click.echo("\nHooks (override with -o HOOK.FIELD=VALUE), with their defaults:")
        click.echo(f"  retune hooks {target}")
        return
    # what api.compile does, without importing the api (its store and engine): help stays light
    compiled = workflow.compile()
    click.echo(f"\nHooks (override with -o HOOK.FIELD=VALUE): {', '.join(compiled.hooks) or 'none'}")
    for name, hook in compiled.hooks.items():
        click.echo(f"  {name:<20} {hook.task}  default: {render.describe(hook.default.to_dict())}")


def _with_launch_plan(target: Any, name: str | None) -> Any:
    if name is None:
        return target
    from retune.sdk.launch_plan import LaunchPlan

    workflow = getattr(target, "workflow", target)
    plans = {n: p for n, p in LaunchPlan._known.items() if p.workflow is workflow}
    if name not in plans:
        raise UsageError(
            f"workflow {workflow.name!r} has no launch plan {name!r}",
            f"Its launch plans: {', '.join(sorted(plans)) or 'none'}.",
        )
    return plans[name]


class _Progress:
    """Progress on stderr while a workflow runs: the execution id when it starts, then (on a
    terminal, ``live``) one line rewritten in place: nodes done / total, running now."""

    def __init__(self, *, live: bool) -> None:
        self.done = 0
        self.running: set[str] = set()
        self.started = False
        self.live = live and sys.stderr.isatty()
        self.shown = False

    def __call__(self, changes: Sequence[Any]) -> None:
        from retune.store.base import ExecutionChange, NodeChange

        for change in changes:
            if isinstance(change, NodeChange):
                if change.phase.terminal:
                    self.done += 1
                    self.running.discard(change.path)
                else:
                    self.running.add(change.path)
            elif isinstance(change, ExecutionChange) and not self.started:
                self.started = True
                settle()  # everything is loaded; the engine's loop may run for hours (see main)
                self.clear()
                render.err.print(
                    f"execution {change.execution_id} started "
                    f"(follow it: retune executions show {change.execution_id})",
                    soft_wrap=True,
                )
        if self.live:
            running = ", ".join(sorted(self.running)[:4])
            line = f"{self.done} nodes done, running: {running or '-'}"
            width = shutil.get_terminal_size().columns - 1
            sys.stderr.write("\r" + line[:width] + "\x1b[K")  # one line, rewritten in place
            sys.stderr.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False

    def close(self) -> None:
        self.clear()


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops a run as Ctrl-C does: recorded as interrupted, resumable."""

    def _interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


for command in (
    register_command,
    launch_command,
    executions_group,
    serve_command,
    worker_command,
    agent_group,
):
    cli.add_command(command)


def main() -> None:
    # Starting up creates some 100,000 objects the cyclic collector tracks (click, pydantic,
    # SQLAlchemy, the user's module) and frees almost none, so it walks them again and again
    # for nothing: ~10% of the CPU time of a one-task `retune run`. It stays paused until the
    # command has loaded what it needs: `run` resumes it once its execution has started (all
    # imports done; a long run needs it), having frozen what start-up made (gc.freeze: never
    # walked again; the ~800 objects of it that were garbage cycles stay, once), any other
    # command at once (`serve`, `worker`).
    gc.disable()
    try:
        cli(prog_name="retune")
    finally:
        gc.enable()
