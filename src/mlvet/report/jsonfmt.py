"""Machine-readable JSON output, and its inverse.

The JSON shape is a contract with scripts, CI jobs and (later) mlvet's own inventory database, so it is
built explicitly here, key by key, instead of by dumping dataclasses: the key order is stable, renaming a
model attribute cannot silently change the output, and :data:`~mlvet.model.SCHEMA_VERSION` tells
consumers when the shape changes. ``mlvet-report.schema.json`` beside this module describes it.

Derived values (a result's ``severity``, a finding's ``rule_name`` and ``fingerprint``, the ``summary``)
are written for the convenience of consumers but ignored by :func:`report_from_json`, which rebuilds
them from the primary data, so an edited file cannot carry a summary that contradicts its findings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

from mlvet.model import (
    SCHEMA_VERSION,
    Confidence,
    FileResult,
    Finding,
    HubOrigin,
    Location,
    Origin,
    ScanReport,
    ScanSummary,
    Severity,
    Status,
)
from mlvet.rules import get_rule

TOOL_NAME = "mlvet"
#: JSON Schema (draft 2020-12) of the document :func:`report_to_dict` builds; shipped as package data.
SCHEMA_RESOURCE = "mlvet-report.schema.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema describing ``--format json`` output, for consumers and tests to validate against."""
    from importlib import resources  # only for consumers and tests: a scan never needs the schema

    text = resources.files(__package__ or "mlvet.report").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


# --------------------------------------------------------------------------------------------- output


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix (what SARIF requires and JSON consumers parse everywhere).

    A naive datetime is taken to be UTC already: mlvet records times with ``datetime.now(timezone.utc)``,
    and interpreting a naive value as local time would shift it by the machine's offset.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    text = moment.astimezone(timezone.utc).isoformat()
    return text.removesuffix("+00:00") + "Z"


def rule_name(rule_id: str) -> str | None:
    """The registry name of ``rule_id``, or None for an id the registry does not know.

    Renderers must not crash on an unknown id (a plugin or a newer scanner may produce one); they report
    the finding without a name instead.
    """
    try:
        return get_rule(rule_id).name
    except KeyError:
        return None


def location_to_dict(location: Location) -> dict[str, Any]:
    """A location as JSON-ready data (absent fields left out)."""
    return {
        "path": location.path,
        "members": list(location.members),
        "offset": location.offset,
        "opcode_index": location.opcode_index,
    }


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    """A finding as JSON-ready data."""
    return {
        "rule_id": finding.rule_id,
        "rule_name": rule_name(finding.rule_id),
        "severity": finding.severity.label,
        "confidence": finding.confidence.label,
        "message": finding.message,
        "location": location_to_dict(finding.location),
        "evidence": finding.evidence,
        "cwe": finding.cwe,
        "fingerprint": finding.fingerprint,
        "policy": _policy_note(finding),
    }


def _policy_note(finding: Finding) -> dict[str, Any] | None:
    """How the policy changed this finding (suppressed, severity overridden), or None when it did not."""
    if finding.suppressed_by is None and finding.original_severity is None:
        return None
    return {
        "suppressed_by": finding.suppressed_by,
        "original_severity": None if finding.original_severity is None else finding.original_severity.label,
        "severity_set_by": finding.severity_set_by,
    }


def result_to_dict(result: FileResult) -> dict[str, Any]:
    """A file result as JSON-ready data (``origin`` and ``bytes_read`` only for a remotely scanned file)."""
    out: dict[str, Any] = {
        "path": result.path,
        "format": result.format,
        "status": result.status.value,
        "severity": result.severity.label,
        "size": result.size,
        "sha256": result.sha256,
        "skip_reason": result.skip_reason,
        "errors": list(result.errors),
        "formats_seen": list(result.formats_seen),
        "huggingface": None
        if result.hub is None
        else {
            "repo_type": result.hub.repo_type,
            "repo_id": result.hub.repo_id,
            "revision": result.hub.revision,
            "refs": list(result.hub.refs),
            "path_in_repo": result.hub.path_in_repo,
        },
        "findings": [finding_to_dict(f) for f in result.findings],
        "suppressed": [finding_to_dict(f) for f in result.suppressed],
    }
    # Remote results only (a local scan's documents keep their shape): what was judged, and what it cost.
    if result.origin is not None:
        out["origin"] = origin_to_dict(result.origin)
    if result.bytes_read is not None:
        out["bytes_read"] = result.bytes_read
    return out


def origin_to_dict(origin: Origin) -> dict[str, Any]:
    """A remote origin as JSON-ready data (``extra`` becomes an object)."""
    return {"kind": origin.kind, "locator": origin.locator, "revision": origin.revision, "path": origin.path,
            "extra": dict(origin.extra)}


