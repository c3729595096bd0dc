"""Long-tail formats (issue 12): files the real libraries write scan clean, each code path is flagged, and
malformed input is an error (or a limit finding) in bounded time.

Fixtures: ``tests/assets/formats_data`` (``tests/assets/make_formats_data.py``) and, for fastText, word2vec,
spaCy and CatBoost files, the ecosystem corpus (``tests/assets/ecosystem``). The malformed sweep derives its
inputs from those committed files at test time (truncations, lengths patched to huge values).
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from _support import load_asset_module

import mlvet
from mlvet.containers.msgpack import MsgpackError
from mlvet.containers.msgpack import parse as mp_parse
from mlvet.containers.ubjson import UbjsonError
from mlvet.containers.ubjson import parse as ubj_parse
from mlvet.model import FileResult, Severity, Status

mk: Any = load_asset_module("make_formats_data")

ASSETS = Path(__file__).resolve().parents[1] / "assets"
DATA = ASSETS / "formats_data"
BENIGN = DATA / "benign"
MALICIOUS = DATA / "malicious"
ECO = ASSETS / "ecosystem"

#: Benign file -> the format its result must name (``other`` for Orbax's JSON metadata, which is text).
BENIGN_FORMATS = {
    "arrays_compressed.mat": "matlab",
    "catboost.cbm": "catboost",
    "catboost.onnx": "onnx",
    "flax_params.msgpack": "msgpack",
    "flax_train_state.msgpack": "msgpack",
    "flax_scalars.msgpack": "msgpack",
    "frame.pkl.zst": "compressed",
    "lightgbm.txt": "lightgbm",
    "fasttext.bin": "fasttext",
    "fasttext_quantized.ftz": "fasttext",
    "model.ort": "onnxruntime-ort",
    "if_model.ort": "onnxruntime-ort",
    "tokenizer.model": "sentencepiece",
    "xgboost.json": "xgboost",
    "xgboost.ubj": "xgboost",
    "xgboost_legacy.bst": "xgboost",
}

#: Ecosystem files of these formats (written by catboost, fasttext, gensim, scipy, spacy, xgboost, lightgbm).
ECO_FORMATS = {
    "catboost/classifier.cbm": "catboost",
    "fasttext/classifier.bin": "fasttext",
    "fasttext/skipgram.bin": "fasttext",
    "gensim/vectors.word2vec.bin": "word2vec",
    "scipy/arrays.mat": "matlab",
    "spacy/doc_bin.spacy": "compressed",
    "spacy/pipeline/textcat/model": "msgpack",
    "spacy/pipeline/tokenizer": "msgpack",
    "xgboost/booster.ubj": "xgboost",
    "lightgbm/booster.txt": "lightgbm",
}

#: Malicious file -> (rule, weakest acceptable severity, text the finding must contain).
MALICIOUS_EXPECT = {
    "model.pkl.zst": ("PKL100", Severity.CRITICAL, "os.system"),
    "two_frames.pkl.zst": ("PKL100", Severity.CRITICAL, "os.system"),
    "thinc_object_array/model": ("PKL100", Severity.CRITICAL, "os.system"),
    "thinc_torch_shim/model": ("PKL100", Severity.CRITICAL, "os.system"),
    "thinc_attr/model": ("PKL100", Severity.CRITICAL, "os.system"),
    "doc_bin.spacy": ("PKL100", Severity.CRITICAL, "os.system"),
    "msgpack_numpy_object.msgpack": ("PKL100", Severity.CRITICAL, "os.system"),
    "xgboost_model.bst": ("PKL100", Severity.CRITICAL, "os.system"),
    "lightgbm_model.txt": ("PKL100", Severity.CRITICAL, "os.system"),
    "function_handle.mat": ("OTH031", Severity.HIGH, "system"),
    "object.mat": ("OTH032", Severity.LOW, "evil.Loader"),
    "custom_domain.ort": ("ONX601", Severity.MEDIUM, "evil.native.x"),
    "python_op.ort": ("ONX601", Severity.HIGH, "PyOp"),
    "subgraph_custom_domain.ort": ("ONX601", Severity.MEDIUM, "evil.native.x"),
    "zarr_pickle_codec/0": ("PKL100", Severity.CRITICAL, "os.system"),
}


def _scan(path: Path) -> FileResult:
    report = mlvet.scan(path)
    assert len(report.results) == 1, [r.path for r in report.results]
    return report.results[0]


def _scan_bytes(tmp_path: Path, name: str, data: bytes) -> tuple[FileResult, float]:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    start = time.monotonic()
    result = _scan(p)
    return result, time.monotonic() - start


def _loud(result: FileResult) -> list[tuple[str, str, str]]:
    return [(f.rule_id, f.severity.label, f.message[:120]) for f in result.findings if f.severity >= Severity.MEDIUM]


@pytest.mark.parametrize("name", sorted(BENIGN_FORMATS))
def test_benign_files_written_by_the_libraries_scan_clean(name: str) -> None:
    result = _scan(BENIGN / name)
    assert result.status is Status.SCANNED, (result.status, result.errors)
    assert result.format == BENIGN_FORMATS[name], result.formats_seen
    assert not _loud(result), _loud(result)


@pytest.mark.parametrize("rel", sorted(ECO_FORMATS))
def test_ecosystem_files_of_these_formats_scan_clean(rel: str) -> None:
    result = _scan(ECO / rel)
    assert result.status is Status.SCANNED, (result.status, result.errors)
    assert result.format == ECO_FORMATS[rel], result.formats_seen
    assert not _loud(result), _loud(result)


def test_specific_kinds_are_named_in_formats_seen() -> None:
    assert "flax-msgpack" in _scan(BENIGN / "flax_train_state.msgpack").formats_seen
    assert "thinc-msgpack" in _scan(ECO / "spacy/pipeline/textcat/model").formats_seen
    assert "spacy-msgpack" in _scan(ECO / "spacy/pipeline/tokenizer").formats_seen
    assert "spacy-docbin" in _scan(ECO / "spacy/doc_bin.spacy").formats_seen
    assert "zstd" in _scan(BENIGN / "frame.pkl.zst").formats_seen


def test_orbax_zarr_checkpoint_chunks_are_data() -> None:
    report = mlvet.scan(BENIGN / "orbax_zarr_checkpoint")
    assert all(r.status is not Status.ERROR for r in report.results), [(r.path, r.errors) for r in report.results]
    chunks = [r for r in report.results if r.format == "zarr-chunk"]
    assert chunks and not [f for r in report.results for f in r.findings if f.severity >= Severity.MEDIUM]


def test_zarr_chunk_of_the_wrong_size_is_an_error(tmp_path: Path) -> None:
    src = next(p for p in (BENIGN / "orbax_zarr_checkpoint").rglob("*") if p.name[:1].isdigit())
    folder = tmp_path / "arr"
    folder.mkdir()
    (folder / ".zarray").write_bytes((src.parent / ".zarray").read_bytes())
    (folder / src.name).write_bytes(src.read_bytes()[:-3])
    assert _scan(folder / src.name).status is Status.ERROR


def test_orbax_checkpoint_folder_has_no_error() -> None:
    report = mlvet.scan(BENIGN / "orbax_checkpoint")
    by_format = {Path(r.path).name: r for r in report.results}
    assert report.results and all(r.status is not Status.ERROR for r in report.results), \
        [(r.path, r.errors) for r in report.results if r.errors]
    assert by_format["manifest.ocdbt"].format == "orbax-ocdbt"
    assert sum(r.format == "orbax-ocdbt" for r in report.results) >= 3
    assert not [f for r in report.results for f in r.findings if f.severity >= Severity.MEDIUM]


@pytest.mark.parametrize("name", sorted(MALICIOUS_EXPECT))
def test_each_code_path_is_flagged(name: str) -> None:
    rule, severity, text = MALICIOUS_EXPECT[name]
    result = _scan(MALICIOUS / name)
    hits = [f for f in result.findings if f.rule_id == rule and f.severity >= severity
            and text in f.message + f.evidence]
    assert hits, [(f.rule_id, f.severity.label, f.message[:100]) for f in result.findings]


def test_hand_built_fixtures_match_their_builders() -> None:
    assert (MALICIOUS / "function_handle.mat").read_bytes() == mk.mat_function_handle()
    assert (MALICIOUS / "object.mat").read_bytes() == mk.mat_object()
    assert (MALICIOUS / "xgboost_model.bst").read_bytes() == mk.evil_pickle()
    weights = mk.numpy_object_record(mk.evil_pickle())
    assert (MALICIOUS / "thinc_object_array/model").read_bytes() == mk.thinc_model([{"W": weights}], [[]])


def test_benign_mat_function_handle_is_medium_not_high(tmp_path: Path) -> None:
    inner = mk.mat_struct("", {"function": mk.mat_char("", "@(x)x.^2+1"), "type": mk.mat_char("", "anonymous")})
    result, _ = _scan_bytes(tmp_path, "square.mat", mk.mat_header() + mk.mat_matrix(16, "sq", inner))
    sev = [f.severity for f in result.findings if f.rule_id == "OTH031"]
    assert sev == [Severity.MEDIUM], result.findings


def test_empty_file_is_clean_with_an_info_finding(tmp_path: Path) -> None:
    result, _ = _scan_bytes(tmp_path, "patterns.jsonl", b"")
    assert result.status is Status.SCANNED and not result.errors
    assert [(f.rule_id, f.severity) for f in result.findings] == [("OTH030", Severity.INFO)]


# ---- malformed sweep ---------------------------------------------------------------------------------------

SWEEP_SOURCES = {
    "catboost.cbm": BENIGN / "catboost.cbm",
    "model.ort": BENIGN / "model.ort",
    "arrays.mat": BENIGN / "arrays_compressed.mat",
    "xgboost.ubj": BENIGN / "xgboost.ubj",
    "xgboost.json": BENIGN / "xgboost.json",
    "lightgbm.txt": BENIGN / "lightgbm.txt",
    "flax.msgpack": BENIGN / "flax_train_state.msgpack",
    "frame.pkl.zst": BENIGN / "frame.pkl.zst",
    "fasttext.bin": ECO / "fasttext/skipgram.bin",
    "fasttext.ftz": BENIGN / "fasttext_quantized.ftz",
    "vectors.bin": ECO / "gensim/vectors.word2vec.bin",
    "thinc_model": ECO / "spacy/pipeline/textcat/model",
    "doc_bin.spacy": ECO / "spacy/doc_bin.spacy",
    "manifest.ocdbt": BENIGN / "orbax_checkpoint/manifest.ocdbt",
}


@pytest.mark.parametrize("name", sorted(SWEEP_SOURCES))
def test_truncated_files_are_errors(name: str, tmp_path: Path) -> None:
    data = SWEEP_SOURCES[name].read_bytes()
    for cut in sorted({len(data) - 1, len(data) * 3 // 4, len(data) // 2, 200}):
        if not 0 < cut < len(data):
            continue
        result, seconds = _scan_bytes(tmp_path, f"{cut}/{name}", data[:cut])
        assert result.status is Status.ERROR, (name, cut, result.format, result.findings)
        assert not _loud(result), (name, cut, _loud(result))
        assert seconds < 10


def test_sentencepiece_cut_inside_a_field_is_an_error(tmp_path: Path) -> None:
    data = (BENIGN / "tokenizer.model").read_bytes()
    result, _ = _scan_bytes(tmp_path, "tokenizer.model", data[:-1])
    assert result.status is Status.ERROR, result.findings


def _patched(data: bytes, at: int, value: bytes) -> bytes:
    return data[:at] + value + data[at + len(value):]


def huge_length_variants() -> dict[str, tuple[str, bytes]]:
    """Files whose declared sizes or counts exceed anything the file holds (allocation bait)."""
    cbm = (BENIGN / "catboost.cbm").read_bytes()
    ft = (ECO / "fasttext/skipgram.bin").read_bytes()
    w2v = (ECO / "gensim/vectors.word2vec.bin").read_bytes()
    mat = (ECO / "scipy/arrays.mat").read_bytes()
    ubj = (BENIGN / "xgboost.ubj").read_bytes()
    nwords_at = 8 + 12 * 4 + 8
    return {
        "cbm core size": ("big.cbm", _patched(cbm, 4, struct.pack("<I", 0xFFFFFFF0))),
        "fasttext word count": ("big.bin", _patched(ft, nwords_at, struct.pack("<i", 0x7FFFFFFF))),
        "word2vec count": ("big_vectors.bin", b"99999999 8\n" + w2v[w2v.index(b"\n") + 1 :]),
        "mat element bytes": ("big.mat", _patched(mat, 132, struct.pack("<I", 0x7FFFFFF0))),
        "ubj object count": ("big.ubj", b"{#L" + struct.pack(">q", 1 << 60) + ubj[1:]),
        "msgpack map32": ("big.msgpack", b"\xdf\xff\xff\xff\xff\xa1k\xc0"),
        "thinc map in zlib": ("big.spacy", zlib.compress(b"\xdf\xff\xff\xff\xff\xa5attrs\xc0")),
    }


@pytest.mark.parametrize("case", sorted(huge_length_variants()))
def test_huge_declared_sizes_are_errors_fast(case: str, tmp_path: Path) -> None:
    name, data = huge_length_variants()[case]
    result, seconds = _scan_bytes(tmp_path, name, data)
    assert result.status is Status.ERROR, (case, result.format, result.findings)
    assert seconds < 5, seconds


def test_zstd_bomb_is_a_limit_finding(tmp_path: Path) -> None:
    from backports import zstd

    bomb = zstd.compress(b"\x00" * (80 << 20))  # 80 MiB -> a few KiB: past the ratio limit
    result, seconds = _scan_bytes(tmp_path, "bomb.pkl.zst", bomb)
    assert result.status is Status.ERROR
    assert any(f.rule_id == "ARC301" and f.severity >= Severity.HIGH for f in result.findings), result.findings
    assert seconds < 30


def test_mat_compressed_bomb_is_a_limit_finding(tmp_path: Path) -> None:
    inner = mk.mat_matrix(6, "z", mk.mat_el(9, b"\x00" * (80 << 20)), dims=(10 << 20, 1))
    comp = zlib.compress(inner, 9)
    data = mk.mat_header() + struct.pack("<II", 15, len(comp)) + comp
    result, _ = _scan_bytes(tmp_path, "bomb.mat", data)
    assert any(f.rule_id == "ARC301" for f in result.findings), result.findings


# ---- the bounded readers -----------------------------------------------------------------------------------


def test_msgpack_reader_refuses_counts_beyond_the_data() -> None:
    with pytest.raises(MsgpackError, match="longer than the data left"):
        mp_parse(io.BytesIO(b"\xdd\x00\x10\x00\x00\x01"))
    with pytest.raises(MsgpackError, match="runs past the end"):
        mp_parse(io.BytesIO(b"\xc6\x7f\xff\xff\xff\x01"))
    with pytest.raises(MsgpackError, match="nesting deeper"):
        mp_parse(io.BytesIO(b"\x91" * 200 + b"\x01"))
    with pytest.raises(MsgpackError, match="after the msgpack document"):
        mp_parse(io.BytesIO(b"\x81\xa1k\x01\x00"))


def test_msgpack_reader_keeps_long_binary_values_in_the_file() -> None:
    doc = mp_parse(io.BytesIO(mk.mp({"w": b"\x01" * 1000, "k": b"nd"})))
    assert isinstance(doc, dict)
    blob = doc["w"]
    assert getattr(blob, "length", None) == 1000 and doc["k"] == b"nd"


def test_ubjson_reader_skips_typed_arrays_and_checks_counts() -> None:
    doc = b"{L\x00\x00\x00\x00\x00\x00\x00\x01w[$d#L" + struct.pack(">q", 3) + b"\x00" * 12 + b"}"
    out = ubj_parse(io.BytesIO(doc), len(doc))
    assert isinstance(out, dict) and out["w"] == (b"d", 3)
    bad = b"[$d#L" + struct.pack(">q", 1 << 40)
    with pytest.raises(UbjsonError):
        ubj_parse(io.BytesIO(bad), len(bad))


def test_mat_v73_is_scanned_as_hdf5(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    import numpy as np

    path = tmp_path / "v73.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset("w", data=np.arange(6.0))
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".ljust(116) + bytes(8) + b"\x00\x02IM"
    data = bytearray(path.read_bytes())
    data[:128] = header
    path.write_bytes(bytes(data))
    result = _scan(path)
    assert result.status is Status.SCANNED, result.errors
    assert "hdf5" in result.formats_seen and not _loud(result)


def test_mutated_files_never_crash_the_parsers() -> None:
    """Seeded byte mutations of every fixture: a verdict or an error each time, never an internal error."""
    import random

    from mlvet.policy import default_policy
    from mlvet.scanner import scan_stream

    rng = random.Random(12)
    policy = default_policy()
    sources = [p for p in BENIGN.rglob("*") if p.is_file() and p.stat().st_size > 16]
    sources += [ECO / rel for rel in ECO_FORMATS]
    for src in sources:
        data = src.read_bytes()
        for _ in range(25):
            b = bytearray(data)
            for _ in range(rng.randint(1, 6)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            start = time.monotonic()
            result = scan_stream(io.BytesIO(bytes(b)), len(b), src.name, policy)
            assert not any("internal error" in e for e in result.errors), (src.name, result.errors)
            assert time.monotonic() - start < 5


def test_flatbuffer_byte_vectors_are_spanned_not_listed() -> None:
    """A 3 MB byte vector (tensor data in an .ort file) is bounds-checked without listing its elements, and a
    vector too long to list is an error rather than gigabytes of positions."""
    import tracemalloc

    from mlvet.containers.flatbuf import MAX_LISTED, FlatBuffer
    from mlvet.errors import AnalysisError

    n = 3 * MAX_LISTED
    # root uoffset -> table at 12 (vtable at 4: vsize 6, tsize 8, field 0 at +4) -> uoffset to the vector
    buf = bytearray(struct.pack("<I", 12) + struct.pack("<HHH", 6, 8, 4) + b"\0\0")
    buf += struct.pack("<i", 12 - 4) + struct.pack("<I", 4)  # table: soffset to vtable, field 0 -> +4
    buf += struct.pack("<I", n) + bytes(n)
    fb = FlatBuffer(io.BytesIO(bytes(buf)), len(buf), "test buffer")
    table = fb.root()
    tracemalloc.start()
    first, count = fb.span(table, 0, width=1) or (0, 0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (first, count) == (24, n)
    assert peak < 1 << 20
    with pytest.raises(AnalysisError, match="longer than mlvet lists"):
        fb.vector(table, 0, width=1)
