"""``@rt.workflow``: records a function. Tracing it (on first compile) builds the graph."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from retune.compiler.graph import TracedBinding, TracedNode, TracedWorkflow
from retune.errors import CompileError
from retune.sdk import tracing
from retune.sdk.location import caller, of_function, qualified_name
from retune.sdk.promise import InputPromise, NodeOutputs, VoidPromise, promise_for

if TYPE_CHECKING:
    from retune.compiler.compiled import CompiledWorkflow
    from retune.model.spec import Interface

P = ParamSpec("P")
R = TypeVar("R")


class Workflow(Generic[P, R]):
    """A workflow. Compile it with ``rt.compile``, run it with ``rt.run``, or call it inside
    another workflow to use it as a sub-workflow."""

    def __init__(self, fn: Callable[P, R]) -> None:
        self.fn = fn
        self.name = qualified_name(fn)
        self.short_name = fn.__name__
        self.location = of_function(fn)
        self.signature = inspect.signature(fn)
        self._traced: TracedWorkflow | None = None
        self._tracing = False
        self._compiled: CompiledWorkflow | None = None
        functools.update_wrapper(self, fn)

    @cached_property
    def interface(self) -> Interface:
        """Inputs and outputs, from the annotations (built on first compile: it needs pydantic)."""
        from retune.sdk.specs import interface_of

        return interface_of(self.fn)

    def trace(self) -> TracedWorkflow:
        """The traced graph of this workflow (built once)."""
        if self._traced is not None:
            return self._traced
        if self._tracing:
            raise CompileError(
                f"Workflow {self.name!r} ({self.location}) calls itself; workflows cannot recurse."
            )
        context = tracing.TraceContext(self.name)
        self._tracing = True
        tracing.push(context)
        try:
            promises: dict[str, Any] = {p.name: InputPromise(p.name) for p in self.interface.inputs}
            result = _call(self.fn, promises)
        finally:
            tracing.pop()
            self._tracing = False
        self._traced = TracedWorkflow(
            name=self.name,
            interface=self.interface,
            nodes=context.nodes,
            outputs=self._bind_outputs(result),
            location=self.location,
        )
        return self._traced

    def compile(self) -> CompiledWorkflow:
        if self._compiled is None:
            from retune.compiler.compile import compile_workflow
            from retune.compiler.compiled import CompiledWorkflow

            self._compiled = CompiledWorkflow(compile_workflow(self.trace()))
        return self._compiled

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        context = tracing.current()
        if context is None:
            raise CompileError(
                f"Workflow {self.name!r} was called directly. Run it with rt.run({self.short_name}, "
                "inputs={...}), or call it inside another @workflow to use it as a sub-workflow."
            )
        node: R = self._sub_workflow_node(context, args, kwargs)
        return node

    def _sub_workflow_node(
        self, context: tracing.TraceContext, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        location = caller(3)
        node_id = context.next_sub_id(self.short_name)
        where = f"Sub-workflow node {node_id} ({location})"
        try:
            bound = self.signature.bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise CompileError(f"{where}: calling workflow {self.name!r}: {exc}.") from None
        inputs = {name: tracing.bind_value(value, where, name) for name, value in bound.arguments.items()}
        node = TracedNode(
            id=node_id,
            location=location,
            inputs=inputs,
            outputs=self.interface.outputs,
            workflow=self.trace(),
        )
        context.nodes.append(node)
        return promise_for(node)

    def _bind_outputs(self, result: Any) -> dict[str, TracedBinding]:
        outputs = self.interface.outputs
        where = f"Workflow {self.name!r} ({self.location}) return value"
        if not outputs:
            if result is not None and not isinstance(result, VoidPromise):
                raise CompileError(
                    f"{where}: the function returns a value but declares no return type. Annotate it."
                )
            return {}
        values = tuple(result) if isinstance(result, NodeOutputs | tuple) and len(outputs) > 1 else (result,)
        if len(values) != len(outputs):
            raise CompileError(f"{where}: returns {len(values)} values but declares {len(outputs)} outputs.")
        return {p.name: tracing.bind_value(v, where, p.name) for p, v in zip(outputs, values, strict=True)}

    def __repr__(self) -> str:
        return f"Workflow({self.name})"


def _call(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    return fn(**kwargs)


def workflow(fn: Callable[P, R]) -> Workflow[P, R]:
    """Declare a workflow; its body is traced with promises when first compiled."""
    return Workflow(fn)
