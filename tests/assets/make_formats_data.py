"""Build the long-tail format fixtures in tests/assets/formats_data/ (issue 12, "benign formats that error").

Run with a Python that has the libraries (``pip install catboost xgboost-cpu lightgbm sentencepiece
onnxruntime "jax[cpu]" flax orbax-checkpoint zstandard msgpack scipy pandas fasttext-wheel`` beside torch==2.13.0):
``python tests/assets/make_formats_data.py``.

* ``benign/``: written by the real libraries' save functions, tiny configs. Each must scan with no error and
  nothing at medium or above.
* ``malicious/``: one file per code path a loader of these formats really has, built to the published
  formats (the libraries never write an attack): a Zstandard pickle that ``pandas.read_pickle`` runs, msgpack
  records that srsly/msgpack-numpy hands to ``pickle.loads`` (thinc weights, a thinc shim, DocBin user data),
  "XGBoost"/"LightGBM" models that are pickles, MAT-files with a function handle or objects, and ONNX Runtime
  models with a custom-domain or Python operator (a real ``.ort`` with its operator names patched in place).

Every payload is ``os.system("echo mlvet-poc")``-style bytes: nothing here is ever loaded by the tests.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "formats_data"
BENIGN = OUT / "benign"
MALICIOUS = OUT / "malicious"


def evil_pickle(cmd: str = "echo mlvet-poc") -> bytes:
    """A protocol-2 pickle calling ``os.system(cmd)`` (bytes only)."""
    arg = cmd.encode()
    return b"\x80\x02cos\nsystem\nq\x00X" + struct.pack("<I", len(arg)) + arg + b"q\x01\x85q\x02Rq\x03."


# ---- msgpack built by hand (the malicious variants need no library) ---------------------------------------


def mp(value: object) -> bytes:
    """A minimal msgpack encoder for the fixture shapes (maps, lists, str, bytes, ints, bools, None)."""
    if value is None:
        return b"\xc0"
    if isinstance(value, bool):
        return b"\xc3" if value else b"\xc2"
    if isinstance(value, int):
        if 0 <= value < 128:
            return bytes([value])
        return b"\xd3" + struct.pack(">q", value)
    if isinstance(value, str):
        raw = value.encode()
        return (bytes([0xA0 | len(raw)]) if len(raw) < 32 else b"\xda" + struct.pack(">H", len(raw))) + raw
    if isinstance(value, bytes):
        return b"\xc6" + struct.pack(">I", len(value)) + value
    if isinstance(value, list):
        return b"\xdd" + struct.pack(">I", len(value)) + b"".join(mp(v) for v in value)
    if isinstance(value, dict):
        return b"\xdf" + struct.pack(">I", len(value)) + b"".join(mp(k) + mp(v) for k, v in value.items())
    raise TypeError(type(value))


def numpy_object_record(payload: bytes) -> dict[object, object]:
    """msgpack-numpy's encoding of an object array: ``decode`` calls ``pickle.loads(data)`` on it."""
    return {b"nd": True, b"type": b"|O", b"kind": b"O", b"shape": [1], b"data": payload}


def thinc_model(params: list[object], shims: list[object], attrs: list[object] | None = None) -> bytes:
    nodes = [{"index": 0, "name": "linear", "dims": {"nO": 2}, "refs": {}}]
    return mp({"nodes": nodes, "attrs": attrs if attrs is not None else [{}], "params": params, "shims": shims})


# ---- MAT-file level 5 elements built by hand -------------------------------------------------------------


def mat_header() -> bytes:
    text = b"MATLAB 5.0 MAT-file, Platform: mlvet fixture"
    return text.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x01" + b"IM"


def mat_el(mtype: int, data: bytes) -> bytes:
    return struct.pack("<II", mtype, len(data)) + data + b"\x00" * (-len(data) % 8)


def mat_matrix(cls: int, name: str, *subs: bytes, dims: tuple[int, ...] = (1, 1)) -> bytes:
    flags = mat_el(6, struct.pack("<II", cls, 0))
    dim = mat_el(5, struct.pack(f"<{len(dims)}i", *dims))
    return mat_el(14, flags + dim + mat_el(1, name.encode()) + b"".join(subs))


def mat_char(name: str, text: str) -> bytes:
    return mat_matrix(4, name, mat_el(4, text.encode("utf-16-le")), dims=(1, len(text)))


def mat_struct(name: str, fields: dict[str, bytes]) -> bytes:
    width = 32
    names = b"".join(k.encode().ljust(width, b"\x00") for k in fields)
    return mat_matrix(2, name, mat_el(5, struct.pack("<i", width)), mat_el(1, names), *fields.values())


def mat_function_handle() -> bytes:
    """An anonymous function handle (mxFUNCTION_CLASS) whose workspace struct holds its expression."""
    inner = mat_struct("", {"function": mat_char("", "@()system('echo mlvet-poc')"),
                            "type": mat_char("", "anonymous")})
    return mat_header() + mat_matrix(16, "f", inner)


