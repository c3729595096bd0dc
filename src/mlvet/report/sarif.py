"""SARIF 2.1.0 output, for GitHub code scanning and other SARIF viewers.

Choices that are not obvious from the spec:

* **Rules** come from the registry (:mod:`mlvet.rules`), all of them, in id order, so a ``ruleIndex``
  means the same rule in every report of one mlvet version. ``properties.security-severity`` (a number as
  a string) and the ``security`` tag are what GitHub uses to rank alerts; CWE ids become
  ``external/cwe/cwe-N`` tags, the convention CodeQL uses.
* **Locations** point at the file on disk. SARIF can describe archive members as nested artifacts, but
  GitHub resolves only ``artifactLocation.uri`` against the repository, so a member path there would
  point at a file that does not exist. The member chain is given as a ``logicalLocation`` and, in
  structured form, in the location's ``properties.members``. A byte offset becomes ``region.byteOffset``
  only when it is an offset into the file itself; an offset inside an archive member would be wrong for
  the outer file (SARIF §3.29.4 requires a region to be relative to the innermost artifact), so it stays
  in ``properties.offset`` instead.
* **Paths** are relative POSIX URIs against ``%SRCROOT%`` where possible (relative input paths, and
  absolute ones under the base directory); other absolute paths become ``file://`` URIs. The base is not
  written to ``originalUriBaseIds``, so the output does not leak the scanning machine's directory layout.
* **Files that could not be analysed** are reported as error notifications of the invocation, and
  ``executionSuccessful`` is false, so a CI reading the SARIF cannot take an incomplete scan for a clean
  one.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePath
from typing import Any, TextIO
from urllib.parse import quote

from mlvet.model import FileResult, Finding, ScanReport, Severity, Status
from mlvet.report.jsonfmt import TOOL_NAME, dump_json, format_timestamp, summary_to_dict
from mlvet.rules import Rule, all_rules

SARIF_VERSION = "2.1.0"
#: The OASIS errata01 schema, the ``id`` of the official sarif-schema-2.1.0.json.
SARIF_SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
#: Where users learn about the tool (SARIF ``toolComponent.informationUri``).
INFORMATION_URI = "https://pypi.org/project/mlvet/"
#: The symbolic base for relative artifact URIs; consumers map it to the checkout / scan root.
SRCROOT = "%SRCROOT%"
#: partialFingerprints key for :attr:`mlvet.model.Finding.fingerprint` (versioned, as §3.27.17 asks).
FINGERPRINT_KEY = "mlvetFinding/v1"
#: Evidence quoted in ``message.text`` is cut here; the full text is in ``properties.evidence``.
MESSAGE_EVIDENCE_MAX = 1000

_LEVEL: dict[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
    Severity.NONE: "none",
}

#: GitHub buckets: >= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, below 4.0 low.
_SECURITY_SEVERITY: dict[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "7.5",
    Severity.MEDIUM: "5.0",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
    Severity.NONE: "0.0",
}


def level(severity: Severity) -> str:
    """SARIF ``level`` for an mlvet severity."""
    return _LEVEL[severity]


def security_severity(severity: Severity) -> str:
    """GitHub's ``security-severity`` score for an mlvet severity, as the string GitHub expects."""
    return _SECURITY_SEVERITY[severity]


#: A remote source's URL (``hf://…``, ``s3://…``, ``models:/…``); a scheme of two letters or more, so a Windows
#: drive (``c:/…``) is never taken for one.
_REMOTE_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):(/.*)$", re.DOTALL)


def _quote(path: str) -> str:
    # Percent-encode everything but "/" and unreserved characters. ":" is encoded too, so a first
    # segment such as "c:model.pkl" cannot be misread as a URI scheme. surrogateescape restores the raw
    # bytes of file names that are not valid UTF-8.
    return quote(path, safe="/", encoding="utf-8", errors="surrogateescape")


