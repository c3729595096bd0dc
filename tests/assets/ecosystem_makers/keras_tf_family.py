"""Keras 3 (TensorFlow backend), tf-keras (Keras 2) and TensorFlow itself: ``.keras`` archives, legacy
``.h5`` files, ``.weights.h5``, SavedModel folders (``tf.saved_model.save``, ``Model.export``, tf-keras),
TFLite flatbuffers and ``tf.train.Checkpoint`` files.

Models with *registered* custom layers/activations are kind "data": the file only names the class, the
code lives in the user's installed package. The gray set is the Lambda layer, whose Python bytecode is
marshalled into the config.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from ._common import Corpus

FOLDERS = ("keras", "tf_keras", "tensorflow")

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _keras3(corpus: Corpus) -> None:
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)

    @keras.saving.register_keras_serializable(package="ecosystem")
    class ScaledDense(layers.Layer):
        """A registered custom layer, as a user package defines it."""

        def __init__(self, units: int = 4, scale: float = 0.5, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(**kwargs)
            self.units, self.scale = units, scale
            self.dense = layers.Dense(units)

        def call(self, x):  # type: ignore[no-untyped-def]
            return self.dense(x) * self.scale

        def get_config(self):  # type: ignore[no-untyped-def]
            return {**super().get_config(), "units": self.units, "scale": self.scale}

    @keras.saving.register_keras_serializable(package="ecosystem")
    def swishish(x):  # type: ignore[no-untyped-def]
        return x * keras.ops.sigmoid(x)

    inp = keras.Input((8,))
    hidden = layers.Dropout(0.1)(layers.Dense(4, activation="relu")(inp))
    functional = keras.Model(inp, layers.Dense(2, activation="softmax")(hidden))
    cnn = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(2, 3, activation="relu"), layers.BatchNormalization(),
                            layers.MaxPooling2D(), layers.Flatten(), layers.Dense(3)])
    text = keras.Sequential([keras.Input((5,), dtype="int32"), layers.Embedding(20, 4), layers.LSTM(4),
                             layers.Dense(1, activation="sigmoid")])
    attn_in = keras.Input((4, 8))
    attention = keras.Model(attn_in, layers.LayerNormalization()(layers.MultiHeadAttention(2, 4)(attn_in, attn_in)))
    custom = keras.Sequential([keras.Input((8,)), ScaledDense(4, name="scaled"), layers.Activation(swishish),
                               layers.Dense(1)])
    lam = keras.Sequential([keras.Input((8,)), layers.Lambda(lambda x: x * 2.0 + 1.0), layers.Dense(1)])
    for model in (functional, cnn, text, attention, custom, lam):
        model.compile(optimizer="adam", loss="mse")
    models = {"functional_mlp": functional, "sequential_cnn": cnn, "sequential_lstm": text,
              "multihead_attention": attention, "registered_custom_objects": custom}
    for name, model in models.items():
        rel = f"keras/{name}.keras"
        model.save(str(corpus.path(rel)))
        corpus.record(rel, "keras", "keras.Model.save('.keras')",
                      what="registered custom layer and activation: the file names them, carries no code"
                      if "custom" in name else "")
        rel = f"keras/{name}.weights.h5"
        model.save_weights(str(corpus.path(rel)))
        corpus.record(rel, "keras", "keras.Model.save_weights()")
    for name in ("functional_mlp", "sequential_cnn", "registered_custom_objects"):
        rel = f"keras/legacy_h5/{name}.h5"
        models[name].save(str(corpus.path(rel)))
        corpus.record(rel, "keras", "keras.Model.save('.h5') (legacy HDF5)")
    rel = "keras/code/lambda_layer.keras"
    lam.save(str(corpus.path(rel)))
    corpus.record(rel, "keras", "keras.Model.save('.keras') with a Lambda layer", kind="code",
                  what="Lambda layer: marshalled Python bytecode in config.json", min_severity="medium",
                  code_rules=["KER400"])
    rel = "keras/code/lambda_layer.h5"
    lam.save(str(corpus.path(rel)))
    corpus.record(rel, "keras", "keras.Model.save('.h5') with a Lambda layer", kind="code",
                  what="Lambda layer: marshalled Python bytecode in model_config", min_severity="medium",
                  code_rules=["KER400"])
    rel = "keras/export_savedmodel"
    functional.export(str(corpus.dir(rel)), verbose=False)
    corpus.record_tree(rel, "keras", "keras.Model.export() (SavedModel)")


def _tf_keras(corpus: Corpus) -> None:
    import tensorflow as tf
    import tf_keras

    tf.random.set_seed(0)
    model = tf_keras.Sequential([tf_keras.layers.Dense(4, activation="relu", input_shape=(6,)),
                                 tf_keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    rel = "tf_keras/sequential.h5"
    model.save(str(corpus.path(rel)))
    corpus.record(rel, "tf-keras", "tf_keras.Model.save('.h5')")
    rel = "tf_keras/sequential.keras"
    model.save(str(corpus.path(rel)))
    corpus.record(rel, "tf-keras", "tf_keras.Model.save('.keras')")
    rel = "tf_keras/savedmodel"
    model.save(str(corpus.dir(rel)), save_format="tf")
    corpus.record_tree(rel, "tf-keras", "tf_keras.Model.save(save_format='tf')")
    lam = tf_keras.Sequential([tf_keras.layers.Lambda(lambda x: x + 1.0, input_shape=(3,)), tf_keras.layers.Dense(1)])
    rel = "tf_keras/code/lambda.h5"
    lam.save(str(corpus.path(rel)))
    corpus.record(rel, "tf-keras", "tf_keras.Model.save('.h5') with a Lambda layer", kind="code",
                  what="Lambda layer: marshalled Python bytecode", min_severity="medium", code_rules=["KER400"])
    rel = "tf_keras/code/lambda_savedmodel"
    lam.save(str(corpus.dir(rel)), save_format="tf")
    corpus.record_tree(rel, "tf-keras", "tf_keras.Model.save(save_format='tf') with a Lambda layer",
                       what="Lambda layer: marshalled Python bytecode in keras_metadata.pb",
                       code={"keras_metadata.pb": ("medium", ["TFG507", "KER400"])})



def _tensorflow(corpus: Corpus) -> None:
    import tensorflow as tf

    tf.random.set_seed(0)

    class Affine(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(tf.random.normal((4, 2), seed=0), name="w")
            self.b = tf.Variable(tf.zeros(2), name="b")

        @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32)])
        def __call__(self, x):  # type: ignore[no-untyped-def]
            return tf.nn.relu(tf.matmul(x, self.w) + self.b)

    module = Affine()
    rel = "tensorflow/saved_model_module"
    tf.saved_model.save(module, str(corpus.dir(rel)))
    corpus.record_tree(rel, "tensorflow", "tf.saved_model.save(tf.Module)")
    conv = tf.lite.TFLiteConverter.from_saved_model(str(corpus.root / rel))
    rel = "tensorflow/affine.tflite"
    corpus.path(rel).write_bytes(conv.convert())
    corpus.record(rel, "tensorflow", "tf.lite.TFLiteConverter.from_saved_model().convert()")
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    rel = "tensorflow/affine_dynamic_range.tflite"
    corpus.path(rel).write_bytes(conv.convert())
    corpus.record(rel, "tensorflow", "tf.lite.TFLiteConverter.convert() with Optimize.DEFAULT")
    ckpt = tf.train.Checkpoint(model=module, step=tf.Variable(3))
    prefix = ckpt.write(str(corpus.dir("tensorflow/checkpoint") / "ckpt"))
    del prefix
    corpus.record_tree("tensorflow/checkpoint", "tensorflow", "tf.train.Checkpoint.write()")
    rel = "tensorflow/weights.npy"
    np.save(corpus.path(rel), module.w.numpy())
    corpus.record(rel, "numpy", "numpy.save(tf.Variable.numpy())")


def make(corpus: Corpus) -> None:
    warnings.filterwarnings("ignore")
    _keras3(corpus)
    _tf_keras(corpus)
    _tensorflow(corpus)