def mat_object() -> bytes:
    """An mxOBJECT_CLASS variable of a user class (MATLAB calls its loadobj on load)."""
    width = 32
    body = (mat_el(1, b"evil.Loader"), mat_el(5, struct.pack("<i", width)), mat_el(1, b"x".ljust(width, b"\x00")),
            mat_matrix(6, "", mat_el(9, struct.pack("<d", 1.0))))
    return mat_header() + mat_matrix(3, "obj", *body)


# ---- writers -------------------------------------------------------------------------------------------


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_malicious() -> None:
    from backports import zstd

    MALICIOUS.mkdir(parents=True, exist_ok=True)
    _write(MALICIOUS / "model.pkl.zst", zstd.compress(evil_pickle()))
    _write(MALICIOUS / "two_frames.pkl.zst", zstd.compress(evil_pickle()[:10]) + zstd.compress(evil_pickle()[10:]))
    weights = numpy_object_record(evil_pickle())
    _write(MALICIOUS / "thinc_object_array" / "model", thinc_model([{"W": weights}], [[]]))
    shim = mp({"config": {}, "state": evil_pickle()})
    _write(MALICIOUS / "thinc_torch_shim" / "model", thinc_model([{}], [[shim]]))
    _write(MALICIOUS / "thinc_attr" / "model", thinc_model([{}], [[]], attrs=[{"nI": mp(weights)}]))
    docbin = {"version": "0.1", "attrs": [65], "tokens": b"\x00" * 8, "spaces": b"\x01", "lengths": b"\x01\x00\x00\x00",
              "strings": ["x"], "cats": [{}], "flags": [{}], "span_groups": [b"\x90"],
              "user_data": [mp({"k": weights})]}
    _write(MALICIOUS / "doc_bin.spacy", zlib.compress(mp(docbin)))
    _write(MALICIOUS / "msgpack_numpy_object.msgpack", mp({"params": {"w": weights}}))
    _write(MALICIOUS / "xgboost_model.bst", evil_pickle())
    _write(MALICIOUS / "lightgbm_model.txt", evil_pickle())
    zarray = {"zarr_format": 2, "shape": [1], "chunks": [1], "dtype": "|O", "compressor": None,
              "fill_value": 0, "order": "C", "filters": [{"id": "pickle", "protocol": 2}]}
    _write(MALICIOUS / "zarr_pickle_codec" / ".zarray", json.dumps(zarray).encode())
    _write(MALICIOUS / "zarr_pickle_codec" / "0", evil_pickle())
    _write(MALICIOUS / "function_handle.mat", mat_function_handle())
    _write(MALICIOUS / "object.mat", mat_object())


def _onnx_gelu(path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 3])
    w = helper.make_tensor("W", TensorProto.FLOAT, [4, 3], np.linspace(-1, 1, 12, dtype=np.float32).tolist())
    nodes = [helper.make_node("MatMul", ["X", "W"], ["Z"]),
             helper.make_node("Gelu", ["Z"], ["Y"], domain="com.microsoft")]
    graph = helper.make_graph(nodes, "g", [x], [y], [w])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    onnx.save(model, path)


