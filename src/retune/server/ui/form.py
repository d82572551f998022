"""The launch form (DESIGN §10): one section per hook, fields named by the CLI's paths.

Field names: ``inputs.NAME`` for inputs; ``overrides.`` + the ``-o`` path for overrides
(``overrides.train.cpu``, ``overrides.train.env.LOG_LEVEL``,
``overrides.features.task_config.spark_conf[spark.executor.memory]``). A new environment variable
or a new key of a map in ``task_config`` is the pair ``add.HOOK.PATH.key`` / ``add.HOOK.PATH.value``
(``add.train.env.key=LOG``, ``add.train.env.value=debug``). An empty field is not an override.

1. ``build_form`` lays out the fields: which ones from ``TaskNodeOverrides`` (resources, retries,
   cache, image, ...), the keys of the hook's environment, and the ``task_config`` fields of the
   task type's JSON Schema; each shows the effective default and its source, from the same
   resolver a launch uses with no execution overrides (``retune.overrides.resolve_workflow``).
2. ``read_posted`` turns the posted fields into ``-o`` items and input values, checking each
   field alone with the CLI's parser so that every bad field gets its own message.
3. The caller launches (or dry-runs) through ``LocalControlPlane.launch``, the API's path;
   ``place_error`` puts what it refuses beside the field it names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from retune.errors import InputError, OverrideError
from retune.model import RESOURCE_NAMES, NodeConfig, Source, TaskNodeOverrides
from retune.model.resources import format_quantity
from retune.model.spec import HookSpec, LaunchPlanSpec, Param, WorkflowSpec
from retune.model.values.text import read_text
from retune.overrides import combine_maps, parse_cli_overrides, resolve_workflow

OVERRIDES: Final = "overrides."
INPUTS: Final = "inputs."
ADD: Final = "add."
_BOOLEAN: Final = ("", "true", "false")
_PLAIN_FIELDS: Final = (
    ("retries", "number", "a whole number, 0-100"),
    ("cache", "bool", ""),
    ("cache_version", "text", "any text; a new version misses the cache"),
    ("cache_serialize", "bool", "needs cache"),
    ("interruptible", "bool", ""),
    ("image", "text", "an image name of the server's [images]"),
)


@dataclass
class Field:
    """One override field of a hook's section."""

    name: str  # the form's name: overrides.train.cpu
    path: str  # the -o path: cpu
    label: str
    kind: str  # text | number | bool
    default: str
    source: str
    hint: str = ""
    value: str = ""
    error: str = ""
    answers_for: tuple[str, ...] = ()  # provenance / error paths this field stands for

    @property
    def choices(self) -> tuple[str, ...]:
        return _BOOLEAN if self.kind == "bool" else ()


@dataclass
class Adder:
    """The row that adds a key to a map (``env``, ``task_config.spark_conf``)."""

    prefix: str  # add.train.env
    path: str  # env
    label: str
    key: str = ""
    value: str = ""
    error: str = ""


@dataclass
class Section:
    hook: str
    task: str
    task_type: str
    nodes: tuple[str, ...]
    fields: list[Field]
    adders: list[Adder]
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(1 for f in self.fields if f.value) + sum(1 for a in self.adders if a.key)

    @property
    def invalid(self) -> int:
        return (
            sum(1 for f in self.fields if f.error) + sum(1 for a in self.adders if a.error) + len(self.errors)
        )


@dataclass
class InputField:
    name: str
    type: str
    required: bool
    default: str
    source: str
    fixed: bool = False
    value: str = ""
    error: str = ""

    @property
    def form_name(self) -> str:
        return INPUTS + self.name


@dataclass
class LaunchForm:
    inputs: list[InputField]
    sections: list[Section]
    errors: list[str] = field(default_factory=list)

    @property
    def invalid(self) -> int:
        return (
            len(self.errors) + sum(1 for i in self.inputs if i.error) + sum(s.invalid for s in self.sections)
        )

    def section(self, hook: str) -> Section | None:
        return next((s for s in self.sections if s.hook == hook), None)


# -- 1. laying the form out -------------------------------------------------------------------


