"""A workflow using the third-party ``greeting`` task type (tests/e2e/plugin_greetings)."""

from __future__ import annotations

from retune_greetings import Greeting

import retune as rt
from retune.extend import TemplateTask

greet = TemplateTask(
    "greet",
    task_config=Greeting(salutation="Hello"),
    definition={"template": "{salutation}, {name}"},
    inputs={"name": str},
    outputs=str,
)


@rt.workflow
def greet_flow(name: str = "Ada") -> str:
    return greet(name=name).with_runtime_override("greet")
