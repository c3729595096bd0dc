"""safetensors: header validation against the reference rules, hidden data, header-only streaming."""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path
from typing import Any

import pytest
from _support import load_asset_module, scan_counting

import mlvet.formats.gguf  # registers the handler
import mlvet.formats.safetensors
from mlvet.formats.safetensors import DTYPE_BITS, MAX_HEADER
from mlvet.model import FileResult, Severity, Status
from mlvet.policy import default_policy
from mlvet.rules import get_rule
from mlvet.scanner import scan_file

ASSETS = Path(__file__).resolve().parents[1] / "assets"
FIXTURES = ASSETS / "safetensors"


_load = load_asset_module


make_st: Any = _load("make_safetensors")


def scan(path: Path) -> FileResult:
    return scan_file(str(path), default_policy())


def assert_clean(result: FileResult) -> None:
    assert result.status is Status.SCANNED, result.errors
    assert result.format == "safetensors"
    assert not result.findings, [(f.rule_id, f.message) for f in result.findings]


def _scan_bytes(data: bytes) -> FileResult:
    return mlvet.scan_bytes(data, "x.safetensors")


# ---- fixtures are reproducible and benign files are clean ---------------------------------------------


def test_committed_fixtures_match_their_generator() -> None:
    for name, data in make_st.malicious_fixtures().items():
        assert (FIXTURES / name).read_bytes() == data, name


@pytest.mark.parametrize("name", ["benign_numpy", "benign_torch", "benign_empty"])
def test_committed_benign_files_are_clean(name: str) -> None:
    assert_clean(scan(FIXTURES / f"{name}.safetensors"))


def test_files_written_by_the_libraries_now_are_clean(tmp_path: Path) -> None:
    pytest.importorskip("safetensors")
    pytest.importorskip("torch")
    make_st.write_benign(tmp_path)
    written = sorted(tmp_path.glob("*.safetensors"))
    assert len(written) == 3
    for path in written:
        assert_clean(scan(path))