def summary_to_dict(summary: ScanSummary) -> dict[str, Any]:
    """The report's summary counts as JSON-ready data."""
    return {
        "files": summary.files,
        "scanned": summary.scanned,
        "skipped": summary.skipped,
        "errors": summary.errors,
        "findings": summary.findings,
        "by_severity": dict(summary.by_severity),
        "max_severity": summary.max_severity.label,
        "suppressed": summary.suppressed,
    }


def report_to_dict(report: ScanReport) -> dict[str, Any]:
    """The JSON document for ``report`` as plain dicts and lists (keys in their documented order)."""
    return {
        "schema_version": report.schema_version,
        "tool": {"name": TOOL_NAME, "version": report.tool_version},
        "started_at": format_timestamp(report.started_at),
        "finished_at": format_timestamp(report.finished_at),
        "policy_sources": list(report.policy_sources),
        "policy_warnings": list(report.policy_warnings),
        "results": [result_to_dict(r) for r in report.results],
        "summary": summary_to_dict(report.summary()),
    }


def dump_json(document: object, out: TextIO) -> None:
    """Write ``document`` as indented JSON with a final newline.

    ``ensure_ascii`` is on deliberately: the output is then plain ASCII, so it survives any console or
    file encoding (a Windows code page would otherwise raise on the first non-ASCII file name), and file
    names that are not valid UTF-8 (kept by Python as lone surrogates) are written as ``\\udcXX`` escapes
    that :func:`json.loads` turns back into the same string, instead of crashing the encoder.
    """
    json.dump(document, out, indent=2, ensure_ascii=True, allow_nan=False)
    out.write("\n")


class JsonRenderer:
    """``--format json``: the full report as one JSON document."""

    name = "json"

    def render(self, report: ScanReport, out: TextIO, *, color: bool = False, verbose: bool = False) -> None:
        # color/verbose are deliberately ignored: machine output must not depend on the terminal or on
        # how chatty the user asked the console to be.
        dump_json(report_to_dict(report), out)


# ---------------------------------------------------------------------------------------------- input


class ReportFormatError(ValueError):
    """The document is not an mlvet JSON report this version can read."""