def artifact_location(path: str, base_dir: PurePath | None = None) -> dict[str, Any]:
    """SARIF ``artifactLocation`` for a path as mlvet recorded it (a remote URL such as ``hf://`` stays a URI)."""
    remote = _REMOTE_URL.match(path)
    if remote:  # scheme kept; the rest encoded like a path, "@" kept (hf://org/name@<commit>/file)
        rest = quote(remote.group(2), safe="/@", encoding="utf-8", errors="surrogateescape")
        return {"uri": f"{remote.group(1)}:{rest}"}
    pure = PurePath(path)
    if pure.is_absolute():
        if base_dir is not None:
            try:
                relative = pure.relative_to(base_dir)
            except ValueError:
                relative = None
            if relative is not None and relative.parts:
                return {"uri": _quote(relative.as_posix()), "uriBaseId": SRCROOT}
        return {"uri": pure.as_uri()}
    return {"uri": _quote(pure.as_posix()), "uriBaseId": SRCROOT}


def _cwe_tag(cwe: int) -> str:
    return f"external/cwe/cwe-{cwe}"


def rule_descriptor(rule: Rule) -> dict[str, Any]:
    """SARIF ``reportingDescriptor`` for a registry rule."""
    tags = ["security"]
    if rule.cwe is not None:
        tags.append(_cwe_tag(rule.cwe))
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.why},
        "help": {"text": rule.fix},
        "defaultConfiguration": {"level": level(rule.severity)},
        "properties": {
            "security-severity": security_severity(rule.severity),
            "tags": tags,
        },
    }


class _Builder:
    """Collects rules, artifacts, results and notifications for one run."""

    def __init__(self, base_dir: PurePath | None) -> None:
        self.base_dir = base_dir
        self.rules: list[dict[str, Any]] = [rule_descriptor(r) for r in all_rules()]
        self.rule_index: dict[str, int] = {r["id"]: i for i, r in enumerate(self.rules)}
        self.artifacts: list[dict[str, Any]] = []
        self.artifact_index: dict[tuple[str, str | None], int] = {}
        self.results: list[dict[str, Any]] = []
        self.notifications: list[dict[str, Any]] = []

    def _rule_for(self, rule_id: str) -> int:
        """Index of ``rule_id`` in ``driver.rules``; an id the registry lacks gets a minimal entry."""
        if rule_id not in self.rule_index:
            self.rule_index[rule_id] = len(self.rules)
            self.rules.append({"id": rule_id, "properties": {"tags": ["security"]}})
        return self.rule_index[rule_id]

    def _artifact_location(self, path: str) -> dict[str, Any]:
        location = artifact_location(path, self.base_dir)
        index = self.artifact_index.get((location["uri"], location.get("uriBaseId")))
        if index is not None:
            location["index"] = index
        return location

    def add_file(self, result: FileResult) -> None:
        location = artifact_location(result.path, self.base_dir)
        key = (location["uri"], location.get("uriBaseId"))
        if key not in self.artifact_index:
            # Artifacts must be unique (§3.14.15): the same file given twice is listed once.
            artifact: dict[str, Any] = {"location": location, "roles": ["analysisTarget"]}
            if result.size is not None:
                artifact["length"] = result.size
            if result.sha256:
                artifact["hashes"] = {"sha-256": result.sha256}
            properties: dict[str, Any] = {"format": result.format, "status": result.status.value}
            if result.skip_reason is not None:
                properties["skipReason"] = result.skip_reason
            if result.formats_seen:
                properties["formatsSeen"] = list(result.formats_seen)
            if result.origin is not None:
                o = result.origin
                properties["origin"] = {"kind": o.kind, "locator": o.locator, "revision": o.revision,
                                        "path": o.path, "extra": dict(o.extra)}
            if result.bytes_read is not None:
                properties["bytesRead"] = result.bytes_read
            artifact["properties"] = properties
            self.artifact_index[key] = len(self.artifacts)
            self.artifacts.append(artifact)

        for finding in result.findings:
            self.results.append(self._result(finding))
        for finding in result.suppressed:
            # SARIF's own mechanism (§3.27.23): consumers hide suppressed results but can still show them.
            suppressed = self._result(finding)
            suppressed["suppressions"] = [{
                "kind": "external",
                "status": "accepted",
                "justification": f"suppressed by the mlvet policy {finding.suppressed_by}",
            }]
            self.results.append(suppressed)

        if result.status is Status.ERROR:
            for error in result.errors or ("the file could not be fully analysed",):
                self.notifications.append(
                    {
                        "level": "error",
                        "message": {"text": f"{result.path}: {error}"},
                        "locations": [
                            {"physicalLocation": {"artifactLocation": self._artifact_location(result.path)}}
                        ],
                    }
                )

    def _result(self, finding: Finding) -> dict[str, Any]:
        loc = finding.location
        text = finding.message or finding.rule_id
        if finding.evidence:
            evidence = finding.evidence
            if len(evidence) > MESSAGE_EVIDENCE_MAX:
                evidence = evidence[:MESSAGE_EVIDENCE_MAX] + "…"
            text = f"{text}\nEvidence: {evidence}"

        physical: dict[str, Any] = {"artifactLocation": self._artifact_location(loc.path)}
        if loc.offset is not None and not loc.members:
            physical["region"] = {"byteOffset": loc.offset}
        location: dict[str, Any] = {"physicalLocation": physical}
        if loc.members:
            location["logicalLocations"] = [
                {
                    "name": loc.members[-1],
                    "fullyQualifiedName": "!".join((loc.path, *loc.members)),
                    "kind": "resource",
                }
            ]
        loc_props: dict[str, Any] = {}
        if loc.members:
            loc_props["members"] = list(loc.members)
        if loc.offset is not None:
            loc_props["offset"] = loc.offset
        if loc.opcode_index is not None:
            loc_props["opcodeIndex"] = loc.opcode_index
        if loc_props:
            location["properties"] = loc_props

        properties: dict[str, Any] = {
            "severity": finding.severity.label,
            "confidence": finding.confidence.label,
            "security-severity": security_severity(finding.severity),
        }
        if finding.evidence:
            properties["evidence"] = finding.evidence
        if finding.original_severity is not None:
            properties["originalSeverity"] = finding.original_severity.label
            properties["severitySetBy"] = finding.severity_set_by
        if finding.cwe is not None:
            properties["cwe"] = f"CWE-{finding.cwe}"
            properties["tags"] = ["security", _cwe_tag(finding.cwe)]
        return {
            "ruleId": finding.rule_id,
            "ruleIndex": self._rule_for(finding.rule_id),
            "level": level(finding.severity),
            "message": {"text": text},
            "locations": [location],
            "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
            "properties": properties,
        }


