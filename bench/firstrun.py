"""The first ``rt.run`` of a fresh interpreter: ``python -m bench.firstrun WORKLOAD SEED``.

Builds the workload's workflow (not compiled yet), then times one ``rt.run`` from inside, so
compile, opening the stores, starting the local executor and its workers, the run and closing
are all in the figure; interpreter start-up and imports are not. The record is checked as in
``bench.execution``. Prints one JSON line: ``{"seconds": ...}``.
"""

from __future__ import annotations

import json
import sys
import time

import retune as rt
from bench.execution import WORKLOADS, checked


def main(key: str, seed: int) -> dict[str, float]:
    workload = WORKLOADS[key]
    wf = workload.build(workload.size)
    given = workload.inputs(seed=seed)
    start = time.perf_counter()
    record = rt.run(wf, given)
    seconds = time.perf_counter() - start
    checked(workload, record, given, workload.size)
    return {"seconds": seconds}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))
