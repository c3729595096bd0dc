"""Long-tail model formats (issue 12): Core ML, MXNet, CNTK, PaddlePaddle, OpenVINO, TensorRT, ExecuTorch,
RKNN and Torch7.

Why: files of these formats used to end in ``error`` ("unrecognised binary content"), so CI jobs failed on
benign repositories, and the code paths some of them have (CNTK user functions, Paddle file and Python
operators, Torch7 Lua bytecode, libraries inside engines) went unseen. Fixtures come from
``tests/assets/make_longtail.py``: benign files are written by coremltools, paddlepaddle and openvino
where they install, the rest (and every malicious variant) to the published layouts.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

import mlvet
from mlvet.model import FileResult, Severity, Status

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "longtail"
BENIGN = ASSETS / "benign"
MAL = ASSETS / "malicious"

#: Every benign fixture and the format it must be recognised as (never "other", never an error).
BENIGN_FORMATS = {
    "cntk/dense.model": "cntk",
    "coreml/neuralnet.mlmodel": "coreml",
    "coreml/tiny.mlpackage/Data/com.apple.CoreML/model.mlmodel": "coreml",
    "coreml/tiny.mlpackage/Data/com.apple.CoreML/weights/weight.bin": "coreml-weights",
    "coreml/tiny.mlpackage/Manifest.json": "coreml-manifest",
    "engines/model.plan": "tensorrt-engine",
    "engines/yolo.engine": "tensorrt-engine",
    "engines/model.rknn": "rknn",
    "executorch/add_relu.pte": "executorch",
    "mxnet/model-0000.params": "mxnet-params",
    "mxnet/model-symbol.json": "mxnet-symbol",
    "openvino/tiny.xml": "openvino-ir",
    "openvino/tiny.bin": "openvino-weights",
    "paddle/inference.pdmodel": "paddle-program",
    "paddle/inference.pdiparams": "paddle-params",
    "paddle/linear.pdparams": "pickle",
    "paddle/pir/model.json": "paddle-program",
    "paddle/pir/model.pdiparams": "paddle-params",
    "torch7/linear.t7": "torch7",
    "torch7/table.t7": "torch7",
    "torch7/linear_ascii.t7": "torch7",
}

#: Every malicious fixture: the rule it must raise and the severity that rule must reach.
MALICIOUS = {
    "cntk_native_udf.model": ("OTH074", Severity.CRITICAL),
    "cntk_python_udf.model": ("OTH073", Severity.HIGH),
    "paddle_save_op.pdmodel": ("OTH075", Severity.HIGH),
    "paddle_load_op.pdmodel": ("OTH075", Severity.HIGH),
    "paddle_py_func.pdmodel": ("OTH076", Severity.HIGH),
    "paddle_state.pdparams": ("PKL100", Severity.CRITICAL),
    "paddle_pir_save_combine.json": ("OTH075", Severity.HIGH),
    "torch7_lua_function.t7": ("OTH084", Severity.HIGH),
    "torch7_lua_function_ascii.t7": ("OTH084", Severity.HIGH),
    "tensorrt_embedded_plugin_lib.engine": ("OTH080", Severity.HIGH),
    "rknn_embedded_elf.rknn": ("OTH080", Severity.HIGH),
    # Names of app-registered code (no file-borne code path): medium for names that suggest shell/file/network.
    "coreml_custom_layer_shell.mlmodel": ("OTH070", Severity.MEDIUM),
    "coreml_custom_model_download.mlmodel": ("OTH070", Severity.MEDIUM),
    "coreml_linked_escape.mlmodel": ("OTH071", Severity.MEDIUM),
    "coreml_manifest_escape.mlpackage/Manifest.json": ("OTH071", Severity.MEDIUM),
    "coreml_pipeline_nested_custom.mlmodel": ("OTH070", Severity.MEDIUM),
    "paddle_pir_custom_op.json": ("OTH077", Severity.MEDIUM),
    "mxnet_custom_op-symbol.json": ("OTH072", Severity.MEDIUM),
    "openvino_custom_layer.xml": ("OTH078", Severity.MEDIUM),
    "paddle_custom_op_exec.pdmodel": ("OTH077", Severity.MEDIUM),
    "executorch_custom_op.pte": ("OTH082", Severity.MEDIUM),
    "executorch_unknown_backend.pte": ("OTH083", Severity.MEDIUM),
    "torch7_foreign_class.t7": ("OTH085", Severity.LOW),
    "tensorrt_plugin_path.plan": ("OTH079", Severity.LOW),
}


def _scan(path: Path) -> dict[str, FileResult]:
    report = mlvet.scan(path)
    root = path.resolve()
    return {Path(r.path).resolve().relative_to(root).as_posix(): r for r in report.results}


@pytest.fixture(scope="module")
def benign() -> dict[str, FileResult]:
    return _scan(BENIGN)


@pytest.fixture(scope="module")
def malicious() -> dict[str, FileResult]:
    return _scan(MAL)


@pytest.mark.parametrize("rel", sorted(BENIGN_FORMATS))
def test_benign_file_is_recognised_and_quiet(rel: str, benign: dict[str, FileResult]) -> None:
    result = benign[rel]
    assert result.status is not Status.ERROR, result.errors
    assert result.format == BENIGN_FORMATS[rel]
    loud = [(f.rule_id, f.message) for f in result.findings if f.severity >= Severity.MEDIUM]
    assert not loud


def test_benign_corpus_has_no_errors_and_nothing_at_medium(benign: dict[str, FileResult]) -> None:
    assert {r: v.status for r, v in benign.items() if v.status is Status.ERROR} == {}
    assert max((f.severity for v in benign.values() for f in v.findings), default=Severity.INFO) < Severity.MEDIUM


def test_engines_are_never_reported_clean(benign: dict[str, FileResult]) -> None:
    """An opaque vendor engine always says that its body was not analysed (a low finding, not silence)."""
    for rel in ("engines/model.plan", "engines/yolo.engine", "engines/model.rknn"):
        assert [f.rule_id for f in benign[rel].findings] == ["OTH081"]


@pytest.mark.parametrize("name", sorted(MALICIOUS))
def test_malicious_code_path_is_flagged(name: str, malicious: dict[str, FileResult]) -> None:
    rule, severity = MALICIOUS[name]
    result = malicious[name]
    assert result.status is not Status.ERROR, result.errors
    hits = [f for f in result.findings if f.rule_id == rule]
    assert hits, [(f.rule_id, f.severity.label) for f in result.findings]
    assert max(f.severity for f in hits) == severity


def test_cntk_findings_name_the_module_and_library(malicious: dict[str, FileResult]) -> None:
    native = malicious["cntk_native_udf.model"].findings[0]
    assert "/tmp/payload.so" in native.evidence and "CreateFastOp" in native.evidence
    python = malicious["cntk_python_udf.model"].findings[0]
    assert "module=os" in python.evidence and "class=system" in python.evidence


def test_paddle_file_op_reports_its_path(malicious: dict[str, FileResult]) -> None:
    assert "/home/user/.bashrc" in malicious["paddle_save_op.pdmodel"].findings[0].evidence


# ---- malformed input: truncation, bad lengths, huge declared sizes -------------------------------------

_BINARY = [rel for rel in BENIGN_FORMATS if not rel.endswith((".json", ".xml", ".pdparams", ".plan", ".engine"))]


@pytest.mark.parametrize("rel", sorted(_BINARY))
def test_truncated_file_is_an_error_never_clean(rel: str, tmp_path: Path) -> None:
    data = (BENIGN / rel).read_bytes()
    name = Path(rel).name
    # (an ASCII Torch7 file ends in a newline that nothing needs: cut into its last value instead)
    for cut in (len(data) - (3 if rel.endswith("_ascii.t7") else 1), len(data) // 2 + 1):
        target = tmp_path / f"{cut}-{name}"
        target.write_bytes(data[:cut])
        if rel.startswith("openvino/"):
            shutil.copy(BENIGN / "openvino" / "tiny.xml", target.with_suffix(".xml"))
        result = mlvet.scan(target).results[0]
        assert result.status is Status.ERROR, (rel, cut, result.format, result.findings)


@pytest.mark.parametrize(("rel", "cut"), [("engines/model.plan", 10), ("engines/yolo.engine", 40)])
def test_truncated_engine_header_is_an_error(rel: str, cut: int, tmp_path: Path) -> None:
    """A TensorRT body has no published length field: only a cut header or metadata block is detectable
    (the engine is never clean anyway: OTH081)."""
    target = tmp_path / Path(rel).name
    target.write_bytes((BENIGN / rel).read_bytes()[:cut])
    result = mlvet.scan(target).results[0]
    assert result.status is Status.ERROR, (result.format, result.findings)


def _patched(rel: str, at: int, value: bytes, tmp_path: Path) -> FileResult:
    data = bytearray((BENIGN / rel).read_bytes())
    data[at : at + len(value)] = value
    target = tmp_path / Path(rel).name
    target.write_bytes(bytes(data))
    return mlvet.scan(target).results[0]


@pytest.mark.parametrize(
    ("rel", "at", "value", "message"),
    [
        # Torch7: the class-name string of the root object claims 2 GB.
        ("torch7/linear.t7", 15, struct.pack("<i", 0x7FFFFFFF), "does not fit"),
        # MXNet: the list claims 2**40 arrays.
        ("mxnet/model-0000.params", 16, struct.pack("<Q", 1 << 40), "declares"),
        # MXNet: the first array claims a 2**40 x 2**20 shape.
        ("mxnet/model-0000.params", 36, struct.pack("<qq", 1 << 40, 1 << 20), "2**48"),
        # Core ML weights: the first blob claims to lie far past the end of the file.
        ("coreml/tiny.mlpackage/Data/com.apple.CoreML/weights/weight.bin", 80, struct.pack("<Q", 1 << 40), "outside"),
        # RKNN: the model data length runs past the end of the file.
        ("engines/model.rknn", 16, struct.pack("<Q", 1 << 40), "do not"),
        # ExecuTorch: the root offset points past the end.
        ("executorch/add_relu.pte", 0, struct.pack("<I", 100_000), "past the end"),
    ],
)
def test_bad_declared_sizes_are_errors(rel: str, at: int, value: bytes, message: str, tmp_path: Path) -> None:
    result = _patched(rel, at, value, tmp_path)
    assert result.status is Status.ERROR, (result.format, result.findings)
    assert any(message in e for e in result.errors), result.errors


def test_paddle_params_with_huge_dims_is_an_error(tmp_path: Path) -> None:
    data = (BENIGN / "paddle" / "inference.pdiparams").read_bytes()
    # The first TensorDesc (data_type=FP32, dims=[3]) becomes dims=[2**40, 2**20].
    desc = b"\x08\x05" + b"\x10" + bytes([0x80, 0x80, 0x80, 0x80, 0x80, 0x20]) + b"\x10\x80\x80\x40"
    bad = data[:16] + struct.pack("<i", len(desc)) + desc + data[24:]
    target = tmp_path / "huge.pdiparams"
    target.write_bytes(bad)
    result = mlvet.scan(target).results[0]
    assert result.status is Status.ERROR
    assert any("2**48" in e or "remain" in e for e in result.errors), result.errors


def test_openvino_weights_shorter_than_the_ir_declares(tmp_path: Path) -> None:
    shutil.copy(BENIGN / "openvino" / "tiny.xml", tmp_path / "m.xml")
    (tmp_path / "m.bin").write_bytes((BENIGN / "openvino" / "tiny.bin").read_bytes()[:20])
    result = mlvet.scan(tmp_path / "m.bin").results[0]
    assert result.status is Status.ERROR and "reads up to byte 48" in result.errors[0]


def test_bin_without_an_ir_beside_it_is_not_called_openvino(tmp_path: Path) -> None:
    (tmp_path / "m.bin").write_bytes((BENIGN / "openvino" / "tiny.bin").read_bytes())
    result = mlvet.scan(tmp_path / "m.bin").results[0]
    assert result.status is Status.ERROR and result.format != "openvino-weights"


def test_openvino_ir_with_a_dtd_goes_to_the_xml_checks(tmp_path: Path) -> None:
    xml = (BENIGN / "openvino" / "tiny.xml").read_text(encoding="utf-8")
    evil = xml.replace('<?xml version="1.0"?>',
                       '<?xml version="1.0"?>\n<!DOCTYPE net [<!ENTITY x SYSTEM "file:///etc/passwd">]>')
    (tmp_path / "x.xml").write_text(evil, encoding="utf-8")
    result = mlvet.scan(tmp_path / "x.xml").results[0]
    assert "OTH010" in {f.rule_id for f in result.findings}


def test_legacy_cntk_is_recognised_but_fails_closed(tmp_path: Path) -> None:
    (tmp_path / "v1.dnn").write_bytes("BCN".encode("utf-16-le") + b"\x00\x00" + b"\x01" * 64)
    result = mlvet.scan(tmp_path / "v1.dnn").results[0]
    assert result.status is Status.ERROR and "legacy CNTK v1" in result.errors[0]


def test_ascii_torch7_with_a_bad_number_is_an_error(tmp_path: Path) -> None:
    # A FloatTensor whose storage holds 4 values but the text has 2, then a word that is not a number.
    text = b"4\n1\n3\nV 1\n17\ntorch.FloatTensor\n1\n4\n1\n1\n4\n2\n3\nV 1\n18\ntorch.FloatStorage\n4\n0.5 1.5\nx\n"
    (tmp_path / "bad.t7").write_bytes(text)
    result = mlvet.scan(tmp_path / "bad.t7").results[0]
    assert result.status is Status.ERROR and result.format == "torch7", result.errors


def test_torch7_deep_nesting_is_a_limit(tmp_path: Path) -> None:
    # 300 nested tables: {[1]={[1]={...}}}
    out = bytearray()
    for i in range(300):
        out += struct.pack("<iii", 3, i + 1, 1) + struct.pack("<i", 1) + struct.pack("<d", 1.0)
    out += struct.pack("<i", 0)
    (tmp_path / "deep.t7").write_bytes(bytes(out))
    result = mlvet.scan(tmp_path / "deep.t7").results[0]
    assert result.status is Status.ERROR and "ARC301" in {f.rule_id for f in result.findings}


@pytest.mark.parametrize("rel", sorted(_BINARY))
def test_mutated_bytes_never_crash_the_parser(rel: str, tmp_path: Path) -> None:
    """Seeded byte mutations of each fixture: every outcome is a verdict or an AnalysisError, never an
    internal error (an exception the parser did not anticipate)."""
    import random

    data = (BENIGN / rel).read_bytes()
    rng = random.Random(rel)
    for i in range(15):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(mutated))
            mutated[pos] = rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)))
        target = tmp_path / f"{i}-{Path(rel).name}"
        target.write_bytes(bytes(mutated))
        if rel.startswith("openvino/"):
            shutil.copy(BENIGN / "openvino" / "tiny.xml", target.with_suffix(".xml"))
        result = mlvet.scan(target).results[0]
        assert not any("internal error" in e for e in result.errors), (rel, i, result.errors)


def test_library_names_are_found_without_backtracking(tmp_path: Path) -> None:
    body = b"A" * 300_000 + b"\x00libnvinfer_plugin.so.10\x00" + b"B" * 300_000 + b"\x00C:\\plugins\\x.dll\x00"
    plan = b"ftrt" + struct.pack("<III", 0, 239, len(body)) + body
    (tmp_path / "m.plan").write_bytes(plan)
    result = mlvet.scan(tmp_path / "m.plan").results[0]
    libs = sorted(f.evidence for f in result.findings if f.rule_id == "OTH079")
    assert libs == ["C:\\plugins\\x.dll", "libnvinfer_plugin.so.10"]


def test_lazy_prefilters_admit_every_fixture() -> None:
    """A format module is imported only when its prefilter passes: it must pass on every file the module's
    handlers recognise, or such a file would escape analysis in a fresh process."""
    from mlvet.formats.base import Probe
    from mlvet.formats.dispatch import _LAZY

    module_of = {"cntk": "cntk", "coreml": "coreml", "coreml-weights": "coreml", "coreml-manifest": "coreml",
                 "tensorrt-engine": "tensorrt", "rknn": "rknn", "executorch": "executorch", "mxnet-params": "mxnet",
                 "mxnet-symbol": "mxnet", "openvino-ir": "openvino", "openvino-weights": "openvino",
                 "paddle-program": "paddle", "paddle-params": "paddle", "torch7": "torch7"}
    prefilters = {name: test for name, _, test in _LAZY}
    checked = 0
    for root in (BENIGN, MAL):
        for path, result in _scan(root).items():
            module = module_of.get(result.format or "")
            if module is None:
                continue
            with open(root / path, "rb") as fh:
                head = fh.read(4096)
                fh.seek(0)
                assert prefilters[module](Probe(fh, len(head), Path(path).name, head)), path
            checked += 1
    assert checked >= 40