def report_to_sarif(report: ScanReport, *, base_dir: PurePath | None = None) -> dict[str, Any]:
    """The SARIF log for ``report`` as plain dicts and lists.

    ``base_dir`` is the directory absolute paths are made relative to (``%SRCROOT%``); None keeps
    absolute paths as ``file://`` URIs.
    """
    builder = _Builder(base_dir)
    for result in report.results:
        builder.add_file(result)

    invocation: dict[str, Any] = {
        "executionSuccessful": not report.incomplete,
        "startTimeUtc": format_timestamp(report.started_at),
        "endTimeUtc": format_timestamp(report.finished_at),
    }
    if builder.notifications:
        invocation["toolExecutionNotifications"] = builder.notifications
    if report.policy_warnings:
        invocation["toolConfigurationNotifications"] = [
            {"level": "warning", "message": {"text": w}} for w in report.policy_warnings
        ]

    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": report.tool_version,
                "informationUri": INFORMATION_URI,
                "rules": builder.rules,
            }
        },
        "invocations": [invocation],
        "artifacts": builder.artifacts,
        "results": builder.results,
        "properties": {
            "schemaVersion": report.schema_version,
            "policySources": list(report.policy_sources),
            "policyWarnings": list(report.policy_warnings),
            "summary": summary_to_dict(report.summary()),
        },
    }
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


class SarifRenderer:
    """``--format sarif``: a SARIF 2.1.0 log with one run."""

    name = "sarif"

    def render(self, report: ScanReport, out: TextIO, *, color: bool = False, verbose: bool = False) -> None:
        # Absolute paths under the working directory become %SRCROOT%-relative: that is the directory a
        # CI job scans from, and the one GitHub resolves relative URIs against.
        dump_json(report_to_sarif(report, base_dir=Path.cwd()), out)
