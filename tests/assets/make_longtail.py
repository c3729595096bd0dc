"""Make the long-tail format fixtures of issue 12 (``tests/assets/longtail/{benign,malicious}``).

Where the real library installs here (Python 3.11, CPU), it writes the benign files and the base of the
malicious ones: coremltools (Core ML ``.mlmodel`` / ``.mlpackage``), paddlepaddle (``.pdmodel``,
``.pdiparams``, ``.pdparams``) and openvino (IR ``.xml`` + ``.bin``). The others have no installable
writer here (MXNet and CNTK are retired and have no Python 3.11 wheels; ExecuTorch pins its own torch;
TensorRT and RKNN need vendor SDKs; Torch7 is Lua), so their files are built to the published layouts:

* Torch7: ``File.lua`` ``writeObject`` (binary mode) and the Tensor/Storage ``write`` methods;
* CNTK: ``CNTK.proto`` (``Dictionary``/``DictionaryValue``) and the UDF keys of ``UserDefinedFunction.cpp``;
* MXNet: ``NDArray::Save`` (V2 magic) inside the ``0x112`` list, and the ``-symbol.json`` node list;
* ExecuTorch: ``schema/program.fbs`` (identifier ``ET12``) with the ``flatbuffers`` builder;
* TensorRT: the ``ftrt`` plan tag (and Ultralytics' JSON prefix); RKNN: ``RKNN`` header, data, JSON.

Malicious variants exercise each code path of each format. Run in a venv that has the libraries:

    python -m venv --system-site-packages /work/venvs/fmt-new
    /work/venvs/fmt-new/bin/pip install coremltools openvino paddlepaddle flatbuffers torch==2.13.0
    /work/venvs/fmt-new/bin/python tests/assets/make_longtail.py

It also rewrites ``src/mlvet/formats/data/paddle_ops.txt`` (Paddle's registered operator types).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent / "longtail"
BENIGN = ROOT / "benign"
MAL = ROOT / "malicious"
DATA = Path(__file__).resolve().parents[2] / "src" / "mlvet" / "formats" / "data"
RNG = np.random.default_rng(12)


# ---- a minimal protobuf wire encoder (for CNTK, and to edit Paddle/Core ML messages) ---------------------

def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb_len(field: int, payload: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def pb_int(field: int, value: int) -> bytes:
    return varint(field << 3) + varint(value)


# ---- Core ML ------------------------------------------------------------------------------------------

def make_coreml() -> None:
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder
    from coremltools.proto import Model_pb2, NeuralNetwork_pb2

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4))])
    def prog(x):  # type: ignore[no-untyped-def]
        h = mb.linear(x=x, weight=RNG.random((8, 4)).astype(np.float32), bias=RNG.random(8).astype(np.float32))
        return mb.relu(x=mb.linear(x=h, weight=RNG.random((3, 8)).astype(np.float32)), name="y")

    model = ct.convert(prog, convert_to="mlprogram", skip_model_load=True, compute_precision=ct.precision.FLOAT32)
    shutil.rmtree(BENIGN / "coreml" / "tiny.mlpackage", ignore_errors=True)
    model.save(str(BENIGN / "coreml" / "tiny.mlpackage"))

    nn = NeuralNetworkBuilder([("x", datatypes.Array(4))], [("y", datatypes.Array(3))])
    nn.add_inner_product("fc", RNG.random((3, 4)).astype(np.float32), None, 4, 3, False, "x", "h")
    nn.add_activation("act", "RELU", "h", "y")
    ct.utils.save_spec(nn.spec, str(BENIGN / "coreml" / "neuralnet.mlmodel"))

    custom = NeuralNetworkBuilder([("x", datatypes.Array(4))], [("y", datatypes.Array(4))])
    params = NeuralNetwork_pb2.CustomLayerParams(className="ShellExecLayer", description="runs a command")
    custom.add_custom("custom", ["x"], ["y"], custom_proto_spec=params)
    ct.utils.save_spec(custom.spec, str(MAL / "coreml_custom_layer_shell.mlmodel"))

    spec = Model_pb2.Model(specificationVersion=4)
    spec.description.CopyFrom(nn.spec.description)
    spec.customModel.className = "DownloadAndRunModel"
    ct.utils.save_spec(spec, str(MAL / "coreml_custom_model_download.mlmodel"))

    pipeline = Model_pb2.Model(specificationVersion=4)
    pipeline.description.CopyFrom(custom.spec.description)
    pipeline.pipeline.models.add().CopyFrom(nn.spec)
    pipeline.pipeline.models.add().CopyFrom(custom.spec)
    ct.utils.save_spec(pipeline, str(MAL / "coreml_pipeline_nested_custom.mlmodel"))

    escape = MAL / "coreml_manifest_escape.mlpackage"
    shutil.rmtree(escape, ignore_errors=True)
    shutil.copytree(BENIGN / "coreml" / "tiny.mlpackage", escape)
    manifest = json.loads((escape / "Manifest.json").read_text(encoding="utf-8"))
    for item in manifest["itemInfoEntries"].values():
        if item["name"] == "model.mlmodel":
            item["path"] = "../../../../Users/victim/Library/other.mlmodel"
    (escape / "Manifest.json").write_text(json.dumps(manifest, indent=4), encoding="utf-8")

    linked = Model_pb2.Model(specificationVersion=4)
    linked.description.CopyFrom(nn.spec.description)
    linked.linkedModel.linkedModelFile.linkedModelFileName.defaultValue = "../../../../tmp/other.mlmodelc"
    ct.utils.save_spec(linked, str(MAL / "coreml_linked_escape.mlmodel"))


# ---- PaddlePaddle ---------------------------------------------------------------------------------------

def make_paddle() -> None:
    import paddle
    from paddle.base import core
    from paddle.base.proto import framework_pb2

    paddle.enable_static()
    with paddle.pir_utils.OldIrGuard():
        main, start = paddle.static.Program(), paddle.static.Program()
        with paddle.static.program_guard(main, start):
            x = paddle.static.data("x", [None, 4], "float32")
            z = paddle.nn.functional.relu(paddle.static.nn.fc(x, 3))
        exe = paddle.static.Executor(paddle.CPUPlace())
        exe.run(start)
        paddle.static.save_inference_model(str(BENIGN / "paddle" / "inference"), [x], [z], exe, program=main)
    paddle.disable_static()
    paddle.save(paddle.nn.Linear(4, 3).state_dict(), str(BENIGN / "paddle" / "linear.pdparams"))
    # Paddle 3's default: a PIR JSON program (model.json) beside model.pdiparams.
    layer = paddle.nn.Sequential(paddle.nn.Linear(4, 3), paddle.nn.ReLU())
    paddle.jit.save(layer, str(BENIGN / "paddle" / "pir" / "model"),
                    input_spec=[paddle.static.InputSpec([None, 4], "float32")])
    pir = json.loads((BENIGN / "paddle" / "pir" / "model.json").read_text(encoding="utf-8"))
    ops = pir["program"]["regions"][0]["blocks"][0]["ops"]
    ops.insert(len(ops) - 1, {"#": "1.save_combine", "A": [
        {"AT": {"#": "0.a_str", "D": "/home/user/.ssh/authorized_keys"}, "N": "file_path"}], "I": [], "O": []})
    (MAL / "paddle_pir_save_combine.json").write_text(json.dumps(pir), encoding="utf-8")
    ops.insert(len(ops) - 1, {"#": "3.custom_shell_exec", "A": [], "I": [], "O": []})
    ops.pop(len(ops) - 3)  # keep only the custom op in the second variant
    (MAL / "paddle_pir_custom_op.json").write_text(json.dumps(pir), encoding="utf-8")

    program = framework_pb2.ProgramDesc.FromString((BENIGN / "paddle" / "inference.pdmodel").read_bytes())
    block = program.blocks[0]

    def add_op(kind: str, **attrs: str) -> None:
        op = block.ops.add()
        op.type = kind
        for name, value in attrs.items():
            a = op.attrs.add()
            a.name = name
            a.type = framework_pb2.AttrType.STRING
            a.s = value

    for name, kind, attrs in (
        ("paddle_save_op.pdmodel", "save", {"file_path": "/home/user/.bashrc"}),
        ("paddle_load_op.pdmodel", "load_combine", {"file_path": "/etc/shadow"}),
        ("paddle_py_func.pdmodel", "py_func", {}),
        ("paddle_custom_op_exec.pdmodel", "custom_exec_shell", {}),
    ):
        evil = framework_pb2.ProgramDesc()
        evil.CopyFrom(program)
        block = evil.blocks[0]
        add_op(kind, **attrs)
        (MAL / name).write_bytes(evil.SerializeToString())

    class Reduce:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, ("id > /tmp/mlvet_paddle_pwned",))

    (MAL / "paddle_state.pdparams").write_bytes(pickle.dumps({"linear.weight": Reduce()}, protocol=4))

    ops = set()
    for raw in core.get_all_op_protos():
        ops.add(framework_pb2.OpProto.FromString(raw).type)
    ops |= set(core._get_all_register_op_kernels("all"))
    header = (f"# PaddlePaddle {paddle.__version__} registered operator types (core.get_all_op_protos + "
              "registered kernels); made by tests/assets/make_longtail.py\n")
    (DATA / "paddle_ops.txt").write_text(header + "\n".join(sorted(ops)) + "\n", encoding="utf-8")


# ---- OpenVINO -------------------------------------------------------------------------------------------

def make_openvino() -> None:
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, 4], np.float32, name="x")
    w = ops.constant(RNG.random((3, 4)).astype(np.float32))
    y = ops.relu(ops.matmul(x, w, False, True))
    ov.save_model(ov.Model([y], [x], "tiny"), str(BENIGN / "openvino" / "tiny.xml"), compress_to_fp16=False)
    xml = (BENIGN / "openvino" / "tiny.xml").read_text(encoding="utf-8")
    evil = xml.replace('type="ReLU" version="opset1"', 'type="RunShellCommand" version="custom_extension"')
    assert evil != xml
    (MAL / "openvino_custom_layer.xml").write_text(evil, encoding="utf-8")
    shutil.copy(BENIGN / "openvino" / "tiny.bin", MAL / "openvino_custom_layer.bin")


# ---- Torch7 (File.lua binary writeObject) ---------------------------------------------------------------

class T7:
    """``File.lua`` writeObject in binary mode, or in ASCII mode (DiskFile: numbers as text separated by spaces
    with a newline after each write call, strings and byte storages raw followed by a newline)."""

    def __init__(self, ascii: bool = False) -> None:
        self.out = bytearray()
        self.index = 0
        self.ascii = ascii

    def i(self, n: int) -> None:
        self.out += f"{n}\n".encode() if self.ascii else struct.pack("<i", n)

    def longs(self, values: list[int]) -> None:
        if self.ascii:
            self.out += (" ".join(map(str, values)) + "\n").encode() if values else b""
        else:
            self.out += struct.pack(f"<{len(values)}q", *values)

    def raw(self, data: bytes) -> None:
        self.out += data + (b"\n" if self.ascii and data else b"")

    def string(self, s: bytes) -> None:
        self.i(2)
        self.i(len(s))
        self.raw(s)

    def number(self, v: float) -> None:
        self.i(1)
        self.out += f"{v:.17g}\n".encode() if self.ascii else struct.pack("<d", v)

    def _new(self, tag: int) -> None:
        self.index += 1
        self.i(tag)
        self.i(self.index)

    def table(self, items: list[tuple[object, object]]) -> None:
        self._new(3)
        self.i(len(items))
        for k, v in items:
            self.value(k)
            self.value(v)

    def value(self, v: object) -> None:
        if isinstance(v, str):
            self.string(v.encode())
        elif isinstance(v, (int, float)):
            self.number(float(v))
        elif callable(v):
            v()
        else:
            raise TypeError(v)

    def torch_header(self, cls: str) -> None:
        self._new(4)
        self.i(3)
        self.raw(b"V 1")
        self.i(len(cls))
        self.raw(cls.encode())

    def tensor(self, arr: np.ndarray) -> None:
        self.torch_header("torch.FloatTensor")
        self.i(arr.ndim)
        self.longs(list(arr.shape))
        self.longs([int(s // 4) for s in arr.strides])
        self.longs([1])
        self.torch_header("torch.FloatStorage")
        self.longs([arr.size])
        if self.ascii:
            self.out += (" ".join(f"{x:.9g}" for x in arr.ravel()) + "\n").encode()
        else:
            self.out += arr.astype("<f4").tobytes()

    def module(self, cls: str, fields: list[tuple[object, object]]) -> None:
        self.torch_header(cls)
        self.table(fields)

    def function(self, bytecode: bytes) -> None:
        self.i(6)
        self.i(len(bytecode))
        self.raw(bytecode)
        self.table([])


def make_torch7() -> None:
    w = RNG.random((3, 4)).astype(np.float32)
    b = RNG.random(3).astype(np.float32)

    t = T7()
    t.module("nn.Linear", [("weight", lambda: t.tensor(w)), ("bias", lambda: t.tensor(b)), ("train", 1)])
    (BENIGN / "torch7" / "linear.t7").write_bytes(t.out)

    t = T7()
    t.table([("epoch", 3), ("name", "checkpoint"), ("weights", lambda: t.tensor(w))])
    (BENIGN / "torch7" / "table.t7").write_bytes(t.out)

    t = T7(ascii=True)
    t.module("nn.Linear", [("weight", lambda: t.tensor(w)), ("bias", lambda: t.tensor(b)), ("train", 1)])
    (BENIGN / "torch7" / "linear_ascii.t7").write_bytes(t.out)

    # A LuaJIT 2 bytecode dump header ("\x1bLJ", version 2) then a made-up body: torch.load loadstring()s it.
    luajit = b"\x1bLJ\x02\x00" + b"os.execute('id > /tmp/mlvet_t7_pwned')".ljust(64, b"\x00")
    t = T7()
    t.module("nn.Sequential", [("modules", lambda: t.table([(1, lambda: t.module("nn.Linear", [
        ("weight", lambda: t.tensor(w))]))])), ("forward_hook", lambda: t.function(luajit))])
    (MAL / "torch7_lua_function.t7").write_bytes(t.out)

    t = T7(ascii=True)
    t.module("nn.Sequential", [("modules", lambda: t.table([])), ("forward_hook", lambda: t.function(luajit))])
    (MAL / "torch7_lua_function_ascii.t7").write_bytes(t.out)

    t = T7()
    t.module("evil.Backdoor", [("payload", "x"), ("weight", lambda: t.tensor(w))])
    (MAL / "torch7_foreign_class.t7").write_bytes(t.out)


# ---- CNTK (CNTK.proto Dictionary) ------------------------------------------------------------------------

def cntk_value(v: object) -> bytes:
    if isinstance(v, bool):
        return pb_int(2, 1) + pb_int(3, int(v))
    if isinstance(v, int):
        return pb_int(2, 3) + pb_int(5, v)
    if isinstance(v, str):
        return pb_int(2, 6) + pb_len(8, v.encode())
    if isinstance(v, dict):
        return pb_int(2, 10) + pb_len(12, cntk_dict(v))
    if isinstance(v, list):
        return pb_int(2, 9) + pb_len(11, b"".join(pb_len(1, cntk_value(x)) for x in v))
    if isinstance(v, np.ndarray):
        shape = pb_len(1, b"".join(varint(d) for d in v.shape))
        values = pb_len(1, v.astype("<f4").tobytes())
        return pb_int(2, 11) + pb_len(13, pb_int(1, 1) + pb_len(3, shape) + pb_len(4, values))
    raise TypeError(v)


def cntk_dict(d: dict[str, object]) -> bytes:
    out = pb_int(1, 1)
    for k, v in d.items():
        out += pb_len(2, pb_len(1, k.encode()) + pb_len(2, cntk_value(v)))
    return out


def make_cntk() -> None:
    w = RNG.random((3, 4)).astype(np.float32)
    param = {"version": 1, "type": "Variable", "uid": "Parameter4", "kind": 3, "name": "W", "value": w}
    times = {"version": 1, "type": "PrimitiveFunction", "op": 19, "uid": "Times7", "name": "dense",
             "inputs": ["Parameter4", "Input3"], "attributes": {"version": 1}}

    def model(extra: list[dict[str, object]]) -> bytes:
        return cntk_dict({"version": 1, "type": "CompositeFunction", "root": "Times7", "uid": "CompositeFunction9",
                          "name": "model", "inputs": [param], "primitive_functions": [times, *extra]})

    (BENIGN / "cntk" / "dense.model").write_bytes(model([]))
    python_udf = {"version": 0, "type": "UserDefinedFunction", "uid": "UserDefinedFunction12", "name": "MySigmoid",
                  "inputs": ["Times7_Output_0"], "native": False,
                  "user_defined_state": {"version": 1, "class": "system", "module": "os", "op_name": "MySigmoid",
                                         "state": {"version": 1}}}
    (MAL / "cntk_python_udf.model").write_bytes(model([python_udf]))
    native_udf = {"version": 0, "type": "UserDefinedFunction", "uid": "UserDefinedFunction13", "name": "fast_op",
                  "inputs": ["Times7_Output_0"], "native": True,
                  "user_defined_state": {"version": 0, "type": "NativeUserDefinedFunction", "op": "FastOp",
                                         "module": "/tmp/payload.so", "deserialize_method": "CreateFastOp",
                                         "user_defined_state": {"version": 1}}}
    (MAL / "cntk_native_udf.model").write_bytes(model([native_udf]))


# ---- MXNet (NDArray list + symbol JSON) ------------------------------------------------------------------

def mx_array(arr: np.ndarray) -> bytes:
    out = struct.pack("<Ii", 0xF993FAC9, 0)  # V2 magic, default storage
    out += struct.pack("<i", arr.ndim) + struct.pack(f"<{arr.ndim}q", *arr.shape)
    out += struct.pack("<ii", 1, 0)  # context: cpu(0)
    out += struct.pack("<i", 0) + arr.astype("<f4").tobytes()  # float32
    return out


def mx_params(named: dict[str, np.ndarray]) -> bytes:
    out = struct.pack("<QQQ", 0x112, 0, len(named)) + b"".join(mx_array(a) for a in named.values())
    out += struct.pack("<Q", len(named))
    for name in named:
        out += struct.pack("<Q", len(name)) + name.encode()
    return out


def mx_symbol(custom: str | None) -> str:
    nodes: list[dict[str, object]] = [
        {"op": "null", "name": "data", "inputs": []},
        {"op": "null", "name": "fc_weight", "attrs": {"num_hidden": "3"}, "inputs": []},
        {"op": "null", "name": "fc_bias", "attrs": {"num_hidden": "3"}, "inputs": []},
        {"op": "FullyConnected", "name": "fc", "attrs": {"num_hidden": "3"},
         "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]},
        {"op": "Activation", "name": "relu", "attrs": {"act_type": "relu"}, "inputs": [[3, 0, 0]]},
    ]
    if custom:
        nodes.append({"op": "Custom", "name": "post", "attrs": {"op_type": custom}, "inputs": [[4, 0, 0]]})
    heads = [[len(nodes) - 1, 0, 0]]
    doc = {"nodes": nodes, "arg_nodes": [0, 1, 2], "node_row_ptr": list(range(len(nodes) + 1)), "heads": heads,
           "attrs": {"mxnet_version": ["int", 10901]}}
    return json.dumps(doc, indent=2)


def make_mxnet() -> None:
    params = {"arg:fc_weight": RNG.random((3, 4)).astype(np.float32), "arg:fc_bias": RNG.random(3).astype(np.float32)}
    (BENIGN / "mxnet" / "model-0000.params").write_bytes(mx_params(params))
    (BENIGN / "mxnet" / "model-symbol.json").write_text(mx_symbol(None), encoding="utf-8")
    (MAL / "mxnet_custom_op-symbol.json").write_text(mx_symbol("shell_exec"), encoding="utf-8")


# ---- ExecuTorch (program.fbs) ---------------------------------------------------------------------------

def pte(ops: list[tuple[str, str]], backends: list[str]) -> bytes:
    import flatbuffers

    b = flatbuffers.Builder(1024)

    def table(fields: list[tuple[int, str, object]]) -> int:
        b.StartObject(max(i for i, _, _ in fields) + 1 if fields else 0)
        for slot, kind, value in fields:
            if kind == "off":
                b.PrependUOffsetTRelativeSlot(slot, int(value), 0)  # type: ignore[call-overload]
            elif kind == "u32":
                b.PrependUint32Slot(slot, int(value), 0)  # type: ignore[call-overload]
        return int(b.EndObject())

    def vector(offsets: list[int]) -> int:
        b.StartVector(4, len(offsets), 4)
        for o in reversed(offsets):
            b.PrependUOffsetTRelative(o)
        return int(b.EndVector())

    op_tables = []
    for name, overload in ops:
        n, o = b.CreateString(name), b.CreateString(overload)
        op_tables.append(table([(0, "off", n), (1, "off", o)]))
    delegates = []
    for backend in backends:
        ref = table([(1, "u32", 0)])
        delegates.append(table([(0, "off", b.CreateString(backend)), (1, "off", ref)]))
    plan_name = b.CreateString("forward")
    plan = table([(0, "off", plan_name), (6, "off", vector(op_tables)), (7, "off", vector(delegates))])
    program = table([(0, "u32", 0), (1, "off", vector([plan]))])
    b.Finish(program, file_identifier=b"ET12")
    fb = bytes(b.Output())
    # The extended header ExecuTorch inserts after the identifier: "eh00", its length, program size and
    # segment base. Only the root offset (the one absolute-from-start offset) moves.
    size = len(fb) + 24
    header = b"eh00" + struct.pack("<IQQ", 24, size, size)
    return struct.pack("<I", struct.unpack_from("<I", fb)[0] + 24) + fb[4:8] + header + fb[8:]


def make_executorch() -> None:
    benign = pte([("aten::add", "out"), ("aten::relu", "out"), ("quantized_decomposed::quantize_per_tensor", "out")],
                 ["XnnpackBackend"])
    (BENIGN / "executorch" / "add_relu.pte").write_bytes(benign)
    (MAL / "executorch_custom_op.pte").write_bytes(pte([("aten::add", "out"), ("evil::system_exec", "out")], []))
    (MAL / "executorch_unknown_backend.pte").write_bytes(pte([("aten::add", "out")], ["RemoteShellBackend"]))


# ---- TensorRT and RKNN (vendor engines) ------------------------------------------------------------------

#: The first bytes of a 64-bit little-endian ELF shared object (ET_DYN, x86-64), as a serialized plugin library.
ELF_HEAD = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + struct.pack("<HHI", 3, 0x3E, 1) + b"\x00" * 40


def trt_plan(body: bytes) -> bytes:
    header = b"ftrt" + struct.pack("<I", 0) + bytes([239, 0, 0, 0]) + struct.pack("<I", len(body))
    return header + body


def make_engines() -> None:
    weights = RNG.random(256).astype(np.float32).tobytes()
    (BENIGN / "engines" / "model.plan").write_bytes(trt_plan(weights))
    meta = json.dumps({"description": "Ultralytics YOLO model", "task": "detect", "imgsz": [64, 64]}).encode()
    (BENIGN / "engines" / "yolo.engine").write_bytes(struct.pack("<I", len(meta)) + meta + trt_plan(weights))
    (MAL / "tensorrt_embedded_plugin_lib.engine").write_bytes(trt_plan(weights + ELF_HEAD + b"\x00" * 64))
    (MAL / "tensorrt_plugin_path.plan").write_bytes(trt_plan(weights + b"/tmp/x/libevilplugin.so\x00" + weights))

    def rknn(body: bytes) -> bytes:
        info = json.dumps({"target_platform": ["rk3588"], "version": "1.6.0"}).encode()
        return b"RKNN\x00\x00\x00\x00" + struct.pack("<QQ", 6, len(body)) + body + struct.pack("<Q", len(info)) + info

    (BENIGN / "engines" / "model.rknn").write_bytes(rknn(weights))
    (MAL / "rknn_embedded_elf.rknn").write_bytes(rknn(weights + ELF_HEAD))


def main() -> None:
    for folder in ("coreml", "paddle/pir", "openvino", "torch7", "cntk", "mxnet", "executorch", "engines"):
        (BENIGN / folder).mkdir(parents=True, exist_ok=True)
    MAL.mkdir(parents=True, exist_ok=True)
    make_torch7()
    make_cntk()
    make_mxnet()
    make_executorch()
    make_engines()
    make_coreml()
    make_openvino()
    make_paddle()


if __name__ == "__main__":
    main()
