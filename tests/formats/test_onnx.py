"""ONNX support and the streaming protobuf reader (``mlvet.analysis.protowire``).

Fixtures in ``tests/assets/onnx/`` were written by the real ``onnx`` library and ``torch.onnx.export``
(``tests/assets/make_onnx.py``). Attack shapes are also rebuilt here from raw protobuf bytes with a tiny
encoder, so each detection is tested without any ONNX package. Symlink and hard-link cases are created
in ``tmp_path``. The multi-GB case uses a sparse file: scanning it must read only the structure.
"""

from __future__ import annotations

import io
import os
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from _support import fl, fv, varint

import mlvet
import mlvet.formats.onnx
from mlvet.analysis.protowire import LEN, VARINT, WireReader, try_fields
from mlvet.errors import AnalysisError
from mlvet.model import FileResult, Severity, Status

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "onnx"


# ---- protobuf building blocks come from _support; format-specific messages below -------------------------


def node(op: str, domain: str = "", *, inputs: tuple[str, ...] = ("X",), outputs: tuple[str, ...] = ("Y",),
         attrs: tuple[bytes, ...] = ()) -> bytes:
    body = b"".join(fl(1, i) for i in inputs) + b"".join(fl(2, o) for o in outputs) + fl(4, op)
    body += b"".join(fl(5, a) for a in attrs)
    if domain:
        body += fl(7, domain)
    return body


def external_tensor(name: str, entries: dict[str, str]) -> bytes:
    body = fv(1, 4) + fv(2, 1) + fl(8, name)
    for k, v in entries.items():
        body += fl(13, fl(1, k) + fl(2, v))
    return body + fv(14, 1)


def model(graph: bytes, *, opsets: tuple[tuple[str, int], ...] = (("", 17),), extra: bytes = b"") -> bytes:
    out = fv(1, 8) + fl(2, "mlvet-test") + fl(7, graph)
    for domain, version in opsets:
        out += fl(8, fl(1, domain) + fv(2, version))
    return out + extra


def graph(*nodes: bytes, initializers: tuple[bytes, ...] = ()) -> bytes:
    return b"".join(fl(1, n) for n in nodes) + fl(2, "g") + b"".join(fl(5, t) for t in initializers)


def scan_path(path: Path | str) -> FileResult:
    report = mlvet.scan([path])
    assert len(report.results) == 1
    return report.results[0]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def rules(res: FileResult) -> dict[str, Severity]:
    out: dict[str, Severity] = {}
    for f in res.findings:
        out[f.rule_id] = max(out.get(f.rule_id, Severity.NONE), f.severity)
    return out


# ---- benign ----------------------------------------------------------------------------------------------

BENIGN = ["benign.onnx", "benign_external", "local_function.onnx", "torch_legacy.onnx", "torch_dynamo",
          "torch_conv_legacy.onnx", "torch_conv_dynamo", "torch_seq_legacy.onnx", "torch_seq_dynamo",
          "sklearn_logreg.onnx", "sklearn_forest.onnx", "extensions_strings.onnx", "local_function_named_pyop.onnx"]


@pytest.mark.parametrize("name", BENIGN)
def test_benign_models_written_by_real_libraries_have_no_medium_finding(name: str) -> None:
    report = mlvet.scan([ASSETS / name])
    assert report.results
    for res in report.results:
        assert res.status is not Status.ERROR, (res.path, res.errors)
        assert res.severity < Severity.MEDIUM, [(f.rule_id, f.message) for f in res.findings]
        if res.path.endswith(".onnx"):
            assert res.format == "onnx"
            assert "ONX600" in rules(res)


def test_inventory_lists_ops_of_sub_graphs() -> None:
    res = scan_path(ASSETS / "benign.onnx")
    inv = next(f for f in res.findings if f.rule_id == "ONX600")
    for op in ("MatMul", "If", "Relu", "Neg", "Constant"):
        assert op in inv.evidence
    assert "2 sub-graphs" in inv.message


def test_external_data_file_is_attributed_to_its_model_not_an_error() -> None:
    res = scan_path(ASSETS / "benign_external" / "model.onnx.data")
    assert res.format == "onnx-external-data"
    assert res.status is Status.SKIPPED
    assert "model.onnx" in (res.skip_reason or "")


def test_local_function_domain_is_not_a_custom_op() -> None:
    res = scan_path(ASSETS / "local_function.onnx")
    assert "ONX601" not in rules(res)
    assert rules(res)["ONX604"] is Severity.INFO


