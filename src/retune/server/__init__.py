"""``retune serve``: the REST API (FastAPI) over the control plane. It holds no user code."""
