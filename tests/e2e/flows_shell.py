"""Shell tasks (rt.ShellTask) for tests/e2e/test_shell_task.py."""

from __future__ import annotations

from typing import Any

import retune as rt

echo = rt.ShellTask(
    "echo",
    'printf %s "$text" > "$RETUNE_OUTPUTS/as_variable"\n'
    'printf %s "$1" > "$RETUNE_OUTPUTS/as_argument"\n'
    'echo "$(( times * 2 ))" > "$RETUNE_OUTPUTS/doubled"\n'
    'printf %s "${GREETING:-unset}" > "$RETUNE_OUTPUTS/greeting"\n'
    'pwd > "$RETUNE_OUTPUTS/cwd"\n'
    'echo \'["a", 1]\' > "$RETUNE_OUTPUTS/items"\n'
    'echo true > "$RETUNE_OUTPUTS/ok"\n',
    inputs={"text": str, "times": int},
    outputs={"as_variable": str, "as_argument": str, "doubled": int, "greeting": str, "cwd": str,
             "items": list[Any], "ok": bool},
)  # fmt: skip

fail = rt.ShellTask(
    "fail",
    'echo "working on $1"; echo "disk full: cannot write /data/out" >&2; exit "$code"',
    inputs={"code": int},
    outputs={"never": str},
)

forgets = rt.ShellTask("forgets", "true", outputs={"report": str})


@rt.workflow
def echo_flow(text: str, times: int = 2) -> tuple[str, str, int, str, str, list[Any], bool]:
    out = echo(text=text, times=times).with_runtime_override("echo")
    return out.as_variable, out.as_argument, out.doubled, out.greeting, out.cwd, out.items, out.ok


@rt.workflow
def fail_flow(code: int = 3) -> str:
    return fail(code=code)


@rt.workflow
def forgets_flow() -> str:
    return forgets()