def build_form(spec: WorkflowSpec, plan: LaunchPlanSpec | None) -> LaunchForm:
    """Every input and every hook's fields, each with its effective default and its source."""
    resolved = resolve_workflow(spec, launch_plan=plan)
    sections = [_section(spec, hook, resolved[hook.nodes[0]]) for _, hook in sorted(spec.hooks.items())]
    return LaunchForm(inputs=[_input(p, plan) for p in spec.interface.inputs], sections=sections)


def source_text(source: Source | None) -> str:
    """``launch plan nightly``, ``workflow training.pipeline``, ``task train``, ``retune default``."""
    if source is None:
        return "retune default"
    if source.name == "retune defaults":
        return "retune default"
    return f"{source.layer.value.replace('_', ' ')} {source.name}"


def _section(spec: WorkflowSpec, hook: HookSpec, node: NodeConfig) -> Section:
    task = spec.tasks[hook.task]
    config, provenance = node.config, node.provenance
    fields = [_resource(hook.name, name, node) for name in RESOURCE_NAMES]
    for path, kind, hint in _PLAIN_FIELDS:
        attr = "container_image" if path == "image" else path
        value = getattr(config, attr)
        shown = "the executor's default" if value is None else _text(value) or "(empty)"
        fields.append(
            Field(
                _name(hook.name, path),
                path,
                path,
                kind,
                shown,
                source_text(provenance.get(attr)),
                hint,
                answers_for=(attr,),
            )
        )
    for key in sorted(config.environment):
        path = f"env.{key}"
        fields.append(
            Field(
                _name(hook.name, path),
                path,
                path,
                "text",
                config.environment[key],
                source_text(provenance.get(f"environment.{key}")),
                answers_for=(f"environment.{key}",),
            )
        )
    adders = [Adder(f"{ADD}{hook.name}.env", "env", "new environment variable")]
    config_fields, config_adders = _task_config_fields(
        hook.name, task.task_type, config.task_config, provenance
    )
    return Section(
        hook=hook.name,
        task=hook.task,
        task_type=task.task_type,
        nodes=hook.nodes,
        fields=fields + config_fields,
        adders=adders + config_adders,
    )


def _resource(hook: str, name: str, node: NodeConfig) -> Field:
    request = getattr(node.config.requests, name)
    limit = getattr(node.config.limits, name)
    shown = format_quantity(name, request)
    if limit != request:
        shown += f" (limit {format_quantity(name, limit)})"
    hints = {
        "cpu": "cores: 2, 0.5, 500m",
        "mem": "bytes: 768Mi, 2Gi",
        "gpu": "whole devices: 1",
        "storage": "bytes: 10Gi",
    }
    return Field(
        _name(hook, name),
        name,
        name,
        "text",
        shown,
        source_text(node.provenance.get(f"requests.{name}")),
        f"{hints[name]}; sets request and limit",
        answers_for=(
            f"requests.{name}",
            f"limits.{name}",
            f"resources.requests.{name}",
            f"resources.limits.{name}",
            name,
        ),
    )


def _task_config_fields(
    hook: str, task_type: str, config: Mapping[str, Any], provenance: Mapping[str, Source]
) -> tuple[list[Field], list[Adder]]:
    """Fields for the leaves of the task type's ``task_config`` schema (or, for a type without a
    model, of the effective config), and adders for its maps."""
    properties = _config_properties(task_type)
    fields: list[Field] = []
    adders: list[Adder] = []
    names = list(properties) if properties else sorted(k for k in config if k != "task_type")
    for key in names:
        schema = properties.get(key, {})
        value = config.get(key)
        if schema.get("type") == "object" or (not schema and isinstance(value, Mapping)):
            entries: Mapping[str, Any] = value if isinstance(value, Mapping) else {}
            for inner in sorted(entries):
                path = f"task_config.{key}[{inner}]" if "." in inner else f"task_config.{key}.{inner}"
                fields.append(
                    Field(
                        _name(hook, path),
                        path,
                        f"{key}[{inner}]",
                        "text",
                        _text(entries[inner]),
                        source_text(provenance.get(f"task_config.{key}.{inner}")),
                        answers_for=(f"task_config.{key}.{inner}",),
                    )
                )
            adders.append(Adder(f"{ADD}{hook}.task_config.{key}", f"task_config.{key}", f"new {key} key"))
            continue
        path = f"task_config.{key}"
        kind = (
            "bool"
            if schema.get("type") == "boolean"
            else "number"
            if schema.get("type") == "integer"
            else "text"
        )
        fields.append(
            Field(
                _name(hook, path),
                path,
                key,
                kind,
                "not set" if value is None else _text(value),
                source_text(provenance.get(path)),
                str(schema.get("description", "")),
                answers_for=(path,),
            )
        )
    return fields, adders