def test_fresh_model_saved_by_onnx_at_test_time_is_clean(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    np = pytest.importorskip("numpy")
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 64), np.float32), "W")
    g = helper.make_graph([helper.make_node("MatMul", ["X", "W"], ["Y"])], "g",
                          [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 64])], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    (tmp_path / "weights").mkdir()
    onnx.save_model(m, tmp_path / "m.onnx", save_as_external_data=True, location="weights/w.bin",
                    size_threshold=0)
    report = mlvet.scan([tmp_path])
    by_name = {Path(r.path).name: r for r in report.results}
    assert by_name["m.onnx"].severity < Severity.MEDIUM
    assert by_name["w.bin"].format == "onnx-external-data"
    assert not report.incomplete


# ---- published attack shapes (committed fixtures) --------------------------------------------------------

MALICIOUS = [
    ("custom_domain.onnx", "ONX601", Severity.MEDIUM, "ShellExec"),
    ("custom_in_subgraph.onnx", "ONX601", Severity.MEDIUM, "Exfiltrate"),
    ("contrib_op.onnx", "ONX601", Severity.LOW, "FusedGemm"),
    ("python_op.onnx", "ONX601", Severity.HIGH, "func_name='evil.module.Function'"),
    ("pyop_contrib.onnx", "ONX601", Severity.HIGH, "ai.onnx.contrib::PyOp"),
    ("pyop_default.onnx", "ONX601", Severity.HIGH, "op_type_name='os.system'"),
    ("pythonop_prim.onnx", "ONX601", Severity.HIGH, "name_s='MyFunction'"),
    ("ext_traversal/model.onnx", "ONX602", Severity.HIGH, "CVE-2022-25882"),
    ("ext_absolute/model.onnx", "ONX602", Severity.HIGH, "absolute path"),
    ("ext_nested_traversal/model.onnx", "ONX602", Severity.HIGH, "CVE-2024-27318"),
    ("ext_ort_mem_addr/model.onnx", "ONX602", Severity.HIGH, "_ORT_MEM_ADDR_"),
    ("ext_in_attribute/model.onnx", "ONX602", Severity.HIGH, "Constant"),
    ("ext_attr_injection/model.onnx", "ONX603", Severity.MEDIUM, "__class__"),
    ("ext_missing/model.onnx", "ONX603", Severity.LOW, "does not exist"),
    ("code_in_doc_string.onnx", "ONX605", Severity.INFO, "code-like"),
]


@pytest.mark.parametrize(("name", "rule", "severity", "text"), MALICIOUS)
def test_malicious_fixture(name: str, rule: str, severity: Severity, text: str) -> None:
    res = scan_path(ASSETS / name)
    assert res.status is Status.SCANNED, res.errors
    hits = [f for f in res.findings if f.rule_id == rule]
    assert hits, [(f.rule_id, f.message) for f in res.findings]
    assert max(f.severity for f in hits) == severity
    assert any(text in f.message or text in f.evidence for f in hits)


# ---- the same shapes built from bytes --------------------------------------------------------------------


@pytest.mark.parametrize("domain", ["", "ai.onnx", "ai.onnx.contrib", "com.microsoft", "my.ops"])
@pytest.mark.parametrize("op", ["PyOp", "PythonOp"])
def test_python_ops_are_high_in_any_domain_with_node_and_attributes(tmp_path: Path, domain: str, op: str) -> None:
    """onnxruntime-extensions PyOp / ORTModule PythonOp (ISSUE-9): high wherever they are, even in a branch."""
    attr = fl(1, "op_type_name") + fl(4, "subprocess.run") + fv(20, 3)  # AttributeProto STRING
    then_g = graph(node("Relu", inputs=("X",), outputs=("T",)))
    else_g = graph(node(op, domain, inputs=("X",), outputs=("E",), attrs=(attr,)))
    if_node = node("If", inputs=("C",), attrs=(fl(1, "then_branch") + fl(6, then_g) + fv(20, 5),
                                                fl(1, "else_branch") + fl(6, else_g) + fv(20, 5)))
    opsets = (("", 17),) + (((domain, 1),) if domain not in ("", "ai.onnx") else ())
    res = scan_path(write(tmp_path, "m.onnx", model(graph(if_node), opsets=opsets)))
    hits = [f for f in res.findings if f.rule_id == "ONX601" and f.severity is Severity.HIGH]
    assert len(hits) == 1, [(f.rule_id, f.severity, f.message) for f in res.findings]
    assert "op_type_name='subprocess.run'" in hits[0].evidence and f"::{op}" in hits[0].evidence
    assert "else_branch" in hits[0].message  # where the node is


