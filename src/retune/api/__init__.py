"""In-process verbs behind ``rt.compile``, ``rt.resolve``, ``rt.run``, resume, and ``retune
register`` / ``retune launch``, one module per verb:

    runs.py      compile, resolve, run, resume (and ``drive``: running while holding the lease)
    register.py  register: import, compile and bundle what a path defines, then register it
    wiring.py    the store, blob store, executor and control plane a process talks to

This package re-exports what callers use, so ``from retune import api; api.run(...)`` reads
the same whatever module a verb lives in.
"""

from retune.api.register import import_bundle, launch_plan_spec, register, validated
from retune.api.runs import (
    Overrides,
    Target,
    compile,
    decode_outputs,
    drive,
    encode_inputs,
    resolve,
    resume,
    run,
    spec_version,
)
from retune.api.wiring import (
    SERVER_ENV,
    control_plane,
    open_default_blobs,
    open_default_store,
)
from retune.control.loading import task_refs

__all__ = [
    "SERVER_ENV",
    "Overrides",
    "Target",
    "compile",
    "control_plane",
    "decode_outputs",
    "drive",
    "encode_inputs",
    "import_bundle",
    "launch_plan_spec",
    "open_default_blobs",
    "open_default_store",
    "register",
    "resolve",
    "resume",
    "run",
    "spec_version",
    "task_refs",
    "validated",
]
