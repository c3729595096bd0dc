"""The safe-tier audit: every safe entry whose reconstruction or call can reach a sink.

Each safe entry is a glob over ``module:qualname``; it is expanded against the derived names, and a name
counts only when the policy really classifies it safe (a dangerous entry wins over a safe one, so
``torch.hub.load`` under ``torch.*`` is not the safe tier's problem). A class is flagged when reconstructing
it reaches a sink, or calling it does and its entry lets a pickle call it (``use = "any"``; a
``use = "rebuild"`` entry does not); a function when calling it does. Sink kinds a reviewer accepted for the
entry (``accept``, with the reason saying why) are not flagged.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlvet.policy import Policy, Tier
from mlvet.policy.derived import LoadFacts, _Table


@dataclass(frozen=True)
class Flag:
    """One safe-tier entry, one name it admits, and the sinks that name can reach."""

    entry: str
    name: str
    how: str  # "reconstruct" or "call"
    sinks: tuple[str, ...]
    path: str

    def __str__(self) -> str:
        return f"{self.entry}: {self.name} ({self.how}) reaches {', '.join(self.sinks)}: {self.path}"


def names(table: Mapping[str, Any]) -> dict[str, list[str]]:
    """module -> every derived qualname in it (classes, functions, re-exports, sink names)."""
    out: dict[str, list[str]] = {}
    for mod, entry in table.get("modules", {}).items():
        quals = [*str(entry.get("c", "")).split(), *str(entry.get("f", "")).split(), *entry.get("x", {}),
                 *entry.get("a", {})]
        out[mod] = sorted(set(quals))
    return out


def _literal_prefix(pattern: str) -> str:
    module = pattern.partition(":")[0]
    cut = min((i for i, ch in enumerate(module) if ch in "*?["), default=len(module))
    return module[:cut]


def _expand(pattern: str, regex: str, modules: list[str], index: Mapping[str, list[str]]) -> Iterable[str]:
    prefix = _literal_prefix(pattern)
    rx = re.compile(regex + r"\Z", re.DOTALL)
    start = bisect.bisect_left(modules, prefix)
    for mod in modules[start:]:
        if not mod.startswith(prefix):
            break
        for qual in index[mod]:
            key = f"{mod}:{qual}"
            if rx.match(key):
                yield key


def audit(policy: Policy, table: Mapping[str, Any]) -> tuple[list[Flag], list[str]]:
    """(every safe name that can reach a sink, the safe entries that match no derived name)."""
    facts = _Table(table)
    index = names(table)
    modules = sorted(index)
    flags: list[Flag] = []
    uncovered: list[str] = []
    for entry in policy.safe:
        matched = False
        for key in _expand(entry.pattern, entry.regex(), modules, index):
            mod, _, qual = key.partition(":")
            verdict = policy.classify(mod, qual)
            if verdict.tier is not Tier.SAFE:
                continue
            if verdict.entry != entry.pattern:
                matched = True
                continue  # decided by a more specific entry, audited (with its own use and accept) there
            matched = True
            found: LoadFacts | None = facts.get(mod, qual)
            if found is None:
                continue
            rebuild = tuple(s for s in found.reconstruct if s not in entry.accept)
            if rebuild:
                flags.append(Flag(entry.pattern, key, "reconstruct", rebuild, found.reconstruct_path))
            call = tuple(s for s in found.call if s not in entry.accept)
            if call and entry.use == "any":
                # A rebuild-only entry does not let a pickle call the name: calls are judged without it.
                flags.append(Flag(entry.pattern, key, "call", call, found.path))
        if not matched:
            uncovered.append(entry.pattern)
    return flags, uncovered