def test_multi_line_producer_version_is_still_onnx(tmp_path: Path) -> None:
    """CatBoost's ONNX export puts its git info (several lines) in producer_version."""
    git_info = "Git info:\n    Commit: b1bd2a6\n    Branch: tags/v1.2.10\n\nOther info:\n    Build by: Unknown user\n"
    data = fv(1, 3) + fl(2, "CatBoost") + fl(3, git_info) + fl(7, graph(node("Relu"))) + fl(8, fl(1, "") + fv(2, 9))
    res = scan_path(write(tmp_path, "classifier.onnx", data))
    assert res.format == "onnx" and res.status is Status.SCANNED, res.errors


def test_ordinary_contrib_and_extensions_ops_stay_low() -> None:
    for name in ("contrib_op.onnx", "extensions_strings.onnx"):
        res = scan_path(ASSETS / name)
        assert res.severity is Severity.LOW, [(f.rule_id, f.message) for f in res.findings]



@pytest.mark.parametrize(("location", "cve"), [
    ("../secret.txt", "CVE-2022-25882"),
    ("/etc/passwd", "CVE-2022-25882"),
    ("C:\\Windows\\win.ini", "CVE-2022-25882"),
    ("a/b/../../../x", "CVE-2024-27318"),
    ("a\\..\\..\\x", "CVE-2024-27318"),
])
def test_external_location_traversal_from_bytes(tmp_path: Path, location: str, cve: str) -> None:
    tensor = external_tensor("W", {"location": location})
    data = model(graph(node("MatMul", inputs=("X", "W")), initializers=(tensor,)))
    res = scan_path(write(tmp_path, "m.onnx", data))
    hits = [f for f in res.findings if f.rule_id == "ONX602"]
    assert hits and hits[0].severity is Severity.HIGH and cve in hits[0].message


def test_external_data_in_sparse_initializer_and_function_attribute(tmp_path: Path) -> None:
    sparse = fl(1, external_tensor("vals", {"location": "../v.bin"})) + fl(2, external_tensor("idx", {}))
    attr = fl(1, "value") + fl(5, external_tensor("C", {"location": "/etc/hosts"}))
    fn = fl(1, "F") + fl(10, "local") + fl(7, node("Constant", inputs=(), attrs=(attr,)))
    g = graph(node("F", "local")) + fl(15, sparse)
    res = scan_path(write(tmp_path, "m.onnx", model(g, opsets=(("", 17), ("local", 1)), extra=fl(25, fn))))
    messages = " ".join(f.message for f in res.findings if f.rule_id == "ONX602")
    assert "'vals'" in messages and "'C'" in messages
    assert "ONX601" not in rules(res)  # 'local' is a model-local function


def test_symlinked_external_file_pointing_outside_is_high(tmp_path: Path) -> None:
    outside = write(tmp_path, "outside/secret.txt", b"s3cret")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "w.bin").symlink_to(outside)
    tensor = external_tensor("W", {"location": "w.bin"})
    p = write(model_dir, "m.onnx", model(graph(node("Relu"), initializers=(tensor,))))
    res = scan_path(p)
    hits = [f for f in res.findings if f.rule_id == "ONX602"]
    assert hits and "GHSA-p433-9wv8-28xj" in hits[0].message and "secret.txt" in hits[0].message


def test_symlinked_parent_folder_pointing_outside_is_high(tmp_path: Path) -> None:
    write(tmp_path, "outside/w.bin", b"\0" * 16)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "weights").symlink_to(tmp_path / "outside", target_is_directory=True)
    tensor = external_tensor("W", {"location": "weights/w.bin"})
    res = scan_path(write(model_dir, "m.onnx", model(graph(node("Relu"), initializers=(tensor,)))))
    assert rules(res).get("ONX602") is Severity.HIGH


