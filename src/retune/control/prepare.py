"""``prepare_execution``: the one place an execution is made ready to store.

Whatever launches — ``rt.run`` / ``retune run``, ``POST /executions`` / ``retune launch``,
relaunch, and (next) the web form — ends here once it has its spec, its checked inputs and
its overrides parsed (and combined, by ``overrides.combine_maps`` only):

1. the execution gets its id, which names the execution layer in provenance;
2. every node's effective config is resolved through the five layers (``overrides.resolve``);
3. the executor refuses what it could never run (``check_configs``);
4. the ``NewExecution`` is built: the caller stores it, or, for a dry run, shows
   ``new.record()`` — exactly the configs and provenance the launch would store.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from retune.control.validation import check_configs
from retune.engine import new_execution_id, new_nodes
from retune.errors import OverrideError
from retune.executors.base import ConfigCheck
from retune.model import TaskNodeOverrides
from retune.model.spec import LaunchPlanSpec, WorkflowSpec
from retune.overrides import resolve_workflow
from retune.store.base import NewExecution


def prepare_execution(
    spec: WorkflowSpec,
    *,
    version: str,
    inputs: Mapping[str, Any],
    overrides: Mapping[str, TaskNodeOverrides],
    launch_plan: LaunchPlanSpec | None = None,
    check: ConfigCheck | None = None,
    origin: str = "overrides",
    **record: Any,
) -> NewExecution:
    """The execution to create, every node resolved and checked; raises ``OverrideError``
    before anything is stored. ``record`` holds the rest of ``NewExecution``'s fields
    (``project``, ``domain``, ``bundle``, ``parent_id``, ``idempotency_key``, ...)."""
    execution_id = new_execution_id()
    try:
        resolved = resolve_workflow(
            spec, launch_plan=launch_plan, overrides=overrides, execution=execution_id, origin=origin
        )
        check_configs(check, resolved, spec.tasks)
    except OverrideError as exc:  # refused: no execution of that id will exist to point at
        raise OverrideError(
            exc.problem.replace(f"execution {execution_id!r}", "this launch"),
            hook=exc.hook,
            field=exc.field,
            origin=exc.origin,
            fix=exc.fix,
        ) from None
    return NewExecution(
        id=execution_id,
        workflow=spec.name,
        workflow_version=version,
        inputs=dict(inputs),
        nodes=new_nodes(resolved),
        launch_plan=launch_plan.name if launch_plan else None,
        overrides={hook: fields.to_dict() for hook, fields in overrides.items()},
        created_at=time.time(),
        **record,
    )
