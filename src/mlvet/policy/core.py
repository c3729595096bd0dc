"""The :class:`Policy` value: tiers, aliases, rule settings, limits and per-layer settings, immutable.

A policy is data. Each layer reads the part it owns: the pickle analysis classifies references with
:meth:`Policy.classify`, :class:`~mlvet.context.ScanContext`-style reporting applies ``severity_overrides``
and ``suppress`` (and records every suppression so outputs can show it), the archive readers use
``limits``, and the report card validates and reads its raw ``score`` table itself
(``mlvet.trust.score.settings``) — so this package imports nothing above it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from mlvet.limits import Limits
from mlvet.model import Severity
from mlvet.policy.names import DEFAULT_ALIASES
from mlvet.policy.tiers import CompiledTier, Entry, Verdict, classify, compile_tier


@dataclass(frozen=True, eq=False)
class Policy:
    """Immutable policy: tiers, aliases, severity overrides, suppressions and limits."""

    safe: tuple[Entry, ...]
    dangerous: tuple[Entry, ...]
    aliases: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ALIASES))
    severity_overrides: Mapping[str, Severity] = field(default_factory=dict)
    suppress: frozenset[str] = frozenset()
    limits: Limits = field(default_factory=Limits)
    sources: tuple[str, ...] = ()
    extensions: Mapping[int, tuple[str, str]] = field(default_factory=dict)
    #: The report card's ``[score]`` table as written (weights, risk, caps); the report card validates it.
    score: Mapping[str, Any] = field(default_factory=dict)
    #: Which policy source suppressed each rule id / overrode its severity (shown in every output).
    suppress_sources: Mapping[str, str] = field(default_factory=dict)
    override_sources: Mapping[str, str] = field(default_factory=dict)
    #: What was ignored, and why (a discovered pyproject.toml may not weaken a scan); shown in every output.
    warnings: tuple[str, ...] = ()

    def classify(self, module: str, name: str) -> Verdict:
        """Classify ``module``/``name`` as a pickle's find_class would resolve it."""
        return _classify_cached(self, module, name)

    def merged(self, data: Mapping[str, Any], source: str, *, explicit: bool = True) -> Policy:
        """A new policy with a policy table (``[tool.mlvet]`` or a policy file) applied.

        ``explicit=False`` is for configuration found by discovery: it may only strengthen the scan.
        """
        from mlvet.policy.load import merge

        return merge(self, data, source, explicit=explicit)


@lru_cache(maxsize=16)
def _compiled(policy: Policy) -> tuple[CompiledTier, CompiledTier]:
    return compile_tier(policy.safe), compile_tier(policy.dangerous)


@lru_cache(maxsize=65536)
def _classify_cached(policy: Policy, module: str, name: str) -> Verdict:
    safe, dangerous = _compiled(policy)
    return classify(safe, dangerous, policy.aliases, module, name)
