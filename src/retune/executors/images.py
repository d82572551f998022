"""The image registry of the local executor: ``container_image`` -> a Python interpreter.

No image (``None``) means the interpreter running retune. Another interpreter (a bare venv,
say) still needs retune's task runtime, and cloudpickle to load tasks sent by value, but none
of the launching environment's other packages: it gets a directory holding links to exactly
those two on its ``PYTHONPATH``; the task's code comes from its bundle, like under any
interpreter (``executors.bundles``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from retune.executors.base import Refused

__all__ = ["Interpreters"]


class Interpreters:
    def __init__(self, images: Mapping[str, str] | None = None) -> None:
        self.images = dict(images or {})
        self.default = sys.executable
        self._shim: Path | None = None

    def check(self, image: str | None) -> None:
        if image is None or image in self.images:
            if image is not None and not os.access(self.images[image], os.X_OK):
                raise Refused(
                    "container_image",
                    f"image {image!r} maps to {self.images[image]!r}, which is not an executable Python",
                    "Fix the [images] table of retune.toml (or RETUNE_IMAGES).",
                )
            return
        known = ", ".join(repr(name) for name in sorted(self.images)) or "none"
        raise Refused(
            "container_image",
            f"unknown image {image!r} (the local executor knows: {known})",
            "Map it to a Python interpreter in the [images] table of retune.toml "
            "(or RETUNE_IMAGES=name=/path/to/python), or override container_image with a known one.",
        )

    def interpreter(self, image: str | None) -> str:
        return self.default if image is None else self.images[image]

    def is_foreign(self, interpreter: str) -> bool:
        return os.path.abspath(interpreter) != os.path.abspath(self.default)

    def environment(self, interpreter: str) -> dict[str, str]:
        """The environment a task process under ``interpreter`` starts with."""
        env = dict(os.environ)
        if self.is_foreign(interpreter):
            # Only retune and cloudpickle in there, so nothing of the stdlib can be shadowed.
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.shim()), env.get("PYTHONPATH")) if p)
        return env

    def command(self, interpreter: str) -> list[str]:
        """How to start a task process: ``-m retune.task_runtime.main``, except that retune may be
        importable here only through a ``sys.path`` edit, so then its directory is appended
        (never prepended: that could shadow the stdlib with whatever sits next to retune)."""
        boot = (
            "import sys\n"
            "try:\n"
            "    from retune.task_runtime.main import main\n"
            "except ImportError:\n"
            f"    sys.path.append({_retune_parent()!r})\n"
            "    from retune.task_runtime.main import main\n"
            "main(sys.argv)\n"
        )
        return [interpreter, "-u", "-c", boot]

    def shim(self) -> Path:
        """A directory with links to retune and cloudpickle, and nothing else."""
        if self._shim is None:
            shim = Path(tempfile.mkdtemp(prefix="retune-runtime-"))
            for package in ("retune", "cloudpickle"):
                source = _package_dir(package)
                if source is not None:
                    (shim / package).symlink_to(source, target_is_directory=True)
            self._shim = shim
        return self._shim

    def close(self) -> None:
        if self._shim is not None:
            shutil.rmtree(self._shim, ignore_errors=True)
            self._shim = None


def _retune_parent() -> str:
    """The directory holding the ``retune`` package."""
    return str(Path(__file__).resolve().parent.parent.parent)


def _package_dir(name: str) -> str | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(Path(next(iter(spec.submodule_search_locations))).resolve())
