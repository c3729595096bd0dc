"""R serialization (``.rds`` / ``.RData``): what R writes for data and models is quiet; code that runs on
load (CVE-2024-27322 promises, active bindings, ``.First``) is critical or high; malformed input fails closed.

Fixtures: ``tests/assets/make_rdata.py`` (R itself for everything R can write; the promise PoC rebuilt to the
published shape). The live test runs the PoC in ``Rscript`` to prove the payload really executes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import mlvet
from mlvet.model import FileResult, Severity, Status

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "rdata"
BENIGN = sorted((ASSETS / "benign").iterdir())
MALICIOUS = {
    "cve_2024_27322_promise.rds": ("OTH056", Severity.CRITICAL),
    "cve_2024_27322_promise_in_list.rds": ("OTH056", Severity.CRITICAL),
    "active_binding.rds": ("OTH056", Severity.CRITICAL),
    "first_function.RData": ("OTH056", Severity.HIGH),
    "closure_system.rds": ("OTH057", Severity.HIGH),
    "bytecode_system.rds": ("OTH057", Severity.HIGH),
}


def scan(path: Path) -> FileResult:
    (res,) = mlvet.scan(path).results
    return res


@pytest.mark.parametrize("path", BENIGN, ids=lambda p: p.name)
def test_r_writes_nothing_loud(path: Path) -> None:
    res = scan(path)
    assert res.status is Status.SCANNED, res.errors
    assert "r-rds" in res.formats_seen or "r-rdata" in res.formats_seen
    assert res.severity < Severity.MEDIUM, [(f.rule_id, f.severity, f.message) for f in res.findings]


def test_model_functions_are_one_low_finding() -> None:
    res = scan(ASSETS / "benign" / "glm_model.rds")
    assert [(f.rule_id, f.severity) for f in res.findings] == [("OTH057", Severity.LOW)]
    assert "linkfun" in res.findings[0].message or "variance" in res.findings[0].message


@pytest.mark.parametrize("name", sorted(MALICIOUS), ids=str)
def test_code_that_runs_is_ranked(name: str) -> None:
    res = scan(ASSETS / "malicious" / name)
    rule, severity = MALICIOUS[name]
    assert res.status is Status.SCANNED, res.errors
    assert any(f.rule_id == rule and f.severity == severity for f in res.findings), res.findings
    assert res.severity >= Severity.HIGH


def test_promise_message_names_the_call() -> None:
    (finding,) = scan(ASSETS / "malicious" / "cve_2024_27322_promise.rds").findings
    assert "system" in finding.message and "CVE-2024-27322" in finding.message


def test_sniffed_by_content_not_name(tmp_path: Path) -> None:
    p = tmp_path / "weights.bin"
    p.write_bytes((ASSETS / "malicious" / "cve_2024_27322_promise.rds").read_bytes())
    assert scan(p).severity is Severity.CRITICAL


def test_ascii_serialization_fails_closed(tmp_path: Path) -> None:
    p = tmp_path / "a.rds"
    p.write_bytes(b"A\n3\n262658\n197888\n5\nUTF-8\n254\n")
    res = scan(p)
    assert res.status is Status.ERROR and "ASCII" in " ".join(res.errors)


@pytest.mark.parametrize(
    "source", ["benign/data_frame_plain.rds", "benign/bytecode_function.rds", "malicious/active_binding.rds",
               "benign/workspace_xdr_plain.rda"],
)
def test_truncations_are_errors(tmp_path: Path, source: str) -> None:
    """Every cut of a stream leaves the reader short of its last item: an error, never a clean result."""
    data = (ASSETS / source).read_bytes()
    p = tmp_path / "cut.rds"
    for n in [*range(7, 80), *range(80, len(data), 5)]:
        p.write_bytes(data[:n])
        res = scan(p)
        assert res.status is Status.ERROR, (n, res.status, res.findings)


def test_byte_flips_never_crash_and_stay_bounded(tmp_path: Path) -> None:
    data = bytearray((ASSETS / "benign" / "glm_model.rds").read_bytes())
    import gzip

    raw = bytearray(gzip.decompress(bytes(data)))
    p = tmp_path / "flip.rds"
    start = time.monotonic()
    for i in range(23, len(raw), 997):
        for value in (0x00, 0xFF):
            mutated = bytearray(raw)
            mutated[i] = value
            p.write_bytes(bytes(mutated))
            res = scan(p)
            assert res.status in (Status.SCANNED, Status.ERROR)
    assert time.monotonic() - start < 60


def test_huge_declared_lengths_are_errors_without_allocation(tmp_path: Path) -> None:
    header = b"X\n\x00\x00\x00\x03\x00\x04\x02\x02\x00\x03\x05\x00\x00\x00\x00\x05UTF-8"
    for body in (
        b"\x00\x00\x00\x0e\x7f\xff\xff\xff",  # REALSXP of 2^31-1 doubles
        b"\x00\x00\x00\x13\xff\xff\xff\xff\x00\x00\x7f\xff\xff\xff\xff\xff",  # long VECSXP
        b"\x00\x00\x00\xff\x00\x00\x00\x00\x00\x00\x00\x09",  # reference to an item never read
        b"\x00\x00\x00\x63",  # unknown type 99
    ):
        p = tmp_path / "big.rds"
        p.write_bytes(header + body)
        res = scan(p)
        assert res.status is Status.ERROR, body


def test_deep_nesting_is_bounded(tmp_path: Path) -> None:
    header = b"X\n\x00\x00\x00\x03\x00\x04\x02\x02\x00\x03\x05\x00\x00\x00\x00\x05UTF-8"
    body = b"\x00\x00\x00\x13\x00\x00\x00\x01" * 6000 + b"\x00\x00\x00\xfe"
    p = tmp_path / "deep.rds"
    p.write_bytes(header + body)
    res = scan(p)
    assert res.status is Status.ERROR and res.severity >= Severity.MEDIUM  # ARC301: a limit was hit


@pytest.mark.live
@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")
def test_live_promise_runs_in_r(tmp_path: Path) -> None:
    """R < 4.4.0 runs the promise's command as soon as the loaded value is used (y <- x forces it)."""
    marker = tmp_path / "marker"
    script = f'x <- readRDS("{ASSETS / "malicious" / "cve_2024_27322_promise.rds"}"); y <- x'
    out = subprocess.run(["Rscript", "-e", script], env={**os.environ, "MLVET_MARKER": str(marker)},
                         capture_output=True, timeout=60, check=False)
    version = subprocess.run(["Rscript", "-e", "cat(getRversion() >= '4.4.0')"], capture_output=True, text=True,
                             timeout=60, check=False).stdout
    if version.strip() == "TRUE":
        pytest.skip("R >= 4.4.0 refuses promises (the fix for CVE-2024-27322)")
    assert marker.read_text().strip() == "mlvet-test", out.stderr
