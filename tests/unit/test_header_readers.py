"""The shared header readers (mlvet.containers.gguf / .safetensors) on the committed fixtures."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mlvet.containers.gguf import GgufError, GgufReader, GgufTruncated
from mlvet.containers.safetensors import SafetensorsError, TensorEntry, read_header

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def _gguf(name: str) -> GgufReader:
    data = (ASSETS / "gguf" / name).read_bytes()
    return GgufReader(io.BytesIO(data), len(data), keep_text=lambda key, n: True)


def test_gguf_header_is_typed_data() -> None:
    reader = _gguf("benign_chat_template.gguf")
    header = reader.read()
    assert header.version == 3 and not header.big_endian and header.anomalies == []
    assert header.kv["tokenizer.chat_template"].text
    assert header.tensors and all(len(t.dims) <= 4 for t in header.tensors)
    assert _gguf("benign_big_endian.gguf").read().big_endian


def test_gguf_truncation_keeps_what_was_read() -> None:
    data = (ASSETS / "gguf" / "benign_chat_template.gguf").read_bytes()
    cut = data.index(b"tokenizer.chat_template") + 40
    reader = GgufReader(io.BytesIO(data[:cut]), cut)
    with pytest.raises(GgufTruncated):
        reader.read()
    assert "general.architecture" in reader.kv and reader.tensors == []


def test_gguf_attacks_are_anomalies_not_findings() -> None:
    data = b"GGUF" + (3).to_bytes(4, "little") + (1 << 62).to_bytes(8, "little") + bytes(8) + bytes(64)
    reader = GgufReader(io.BytesIO(data), len(data))
    with pytest.raises(GgufError):
        reader.read()
    assert [a.kind for a in reader.anomalies] == ["attack"] and "CVE-2024-21836" in reader.anomalies[0].message


def test_safetensors_header_keeps_duplicates_and_types_entries() -> None:
    data = (ASSETS / "safetensors" / "duplicate_keys.safetensors").read_bytes()
    header = read_header(io.BytesIO(data), len(data))
    assert header.duplicates and header.data_start == 8 + header.length
    ok = (ASSETS / "safetensors" / "benign_torch.safetensors").read_bytes()
    entries = [TensorEntry.of(k, v) for k, v in read_header(io.BytesIO(ok), len(ok)).tensor_items()]
    assert entries and all(e is not None and e.end >= e.begin for e in entries)
    assert TensorEntry.of("x", {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}) is None


@pytest.mark.parametrize(("data", "kind"), [
    (b"\x01", "short"),
    ((1 << 40).to_bytes(8, "little") + b"{}", "beyond-file"),
    ((4).to_bytes(8, "little") + b"[1] ", "not-object"),
    ((4).to_bytes(8, "little") + b"{\xff\xfe}", "not-utf8"),
    ((5).to_bytes(8, "little") + b"{NaN}", "bad-json"),
])
def test_safetensors_errors_say_why(data: bytes, kind: str) -> None:
    with pytest.raises(SafetensorsError) as info:
        read_header(io.BytesIO(data), len(data))
    assert info.value.kind == kind
    big = (1000).to_bytes(8, "little") + b"{" + b" " * 998 + b"}"
    with pytest.raises(SafetensorsError) as info:
        read_header(io.BytesIO(big), len(big), limit=100)
    assert info.value.kind == "over-limit"