def _onnx_if(path: Path) -> None:
    """An If whose else branch runs a contrib operator: sub-graphs must be walked too."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [2])
    c = helper.make_tensor_value_info("C", TensorProto.BOOL, [])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2])
    then = helper.make_graph([helper.make_node("Relu", ["X"], ["a"])], "then", [],
                             [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2])])
    other = helper.make_graph([helper.make_node("Gelu", ["X"], ["b"], domain="com.microsoft")], "else", [],
                              [helper.make_tensor_value_info("b", TensorProto.FLOAT, [2])])
    graph = helper.make_graph([helper.make_node("If", ["C"], ["Y"], then_branch=then, else_branch=other)], "g",
                              [x, c], [y])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    onnx.save(model, path)


def _to_ort(onnx_path: Path, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", str(onnx_path),
                        "--output_dir", tmp, "--optimization_style", "Fixed"], check=True, capture_output=True)
        shutil.copy(Path(tmp) / (onnx_path.stem + ".ort"), out)


def write_ort() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "gelu.onnx"
        _onnx_gelu(src)
        _to_ort(src, BENIGN / "model.ort")
        src = Path(tmp) / "branch.onnx"
        _onnx_if(src)
        _to_ort(src, BENIGN / "if_model.ort")
    branch = (BENIGN / "if_model.ort").read_bytes()
    _write(MALICIOUS / "subgraph_custom_domain.ort", branch.replace(b"com.microsoft", b"evil.native.x"))
    data = (BENIGN / "model.ort").read_bytes()
    # Same-length patches of the operator strings: a custom native domain, and a Python-calling op type.
    assert data.count(b"com.microsoft") >= 1 and data.count(b"Gelu") >= 1
    _write(MALICIOUS / "custom_domain.ort", data.replace(b"com.microsoft", b"evil.native.x"))
    _write(MALICIOUS / "python_op.ort", data.replace(b"com.microsoft", b"evil.native.x").replace(b"Gelu", b"PyOp"))


def write_fasttext() -> None:
    """A supervised fastText model and its product-quantized ``.ftz`` (word n-grams give the 256 rows PQ needs)."""
    import fasttext

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "train.txt"
        corpus.write_text("".join(f"__label__{'pos' if i % 2 else 'neg'} {'good fine' if i % 2 else 'bad poor'} "
                                  f"word{i % 7} text\n" for i in range(200)))
        model = fasttext.train_supervised(str(corpus), dim=4, epoch=2, minCount=1, bucket=256, wordNgrams=2,
                                          thread=1, seed=0, verbose=0)
        model.save_model(str(BENIGN / "fasttext.bin"))
        model.quantize(input=str(corpus), qnorm=True, retrain=False, cutoff=0, dsub=2)
        model.save_model(str(BENIGN / "fasttext_quantized.ftz"))


def write_benign() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    BENIGN.mkdir(parents=True, exist_ok=True)

    import catboost

    cb = catboost.CatBoostClassifier(iterations=3, depth=2, verbose=0, random_seed=0, allow_writing_files=False)
    cb.fit(x, y)
    cb.save_model(str(BENIGN / "catboost.cbm"))
    cb.save_model(str(BENIGN / "catboost.onnx"), format="onnx")

    import xgboost

    booster = xgboost.train({"max_depth": 2, "objective": "binary:logistic"}, xgboost.DMatrix(x, label=y), 2)
    booster.save_model(str(BENIGN / "xgboost.ubj"))
    booster.save_model(str(BENIGN / "xgboost.json"))
    # Legacy binary (XGBoost < 2 ``.bst``), built to the layout learner.cc reads: "binf", the 136-byte
    # LearnerModelParam, then the objective and booster names; a placeholder stands for the tree data.
    param = struct.pack("<fIiiiII", 0.5, 4, 0, 0, 0, 1, 7) + b"\x00" * (27 * 4)
    legacy = b"binf" + param
    for name in (b"binary:logistic", b"gbtree"):
        legacy += struct.pack("<Q", len(name)) + name
    _write(BENIGN / "xgboost_legacy.bst", legacy + b"\x00" * 64)

    import lightgbm

    lgb = lightgbm.train({"objective": "binary", "num_leaves": 3, "verbose": -1, "min_data_in_leaf": 2},
                         lightgbm.Dataset(x, label=y), num_boost_round=2)
    lgb.save_model(str(BENIGN / "lightgbm.txt"))

    import sentencepiece as spm

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "c.txt"
        corpus.write_text("\n".join(f"the quick brown fox jumps over the lazy dog {i}" for i in range(200)))
        spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(Path(tmp) / "sp"), vocab_size=40,
                                       normalization_rule_name="identity", minloglevel=2)
        shutil.copy(Path(tmp) / "sp.model", BENIGN / "tokenizer.model")

    import pandas as pd

    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    frame.to_pickle(BENIGN / "frame.pkl.zst", compression="zstd")

    import scipy.io

    scipy.io.savemat(BENIGN / "arrays_compressed.mat",
                     {"w": np.arange(6.0).reshape(2, 3), "label": "weights", "s": {"lr": 0.1, "name": "run"},
                      "c": np.array([1, "two"], dtype=object)}, do_compression=True)

    import jax
    import jax.numpy as jnp
    import optax
    import orbax.checkpoint as ocp
    from flax import linen as nn
    from flax import serialization
    from flax.training import train_state

    class Mlp(nn.Module):
        @nn.compact
        def __call__(self, v: jax.Array) -> jax.Array:
            return nn.Dense(2)(nn.relu(nn.Dense(3)(v)))

    mlp = Mlp()
    params = mlp.init(jax.random.PRNGKey(0), jnp.ones((1, 4)))
    _write(BENIGN / "flax_params.msgpack", serialization.to_bytes(params))
    state = train_state.TrainState.create(apply_fn=mlp.apply, params=params, tx=optax.adam(1e-3))
    _write(BENIGN / "flax_train_state.msgpack", serialization.to_bytes(state))
    scalars = {"lr": np.float32(1e-3), "step": np.int64(7), "z": complex(1, 2), "big": np.zeros(200, np.float32)}
    _write(BENIGN / "flax_scalars.msgpack", serialization.msgpack_serialize(scalars))
    ckpt = ocp.StandardCheckpointer()
    ckpt.save((BENIGN / "orbax_checkpoint").resolve(), params)
    ckpt.wait_until_finished()
    zarr_ckpt = ocp.Checkpointer(ocp.PyTreeCheckpointHandler(use_ocdbt=False))
    zarr_ckpt.save((BENIGN / "orbax_zarr_checkpoint").resolve(), params)

    write_ort()
    write_fasttext()


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    os.environ.setdefault("PYTHONHASHSEED", "0")
    write_benign()
    write_malicious()
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {sum(1 for p in OUT.rglob('*') if p.is_file())} files, {total} bytes under {OUT}")


if __name__ == "__main__":
    main()
