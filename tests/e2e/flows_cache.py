"""A cached task whose results depend on its image and on one environment key (``cache_env``).

It imports nothing a bare interpreter lacks, so any image name mapped to one can run it."""

from __future__ import annotations

import os
from pathlib import Path

import retune as rt


@rt.task(cache=True, cache_version="1", cache_env=["MODEL_DIR"])
def predict(counter: str, x: int) -> str:
    with Path(counter).open("a") as log:
        log.write("ran\n")
    return f"{x} with {os.environ.get('MODEL_DIR', '<unset>')}"


@rt.workflow
def predict_flow(counter: str, x: int = 3) -> str:
    return predict(counter=counter, x=x).with_runtime_override("predict")
