"""GGUF: parser-attack shapes from published llama.cpp CVEs, tensor layout, chat templates, streaming."""

from __future__ import annotations

import os
import random
import struct
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from _support import load_asset_module, scan_counting

import mlvet.formats.gguf  # registers the handler
import mlvet.formats.safetensors
from mlvet.formats.gguf import GGML_TYPES
from mlvet.model import FileResult, Severity, Status
from mlvet.policy import default_policy
from mlvet.rules import get_rule
from mlvet.scanner import scan_file

ASSETS = Path(__file__).resolve().parents[1] / "assets"
FIXTURES = ASSETS / "gguf"


_load = load_asset_module


make_gguf: Any = _load("make_gguf")


def scan(path: Path) -> FileResult:
    return scan_file(str(path), default_policy())


def high_rules(result: FileResult, at_least: Severity = Severity.MEDIUM) -> set[str]:
    return {f.rule_id for f in result.findings if f.severity >= at_least}


def assert_clean(result: FileResult) -> None:
    assert result.status is Status.SCANNED, result.errors
    assert result.format == "gguf"
    assert not high_rules(result), [(f.rule_id, f.message) for f in result.findings]


# ---- fixtures are reproducible and benign files are clean ---------------------------------------------


def test_committed_fixtures_match_their_generator() -> None:
    built = {**make_gguf.malicious_fixtures(), **make_gguf.benign_from_bytes()}
    for name, data in built.items():
        assert (FIXTURES / name).read_bytes() == data, name


@pytest.mark.parametrize(
    "name",
    ["benign_tiny", "benign_chat_template", "benign_big_endian", "benign_vocab_only", "benign_v1"],
)
def test_committed_benign_files_are_clean(name: str) -> None:
    assert_clean(scan(FIXTURES / f"{name}.gguf"))


def test_files_written_by_the_gguf_library_now_are_clean(tmp_path: Path) -> None:
    pytest.importorskip("gguf")
    make_gguf.write_benign(tmp_path)
    written = sorted(tmp_path.glob("*.gguf"))
    assert len(written) == 4
    for path in written:
        assert_clean(scan(path))


def test_the_gguf_library_reads_the_benign_fixtures() -> None:
    gguf = pytest.importorskip("gguf")
    reader = gguf.GGUFReader(str(FIXTURES / "benign_chat_template.gguf"))
    keys = set(reader.fields)
    assert {"tokenizer.chat_template", "tokenizer.chat_template.tool_use"} <= keys


def test_type_table_matches_the_gguf_package() -> None:
    gguf = pytest.importorskip("gguf")
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    del gguf
    for t in GGMLQuantizationType:
        assert GGML_TYPES[t.value][1:] == GGML_QUANT_SIZES[t], t.name


def test_the_benign_template_is_the_published_llama_3_1_one() -> None:
    result = scan(FIXTURES / "benign_chat_template.gguf")
    assert result.status is Status.SCANNED and not result.findings


# ---- one test per attack shape -------------------------------------------------------------------------

# name -> (rule, minimum severity, result must be an error)
EXPECTED: dict[str, tuple[str, Severity, bool]] = {
    "ssti_cve_2024_34359": ("GGF700", Severity.CRITICAL, False),
    "ssti_named_variant": ("GGF700", Severity.CRITICAL, False),
    "ssti_obfuscated": ("GGF700", Severity.CRITICAL, False),
    "duplicate_key": ("GGF700", Severity.CRITICAL, False),  # the second, hidden template is analysed too
    "template_unparseable": ("GGF707", Severity.MEDIUM, True),
    "template_not_string": ("GGF723", Severity.MEDIUM, False),
    "huge_n_kv": ("GGF720", Severity.HIGH, True),  # CVE-2024-23605
    "huge_n_tensors": ("GGF720", Severity.HIGH, True),  # CVE-2024-21836
    "huge_key_length": ("GGF720", Severity.HIGH, True),  # CVE-2024-23496
    "huge_string_value": ("GGF720", Severity.HIGH, True),  # CVE-2024-23496
    "huge_array_length": ("GGF720", Severity.HIGH, True),  # CVE-2024-21825
    "huge_string_in_array": ("GGF720", Severity.HIGH, True),  # CVE-2024-21825
    "nested_arrays": ("GGF720", Severity.HIGH, True),
    "unknown_value_type": ("GGF720", Severity.HIGH, True),
    "n_dims_overflow": ("GGF720", Severity.HIGH, True),  # CVE-2024-21802
    "long_tensor_name": ("GGF720", Severity.HIGH, False),
    "ggml_type_oob": ("GGF720", Severity.HIGH, True),
    "nbytes_overflow": ("GGF720", Severity.HIGH, False),
    "nbytes_overflow_quant": ("GGF720", Severity.HIGH, False),  # CVE-2025-53630 / CVE-2026-33298
    "alignment_zero": ("GGF720", Severity.HIGH, True),
    "alignment_huge": ("GGF720", Severity.HIGH, True),
    "alignment_wrong_type": ("GGF720", Severity.HIGH, True),
    "vocab_type_confusion": ("GGF720", Severity.HIGH, False),
    "vocab_length_mismatch": ("GGF720", Severity.HIGH, False),
    "tensor_beyond_eof": ("GGF721", Severity.HIGH, False),
    "tensor_offset_beyond_eof": ("GGF721", Severity.HIGH, False),
    "tensor_overlap": ("GGF721", Severity.HIGH, False),
    "tensor_misaligned": ("GGF722", Severity.MEDIUM, False),
    "zero_dim": ("GGF723", Severity.MEDIUM, False),
    "bad_block_shape": ("GGF723", Severity.MEDIUM, False),
    "duplicate_tensor": ("GGF723", Severity.MEDIUM, False),
    "tensor_gap": ("GGF724", Severity.LOW, False),
    "trailing_pickle": ("PKL100", Severity.CRITICAL, False),  # hidden data is scanned by content
}


