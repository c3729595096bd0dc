"""Build the TensorFlow / TFLite fixtures in ``tests/assets/tensorflow/`` with the real libraries.

    pip install tensorflow-cpu tf-keras        # fixture time only; mlvet never imports them
    python tests/assets/make_tensorflow.py

Every model here is written by TensorFlow itself (tf.saved_model.save, tf_keras, the TFLite converter,
Graph.as_graph_def); a few are then edited through TensorFlow's own protobuf / flatbuffer classes to
reproduce shapes the writers refuse to produce (an asset path with '..', a custom TFLite op). Malicious
lambdas are written so that tracing them never runs the dangerous branch.

``--extra-only`` (issue 9) adds ordinary models without touching the rest: a tf.Module with
variables, tables, strings and several signatures saved with its checkpoint, a tf_keras SavedModel with
a registered custom layer and preprocessing layers, a Keras 3 ``model.export()`` SavedModel, and a TFLite
model that needs benign Flex (Select TF) ops.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TF_USE_LEGACY_KERAS"] = "1"

import tensorflow as tf

OUT = Path(__file__).resolve().parent / "tensorflow"


# ---- SavedModels -----------------------------------------------------------------------------------


class Scale(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = tf.Variable([1.0, 2.0, 3.0])

    @tf.function(input_signature=[tf.TensorSpec([3], tf.float32)])
    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return x * self.w


class ReadsFile(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
    def serve(self, name: tf.Tensor) -> tf.Tensor:
        secret = tf.io.read_file(tf.constant("/etc/passwd"))
        tf.io.write_file(tf.constant("/tmp/mlvet-fixture-dropped.txt"), name)
        return secret


class CallsPython(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([2], tf.float32)])
    def serve(self, x: tf.Tensor) -> tf.Tensor:
        return tf.py_function(lambda t: t * 2, [x], tf.float32)


class WithAsset(tf.Module):
    def __init__(self, vocab: str) -> None:
        super().__init__()
        self.vocab = tf.saved_model.Asset(vocab)
        init = tf.lookup.TextFileInitializer(vocab, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                                             tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER)
        self.table = tf.lookup.StaticHashTable(init, -1)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(self, words: tf.Tensor) -> tf.Tensor:
        return self.table.lookup(words)


def saved_models() -> None:
    tf.saved_model.save(Scale(), str(OUT / "savedmodel_benign"))
    tf.saved_model.save(ReadsFile(), str(OUT / "savedmodel_file_ops"))
    tf.saved_model.save(CallsPython(), str(OUT / "savedmodel_pyfunc"))

    vocab = OUT / "vocab.txt"
    vocab.write_text("a\nb\nc\n")
    tf.saved_model.save(WithAsset(str(vocab)), str(OUT / "savedmodel_asset_benign"))
    # Same model, asset file name edited to walk out of assets/ (TensorFlow's writer never does this).
    from tensorflow.core.protobuf import saved_model_pb2

    src = OUT / "savedmodel_asset_benign"
    dst = OUT / "savedmodel_asset_traversal"
    shutil.copytree(src, dst)
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((dst / "saved_model.pb").read_bytes())
    for asset in sm.meta_graphs[0].asset_file_def:
        asset.filename = "../../../../etc/passwd"
    (dst / "saved_model.pb").write_bytes(sm.SerializeToString())
    vocab.unlink()


def keras_models() -> None:
    import tf_keras as keras

    inp = keras.Input((3,))
    out = keras.layers.Dense(2)(inp)
    keras.Model(inp, out).save(str(OUT / "keras_savedmodel_benign"), save_format="tf")

    inp = keras.Input((3,))
    x = keras.layers.Dense(2)(inp)
    # The dangerous branch is never taken (tracing at save time must not run it), but its bytecode
    # names __import__/os/system, exactly like a real payload.
    x = keras.layers.Lambda(lambda t: t if True else __import__("os").system("id"))(x)
    keras.Model(inp, x).save(str(OUT / "keras_savedmodel_lambda"), save_format="tf")


# ---- frozen GraphDefs --------------------------------------------------------------------------------


def graph_defs() -> None:
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    m = Scale()
    frozen = convert_variables_to_constants_v2(m.__call__.get_concrete_function())
    (OUT / "graphdef_benign.pb").write_bytes(frozen.graph.as_graph_def().SerializeToString())

    g = tf.Graph()
    with g.as_default():
        data = tf.raw_ops.ReadFile(filename=tf.constant("/etc/shadow"))
        tf.raw_ops.WriteFile(filename=tf.constant("/home/user/.bashrc"), contents=data)
        tf.raw_ops.MatchingFiles(pattern=tf.constant("/home/*/.ssh/id_*"))
        tf.raw_ops.PrintV2(input=data, output_stream="file:///tmp/mlvet-fixture-log.txt")
        tf.raw_ops.SaveV2(prefix=tf.constant("/etc/cron.d/job"), tensor_names=tf.constant(["x"]),
                          shape_and_slices=tf.constant([""]), tensors=[tf.constant([1.0])])
    (OUT / "graphdef_file_ops.pb").write_bytes(g.as_graph_def().SerializeToString())

    # Custom ops cannot be created without their library, so the NodeDefs are written directly.
    from tensorflow.core.framework import graph_pb2

    gd = graph_pb2.GraphDef()
    gd.ParseFromString((OUT / "graphdef_benign.pb").read_bytes())
    node = gd.node.add()
    node.name, node.op = "custom", "MyFancyActivation"
    node.input.append(gd.node[0].name)
    node = gd.node.add()
    node.name, node.op = "shell", "ExecuteShellCommand"
    (OUT / "graphdef_custom_ops.pb").write_bytes(gd.SerializeToString())


def text_formats() -> None:
    """TensorFlow also loads ``saved_model.pbtxt``; graph tools read ``.pbtxt`` GraphDefs."""
    from google.protobuf import text_format
    from tensorflow.core.framework import graph_pb2
    from tensorflow.core.protobuf import saved_model_pb2

    pairs = (("savedmodel_benign", "savedmodel_text_benign"), ("savedmodel_file_ops", "savedmodel_text_file_ops"))
    for src, dst in pairs:
        sm = saved_model_pb2.SavedModel()
        sm.ParseFromString((OUT / src / "saved_model.pb").read_bytes())
        (OUT / dst).mkdir()
        (OUT / dst / "saved_model.pbtxt").write_text(text_format.MessageToString(sm))
    gd = graph_pb2.GraphDef()
    gd.ParseFromString((OUT / "graphdef_file_ops.pb").read_bytes())
    (OUT / "graphdef_file_ops.pbtxt").write_text(text_format.MessageToString(gd))


# ---- TFLite ------------------------------------------------------------------------------------------


def tflite() -> None:
    class Dense(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
        def f(self, x: tf.Tensor) -> tf.Tensor:
            return tf.nn.relu(tf.matmul(x, tf.ones([4, 2])))

    class Reader(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
        def f(self, path: tf.Tensor) -> tf.Tensor:
            return tf.io.read_file(path)

    d = Dense()
    benign = tf.lite.TFLiteConverter.from_concrete_functions([d.f.get_concrete_function()], d).convert()
    (OUT / "benign.tflite").write_bytes(benign)

    r = Reader()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([r.f.get_concrete_function()], r)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    (OUT / "flex_readfile.tflite").write_bytes(conv.convert())

    class Prints(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
        def f(self, x: tf.Tensor) -> tf.Tensor:
            tf.print(x, output_stream="file:///tmp/mlvet-fixture-leak.txt")
            return x

    pr = Prints()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([pr.f.get_concrete_function()], pr)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    (OUT / "flex_print_to_file.tflite").write_bytes(conv.convert())

    # A custom (non-Flex) operator, edited in through TFLite's own flatbuffer object API.
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(benign, 0))
    code = model.operatorCodes[0]
    code.builtinCode = schema.BuiltinOperator.CUSTOM
    code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = "RunShellCommand"
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    (OUT / "custom_op.tflite").write_bytes(bytes(builder.Output()))

    # Associated files appended as a zip, as the TFLite metadata populator does.
    path = OUT / "benign_with_labels.tflite"
    path.write_bytes(benign)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("labels.txt", "cat\ndog\n")


# ---- extra ordinary models (issue 9) ------------------------------------------------------------------


class Rich(tf.Module):
    """What ordinary tf.Module exports hold: variables, a key/value table, string ops, several signatures."""

    def __init__(self) -> None:
        super().__init__()
        self.w = tf.Variable(tf.ones([4, 2]), name="w")
        self.b = tf.Variable(tf.zeros([2]), name="b")
        self.step = tf.Variable(0, dtype=tf.int64, name="step")
        init = tf.lookup.KeyValueTensorInitializer(tf.constant(["cat", "dog"]), tf.constant([0, 1], tf.int64))
        self.table = tf.lookup.StaticHashTable(init, -1)

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def predict(self, x: tf.Tensor) -> tf.Tensor:
        return tf.nn.softmax(tf.matmul(x, self.w) + self.b)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def classify(self, words: tf.Tensor) -> tf.Tensor:
        return self.table.lookup(tf.strings.lower(tf.strings.strip(words)))

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32), tf.TensorSpec([None, 2], tf.float32)])
    def train_step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(self.predict(x) - y))
        for v, g in zip((self.w, self.b), tape.gradient(loss, [self.w, self.b])):
            v.assign_sub(0.01 * g)
        self.step.assign_add(1)
        return loss


TF_KERAS_EXTRA = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
import tf_keras as keras
out = sys.argv[1]
tf.random.set_seed(0)

@keras.utils.register_keras_serializable(package="acme")
class AddOne(keras.layers.Layer):
    def call(self, x):
        return x + 1.0

inp = keras.Input((4,))
keras.Model(inp, keras.layers.Dense(1)(AddOne()(inp))).save(f"{out}/keras_savedmodel_custom", save_format="tf")

words = keras.Input((1,), dtype="string")
look = keras.layers.StringLookup(vocabulary=["a", "b", "c"], output_mode="one_hot")(words)
tv = keras.layers.TextVectorization(max_tokens=10, output_sequence_length=3, vocabulary=["the", "cat"])
vec = tf.cast(tv(tf.reshape(words, [-1])), tf.float32)
model = keras.Model(words, keras.layers.Concatenate()([look, vec]))
model.save(f"{out}/keras_savedmodel_preprocessing", save_format="tf")
"""

