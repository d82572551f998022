"""The store in a SQL database: the only home of SQLAlchemy (and, with ``migrations/``, Alembic).

tables   the schema as SQLAlchemy Core metadata
engine   SQLite (WAL, busy timeout) or PostgreSQL (psycopg 3) engines from a URL
schema   Alembic ``upgrade head`` on open, once, safe when several processes open at once
store    ``SqlStore``, the ``Store``
"""

from retune.store.sql.store import SqlStore

__all__ = ["SqlStore"]
