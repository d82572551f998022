"""Parsing overrides from every place they come from into ``hook -> TaskNodeOverrides``.

- maps (``rt.run(overrides=)``, launch plans, API bodies), values dicts or ``TaskNodeOverrides``;
- YAML or JSON files of the same shape (``--overrides FILE``);
- CLI items ``HOOK.FIELD=VALUE`` with the shorthands ``cpu mem gpu storage`` (request and
  limit), ``image``, ``env.NAME`` and ``task_config.a.b`` (a key with dots in it is quoted or
  bracketed: ``task_config.spark_conf[spark.executor.memory]=4g``); values are YAML scalars, except
  ``env.*``, ``image`` and ``cache_version``, which are taken verbatim as text.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from retune.errors import OverrideError
from retune.model import FIELD_NAMES, RESOURCE_NAMES, FieldError, TaskNodeOverrides
from retune.overrides.validate import check_hook_name

_VERBATIM: Final = ("container_image", "cache_version")
_KEYED: Final = {
    "env": "env.NAME",
    "environment": "env.NAME",
    "task_config": "task_config.KEY",
    "requests": "requests.cpu",
    "limits": "limits.mem",
    "resources": "mem",
}
_CLI_FIELDS: Final = (
    *RESOURCE_NAMES,
    "requests.R",
    "limits.R",
    "image",
    "env.NAME",
    "task_config.a.b",
    *(f for f in FIELD_NAMES if f not in ("resources", "environment", "task_config")),
)
_CLI_FORM: Final = "Write -o HOOK.FIELD=VALUE, e.g. -o train.mem=2Gi or -o train.env.LOG=debug."


def parse_overrides(data: Mapping[str, Any] | None, *, origin: str) -> dict[str, TaskNodeOverrides]:
    """``{hook: {field: value}}`` or ``{hook: TaskNodeOverrides}`` -> parsed, checked overrides."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise OverrideError(
            f"overrides must be a map of hook name to fields, not {type(data).__name__}",
            origin=origin,
            fix="Write {HOOK: {FIELD: VALUE}}, e.g. {train: {retries: 3}}.",
        )
    parsed: dict[str, TaskNodeOverrides] = {}
    for hook, fields in data.items():
        check_hook_name(hook, origin)
        parsed[hook] = _parse_one(hook, fields, origin)
    return parsed


def parse_cli_overrides(items: Iterable[str], *, origin: str = "-o") -> dict[str, TaskNodeOverrides]:
    """``["train.cpu=2", "train.env.LOG=debug"]`` -> parsed overrides; a later item wins."""
    tree: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        hook, dot, path = key.strip().partition(".")
        if not sep or not dot or not path:
            raise OverrideError(f"{item!r} is not HOOK.FIELD=VALUE", origin=origin, fix=_CLI_FORM)
        check_hook_name(hook, f"{origin} {item}")
        _assign(tree.setdefault(hook, {}), hook, path, raw, f"{origin} {item}")
    return {hook: _parse_one(hook, fields, origin) for hook, fields in tree.items()}


def load_overrides_file(path: str | Path) -> dict[str, TaskNodeOverrides]:
    """A YAML or JSON file of the same shape as a launch plan's ``runtime_override``."""
    import yaml  # imported here: only file and CLI parsing need it, `import retune` should not

    origin = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise OverrideError(
            f"cannot read overrides file: {exc.strerror}", origin=origin, fix="Check the path."
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise OverrideError(
            f"the file is not valid YAML or JSON{line}", origin=origin, fix="Fix the syntax."
        ) from None
    return parse_overrides(data if data is not None else {}, origin=origin)


def _parse_one(hook: str, fields: Any, origin: str) -> TaskNodeOverrides:
    try:
        return TaskNodeOverrides.from_dict(fields)
    except FieldError as exc:
        raise OverrideError(exc.problem, hook=hook, field=exc.field, origin=origin, fix=exc.fix) from None


def _assign(fields: dict[str, Any], hook: str, path: str, raw: str, origin: str) -> None:
    head, _, rest = path.partition(".")
    if head in RESOURCE_NAMES and not rest:
        value = _scalar(raw)
        for kind in ("requests", "limits"):
            fields.setdefault("resources", {}).setdefault(kind, {})[head] = value
    elif head in ("requests", "limits") and rest:
        fields.setdefault("resources", {}).setdefault(head, {})[rest] = _scalar(raw)
    elif head == "resources" and rest:
        _assign(fields, hook, rest, raw, origin)
    elif head in ("env", "environment") and rest:
        fields.setdefault("environment", {})[rest] = raw
    elif head == "task_config" and rest:
        *parents, leaf = _split_path(rest, hook, origin)
        node = fields.setdefault("task_config", {})
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise OverrideError(
                    f"{path!r} goes inside {part!r}, which an earlier -o item set to a single value",
                    hook=hook,
                    field=path,
                    origin=origin,
                    fix="Set either the whole value or keys inside it, not both.",
                )
        node[leaf] = _scalar(raw)
    elif head == "image" and not rest:
        fields["container_image"] = raw
    elif head in _VERBATIM and not rest:
        fields[head] = raw
    elif head in FIELD_NAMES and not rest and head not in ("resources", "environment", "task_config"):
        fields[head] = _scalar(raw)
    else:
        raise _unknown_cli_field(hook, path, origin)


def _unknown_cli_field(hook: str, path: str, origin: str) -> OverrideError:
    head = path.partition(".")[0]
    if head in _KEYED and "." not in path:
        return OverrideError(
            f"{head!r} needs a key",
            hook=hook,
            field=path,
            origin=origin,
            fix=f"Write {hook}.{_KEYED[head]}=VALUE.",
        )
    near = difflib.get_close_matches(head, _CLI_FIELDS, n=1)
    hint = f"Did you mean {near[0]!r}? " if near else ""
    return OverrideError(
        f"{path!r} is not an override field",
        hook=hook,
        field=path,
        origin=origin,
        fix=f"{hint}Fields are: {', '.join(_CLI_FIELDS)}.",
    )


def _split_path(path: str, hook: str, origin: str) -> list[str]:
    """``a.b`` -> [a, b]; a quoted or bracketed key keeps its dots:
    ``spark_conf."spark.executor.memory"`` and ``spark_conf[spark.executor.memory]``."""
    parts: list[str] = []
    i = 0
    while i < len(path):
        closing = {'"': '"', "[": "]"}.get(path[i])
        if closing:
            end = path.find(closing, i + 1)
            if end < 0:
                raise OverrideError(
                    f"{path!r} has an unclosed {path[i]!r}",
                    hook=hook,
                    field=f"task_config.{path}",
                    origin=origin,
                    fix="Close the quote or bracket.",
                )
            parts.append(path[i + 1 : end])
            i = end + 1
        else:
            end = min((j for j in (path.find(".", i), path.find("[", i)) if j >= 0), default=len(path))
            parts.append(path[i:end])
            i = end
        if i < len(path) and path[i] == ".":
            i += 1
    if any(not part for part in parts):
        raise OverrideError(
            f"{path!r} has an empty key",
            hook=hook,
            field=f"task_config.{path}",
            origin=origin,
            fix="Write task_config.a.b=VALUE.",
        )
    return parts


def _scalar(raw: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