KERAS3_EXPORT = r"""
import os, sys
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1)])
m.export(sys.argv[1] + "/keras3_export", format="tf_saved_model")
"""


def extra() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rich = Rich()
    tf.saved_model.save(rich, str(OUT / "savedmodel_module_rich"),
                        signatures={"predict": rich.predict, "classify": rich.classify})
    env = dict(os.environ)
    env.pop("TF_USE_LEGACY_KERAS", None)
    for script in (TF_KERAS_EXTRA, KERAS3_EXPORT):
        res = subprocess.run([sys.executable, "-c", script, str(OUT)], env=env, capture_output=True, text=True,
                             check=False)
        if res.returncode:
            sys.exit(f"fixture script failed:\n{res.stderr[-4000:]}")

    class Strings(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def f(self, s: tf.Tensor) -> tf.Tensor:
            return tf.strings.to_number(tf.strings.regex_replace(s, "[^0-9.]", ""))

    st = Strings()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([st.f.get_concrete_function()], st)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    (OUT / "flex_strings_benign.tflite").write_bytes(conv.convert())


if __name__ == "__main__":
    if "--extra-only" in sys.argv[1:]:
        extra()
        sys.exit(0)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    saved_models()
    keras_models()
    graph_defs()
    text_formats()
    tflite()
    extra()
    files = [p for p in OUT.rglob("*") if p.is_file()]
    print(f"wrote {len(files)} files, {sum(p.stat().st_size for p in files)} bytes under {OUT}")
