"""The control plane: registered workflows and launch plans, launched executions.

Code-free: it works on specs from the store and never imports the SDK, the compiler or user
code, so ``retune serve`` and ``retune worker`` can run without the code they launch.
"""

from retune.control.local import LocalControlPlane
from retune.control.plane import ControlPlane
from retune.errors import RequestRefused
from retune.executors.bundles import bundle_key

__all__ = ["ControlPlane", "LocalControlPlane", "RequestRefused", "bundle_key"]
