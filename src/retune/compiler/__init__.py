"""The compiler: traced graph -> ``WorkflowSpec``. It owns its input type and never sees callables."""

from retune.compiler.compile import compile_workflow
from retune.compiler.compiled import CompiledWorkflow, Hook
from retune.compiler.graph import (
    OverrideCall,
    RuntimeOverrideCall,
    TracedBinding,
    TracedNode,
    TracedWorkflow,
)
from retune.compiler.types import is_assignable

__all__ = [
    "CompiledWorkflow",
    "Hook",
    "OverrideCall",
    "RuntimeOverrideCall",
    "TracedBinding",
    "TracedNode",
    "TracedWorkflow",
    "compile_workflow",
    "is_assignable",
]
