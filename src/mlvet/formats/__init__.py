"""Format handlers, one module each; importing this package registers them all (see ``base.register``)."""

from mlvet import hfcache  # noqa: F401 - registers the cache-integrity rule
from mlvet.formats import (  # noqa: F401
    compressed,
    gguf,
    hf,
    keras,
    misc,
    mlflow,
    numpy,
    onnx,
    pickle,
    pmml,
    safetensors,
    sevenzip,
    skops,
    tar,
    tensorflow,
    tflite,
    zip,
)
from mlvet.formats.base import FormatHandler, Probe, ScanContext, handlers, register

__all__ = ["FormatHandler", "Probe", "ScanContext", "handlers", "register"]
