"""``retune worker``: claims launched executions and runs them with the engine (``loop.py``)."""

from retune.worker.loop import Worker, run_worker

__all__ = ["Worker", "run_worker"]