def test_every_malicious_fixture_has_an_expectation() -> None:
    names = {n.removesuffix(".gguf") for n in make_gguf.malicious_fixtures()}
    assert names == set(EXPECTED) | {"truncated", "bad_version"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_attack_shapes_are_reported(name: str) -> None:
    rule, severity, is_error = EXPECTED[name]
    result = scan(FIXTURES / f"{name}.gguf")
    hits = [f for f in result.findings if f.rule_id == rule]
    assert hits, (result.findings, result.errors)
    assert max(f.severity for f in hits) >= severity
    assert (result.status is Status.ERROR) == is_error, result.errors
    assert all(f.evidence for f in hits)
    assert not any("internal error" in e for e in result.errors)


@pytest.mark.parametrize("name", ["truncated", "bad_version"])
def test_malformed_headers_are_clear_errors(name: str) -> None:
    result = scan(FIXTURES / f"{name}.gguf")
    assert result.status is Status.ERROR and result.format == "gguf"
    assert "GGUF" in result.errors[0]
    assert not high_rules(result, Severity.HIGH)


def test_named_template_finding_says_which_template() -> None:
    result = scan(FIXTURES / "ssti_named_variant.gguf")
    assert [f.message.split(":")[0] for f in result.findings] == ["tokenizer.chat_template.rag"]
    assert "cycler.__init__.__globals__.os.popen('id').read()" in result.findings[0].evidence
    assert result.findings[0].location.offset is not None


def test_huge_counts_are_rejected_before_allocating() -> None:
    tracemalloc.start()
    try:
        for name in ("huge_n_kv", "huge_n_tensors", "huge_array_length", "huge_string_in_array"):
            scan(FIXTURES / f"{name}.gguf")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024


def test_big_endian_template_is_analysed() -> None:
    b = make_gguf
    data = b.build(
        [b.kv_str("tokenizer.chat_template", "{{ cycler.__init__.__globals__ }}", order=">")],
        [b.tensor_info("a", [8], 0, 0, order=">")], struct.pack(">8f", *[1.0] * 8), order=">",
    )
    sink = mlvet.scan_bytes(data, "be.gguf")
    assert {f.rule_id for f in sink.findings} == {"GGF700"} and not sink.errors


def test_version_1_counts_are_32_bit() -> None:
    b = make_gguf
    data = b.build([b.kv_str("tokenizer.chat_template", "{{ ''.__class__ }}", wide=False)], [], version=1)
    sink = mlvet.scan_bytes(data, "v1.gguf")
    assert {f.rule_id for f in sink.findings} == {"GGF700"} and not sink.errors


@pytest.mark.parametrize(("n_kv", "n_tensors"), [(70_000, 0), (0, 300_000)])
def test_counts_that_fit_the_file_but_no_model_has(n_kv: int, n_tensors: int) -> None:
    data = make_gguf.build([], [], n_kv=n_kv, n_tensors=n_tensors) + bytes(n_kv * 13 + n_tensors * 24)
    sink = _scan_bytes(data)
    assert [f.rule_id for f in sink.findings] == ["GGF720"] and sink.errors


# ---- robustness: never a traceback, never clean on damage -------------------------------------------


def _scan_bytes(data: bytes) -> FileResult:
    return mlvet.scan_bytes(data, "x.gguf")


def test_every_truncation_is_an_error_or_a_high_finding() -> None:
    data = (FIXTURES / "benign_chat_template.gguf").read_bytes()
    for cut in range(4, len(data) - 32, 29):  # the last 31 bytes may be alignment padding only
        sink = _scan_bytes(data[:cut])
        damaged = sink.errors or any(f.severity >= Severity.HIGH for f in sink.findings)
        assert damaged, cut
        assert not any("internal" in e for e in sink.errors), (cut, sink.errors)


def test_random_corruption_never_crashes() -> None:
    rng = random.Random(1234)
    base = bytearray((FIXTURES / "benign_chat_template.gguf").read_bytes())
    for _ in range(150):
        data = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(4, 2000)
            data[pos] = rng.randrange(256)
        sink = _scan_bytes(bytes(data))
        assert not any("internal" in e for e in sink.errors), sink.errors


# ---- multi-GB files: only the header is read -----------------------------------------------------------


def sparse_or_skip(path: Path, make: Any, size: int) -> int:
    try:
        actual = make(path, size)
    except OSError as exc:  # filesystem without large-file support
        pytest.skip(f"cannot create a {size}-byte file here: {exc}")
    if os.stat(path).st_blocks * 512 > 64 * 1024 * 1024:
        path.unlink()
        pytest.skip("filesystem does not create sparse files")
    return int(actual)


def test_multi_gb_gguf_reads_only_the_header(tmp_path: Path) -> None:
    path = tmp_path / "big.gguf"
    size = sparse_or_skip(path, make_gguf.make_big_gguf, 5 * 1024**3 + 12345)
    assert size > 4 * 1024**3
    sink, read, peak, elapsed = scan_counting(path, size)
    assert not sink.errors and not sink.findings
    assert read < 1024 * 1024, read
    assert peak < 4 * 1024 * 1024, peak
    assert elapsed < 5
    assert_clean(scan(path))


def test_rules_are_documented() -> None:
    for rule_id in ("GGF720", "GGF721", "GGF722", "GGF723", "GGF724"):
        rule = get_rule(rule_id)
        assert rule.summary and rule.why and rule.fix and rule.cwe