def _config_properties(task_type: str) -> dict[str, dict[str, Any]]:
    from retune.plugins import get_task_type

    try:
        model = get_task_type(task_type).config_model
    except Exception:  # an unknown or broken plugin: the launch will say so; show the config as is
        return {}
    if model is None:
        return {}
    schema = model.model_json_schema()
    properties: dict[str, dict[str, Any]] = {}
    for key, prop in schema.get("properties", {}).items():
        if key == "task_type":
            continue
        variants = prop.get("anyOf", [prop])
        concrete = next((v for v in variants if v.get("type") not in (None, "null")), prop)
        properties[key] = {
            **concrete,
            "description": prop.get("description", concrete.get("description", "")),
        }
    return properties


def _input(param: Param, plan: LaunchPlanSpec | None) -> InputField:
    fixed = plan.fixed_inputs if plan else {}
    defaults = plan.default_inputs if plan else {}
    if param.name in fixed:
        return InputField(
            param.name,
            param.type,
            False,
            _text(fixed[param.name]),
            f"fixed by launch plan {plan.name}" if plan else "",
            fixed=True,
        )
    if param.name in defaults:
        return InputField(
            param.name,
            param.type,
            False,
            _text(defaults[param.name]),
            f"launch plan {plan.name}" if plan else "",
        )
    if param.has_default:
        return InputField(param.name, param.type, False, _text(param.default), "workflow")
    return InputField(param.name, param.type, True, "", "")


def _name(hook: str, path: str) -> str:
    return f"{OVERRIDES}{hook}.{path}"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str | int | float):
        return str(value)
    import json

    return json.dumps(value, sort_keys=True)


# -- 2. reading what was posted ---------------------------------------------------------------


def fill(form: LaunchForm, posted: Mapping[str, str]) -> None:
    """Put the posted values into the form's fields (kept as typed, shown again on an error);
    fields named in ``posted`` that the form does not have become fields of their section."""
    for item in form.inputs:
        item.value = posted.get(item.form_name, "").strip() if not item.fixed else ""
    hooks = {s.hook for s in form.sections}
    for name, value in posted.items():
        hook = name[len(OVERRIDES) :].partition(".")[0] if name.startswith(OVERRIDES) else None
        if hook is not None and hook not in hooks and value.strip():
            from retune.overrides.validate import unknown_hook_fix

            form.errors.append(
                f"{name!r}: the workflow has no hook {hook!r}. {unknown_hook_fix(hook, hooks)}"
            )
    for section in form.sections:
        known = {f.name for f in section.fields}
        for name, value in posted.items():
            if name.startswith(f"{OVERRIDES}{section.hook}.") and name not in known and value.strip():
                path = name[len(OVERRIDES) + len(section.hook) + 1 :]
                section.fields.append(Field(name, path, path, "text", "not set", "", value=value))
        for f in section.fields:
            f.value = posted.get(f.name, "").strip()
        for adder in section.adders:
            adder.key = posted.get(f"{adder.prefix}.key", "").strip()
            adder.value = posted.get(f"{adder.prefix}.value", "")


def read_posted(form: LaunchForm, spec: WorkflowSpec) -> tuple[dict[str, Any], dict[str, TaskNodeOverrides]]:
    """(inputs, overrides) of a filled form. Each field is checked alone first, so that every bad
    field gets its message; the form's ``invalid`` says whether anything was refused."""
    params = {p.name: p for p in spec.interface.inputs}
    inputs: dict[str, Any] = {}
    for item in form.inputs:
        if item.value:
            inputs[item.name] = read_text(item.value, params[item.name].type)
    parsed: list[dict[str, TaskNodeOverrides]] = []
    for section in form.sections:
        for f in section.fields:
            if f.value:
                parsed.append(_checked(f"{section.hook}.{f.path}={f.value}", f))
        for adder in section.adders:
            if adder.key:
                parsed.append(
                    _checked(f"{section.hook}.{_keyed(adder.path, adder.key)}={adder.value}", adder)
                )
            elif adder.value.strip():
                adder.error = "Give the new key a name, or clear its value."
    return inputs, combine_maps(*parsed) if not form.invalid else {}


