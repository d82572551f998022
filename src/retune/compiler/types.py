"""Type strings live in ``retune.model.types`` (the code-free server checks inputs with them)."""

from retune.model.types import element_type, is_assignable, parse_type

__all__ = ["element_type", "is_assignable", "parse_type"]
