"""Promises: what calling a task or workflow inside ``@workflow`` returns.

Every promise knows its node, so ``with_overrides``, ``with_runtime_override`` and
``with_hook_aliases`` work on a single output, on a tuple of outputs and on a call whose
outputs are unused; each returns the promise itself, so calls chain.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Self

from retune.compiler.graph import OverrideCall, RuntimeOverrideCall, TracedBinding, TracedNode
from retune.errors import CompileError
from retune.model import Resources, TaskNodeOverrides
from retune.sdk.location import caller


class _NodeHandle:
    """The override methods shared by every kind of promise."""

    _node: TracedNode

    def with_overrides(
        self,
        *,
        name: str | None = None,
        requests: Resources | None = None,
        limits: Resources | None = None,
        retries: int | None = None,
        timeout: float | timedelta | None = None,
        interruptible: bool | None = None,
        container_image: str | None = None,
        cache: bool | None = None,
        cache_version: str | None = None,
        cache_serialize: bool | None = None,
        environment: dict[str, str] | None = None,
        task_config: Any = None,
    ) -> Self:
        """Compile-time overrides of this node (layer 2), Flyte's ``with_overrides``."""
        fields: dict[str, Any] = {
            "retries": retries,
            "interruptible": interruptible,
            "container_image": container_image,
            "cache": cache,
            "cache_version": cache_version,
            "cache_serialize": cache_serialize,
            "environment": environment,
            "task_config": config_dict(task_config),
        }
        given = {key: value for key, value in fields.items() if value is not None}
        resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v is not None}
        if resources:
            given["resources"] = resources
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        if given or seconds is not None:
            self._node.overrides.append(OverrideCall(given, seconds, caller()))
        if name is not None:
            self._node.id = name
        return self

    def with_runtime_override(
        self, name: str, config: TaskNodeOverrides | dict[str, Any] | None = None
    ) -> Self:
        """Give this node the hook ``name`` (with an optional default), or, on a
        sub-workflow node, set the default of the hook ``name`` inside it."""
        self._node.runtime_overrides.append(RuntimeOverrideCall(name, config, caller()))
        return self

    def with_hook_aliases(self, **aliases: str) -> Self:
        """Rename hooks inside this sub-workflow at this call site: ``train="train-a"``."""
        if self._node.workflow is None:
            raise CompileError(
                f"with_hook_aliases at {caller()} is on a task node; it renames hooks inside a sub-workflow."
            )
        self._node.aliases.update(aliases)
        self._node.alias_location = caller()
        return self


class Promise(_NodeHandle):
    """One output of a node."""

    __slots__ = ("_node", "binding")

    def __init__(self, node: TracedNode, output: str) -> None:
        self._node = node
        self.binding = TracedBinding(kind="output", node=node, name=output)

    def __repr__(self) -> str:
        return f"Promise({self._node.id}.{self.binding.name})"

    def __bool__(self) -> bool:
        raise CompileError(
            f"A promise ({self._node.id}.{self.binding.name}) was used as a condition at {caller()}. "
            "Inside @workflow, values do not exist yet; branch inside a task instead."
        )

    def _operator(self, symbol: str) -> CompileError:
        return CompileError(
            f"A promise ({self._node.id}.{self.binding.name}) was used with {symbol!r} at {caller(3)}. "
            "Inside @workflow, values do not exist yet; compute with them inside a task instead."
        )

    # Comparisons and arithmetic on a promise are the same mistake as ``if promise:``; without
    # these Python answers a TypeError that does not say why (``'>' not supported ...``).
    def __lt__(self, other: object) -> bool:
        raise self._operator("<")

    def __le__(self, other: object) -> bool:
        raise self._operator("<=")

    def __gt__(self, other: object) -> bool:
        raise self._operator(">")

    def __ge__(self, other: object) -> bool:
        raise self._operator(">=")

    def __add__(self, other: object) -> Any:
        raise self._operator("+")

    __radd__ = __add__

    def __sub__(self, other: object) -> Any:
        raise self._operator("-")

    __rsub__ = __sub__

    def __mul__(self, other: object) -> Any:
        raise self._operator("*")

    __rmul__ = __mul__


class NodeOutputs(tuple[Promise, ...], _NodeHandle):
    """The outputs of a node with several: unpack it (``a, b = t()``), take one by name
    (``t().total``), or override it."""

    _node: TracedNode

    def __new__(cls, node: TracedNode, promises: tuple[Promise, ...]) -> NodeOutputs:
        instance = super().__new__(cls, promises)
        instance._node = node
        return instance

    def __getattr__(self, name: str) -> Promise:
        if name.startswith("_"):
            raise AttributeError(name)
        for promise, param in zip(self, self._node.outputs, strict=False):
            if param.name == name:
                return promise
        names = ", ".join(param.name for param in self._node.outputs)
        raise AttributeError(f"node {self._node.id} has no output {name!r}; its outputs are: {names}")


class VoidPromise(_NodeHandle):
    """The result of a node without outputs."""

    __slots__ = ("_node",)

    def __init__(self, node: TracedNode) -> None:
        self._node = node


class InputPromise:
    """A workflow input while its function is being traced."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"InputPromise({self.name})"


def promise_for(node: TracedNode) -> Promise | NodeOutputs | VoidPromise:
    if not node.outputs:
        return VoidPromise(node)
    promises = tuple(Promise(node, p.name) for p in node.outputs)
    return promises[0] if len(promises) == 1 else NodeOutputs(node, promises)


def config_dict(config: Any, *, complete: bool = False) -> Any:
    """A plugin config object (``Spark(...)``) as the map layers merge.

    A task declares its whole config (``complete``: defaults included, so every value has
    the task as its source); an override names only the fields it was given, and the type of
    its config object (``task_type``), which resolving refuses unless it is the node's own.
    """
    if config is not None and hasattr(config, "model_dump"):
        fields: dict[str, Any] = config.model_dump(mode="json", exclude_unset=not complete)
        task_type = getattr(type(config), "task_type", None)
        if not complete and isinstance(task_type, str):
            fields["task_type"] = task_type
        return fields
    return config
