"""Legacy GGML/GGMF/GGJT files and llamafiles: layouts parsed, parser attacks flagged, the GGUF inside scanned."""

from __future__ import annotations

import io
import random
import time
from pathlib import Path
from typing import Any

import pytest
from _support import load_asset_module

from mlvet.model import FileResult, Severity, Status
from mlvet.policy import default_policy
from mlvet.scanner import scan_file, scan_stream

FIXTURES = Path(__file__).resolve().parents[1] / "assets" / "llama_legacy"
make: Any = load_asset_module("make_llama_legacy")


def scan(name: str) -> FileResult:
    return scan_file(str(FIXTURES / name), default_policy())


def rules(result: FileResult, at_least: Severity = Severity.MEDIUM) -> set[str]:
    return {f.rule_id for f in result.findings if f.severity >= at_least}


def test_committed_fixtures_match_their_generator() -> None:
    for name, data in make.fixtures().items():
        assert (FIXTURES / name).read_bytes() == data, name


@pytest.mark.parametrize("name", ["benign_ggjt_v3.bin", "benign_ggjt_v1.bin", "benign_ggmf.bin", "benign_ggml.bin"])
def test_benign_legacy_files_are_clean(name: str) -> None:
    result = scan(name)
    assert result.status is Status.SCANNED, result.errors
    assert result.format == "ggml"
    assert not result.findings


@pytest.mark.parametrize(("name", "rule"), [
    ("huge_n_vocab.bin", "OTH090"), ("huge_token_len.bin", "OTH090"), ("too_many_dims.bin", "OTH090"),
    ("truncated_tensor.bin", "OTH091"),
])
def test_parser_attacks_are_high(name: str, rule: str) -> None:
    result = scan(name)
    assert rule in rules(result, Severity.HIGH), result.findings


def test_bytes_after_the_last_tensor_are_scanned() -> None:
    pickle_tail = b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93."
    data = make.build("ggjt", 3, trailing=b"\x00" * 4 + pickle_tail[:8])
    result = scan_stream(io.BytesIO(data), len(data), "m.bin", default_policy())
    assert {"OTH090", "OTH091"} & rules(result, Severity.HIGH)


def test_benign_llamafile_is_an_executable_at_low_and_its_gguf_is_scanned() -> None:
    result = scan("benign.llamafile")
    assert result.status is Status.SCANNED, result.errors
    assert result.format == "llamafile"
    assert [f.rule_id for f in result.findings] == ["OTH092"]
    assert result.findings[0].severity is Severity.LOW
    assert "gguf" in result.formats_seen and not rules(result)
    assert ".args" in result.findings[0].evidence


def test_llamafile_with_malicious_chat_template_is_critical() -> None:
    result = scan("ssti.llamafile")
    crit = [f for f in result.findings if f.severity is Severity.CRITICAL]
    assert crit and all(f.location.members == ("model.gguf",) for f in crit)


def test_executable_zip_without_gguf_is_not_a_llamafile() -> None:
    data = make.llamafile(b"not a model")
    data = data.replace(b"model.gguf", b"model.txts")
    result = scan_stream(io.BytesIO(data), len(data), "x.exe", default_policy())
    assert result.format != "llamafile"


def test_malformed_sweep_is_bounded_and_never_clean_when_broken() -> None:
    rng = random.Random(12)
    base = make.build("ggjt", 3)
    start = time.monotonic()
    for _ in range(300):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(8, len(data))] = rng.randrange(256)
        cut = rng.choice([len(data), rng.randrange(8, len(data))])
        blob = bytes(data[:cut])
        result = scan_stream(io.BytesIO(blob), len(blob), "m.bin", default_policy())
        assert result.status in (Status.SCANNED, Status.ERROR)
    assert time.monotonic() - start < 30


def test_llamafile_malformed_sweep_is_bounded_and_never_silently_clean() -> None:
    rng = random.Random(7)
    base = (FIXTURES / "ssti.llamafile").read_bytes()
    start = time.monotonic()
    for _ in range(60):
        data = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        blob = bytes(data[: rng.choice([len(data), rng.randrange(16, len(data))])])
        result = scan_stream(io.BytesIO(blob), len(blob), "model.llamafile", default_policy())
        assert result.status in (Status.SCANNED, Status.ERROR, Status.SKIPPED)
        if result.format == "llamafile" and result.status is Status.SCANNED:
            # Still recognised and fully read: the executable is reported.
            assert "OTH092" in {f.rule_id for f in result.findings}
    assert time.monotonic() - start < 60