def test_every_torch_dtype_the_library_writes_is_known(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    dtypes = [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16,
              torch.bfloat16, torch.float32, torch.float64, torch.float8_e4m3fn, torch.float8_e5m2,
              torch.complex64, torch.uint16, torch.uint32, torch.uint64]
    save_file({str(i): torch.zeros(3, 5, dtype=d) for i, d in enumerate(dtypes)}, str(tmp_path / "all.safetensors"))
    assert_clean(scan(tmp_path / "all.safetensors"))


def test_dtype_table_matches_the_library() -> None:
    np = pytest.importorskip("numpy")
    from safetensors.numpy import save

    for dtype, bits in (("F16", 16), ("I64", 64), ("BOOL", 8), ("U8", 8)):
        assert DTYPE_BITS[dtype] == bits
    blob = save({"x": np.zeros(3, dtype=np.float64)})
    assert not _scan_bytes(blob).findings


# ---- one test per malformation / attack shape -----------------------------------------------------------

# name -> (rule or None for error-only, minimum severity, result must be an error)
EXPECTED: dict[str, tuple[str | None, Severity, bool]] = {
    "header_length_beyond_file": ("SFT805", Severity.HIGH, True),
    "header_not_json": (None, Severity.NONE, True),
    "header_not_utf8": (None, Severity.NONE, True),
    "header_nan": (None, Severity.NONE, True),
    "entry_not_tensor": ("SFT804", Severity.MEDIUM, True),
    "duplicate_keys": ("SFT804", Severity.HIGH, False),
    "metadata_not_string": ("SFT804", Severity.MEDIUM, False),
    "unknown_dtype": ("SFT804", Severity.MEDIUM, True),
    "bad_shape": ("SFT804", Severity.MEDIUM, True),
    "bad_offsets": ("SFT804", Severity.MEDIUM, True),
    "unexpected_field": ("SFT804", Severity.LOW, False),
    "shape_larger_than_span": ("SFT802", Severity.HIGH, False),
    "shape_smaller_than_span": ("SFT802", Severity.MEDIUM, False),
    "shape_overflow": ("SFT802", Severity.HIGH, False),
    "sub_byte_misaligned": ("SFT802", Severity.MEDIUM, False),
    "offsets_out_of_bounds": ("SFT800", Severity.HIGH, False),
    "offsets_reversed": ("SFT800", Severity.HIGH, False),
    "overlap": ("SFT801", Severity.HIGH, False),
    "gap": ("SFT803", Severity.MEDIUM, False),
    "trailing_pickle": ("PKL100", Severity.CRITICAL, False),
}


def test_every_malicious_fixture_has_an_expectation() -> None:
    assert {n.removesuffix(".safetensors") for n in make_st.malicious_fixtures()} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformations_are_reported(name: str) -> None:
    rule, severity, is_error = EXPECTED[name]
    result = scan(FIXTURES / f"{name}.safetensors")
    assert result.format == "safetensors"
    assert (result.status is Status.ERROR) == is_error, (result.errors, result.findings)
    if rule is not None:
        hits = [f for f in result.findings if f.rule_id == rule]
        assert hits, (result.findings, result.errors)
        assert max(f.severity for f in hits) >= severity
        assert all(f.evidence for f in hits)
    else:
        assert result.errors[0].startswith("safetensors header")
    assert not any("internal error" in e for e in result.errors)


def test_trailing_data_is_reported_and_scanned() -> None:
    result = scan(FIXTURES / "trailing_pickle.safetensors")
    assert "SFT803" in {f.rule_id for f in result.findings}
    pickle_hit = next(f for f in result.findings if f.rule_id == "PKL100")
    assert pickle_hit.location.members[0].startswith("<unreferenced bytes at ")


def test_evidence_names_the_tensor_and_the_numbers() -> None:
    result = scan(FIXTURES / "shape_larger_than_span.safetensors")
    (finding,) = result.findings
    assert "w: shape [64, 64] × F32 vs data_offsets [0, 16] (16 bytes)" == finding.evidence


def test_oversized_header_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge_header.safetensors"
    n = MAX_HEADER + 8
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", n) + b'{"a":')
        f.truncate(8 + n + 16)
    sink, read, _, _ = scan_counting(path, os.path.getsize(path))
    assert [f.rule_id for f in sink.findings] == ["SFT805"]
    assert sink.findings[0].severity is Severity.MEDIUM
    assert sink.errors and read < 1024 * 1024


# ---- robustness ---------------------------------------------------------------------------------------


def test_every_truncation_is_an_error_or_a_finding() -> None:
    data = (FIXTURES / "benign_torch.safetensors").read_bytes()
    for cut in range(10, len(data) - 1):
        sink = _scan_bytes(data[:cut])
        if not sink.errors and not sink.findings:
            pytest.fail(f"truncation at {cut} looks clean")
        assert not any("internal" in e for e in sink.errors), (cut, sink.errors)


def test_random_corruption_never_crashes() -> None:
    rng = random.Random(99)
    base = bytearray((FIXTURES / "benign_torch.safetensors").read_bytes())
    for _ in range(500):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(8, len(data))] = rng.choice(b'{}[]",:0123456789 \x00\xff')
        sink = _scan_bytes(bytes(data))
        assert not any("internal" in e for e in sink.errors), sink.errors


def test_findings_are_capped() -> None:
    tensors = {f"t{i}": make_st.t("F32", [8], 0, 16) for i in range(100)}
    sink = _scan_bytes(make_st.st(tensors, bytes(16)))
    assert len([f for f in sink.findings if f.rule_id == "SFT801"]) == 20
    assert any("more SFT801" in e for e in sink.errors)


# ---- multi-GB files: only the header is read -----------------------------------------------------------


def test_multi_gb_safetensors_reads_only_the_header(tmp_path: Path) -> None:
    path = tmp_path / "big.safetensors"
    try:
        size = make_st.make_big_safetensors(path, 5 * 1024**3 + 777)
    except OSError as exc:
        pytest.skip(f"cannot create a large file here: {exc}")
    if os.stat(path).st_blocks * 512 > 64 * 1024 * 1024:
        pytest.skip("filesystem does not create sparse files")
    assert size > 4 * 1024**3 and os.path.getsize(path) == size
    sink, read, peak, elapsed = scan_counting(path, size)
    assert not sink.errors and not sink.findings
    assert read < 1024 * 1024, read
    assert peak < 4 * 1024 * 1024, peak
    assert elapsed < 5
    assert_clean(scan(path))


def test_rules_are_documented() -> None:
    for rule_id in ("SFT800", "SFT801", "SFT802", "SFT803", "SFT804", "SFT805"):
        rule = get_rule(rule_id)
        assert rule.summary and rule.why and rule.fix and rule.cwe
