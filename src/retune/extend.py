"""Writing a task type (DESIGN §9), the way the built-ins ``sql``, ``shell`` and ``spark`` are written.

A task type is a config model (pydantic: its JSON Schema is what ``GET /api/v1/task_types``
serves and the launch form prompts for), the fields of it that change results (they enter the
cache key), a runner, and optionally a launch-time check::

    # greetings/types.py
    from typing import Any, ClassVar
    from pydantic import BaseModel
    from retune.extend import Call, TaskType, TemplateTask

    class Greeting(BaseModel):
        task_type: ClassVar[str] = "greeting"      # config objects name their type
        salutation: str = "Hello"
        shout: bool = False

    def run(call: Call) -> Any:                    # in the task process, once per call
        text = f"{call.config['salutation']}, {call.inputs['name']}"
        return text.upper() if call.config["shout"] else text

    GREETING = TaskType("greeting", Greeting, result_fields={"salutation", "shout"}, runner=run)

    # pyproject.toml of the package: found by every process where it is installed
    [project.entry-points."retune.task_types"]
    greeting = "greetings.types:GREETING"

    # a workflow
    greet = TemplateTask("greet", task_config=Greeting(), definition={}, inputs={"name": str}, outputs=str)

A runner of a type whose tasks are Python functions calls ``call.call_function(**extras)``
(the Spark type passes ``spark=session``: ``rt.current_context().spark``); a ``TemplateTask``
has no function, and its runner reads ``call.definition``. ``check(config, settings)`` refuses
at launch what this deployment can never run (raise ``TaskConfigError`` naming the field). A
runner raises ``RunnerError`` for a call that cannot run as things are set up where it runs (a
variable unset on the worker, a file that is not there): its message alone is the attempt's
error, without a traceback.
"""

from retune.plugins.registry import ENTRY_POINT_GROUP, TaskConfigError, TaskType, register, task_types
from retune.plugins.runner import Call, RunnerError
from retune.sdk.template import TemplateTask

__all__ = [
    "ENTRY_POINT_GROUP",
    "Call",
    "RunnerError",
    "TaskConfigError",
    "TaskType",
    "TemplateTask",
    "register",
    "task_types",
]
