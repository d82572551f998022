"""``retune worker``: claims launched executions and runs them with the engine."""