def test_hugging_face_cache_symlinks_are_not_traversal(tmp_path: Path) -> None:
    """snapshots/<rev>/{model.onnx, model.onnx.data} are symlinks into blobs/: that is where both live."""
    blobs = tmp_path / "blobs"
    snap = tmp_path / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    tensor = external_tensor("W", {"location": "model.onnx.data"})
    write(blobs, "m-blob", model(graph(node("Relu"), initializers=(tensor,))))
    write(blobs, "d-blob", b"\0" * 64)
    (snap / "model.onnx").symlink_to(Path("../../blobs/m-blob"))
    (snap / "model.onnx.data").symlink_to(Path("../../blobs/d-blob"))
    res = scan_path(snap / "model.onnx")
    assert "ONX602" not in rules(res), [f.message for f in res.findings]


def test_hard_linked_external_file_is_reported(tmp_path: Path) -> None:
    target = write(tmp_path, "elsewhere.bin", b"\0" * 64)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    os.link(target, model_dir / "w.bin")
    tensor = external_tensor("W", {"location": "w.bin"})
    p = write(model_dir, "m.onnx", model(graph(node("Relu"), initializers=(tensor,))))
    hits = [f for f in scan_path(p).findings if f.rule_id == "ONX603"]
    assert hits and "hard links" in hits[0].message


def test_offsets_past_the_end_of_the_data_file(tmp_path: Path) -> None:
    write(tmp_path, "w.bin", b"\0" * 16)
    tensor = external_tensor("W", {"location": "w.bin", "offset": "8", "length": "4096"})
    res = scan_path(write(tmp_path, "m.onnx", model(graph(node("Relu"), initializers=(tensor,)))))
    assert any("past the end" in f.message for f in res.findings if f.rule_id == "ONX603")


def test_external_traversal_inside_a_zip_is_still_reported(tmp_path: Path) -> None:
    data = (ASSETS / "ext_traversal" / "model.onnx").read_bytes()
    z = tmp_path / "bundle.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("model/model.onnx", data)
    res = scan_path(z)
    assert rules(res).get("ONX602") is Severity.HIGH


def test_unreferenced_binary_next_to_a_model_is_not_attributed(tmp_path: Path) -> None:
    write(tmp_path, "m.onnx", (ASSETS / "benign.onnx").read_bytes())
    blob = write(tmp_path, "stray.bin", bytes(range(256)) * 8)
    res = scan_path(blob)
    assert res.format != "onnx-external-data"
    assert res.status is Status.ERROR


def test_float_data_that_resembles_protocol_1_pickle_is_still_external_data(tmp_path: Path) -> None:
    tensor = external_tensor("W", {"location": "w.bin"})
    write(tmp_path, "m.onnx", model(graph(node("Relu"), initializers=(tensor,))))
    res = scan_path(write(tmp_path, "w.bin", b"TM\xd6>0\xbfN>" + b"\x00" * 64))
    assert res.format == "onnx-external-data" and res.status is Status.SKIPPED, res.errors


def test_renamed_pickle_posing_as_external_data_is_still_a_pickle(tmp_path: Path) -> None:
    tensor = external_tensor("W", {"location": "w.bin"})
    write(tmp_path, "m.onnx", model(graph(node("Relu"), initializers=(tensor,))))
    payload = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."  # os.system('id'), protocol 2
    res = scan_path(write(tmp_path, "w.bin", payload))
    assert res.format == "pickle"
    assert res.severity >= Severity.HIGH


# ---- streaming: multi-GB initializers cost nothing -------------------------------------------------------