def _where(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"


def _get(obj: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in obj:
        raise ReportFormatError(f"{path}: missing key {key!r}")
    return obj[key]


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ReportFormatError(f"{path}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, path: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise ReportFormatError(f"{path}: expected an array, got {type(value).__name__}")
    return value


def _str(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = _get(obj, key, path)
    if not isinstance(value, str):
        raise ReportFormatError(f"{_where(path, key)}: expected a string, got {type(value).__name__}")
    return value


def _opt_str(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ReportFormatError(f"{_where(path, key)}: expected a string or null, got {type(value).__name__}")
    return value


def _opt_int(obj: Mapping[str, Any], key: str, path: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    # bool is an int subclass; `true` is not a size or an offset.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ReportFormatError(
            f"{_where(path, key)}: expected a non-negative integer or null, got {value!r}"
        )
    return value


def _str_tuple(obj: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
    items = _list(obj.get(key, []), _where(path, key))
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise ReportFormatError(f"{_where(_where(path, key), index)}: expected a string")
    return tuple(items)


def _severity(obj: Mapping[str, Any], key: str, path: str) -> Severity:
    try:
        return Severity.parse(_str(obj, key, path))
    except ValueError as exc:
        raise ReportFormatError(f"{_where(path, key)}: {exc}") from None


def _confidence(obj: Mapping[str, Any], key: str, path: str) -> Confidence:
    if key not in obj:
        return Confidence.HIGH
    text = _str(obj, key, path)
    try:
        return Confidence[text.upper()]
    except KeyError:
        choices = ", ".join(c.label for c in Confidence)
        raise ReportFormatError(
            f"{_where(path, key)}: unknown confidence {text!r}; one of: {choices}"
        ) from None


def _timestamp(obj: Mapping[str, Any], key: str, path: str) -> datetime:
    text = _str(obj, key, path)
    try:
        # fromisoformat() only learned the "Z" suffix in Python 3.11.
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise ReportFormatError(f"{_where(path, key)}: not an ISO-8601 timestamp: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _location(value: Any, path: str) -> Location:
    obj = _mapping(value, path)
    return Location(
        path=_str(obj, "path", path),
        members=_str_tuple(obj, "members", path),
        offset=_opt_int(obj, "offset", path),
        opcode_index=_opt_int(obj, "opcode_index", path),
    )


def _finding(value: Any, path: str) -> Finding:
    obj = _mapping(value, path)
    return Finding(
        rule_id=_str(obj, "rule_id", path),
        severity=_severity(obj, "severity", path),
        message=_str(obj, "message", path),
        location=_location(_get(obj, "location", path), _where(path, "location")),
        evidence=_opt_str(obj, "evidence", path) or "",
        confidence=_confidence(obj, "confidence", path),
        cwe=_opt_int(obj, "cwe", path),
        **_policy_fields(obj.get("policy"), _where(path, "policy")),
    )


def _policy_fields(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    obj = _mapping(value, path)
    original = obj.get("original_severity")
    return {
        "suppressed_by": _opt_str(obj, "suppressed_by", path),
        "original_severity": None if original is None else _severity(obj, "original_severity", path),
        "severity_set_by": _opt_str(obj, "severity_set_by", path),
    }


def _hub(value: Any, path: str) -> HubOrigin | None:
    if value is None:
        return None
    obj = _mapping(value, path)
    return HubOrigin(
        repo_type=_str(obj, "repo_type", path),
        repo_id=_str(obj, "repo_id", path),
        revision=_opt_str(obj, "revision", path),
        refs=_str_tuple(obj, "refs", path) if "refs" in obj else (),
        path_in_repo=_opt_str(obj, "path_in_repo", path),
    )


def _origin(value: Any, path: str) -> Origin | None:
    if value is None:
        return None
    obj = _mapping(value, path)
    extra = _mapping(obj.get("extra", {}), _where(path, "extra"))
    return Origin(kind=_str(obj, "kind", path), locator=_str(obj, "locator", path),
                  revision=_opt_str(obj, "revision", path), path=_str(obj, "path", path),
                  extra=tuple((str(k), str(v)) for k, v in extra.items()))


def _result(value: Any, path: str) -> FileResult:
    obj = _mapping(value, path)
    status_text = _str(obj, "status", path)
    try:
        status = Status(status_text)
    except ValueError:
        choices = ", ".join(s.value for s in Status)
        raise ReportFormatError(f"{path}.status: unknown status {status_text!r}; one of: {choices}") from None
    findings_path = _where(path, "findings")
    findings = _list(obj.get("findings", []), findings_path)
    suppressed_path = _where(path, "suppressed")
    suppressed = _list(obj.get("suppressed", []), suppressed_path)
    return FileResult(
        path=_str(obj, "path", path),
        format=_str(obj, "format", path),
        status=status,
        findings=tuple(_finding(f, _where(findings_path, i)) for i, f in enumerate(findings)),
        errors=_str_tuple(obj, "errors", path),
        skip_reason=_opt_str(obj, "skip_reason", path),
        size=_opt_int(obj, "size", path),
        sha256=_opt_str(obj, "sha256", path),
        formats_seen=_str_tuple(obj, "formats_seen", path),
        hub=_hub(obj.get("huggingface"), _where(path, "huggingface")),
        suppressed=tuple(_finding(f, _where(suppressed_path, i)) for i, f in enumerate(suppressed)),
        origin=_origin(obj.get("origin"), _where(path, "origin")),
        bytes_read=_opt_int(obj, "bytes_read", path),
    )


def _check_schema_version(text: str) -> None:
    """Accept any minor version of our major: minor bumps only add keys, which this reader ignores."""
    ours, _, _ = SCHEMA_VERSION.partition(".")
    theirs, _, _ = text.partition(".")
    if theirs != ours:
        raise ReportFormatError(f"schema_version {text!r} is not readable by this mlvet (reads {ours}.x)")


def report_from_json(data: Mapping[str, Any] | str | bytes) -> ScanReport:
    """Rebuild a :class:`ScanReport` from :func:`report_to_dict` output (parsed, or as JSON text).

    Raises :class:`ReportFormatError` (a ValueError) naming the offending key for anything malformed,
    rather than a bare KeyError or TypeError from deep inside.
    """
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise ReportFormatError(f"not valid JSON: {exc}") from None
    root = _mapping(data, "$")
    schema_version = _str(root, "schema_version", "$")
    _check_schema_version(schema_version)
    tool = _mapping(_get(root, "tool", "$"), "$.tool")
    tool_name = _str(tool, "name", "$.tool")
    if tool_name != TOOL_NAME:
        raise ReportFormatError(f"$.tool.name: this is a report of {tool_name!r}, not of {TOOL_NAME!r}")
    results = _list(_get(root, "results", "$"), "$.results")
    return ScanReport(
        results=tuple(_result(r, _where("$.results", i)) for i, r in enumerate(results)),
        started_at=_timestamp(root, "started_at", "$"),
        finished_at=_timestamp(root, "finished_at", "$"),
        tool_version=_str(tool, "version", "$.tool"),
        schema_version=schema_version,
        policy_sources=_str_tuple(root, "policy_sources", "$"),
        policy_warnings=_str_tuple(root, "policy_warnings", "$") if "policy_warnings" in root else (),
    )
