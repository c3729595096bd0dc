"""Scanner findings as BOM vulnerabilities, shared by the CycloneDX and SPDX writers.

A BOM lists a problem once per asset even when the scanner saw it at several offsets (a re-saved file moves
bytes, the finding's fingerprint stays): findings are grouped by rule and fingerprint, and each group carries
what both standards need — an id, the rule's text, the worst severity, every location, evidence and a CWE.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlvet.inventory.model import Asset
from mlvet.model import Finding, Severity


def rule_of(rule_id: str) -> Any:
    """The registered rule (format modules register theirs on import), None for an id mlvet no longer has."""
    from mlvet.rules import get_rule

    try:
        return get_rule(rule_id)
    except KeyError:
        from mlvet.formats import import_all

        import_all()
        try:
            return get_rule(rule_id)
        except KeyError:
            return None


@dataclass(frozen=True)
class FindingGroup:
    """One distinct finding of an asset: the same rule and fingerprint, wherever it was seen."""

    #: ``<rule id>-<fingerprint>``: stable across runs, the vulnerability's id in both standards.
    id: str
    findings: tuple[Finding, ...]
    #: The rule object (id, name, summary, why, fix, cwe), None for a rule this mlvet no longer has.
    rule: Any
    severity: Severity
    locations: tuple[str, ...]
    cwe: int | None

    @property
    def first(self) -> Finding:
        """The group's first finding (its message and location represent the group)."""
        return self.findings[0]

    @property
    def summary(self) -> str:
        """One line: the rule, how many findings, and where."""
        return self.rule.summary if self.rule is not None else self.first.message

    @property
    def detail(self) -> str:
        """Message, why the rule matters, locations and evidence: what a reviewer reads."""
        parts = [self.first.message]
        if self.rule is not None:
            parts.append(self.rule.why)
        parts.append("Location: " + "; ".join(self.locations))
        if self.first.evidence:
            parts.append(f"Evidence: {self.first.evidence}")
        return "\n".join(parts)


def finding_groups(asset: Asset) -> Iterator[FindingGroup]:
    """The asset's distinct findings, sorted by id."""
    groups: dict[str, list[Finding]] = {}
    for finding in asset.findings:
        groups.setdefault(f"{finding.rule_id}-{finding.fingerprint}", []).append(finding)
    for vid, findings in sorted(groups.items()):
        first = findings[0]
        rule = rule_of(first.rule_id)
        cwe = first.cwe if first.cwe is not None else (rule.cwe if rule is not None else None)
        yield FindingGroup(vid, tuple(findings), rule, max(f.severity for f in findings),
                           tuple(sorted({f.location.display() for f in findings})), cwe)
