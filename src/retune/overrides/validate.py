"""Checks that need a hook's context: is the name well formed, does the workflow have it."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from typing import Any, Final

from retune.errors import OverrideError

HOOK_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
HOOK_NAME_RULE: Final = (
    "Hook names are 1-63 letters, digits, '-' or '_', starting with a letter or digit "
    "(no dots: dots separate hook and field on the command line)."
)


def check_hook_name(name: object, origin: str | None = None) -> str:
    """``name`` if it is a valid hook name, else an ``OverrideError`` saying why."""
    if not isinstance(name, str) or not HOOK_NAME.match(name):
        raise OverrideError(f"{name!r} is not a valid hook name", origin=origin, fix=HOOK_NAME_RULE)
    return name


def check_known_hooks(
    overrides: Mapping[str, Any], hooks: Collection[str], *, workflow: str, origin: str | None
) -> None:
    """Every hook named in ``overrides`` must exist in the workflow."""
    for name in overrides:
        if name not in hooks:
            raise OverrideError(
                f"workflow {workflow!r} has no hook {name!r}",
                hook=name,
                origin=origin,
                fix=unknown_hook_fix(name, hooks),
            )


def unknown_hook_fix(name: str, hooks: Collection[str]) -> str:
    if not hooks:
        return "It has no hooks at all: mark a node with .with_runtime_override(NAME) to make it overridable."
    near = difflib.get_close_matches(name, list(hooks), n=1, cutoff=0.6)
    hint = f"Did you mean {near[0]!r}? " if near else ""
    return f"{hint}Its hooks are: {', '.join(sorted(hooks))}."