def _checked(item: str, target: Field | Adder) -> dict[str, TaskNodeOverrides]:
    try:
        return parse_cli_overrides([item], origin="the launch form")
    except OverrideError as exc:
        target.error = _message(exc)
        return {}


def _keyed(path: str, key: str) -> str:
    if path == "env":
        return f"env.{key}"
    return f"{path}[{key}]" if "." in key else f"{path}.{key}"


def overrides_wire(overrides: Mapping[str, TaskNodeOverrides]) -> dict[str, dict[str, Any]]:
    """The parsed overrides as the API's ``overrides`` body."""
    return {hook: fields.to_dict() for hook, fields in overrides.items()}


# -- 3. placing what the launch refused ---------------------------------------------------------


def place_error(form: LaunchForm, exc: Exception) -> None:
    """Put a refusal beside the field it names (the hook's section if no field matches; the top
    of the form if it names neither hook nor input)."""
    if isinstance(exc, InputError) and exc.input is not None:
        target = next((i for i in form.inputs if i.name == exc.input), None)
        if target is not None:
            target.error = _message(exc)
            return
    if isinstance(exc, OverrideError) and exc.hook is not None:
        section = form.section(exc.hook)
        if section is not None:
            found = _field_for(section, exc.field)
            if found is not None:
                found.error = _message(exc)
            else:
                section.errors.append(_message(exc))
            return
    form.errors.append(_message(exc))


def _field_for(section: Section, path: str | None) -> Field | None:
    if not path:
        return None
    candidates = [f for f in section.fields if f.value] + [f for f in section.fields if not f.value]
    for f in candidates:
        for known in (*f.answers_for, f.path):
            if path == known or path.startswith(known + "."):
                return f
    return None


def _message(exc: Exception) -> str:
    problem = getattr(exc, "problem", None)
    fix = getattr(exc, "fix", "") or ""
    if problem:
        return f"{problem[0].upper()}{problem[1:]}. {fix}".strip()
    return str(exc)


# -- relaunch: an execution's overrides as form values -----------------------------------------


def posted_from(overrides: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict[str, str]:
    """The fields a form shows to launch ``overrides`` and ``inputs`` again (relaunch)."""
    posted = {f"{INPUTS}{name}": _text(value) for name, value in inputs.items()}
    for hook, fields in overrides.items():
        for path, value in cli_paths(fields):
            posted[_name(hook, path)] = shown_value(path, value)
    return posted


def shown_value(path: str, value: Any) -> str:
    """``mem``'s 805306368 as ``768Mi``; booleans as ``true``/``false``; the rest as text."""
    if path in RESOURCE_NAMES and isinstance(value, int | float) and not isinstance(value, bool):
        return format_quantity(path, value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def cli_paths(fields: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    """A layer's fields (wire form) as ``(-o path, value)``: ``cpu`` for a request and limit, a
    resource's request where the two differ, ``env.K``, ``task_config.a.b``."""
    resources = fields.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    for name in RESOURCE_NAMES:
        if name in requests or name in limits:
            yield name, requests.get(name, limits.get(name))
    for key, value in fields.items():
        if key == "container_image":
            yield "image", value
        elif key == "environment":
            for env_key, env_value in (value or {}).items():
                yield f"env.{env_key}", env_value
        elif key == "task_config":
            yield from _leaves("task_config", value or {})
        elif key != "resources":
            yield key, value


def _leaves(prefix: str, value: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    for key, inner in value.items():
        if key == "task_type":
            continue
        path = f"{prefix}[{key}]" if "." in key else f"{prefix}.{key}"
        if isinstance(inner, Mapping) and inner:
            yield from _leaves(path, inner)
        else:
            yield path, inner
