"""A third-party task type, as a package outside retune would write one (retune.extend).

tests/e2e/test_task_type_plugin.py installs it on a PYTHONPATH with an entry point in the
``retune.task_types`` group, so every process there finds it by name: the launcher, the task
process (which imports no user code for a TemplateTask) and the server.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, Field

from retune.extend import Call, TaskConfigError, TaskType
from retune.settings import Settings


class Greeting(BaseModel):
    task_type: ClassVar[str] = "greeting"

    salutation: str = Field("Hello", description="The word before the name")
    shout: bool = False
    punctuation: str = "."


def run(call: Call) -> Any:
    assert call.definition is not None
    text = call.definition["template"].format(salutation=call.config["salutation"], **call.inputs)
    text += call.config["punctuation"]
    return text.upper() if call.config["shout"] else text


def check(config: Any, settings: Settings) -> None:
    if config.get("salutation") == "Bye":
        raise TaskConfigError("task_config.salutation", "'Bye' is not a greeting", "Say hello.")


GREETING = TaskType(
    "greeting",
    Greeting,
    result_fields=frozenset({"salutation", "shout"}),
    runner=run,
    check=check,
    description="Greets someone.",
)
