"""What the Ray executor refuses whatever its cluster holds, and its settings: no Ray import, so
the server and ``retune launch`` may check a launch for Ray without loading it (``executors.ray``
re-exports ``RayConfigCheck`` for ``executors.factory``).

1. ``RayConfigCheck`` refuses an unknown task type (or a ``task_config`` its type refuses), a
   ``container_image`` that ``[images]`` does not map to an executable interpreter, and a cpu
   request Ray cannot express (a fraction above one core);
2. ``start_timeout`` reads ``[executor] ray_start_timeout`` (``RETUNE_RAY_START_TIMEOUT``): how
   long an attempt may wait for its Ray task to start while nothing but Ray keeps it waiting.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Final

from retune.executors.base import Refused, check_task_type
from retune.model import EffectiveConfig
from retune.model.resources import format_quantity
from retune.settings import Settings, SettingsError
from retune.settings import load as load_settings

__all__ = ["START_TIMEOUT", "RayConfigCheck", "start_timeout"]

START_TIMEOUT: Final = 300.0
"""Seconds an attempt may wait for its Ray task to start (``[executor] ray_start_timeout``)."""


def start_timeout(settings: Settings | None) -> float | None:
    """``[executor] ray_start_timeout`` in seconds (default ``START_TIMEOUT``); ``0``: no bound."""
    raw = None if settings is None else settings.executor.ray_start_timeout
    if raw is None:
        return START_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (seconds >= 0 and math.isfinite(seconds)):
        raise SettingsError(
            f"[executor] ray_start_timeout (or RETUNE_RAY_START_TIMEOUT) is {raw!r}; give the seconds an "
            f"attempt may wait for its Ray task to start, such as 300, or 0 for no bound."
        )
    return seconds or None


class RayConfigCheck:
    """What the Ray executor refuses whatever the cluster holds: the check the server and
    ``retune launch`` make before storing a launch (``executors.factory.config_check``), with no
    connection to the cluster; ``RayExecutor.check`` adds the nodes' resources."""

    def __init__(self, settings: Settings | None = None, images: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self._images = None if images is None else dict(images)

    def __call__(self, config: EffectiveConfig, task_type: str) -> None:
        check_task_type(config, task_type, self.settings)
        self.interpreter(config.container_image)
        cpu = config.requests.cpu
        if cpu > 1 and cpu != int(cpu):
            raise Refused(
                "resources.requests.cpu",
                f"requests cpu={format_quantity('cpu', cpu)}, but Ray takes a fraction of a core only below one",
                f"Ask for a whole number of cores (HOOK.cpu={int(cpu) + 1}) or less than one.",
            )

    def images(self) -> dict[str, str]:
        """``[images]``: image name -> Python interpreter (given, else the settings')."""
        if self._images is not None:
            return self._images
        return dict((self.settings if self.settings is not None else load_settings()).images)

    def interpreter(self, image: str | None) -> str | None:
        """The interpreter of ``image`` (``None``: the Ray workers' own), refused when ``[images]``
        does not map it to an executable. The path is checked on this machine: Ray's
        ``py_executable`` needs the same path on every node (a shared venv, a node image), and a
        worker that cannot start under it leaves the task pending forever rather than failing."""
        if image is None:
            return None
        images = self.images()
        interpreter = images.get(image)
        if interpreter is None:
            known = ", ".join(repr(name) for name in sorted(images)) or "none"
            raise Refused(
                "container_image",
                f"unknown image {image!r} (the Ray executor knows: {known})",
                "Map it to a Python interpreter in the [images] table of retune.toml "
                "(or RETUNE_IMAGES=name=/path/to/python), or override container_image with a known one.",
            )
        if not os.access(interpreter, os.X_OK):
            raise Refused(
                "container_image",
                f"image {image!r} maps to {interpreter!r}, which is not an executable Python",
                "Fix the [images] table of retune.toml (or RETUNE_IMAGES); every Ray node needs it at that path.",
            )
        return interpreter
