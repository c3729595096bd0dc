"""Small Hugging Face repositories written by the real libraries, for the hub stand-in to serve.

Why real writers: a scanner is only tested against the hub protocol if the files it is served are what
``save_pretrained``/``torch.save`` really produce. Models are tiny (a few hundred KB) with random weights.
The malicious repo's ``pytorch_model.bin`` is a genuine torch zip whose pickle calls ``os.system``: it is built
by pickling an object whose ``__reduce__`` names ``os.system`` — building it runs nothing, and nothing here or
in the tests ever loads it. The "1 GB" safetensors file is sparse (holes cost no disk) with a header in the
exact layout the safetensors library writes, so header-only readers accept it.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

#: The command the malicious pickle would run if it were ever loaded (it never is).
PAYLOAD = "echo mlvet-hub-test-payload > /dev/null"


def _tiny_bert_config() -> Any:
    from transformers import BertConfig

    return BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=37, max_position_embeddings=64)


def write_tiny_bert(folder: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """``BertModel(tiny config).save_pretrained(folder)`` (config.json + model.safetensors) and a README."""
    import torch  # noqa: TID251 - fixture generation only
    from transformers import BertModel

    out = Path(folder)
    torch.manual_seed(seed)
    BertModel(_tiny_bert_config()).save_pretrained(out)
    (out / "README.md").write_text(f"# tiny-bert (seed {seed})\nRandom weights for tests.\n")
    return out


def write_tiny_gpt2(folder: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """``GPT2LMHeadModel(tiny config).save_pretrained(folder)`` plus its generation config."""
    import torch  # noqa: TID251 - fixture generation only
    from transformers import GPT2Config, GPT2LMHeadModel

    out = Path(folder)
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=99, n_embd=32, n_layer=2, n_head=2, n_positions=64, bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(config).save_pretrained(out)
    return out


class _RunsCommand:
    """An object whose pickled form calls ``os.system(PAYLOAD)`` when unpickled (never done here)."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (PAYLOAD,))


def write_malicious_repo(folder: str | os.PathLike[str]) -> Path:
    """A repo whose only weights file is a torch-zip ``pytorch_model.bin`` whose pickle calls ``os.system``.

    ``torch.save`` writes the real zip layout (data.pkl, data/0, version, byteorder…); the state dict holds
    one real tensor next to the object whose ``__reduce__`` names ``os.system``.
    """
    import torch  # noqa: TID251 - fixture generation only

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    _tiny_bert_config().save_pretrained(out)
    state = {"embeddings.word_embeddings.weight": torch.zeros(4, 4), "_extra": _RunsCommand()}
    torch.save(state, out / "pytorch_model.bin")
    (out / "README.md").write_text("# evil\nDo not load.\n")
    return out


def write_sparse_safetensors(path: str | os.PathLike[str], size: int = 1 << 30) -> Path:
    """A sparse safetensors file of about ``size`` bytes: a real header, then a hole for the tensor data.

    The header is what ``safetensors`` writes: an 8-byte little-endian length, then JSON with sorted keys,
    ``__metadata__`` first, padded with spaces to a multiple of 8.
    """
    out = Path(path)
    row = 1024 * 4  # one row of F32[1024]
    rows = (size - 8 - 512) // row
    header = {"__metadata__": {"format": "pt"},
              "model.embed.weight": {"dtype": "F32", "shape": [rows, 1024], "data_offsets": [0, rows * row]}}
    raw = json.dumps(header, separators=(",", ":"), sort_keys=False).encode()
    raw += b" " * (-len(raw) % 8)
    with out.open("wb") as fh:
        fh.write(struct.pack("<Q", len(raw)))
        fh.write(raw)
        fh.truncate(8 + len(raw) + rows * row)
    return out


def write_big_safetensors_repo(folder: str | os.PathLike[str], size: int = 1 << 30) -> Path:
    """A repo with a tiny BERT config, a README and one sparse ~``size``-byte ``model.safetensors``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    _tiny_bert_config().save_pretrained(out)
    (out / "README.md").write_text("# big\nOne large safetensors file.\n")
    write_sparse_safetensors(out / "model.safetensors", size)
    return out


def write_onnx_external_repo(folder: str | os.PathLike[str], rows: int = 1024) -> Path:
    """An ONNX model saved by ``onnx.save_model(save_as_external_data=True)``: a small graph ``model.onnx`` and
    its ``rows`` x 1024 float32 weights in ``model.onnx_data`` (4 MiB by default: larger than what a remote scan
    reads whole, so the data file is only probed)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    w = numpy_helper.from_array(np.zeros((rows, 1024), dtype=np.float32), name="W")
    graph = helper.make_graph([helper.make_node("MatMul", ["X", "W"], ["Y"])], "g",
                              [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, rows])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 1024])], [w])
    onnx.save_model(helper.make_model(graph), str(out / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx_data", size_threshold=0)
    return out
