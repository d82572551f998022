"""Overrides: parse -> validate -> merge -> resolve. Pure functions over specs, no I/O.

One resolver serves workflow code, launch plans, the CLI, the API and the web form.
"""

from retune.overrides.merge import combine, combine_maps
from retune.overrides.parse import load_overrides_file, parse_cli_overrides, parse_overrides
from retune.overrides.resolve import LAYERS, resolve_workflow
from retune.overrides.validate import HOOK_NAME, check_hook_name, check_known_hooks

__all__ = [
    "HOOK_NAME",
    "LAYERS",
    "check_hook_name",
    "check_known_hooks",
    "combine",
    "combine_maps",
    "load_overrides_file",
    "parse_cli_overrides",
    "parse_overrides",
    "resolve_workflow",
]
