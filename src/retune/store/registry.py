"""The registry's rules, kept apart from SQL so that every ``ControlStore`` applies the same ones
(``retune.store.sql.control`` and ``retune.testing.MemoryStore``): how content is compared, what
a refused registration says, what a missing entity's error lists."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from retune.errors import Conflict, NotFound


def content_hash(document: Mapping[str, Any]) -> str:
    """sha256 of a spec as JSON with sorted keys: equal hashes, equal specs."""
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


def difference(
    kind: str,
    spec: Mapping[str, Any],
    stored: Mapping[str, Any],
    bundle: str | None,
    stored_bundle: str | None,
) -> str | None:
    """``workflow wf (location, code bundle)``: what differs from the stored content; None if nothing."""
    if content_hash(spec) == content_hash(stored) and bundle == stored_bundle:
        return None
    differs = sorted(k for k in spec.keys() | stored.keys() if spec.get(k) != stored.get(k))
    if bundle != stored_bundle:
        differs.append("code bundle")
    return f"{kind.replace('_', ' ')} {spec['name']} ({', '.join(differs)})"


def refuse(conflicts: Sequence[str], project: str, domain: str, version: str) -> Conflict:
    """One error naming every entity whose content differs, spec differences first."""
    ordered = sorted(conflicts, key=lambda c: (c.endswith("(code bundle)"), c))
    shown = "; ".join(ordered[:8]) + (f"; and {len(ordered) - 8} more" if len(ordered) > 8 else "")
    return Conflict(
        f"Refused: version {version!r} is already registered in {project}/{domain} with other content: {shown}. "
        "A registered version never changes: register the new content under a new version."
    )


def missing(
    kind: str,
    project: str,
    domain: str,
    name: str,
    version: str | None,
    versions: Sequence[str],
    names: Sequence[str],
) -> NotFound:
    """No such version (listing the entity's ``versions``, oldest first), or no such entity
    (listing the ``names`` of its kind in that project and domain, sorted)."""
    label = kind.replace("_", " ")
    if versions:
        return NotFound(
            f"No version {version!r} of {label} {name!r} in {project}/{domain}; its versions are "
            f"{', '.join(repr(v) for v in versions)}."
        )
    known = f"registered ones: {', '.join(names)}" if names else "none is registered there"
    return NotFound(f"No {label} {name!r} in {project}/{domain} ({known}).")
