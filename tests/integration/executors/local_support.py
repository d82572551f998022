"""Blob stores, configs and requests for the local executor's tests (and the scripts they run)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from retune.control.bundles import build_bundle
from retune.executors.base import AttemptRequest, TaskRef
from retune.executors.bundles import bundle_key, digest_of
from retune.model import EffectiveConfig, ResolvedResources

MI = 2**20


class DirBlobs:
    """A blob store in a directory whose files the worker may write directly, holding the code
    bundle of this directory (``support_bundle``), as ``rt.run`` registers its code."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        digest, data = support_bundle()
        self.put(bundle_key(digest), data)

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def get(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    def local_path(self, key: str) -> Path | None:
        return self.root / key


class RemoteBlobs(DirBlobs):
    """A blob store with no local files: logs must be uploaded after the attempt."""

    def local_path(self, key: str) -> Path | None:
        return None


def resources(cpu: float = 0.25, mem: int = 256 * MI, gpu: int = 0) -> ResolvedResources:
    return ResolvedResources(cpu=cpu, mem=mem, gpu=gpu, storage=0)


def effective(**changes: Any) -> EffectiveConfig:
    """An effective config: retune's defaults, with ``changes``."""
    base = EffectiveConfig(
        requests=resources(),
        limits=resources(mem=1024 * MI),
        cache=False,
        cache_serialize=False,
        cache_version="",
        retries=0,
        interruptible=False,
        container_image=None,
        environment=MappingProxyType({}),
        task_config=MappingProxyType({}),
        timeout=None,
    )
    return dataclasses.replace(base, **changes)


@functools.cache
def support_bundle() -> tuple[str, bytes]:
    """(digest, zip) of this directory's modules: the code task processes import tasks from."""
    data = build_bundle(Path(__file__).parent)
    return digest_of(data), data


def ref(task: Any) -> TaskRef:
    """A task found by reference in its code bundle, as ``rt.run`` refers to tasks defined in
    importable modules."""
    fn = getattr(task, "fn", task)
    return TaskRef(
        name=f"{fn.__module__}.{fn.__qualname__}",
        module=fn.__module__,
        qualname=fn.__qualname__,
        bundle=support_bundle()[0],
    )


def by_value(fn: Any) -> TaskRef:
    """A task sent pickled, as ``rt.run`` sends tasks defined in ``__main__`` or notebooks."""
    import cloudpickle

    return dataclasses.replace(ref(fn), pickled=cloudpickle.dumps(fn))


def request(
    task: TaskRef,
    calls: Sequence[Mapping[str, Any]] = ({},),
    *,
    config: EffectiveConfig | None = None,
    node: str = "n0",
    attempt: int = 1,
) -> AttemptRequest:
    return AttemptRequest(
        execution_id="e1",
        node=node,
        attempt=attempt,
        task=task,
        calls=list(calls),
        config=config if config is not None else effective(),
    )
