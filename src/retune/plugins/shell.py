"""The ``shell`` task type: a script with typed inputs and outputs (``rt.ShellTask``).

The script never sees an input pasted into its text. Each input reaches it twice, as the
shell would quote neither:

- as an environment variable of the input's name (``$day``), and
- as a positional argument, in the order the inputs are declared (``$1``, ``$2``, ...; ``$0``
  is the task's name),

a string as it is, a bool as ``true``/``false``, a number in its decimal form, None as the
empty string, lists and dicts as JSON. Each output is read from the file ``$RETUNE_OUTPUTS/NAME``
the script writes (a str as written, less one trailing newline; int, float, bool parsed;
lists and dicts as JSON). A non-zero exit status fails the call with the status and the end of
stderr; stdout and stderr also land in the attempt's logs.

``task_config`` (``rt.Shell``): ``shell`` (the interpreter: ``bash`` by default, ``sh``, or a
path), ``cwd`` (default: the attempt's scratch directory) and ``env`` (more variables, merged
key by key across layers like ``environment``). None of them changes results; put a key in the
task's ``cache_env`` when it does.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from retune.plugins.registry import TaskType
from retune.plugins.runner import Call

RESERVED = frozenset({"PATH", "HOME", "IFS", "PWD", "OLDPWD", "SHELL", "SHLVL", "ENV", "BASH_ENV", "CDPATH"})
"""Input names that would replace a variable the shell itself relies on."""

SCALARS = frozenset({"int", "float", "str", "bool"})

_STDERR_TAIL = 20


class Shell(BaseModel):
    """``task_config`` of a shell task."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    task_type: ClassVar[str] = "shell"

    shell: str = Field("bash", min_length=1, description="The interpreter: bash, sh, or a path to one")
    cwd: str | None = Field(None, description="Working directory (default: the attempt's scratch directory)")
    env: dict[str, str] = Field(default_factory=dict, description="More environment variables for the script")


def shell_definition(script: str, inputs: Mapping[str, str], outputs: Mapping[str, str]) -> dict[str, Any]:
    """The definition of a shell task: its script, its inputs in order, its outputs' types.
    ``inputs`` and ``outputs`` map names to type strings; ``ValueError`` says what is wrong."""
    if not isinstance(script, str) or not script.strip():
        raise ValueError("the script is empty")
    for name in inputs:
        if name in RESERVED or name.upper().startswith("RETUNE_"):
            raise ValueError(
                f"input {name!r} would replace the shell's own ${name}; rename it (inputs become variables)"
            )
    for name, kind in outputs.items():
        if kind not in SCALARS and not kind.startswith(("list[", "dict[")):
            raise ValueError(
                f"output {name!r} is {kind}: a shell task's outputs are int, float, str, bool, list or dict"
            )
    return {"script": script, "inputs": list(inputs), "outputs": dict(outputs)}


def as_text(value: Any) -> str:
    """An input as the script sees it (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return json.dumps(value)


def run_shell(call: Call) -> Any:
    definition = call.definition
    if definition is None:
        raise TypeError(
            f"Task {call.task!r} has task_config=rt.Shell(...) but is a Python function; "
            "declare it with rt.ShellTask(name, script, ...)."
        )
    config = call.config
    outputs_dir = call.workdir / "outputs"
    outputs_dir.mkdir(parents=True, exist_ok=True)
    names = list(definition["inputs"])
    env = {
        **os.environ,
        **config.get("env", {}),
        **{name: as_text(call.inputs.get(name)) for name in names},
        "RETUNE_OUTPUTS": str(outputs_dir),
    }
    cwd = config.get("cwd") or str(call.workdir)
    argv = [config.get("shell") or "bash", "-c", definition["script"], call.task.rpartition(".")[2]]
    argv += [as_text(call.inputs.get(name)) for name in names]
    try:
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=None, stderr=subprocess.PIPE
        )
    except OSError as exc:
        raise RuntimeError(f"cannot start {argv[0]!r} in {cwd}: {exc.strerror or exc}") from None
    with process:
        tail = _tee(process)
        status = process.wait()
        tail.join()
    if status != 0:
        lines = list(tail.lines)  # type: ignore[attr-defined]
        shown = "\n".join(lines) if lines else "(stderr was empty)"
        how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
        raise RuntimeError(f"the script {how}; the end of its stderr:\n{shown}")
    return {name: _read_output(outputs_dir, name, kind) for name, kind in definition["outputs"].items()}


def _tee(process: subprocess.Popen[bytes]) -> threading.Thread:
    """Copy the script's stderr to ours (the attempt's log) as it comes, keeping the last lines."""
    lines: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL)

    def pump() -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            sys.stderr.buffer.write(raw)
            sys.stderr.buffer.flush()
            lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    thread = threading.Thread(target=pump, name="retune-shell-stderr", daemon=True)
    thread.lines = lines  # type: ignore[attr-defined]
    thread.start()
    return thread


def _read_output(directory: Path, name: str, kind: str) -> Any:
    path = directory / name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuntimeError(
            f'the script wrote no output {name!r}: write it to "$RETUNE_OUTPUTS/{name}"'
        ) from None
    if text.endswith("\n"):
        text = text[:-1]
    try:
        if kind == "str":
            return text
        if kind == "int":
            return int(text.strip())
        if kind == "float":
            return float(text.strip())
        if kind == "bool":
            word = text.strip().lower()
            if word not in ("true", "false", "1", "0"):
                raise ValueError(f"{word!r} is not true, false, 1 or 0")
            return word in ("true", "1")
        return json.loads(text)
    except ValueError as exc:
        raise RuntimeError(f"output {name!r} ({kind}) in $RETUNE_OUTPUTS/{name}: {exc}") from None


SHELL_TASK_TYPE = TaskType(
    "shell",
    Shell,
    runner=run_shell,
    description="A script; inputs as variables and arguments, outputs as files.",
)