def make_big_onnx(path: Path, gb: float) -> int:
    """An ONNX model whose initializer ``raw_data`` is ``gb`` GiB of zeros (a sparse hole on disk), with
    a custom-domain node *after* it on the wire so that the scan must walk past the blob to see it."""
    n = int(gb * (1 << 30))
    tensor_head = fv(1, n // 4) + fv(2, 1) + fl(8, "big") + varint(9 << 3 | LEN) + varint(n)
    tail_node = fl(1, node("Exfiltrate", "evil.ops"))
    initializer = varint(5 << 3 | LEN) + varint(len(tensor_head) + n)
    graph_len = len(initializer) + len(tensor_head) + n + len(tail_node)
    head = fv(1, 8) + varint(7 << 3 | LEN) + varint(graph_len) + initializer + tensor_head
    opset = fl(8, fl(1, "") + fv(2, 17)) + fl(8, fl(1, "evil.ops") + fv(2, 1))
    with open(path, "wb") as f:
        f.write(head)
        f.seek(len(head) + n)
        f.write(tail_node + opset)
    return len(head) + n + len(tail_node) + len(opset)


def test_multi_gb_initializer_is_skipped_not_read(tmp_path: Path) -> None:
    path = tmp_path / "big.onnx"
    size = make_big_onnx(path, 3)
    assert path.stat().st_size == size > 3 << 30
    tracemalloc.start()
    t0 = time.perf_counter()
    res = scan_path(path)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert res.status is Status.SCANNED, res.errors
    assert any("Exfiltrate" in f.message for f in res.findings if f.rule_id == "ONX601")
    assert elapsed < 5, f"scan took {elapsed:.1f}s: the blob was read"
    assert peak < 32 * 1024 * 1024, f"peak memory {peak} bytes"


def test_wire_reader_skips_large_fields_without_reading_them() -> None:
    payload = b"\0" * (1 << 20)
    data = fl(1, payload) + fv(2, 7)
    reader = WireReader(io.BytesIO(data), len(data))
    fields = list(reader.fields(reader.root()))
    assert [(f.number, f.wire) for f in fields] == [(1, LEN), (2, VARINT)]
    assert fields[1].value == 7
    assert reader.bytes_read < 200 * 1024


# ---- malformed input: clear errors, never a traceback or clean --------------------------------------------


def _malformed_cases() -> dict[str, bytes]:
    good = model(graph(node("Relu")))
    deep = fl(1, node("Relu"))
    for _ in range(60):  # graph -> node -> attribute -> graph ...: 3 message levels per step
        attr = fl(1, "body") + fl(6, deep)
        deep = fl(1, node("Loop", attrs=(attr,)))
    return {
        "truncated": good[: len(good) - 5],
        "length past end": fv(1, 8) + varint(7 << 3 | LEN) + varint(10_000) + fl(1, node("Relu")),
        "varint overflow": fv(1, 8) + fl(7, varint(1 << 3 | LEN) + b"\xff" * 11) + fl(8, fl(1, "")),
        "deep nesting": model(deep),
        "bad wire type": fv(1, 8) + fl(7, bytes([1 << 3 | 3]) + b"\x00") + fl(8, b""),
    }


@pytest.mark.parametrize("case", list(_malformed_cases()))
def test_malformed_onnx_is_an_error_with_a_clear_message(tmp_path: Path, case: str) -> None:
    res = scan_path(write(tmp_path, "bad.onnx", _malformed_cases()[case]))
    assert res.format == "onnx"
    assert res.status is Status.ERROR
    assert any("malformed ONNX model" in e for e in res.errors), res.errors
    assert not any("internal error" in e for e in res.errors)


def test_random_binary_and_text_are_not_claimed_as_onnx(tmp_path: Path) -> None:
    import random

    rng = random.Random(1234)
    for i in range(50):
        blob = bytes(rng.randrange(256) for _ in range(2048))
        assert not mlvet.formats.onnx.looks_like_onnx(blob), i
    res = scan_path(write(tmp_path, "notes.onnx", b"ir_version: 8\ngraph { }\n"))
    assert res.format != "onnx"


def test_try_fields_rejects_garbage_and_reads_prefixes() -> None:
    assert try_fields(b"\x00\x00") is None
    assert try_fields(bytes([1 << 3 | 6])) is None
    assert try_fields(fv(1, 5) + fl(2, "abc")) == [(1, VARINT, 5, 2), (2, LEN, 3, 4)]


def test_wire_reader_errors_name_the_offset() -> None:
    data = fv(1, 1) + varint(2 << 3 | LEN) + varint(50) + b"x"
    reader = WireReader(io.BytesIO(data), len(data), what="test message")
    with pytest.raises(AnalysisError, match=r"malformed test message: field 2 declares 50 bytes .* at byte 2"):
        list(reader.fields(reader.root()))


@pytest.mark.parametrize("name", ["benign.onnx", "custom_in_subgraph.onnx", "torch_legacy.onnx"])
def test_byte_flips_and_truncations_never_crash(tmp_path: Path, name: str) -> None:
    import random

    rng = random.Random(name)
    data = (ASSETS / name).read_bytes()
    for k in range(40):
        b = bytearray(data)
        if k < 30:
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        else:
            b = b[: rng.randrange(len(b))]
        res = scan_path(write(tmp_path, name, bytes(b)))
        assert res.status in (Status.SCANNED, Status.SKIPPED, Status.ERROR)
        assert not any("internal error" in e for e in res.errors), (k, res.errors)
        if res.status is Status.ERROR:
            assert res.errors
