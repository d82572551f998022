"""The one place an executor is built from settings: for ``rt.run``, the CLI and workers alike.

    kind = the caller's choice (``rt.run(executor="local")``) or ``[executor] kind`` /
           ``RETUNE_EXECUTOR`` (default ``"local"``)
    build_executor(settings, blobs)  -> the executor that runs attempts
    config_check(settings)           -> its ``check`` without an executor: what the server and
                                        ``retune launch`` refuse before storing (no process)

An unknown kind is a ``SettingsError`` naming where it was set and the kinds there are.
``"ray"`` (``executors.ray``, the only module that imports Ray) is imported only when asked for:
without the extra (``pip install 'retune[ray]'``) choosing it is a ``SettingsError`` saying so.
"""

from __future__ import annotations

from types import ModuleType
from typing import Final

from retune.executors.base import Blobs, ConfigCheck, Executor
from retune.settings import Settings, SettingsError

__all__ = ["KINDS", "build_executor", "config_check", "executor_kind"]

KINDS: Final = ("local", "ray")


def executor_kind(settings: Settings, kind: str | None = None, *, origin: str | None = None) -> str:
    """``kind`` (given by ``origin``, e.g. ``"rt.run(executor=...)"``), else the settings' one;
    refused with where it came from when no executor of that kind exists."""
    chosen, where = (settings.executor.kind, settings.executor.origin) if kind is None else (kind, origin)
    if chosen not in KINDS:
        known = ", ".join(repr(k) for k in KINDS)
        raise SettingsError(
            f"Unknown executor {chosen!r} (set by {where or 'the caller'}); the executors are: {known}. "
            f"Use one of them there, or pass an Executor object to rt.run."
        )
    return chosen


def build_executor(
    settings: Settings, blobs: Blobs, *, kind: str | None = None, origin: str | None = None
) -> Executor:
    """The executor of ``kind`` (default: the settings' kind), over the blob store ``blobs``."""
    if executor_kind(settings, kind, origin=origin) == "ray":
        ray_executor: Executor = _ray(origin).RayExecutor(
            blobs,
            settings.executor.ray_address,
            blob_url=settings.blobs.url or str(settings.home / "blobs"),
            blob_options=settings.blobs.options,
            settings=settings,
        )
        return ray_executor
    from retune.executors.local import LocalExecutor  # starts a warm task process: only when asked

    return LocalExecutor(
        blobs,
        capacity=_capacity(settings),
        images=settings.images or None,
        bundles=settings.home / "bundles",
        settings=settings,
    )


def config_check(settings: Settings, *, kind: str | None = None) -> ConfigCheck:
    """What the executor of ``kind`` refuses, checked without building it (no process starts)."""
    if executor_kind(settings, kind) == "ray":
        ray_check: ConfigCheck = _ray(None).RayConfigCheck(settings)
        return ray_check
    from retune.executors.local import LocalConfigCheck

    return LocalConfigCheck(capacity=_capacity(settings), images=settings.images or None, settings=settings)


def _ray(origin: str | None) -> ModuleType:
    try:
        import retune.executors.ray as ray_executor  # Ray loads here only (~1 s)
    except ImportError as exc:
        raise SettingsError(
            f"The Ray executor (set by {origin or 'the settings'}) needs Ray, which is not installed here "
            f"({exc}); pip install 'retune[ray]'."
        ) from None
    return ray_executor


def _capacity(settings: Settings) -> dict[str, str] | None:
    return dict(settings.capacity) or None
