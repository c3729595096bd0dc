"""Tensor and graph formats that are not pickles: safetensors (torch and NumPy front ends), GGUF (the
``gguf`` package's writer, with a ChatML chat template), and ONNX (``torch.onnx.export`` in both
exporters, the ``onnx.helper`` builder and onnxscript)."""

from __future__ import annotations

import warnings

import numpy as np
import torch  # noqa: TID251 - fixture generator, never part of the scanner

from ._common import Corpus

FOLDERS = ("safetensors", "gguf", "onnx")

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

LLAMA3ISH = (
    "{{ bos_token }}{% for message in messages %}{% if loop.index0 == 0 and message['role'] == 'system' %}"
    "{% set content = '<|start_header_id|>system<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' %}"
    "{% else %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
    "message['content'] | trim + '<|eot_id|>' %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)


def _safetensors(corpus: Corpus) -> None:
    from safetensors.numpy import save_file as save_np
    from safetensors.torch import save_file as save_torch
    from safetensors.torch import save_model

    torch.manual_seed(0)
    tensors = {"embed.weight": torch.randn(8, 4), "norm.weight": torch.ones(4).bfloat16(),
               "head.bias": torch.zeros(3, dtype=torch.float16), "step": torch.tensor([7], dtype=torch.int64)}
    rel = "safetensors/torch_tensors.safetensors"
    save_torch(tensors, str(corpus.path(rel)), metadata={"format": "pt", "note": "tiny"})
    corpus.record(rel, "safetensors", "safetensors.torch.save_file()")
    tied = torch.nn.Sequential(torch.nn.Embedding(6, 4), torch.nn.Linear(4, 6, bias=False))
    tied[1].weight = tied[0].weight
    rel = "safetensors/tied_weights_model.safetensors"
    save_model(tied, str(corpus.path(rel)))
    corpus.record(rel, "safetensors", "safetensors.torch.save_model() (tied weights)")
    rel = "safetensors/numpy_arrays.safetensors"
    save_np({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([True, False]),
             "c": np.zeros((0, 3), dtype=np.int8)}, str(corpus.path(rel)))
    corpus.record(rel, "safetensors", "safetensors.numpy.save_file()")
    rel = "safetensors/empty.safetensors"
    save_torch({}, str(corpus.path(rel)))
    corpus.record(rel, "safetensors", "safetensors.torch.save_file({})")


def _gguf(corpus: Corpus) -> None:
    import gguf

    rng = np.random.default_rng(0)
    cases = {"llama_chatml": CHATML, "llama3_template": LLAMA3ISH, "no_template": None}
    for name, template in cases.items():
        rel = f"gguf/{name}.gguf"
        w = gguf.GGUFWriter(str(corpus.path(rel)), "llama")
        w.add_name(f"tiny-{name}")
        w.add_context_length(32)
        w.add_embedding_length(8)
        w.add_block_count(1)
        w.add_head_count(2)
        w.add_feed_forward_length(16)
        w.add_layer_norm_rms_eps(1e-5)
        w.add_tokenizer_model("llama")
        w.add_token_list(["<unk>", "<s>", "</s>", "hello", "world"])
        w.add_token_scores([0.0, 0.0, 0.0, -1.0, -2.0])
        w.add_token_types([2, 3, 3, 1, 1])
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        if template:
            w.add_chat_template(template)
        w.add_tensor("token_embd.weight", rng.normal(size=(5, 8)).astype(np.float32))
        w.add_tensor("blk.0.attn_norm.weight", np.ones(8, dtype=np.float32))
        w.add_tensor("blk.0.ffn_up.weight", rng.normal(size=(16, 8)).astype(np.float16))
        w.add_tensor("output.weight", rng.normal(size=(5, 8)).astype(np.float32))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        corpus.record(rel, "gguf", "gguf.GGUFWriter.write_*_to_file()")


class _OnnxNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)
        self.fc = torch.nn.Linear(2, 2)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def _onnx(corpus: Corpus) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    torch.manual_seed(0)
    net = _OnnxNet().eval()
    x = torch.randn(1, 1, 6, 6)
    rel = "onnx/torch_export_dynamo.onnx"
    torch.onnx.export(net, (x,), str(corpus.path(rel)), dynamo=True, external_data=False)
    corpus.record(rel, "onnx", "torch.onnx.export(dynamo=True)")
    rel = "onnx/torch_export_torchscript.onnx"
    torch.onnx.export(net, (x,), str(corpus.path(rel)), dynamo=False, opset_version=17)
    corpus.record(rel, "onnx", "torch.onnx.export(dynamo=False)")
    node = helper.make_node("Gemm", ["X", "W", "B"], ["Y"], transB=1)
    graph = helper.make_graph(
        [node, helper.make_node("Softmax", ["Y"], ["P"], axis=1)], "tiny",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("P", TensorProto.FLOAT, [None, 2])],
        [numpy_helper.from_array(np.ones((2, 3), np.float32), "W"),
         numpy_helper.from_array(np.zeros(2, np.float32), "B")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="onnx.helper")
    model.metadata_props.add(key="author", value="mlvet ecosystem corpus")
    rel = "onnx/helper_gemm.onnx"
    onnx.save(model, str(corpus.path(rel)))
    corpus.record(rel, "onnx", "onnx.save(onnx.helper.make_model())")
    big = helper.make_model(helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])], "ext",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 64])],
        [numpy_helper.from_array(np.eye(64, dtype=np.float32), "W")]), opset_imports=[helper.make_opsetid("", 17)])
    rel = "onnx/external_data/model.onnx"
    onnx.save(big, str(corpus.path(rel)), save_as_external_data=True, all_tensors_to_one_file=True,
              location="model.onnx.data", size_threshold=0)
    corpus.record(rel, "onnx", "onnx.save(save_as_external_data=True)")
    corpus.record("onnx/external_data/model.onnx.data", "onnx", "onnx.save(save_as_external_data=True)")


def _onnxscript(corpus: Corpus) -> None:
    import onnx

    from .onnxscript_fn import gelu_ish

    rel = "onnx/onnxscript_function.onnx"
    onnx.save(gelu_ish.to_model_proto(), str(corpus.path(rel)))
    corpus.record(rel, "onnxscript", "onnxscript @script().to_model_proto() + onnx.save()")


def make(corpus: Corpus) -> None:
    warnings.filterwarnings("ignore")
    _safetensors(corpus)
    _gguf(corpus)
    _onnx(corpus)
    _onnxscript(corpus)
