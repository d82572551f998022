"""Public test doubles: an in-memory store and blob store, an in-process executor, a preempting
executor, a clock; ``postgres_schema``, a throwaway schema of a real PostgreSQL for tests that
need one; ``PrivatePostgres``, a PostgreSQL server of a test's own, for tests that kill the
database; and ``register_source``, registering workflows written as text.

    store.py      MemoryStore (a ControlStore), MemoryBlobStore (a BlobStore)
    executors.py  InlineExecutor, PreemptingExecutor (Executors)
    clock.py      FakeClock
    postgres.py   postgres_schema, PrivatePostgres, POSTGRES_BIN
    register.py   register_source

They implement the same seams as the real parts (``retune.store.base.Store`` and
``ControlStore``, ``BlobStore``, ``retune.executors.base.Executor``), so the layers above them
can be tested without processes or databases. The control plane needs nothing else:
``retune.control.LocalControlPlane(MemoryStore(), MemoryBlobStore())`` serves every verb of
``ControlPlane`` (register, launch and its dry run, relaunch, recover, abort), and
``retune.worker.Worker(store, blobs, InlineExecutor())`` runs what it launched
(``tests/unit/test_testing_control_plane.py``). Use the real parts for anything a user would run.
"""

from retune.testing.clock import FakeClock
from retune.testing.executors import InlineExecutor, PreemptingExecutor
from retune.testing.postgres import POSTGRES_BIN, PrivatePostgres, postgres_schema
from retune.testing.register import register_source
from retune.testing.store import MemoryBlobStore, MemoryStore

__all__ = [
    "POSTGRES_BIN",
    "FakeClock",
    "InlineExecutor",
    "MemoryBlobStore",
    "MemoryStore",
    "PreemptingExecutor",
    "PrivatePostgres",
    "postgres_schema",
    "register_source",
]
