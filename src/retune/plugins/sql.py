"""The ``sql`` task type: which cluster runs the query, with how many threads and how much memory."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from retune.plugins.registry import register_task_type


class SQL(BaseModel):
    """``task_config`` of a SQL task; the RFC's "which SQL cluster to use"."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    task_type: ClassVar[str] = "sql"

    cluster: str = Field("default", min_length=1, max_length=63)
    threads: int = Field(1, ge=1, le=256)
    memory_limit: str | None = Field(None, description="e.g. 2GB; None lets the engine decide")


register_task_type("sql", SQL, result_fields={"cluster"})  # another cluster, another database
