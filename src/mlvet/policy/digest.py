"""A stable digest of an effective policy: the key that ties a cached scan result to the policy that made it.

A scan result is a function of three things: the file's content, the mlvet version and the policy. Reusing
a result recorded under another policy would silently keep a finding the user has since suppressed — or,
worse, keep a file "clean" after the user added a callable to the dangerous tier. So every cached result is
keyed by this digest, and any change of the effective policy (tiers, aliases, severity overrides,
suppressions and which source set them, limits, pickle extension codes, the score table) changes it.

The digest is a SHA-256 over a canonical JSON form (sorted keys, tuples as lists, no whitespace), so it is the
same in every process and on every machine, unlike ``hash()``. The policy's *warnings* are left out: they
describe what was ignored, never change a verdict, and are re-derived every time.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from mlvet.policy.core import Policy

__all__ = ["canonical_policy", "policy_digest"]


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready data with a single spelling: mappings sorted, sets sorted, enums by value."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, frozenset | set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, int | str | float | bool) or value is None:
        return value
    return repr(value)  # unknown types still change the digest when their repr does


def canonical_policy(policy: Policy) -> str:
    """The canonical JSON text of everything in ``policy`` that can change a scan result."""
    doc = {f.name: _plain(getattr(policy, f.name)) for f in dataclasses.fields(policy) if f.name != "warnings"}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def policy_digest(policy: Policy) -> str:
    """SHA-256 (hex) of :func:`canonical_policy`: equal policies give equal digests in every process."""
    return hashlib.sha256(canonical_policy(policy).encode("ascii")).hexdigest()
