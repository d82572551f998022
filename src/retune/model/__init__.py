"""The stored and sent format; imports nothing else of retune."""

from retune.model.config import EffectiveConfig, Layer, NodeConfig, Provenance, Source
from retune.model.overrides import (
    FIELD_NAMES,
    FieldError,
    TaskNodeConfigOverride,
    TaskNodeOverrides,
    overrides_json_schema,
    runtime_override_config,
)
from retune.model.quantity import QuantityError
from retune.model.resources import RESOURCE_NAMES, ResolvedResources, Resources, ResourceSpec
from retune.model.unset import UNSET, Unset

__all__ = [
    "FIELD_NAMES",
    "RESOURCE_NAMES",
    "UNSET",
    "EffectiveConfig",
    "FieldError",
    "Layer",
    "NodeConfig",
    "Provenance",
    "QuantityError",
    "ResolvedResources",
    "ResourceSpec",
    "Resources",
    "Source",
    "TaskNodeConfigOverride",
    "TaskNodeOverrides",
    "Unset",
    "overrides_json_schema",
    "runtime_override_config",
]
