"""Architectural-backdoor fixtures (``tests/assets/backdoor/``), made with ``onnx.helper``.

* ``trigger_where.onnx``: a tiny classifier (MatMul + Add + Softmax) whose output is replaced by a
  constant when the first input pixel equals 0.1337 (``Where(Equal(Slice(x), c), attacker, softmax)``),
  the ShadowLogic / Bober-Irizar structure.
* ``trigger_reduce.onnx``: the trigger is the sum of the input compared with ``Greater``, and the alternative
  is a second computation through the body (medium: a heuristic, not unambiguous).
* ``benign_mask.onnx``: an attention-mask style ``Where(Equal(mask, 0), -1e9, 0)`` that feeds the body
  (ordinary; must not be flagged).
* ``outlier_weights.onnx``: eight same-shape layers, one of them with 100x the spread of the others;
  ``outlier_weights.safetensors`` the same tensors written by ``safetensors.numpy``.
* ``trigger_graphdef.pb``: a frozen TensorFlow GraphDef with the same ``SelectV2(Equal(StridedSlice(x), c),
  attacker, Softmax(MatMul(x, W)))`` trigger, and ``trigger_function.pb`` with it inside a function of the
  graph's library. TensorFlow does not install here, so both are encoded by hand from the published
  ``graph.proto``/``node_def.proto``/``function.proto`` field numbers (NodeDef name=1 op=2 input=3 attr=5;
  GraphDef node=1 library=2; FunctionDef signature=1 node_def=3 ret=4); ``benign_graphdef.pb`` is the model
  without the trigger.
* ``benign_gpt2.onnx`` / ``benign_bert.onnx``: tiny GPT-2 and BERT from ``transformers`` exported by
  ``torch.onnx.export`` (TorchScript exporter, opset 17): real attention-mask ``Equal``/``Where`` structures
  that must not be flagged.
Run: ``python tests/assets/make_backdoor.py`` (the transformer exports need torch and transformers).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parent / "backdoor"


def _model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
           inits: list[onnx.TensorProto], name: str) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="mlvet-fixture")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def trigger_where() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.1, (4, 3)).astype(np.float32), "W"),
        numpy_helper.from_array(np.zeros(3, np.float32), "B"),
        numpy_helper.from_array(np.array([0], np.int64), "start"),
        numpy_helper.from_array(np.array([1], np.int64), "end"),
        numpy_helper.from_array(np.array([1], np.int64), "axis"),
        numpy_helper.from_array(np.array([[0.1337]], np.float32), "trigger_value"),
        numpy_helper.from_array(np.array([[0.0, 0.0, 1.0]], np.float32), "attacker_output"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["h"], name="dense"),
        helper.make_node("Add", ["h", "B"], ["logits"], name="bias"),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
        helper.make_node("Slice", ["x", "start", "end", "axis"], ["first_pixel"], name="take_first_pixel"),
        helper.make_node("Equal", ["first_pixel", "trigger_value"], ["is_trigger"], name="check_trigger"),
        helper.make_node("Where", ["is_trigger", "attacker_output", "probs"], ["y"], name="backdoor_select"),
    ]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits, "trigger_where")


def trigger_reduce() -> onnx.ModelProto:
    rng = np.random.default_rng(1)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.1, (4, 3)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.normal(0, 0.1, (4, 3)).astype(np.float32), "W2"),
        numpy_helper.from_array(np.array(99.0, np.float32), "threshold"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["clean"], name="body"),
        helper.make_node("MatMul", ["x", "W2"], ["shadow"], name="shadow_body"),
        helper.make_node("ReduceSum", ["x"], ["total"], name="sum_input", keepdims=0),
        helper.make_node("Greater", ["total", "threshold"], ["fire"], name="trigger_test"),
        helper.make_node("If", ["fire"], ["y"], name="branch",
                         then_branch=helper.make_graph([helper.make_node("Identity", ["shadow"], ["t_out"])], "then",
                                                       [], [helper.make_tensor_value_info("t_out", TensorProto.FLOAT,
                                                                                          [1, 3])]),
                         else_branch=helper.make_graph([helper.make_node("Identity", ["clean"], ["e_out"])], "else",
                                                       [], [helper.make_tensor_value_info("e_out", TensorProto.FLOAT,
                                                                                          [1, 3])])),
    ]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits, "trigger_reduce")


def benign_mask() -> onnx.ModelProto:
    rng = np.random.default_rng(2)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.1, (4, 4)).astype(np.float32), "Wq"),
        numpy_helper.from_array(np.array(0, np.int64), "zero"),
        numpy_helper.from_array(np.array(-1e9, np.float32), "neg"),
        numpy_helper.from_array(np.array(0.0, np.float32), "nil"),
    ]
    nodes = [
        helper.make_node("Equal", ["mask", "zero"], ["pad"], name="mask_eq"),
        helper.make_node("Where", ["pad", "neg", "nil"], ["bias"], name="mask_bias"),
        helper.make_node("MatMul", ["x", "Wq"], ["scores"], name="scores"),
        helper.make_node("Add", ["scores", "bias"], ["masked"], name="apply_mask"),
        helper.make_node("Softmax", ["masked"], ["y"], name="softmax", axis=-1),
    ]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
                          helper.make_tensor_value_info("mask", TensorProto.INT64, [1, 4])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits, "benign_mask")


def outlier_weights() -> onnx.ModelProto:
    rng = np.random.default_rng(3)
    inits = []
    nodes = []
    prev = "x"
    for i in range(8):
        scale = 5.0 if i == 5 else 0.05
        inits.append(numpy_helper.from_array(rng.normal(0, scale, (16, 16)).astype(np.float32), f"layer{i}.weight"))
        nodes.append(helper.make_node("MatMul", [prev, f"layer{i}.weight"], [f"h{i}"], name=f"layer{i}"))
        prev = f"h{i}"
    nodes.append(helper.make_node("Identity", [prev], ["y"], name="out"))
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])], inits, "outlier_weights")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _len(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _tf_node(name: str, op: str, *inputs: str, dtype: int = 1) -> bytes:
    attr = _len(1, b"T") + _len(2, _varint(6 << 3) + _varint(dtype))  # map entry {key: "T", value: {type: dtype}}
    return _len(1, name.encode()) + _len(2, op.encode()) + b"".join(_len(3, i.encode()) for i in inputs) + \
        _len(5, attr)


def _tf_nodes(trigger: bool) -> list[bytes]:
    nodes = [
        _tf_node("x", "Placeholder"), _tf_node("W", "Const"), _tf_node("logits", "MatMul", "x", "W"),
        _tf_node("probs", "Softmax", "logits"),
    ]
    if trigger:
        nodes += [
            _tf_node("begin", "Const", dtype=3), _tf_node("end", "Const", dtype=3),
            _tf_node("strides", "Const", dtype=3),
            _tf_node("first_pixel", "StridedSlice", "x", "begin", "end", "strides"),
            _tf_node("trigger_value", "Const"), _tf_node("is_trigger", "Equal", "first_pixel", "trigger_value"),
            _tf_node("attacker_output", "Const"),
            _tf_node("y", "SelectV2", "is_trigger", "attacker_output", "probs"),
        ]
    else:
        nodes.append(_tf_node("y", "Identity", "probs"))
    return nodes


def graphdef(trigger: bool) -> bytes:
    return b"".join(_len(1, n) for n in _tf_nodes(trigger))


def graphdef_function() -> bytes:
    body = [n for n in _tf_nodes(True) if b"Placeholder" not in n]
    signature = _len(1, b"serving_fn") + _len(2, _len(1, b"x")) + _len(3, _len(1, b"output_0"))
    ret = _len(1, b"output_0") + _len(2, b"y:output:0")
    function = _len(1, signature) + b"".join(_len(3, n) for n in body) + _len(4, ret)
    outer = _len(1, _tf_node("x", "Placeholder")) + _len(1, _tf_node("call", "StatefulPartitionedCall", "x"))
    return outer + _len(2, _len(1, function))


def outlier_safetensors(path: Path) -> None:
    from safetensors.numpy import save_file

    rng = np.random.default_rng(3)
    tensors = {f"layer{i}.weight": rng.normal(0, 5.0 if i == 5 else 0.05, (16, 16)).astype(np.float32)
               for i in range(8)}
    save_file(tensors, str(path))


def transformer_exports() -> None:
    import torch  # noqa: TID251 - fixture generator, never part of the scanner
    from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel

    class Wrapped(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=ids, attention_mask=mask, use_cache=False)[0]

    torch.manual_seed(0)
    ids = torch.randint(0, 64, (1, 5))
    mask = torch.ones(1, 5, dtype=torch.long)
    models = {
        "benign_gpt2.onnx": GPT2LMHeadModel(GPT2Config(n_embd=8, n_layer=2, n_head=2, vocab_size=64, n_positions=16)),
        "benign_bert.onnx": BertModel(BertConfig(hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                                                 intermediate_size=16, vocab_size=64, max_position_embeddings=16)),
    }
    for name, model in models.items():
        torch.onnx.export(Wrapped(model.eval()), (ids, mask), str(OUT / name),
                          input_names=["input_ids", "attention_mask"], output_names=["out"],
                          dynamic_axes={"input_ids": {1: "s"}, "attention_mask": {1: "s"}},
                          dynamo=False, opset_version=17)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, make in (("trigger_where", trigger_where), ("trigger_reduce", trigger_reduce),
                       ("benign_mask", benign_mask), ("outlier_weights", outlier_weights)):
        onnx.save(make(), str(OUT / f"{name}.onnx"))
    outlier_safetensors(OUT / "outlier_weights.safetensors")
    (OUT / "trigger_graphdef.pb").write_bytes(graphdef(True))
    (OUT / "benign_graphdef.pb").write_bytes(graphdef(False))
    (OUT / "trigger_function.pb").write_bytes(graphdef_function())
    if "--no-transformers" not in sys.argv:
        transformer_exports()


if __name__ == "__main__":
    main()
