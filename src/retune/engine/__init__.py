"""The engine: a durable state machine over specs. It never imports the SDK or user code."""

from retune.engine.run import Engine, new_execution_id, new_nodes

__all__ = ["Engine", "new_execution_id", "new_nodes"]
