"""The format catalogue: every format id mlvet reports, and what each format can do.

A format id is what ``FileResult.format`` / ``formats_seen`` and the inventory's file kinds say
(``pickle``, ``pytorch-zip``, ``safetensors`` ...). :class:`FormatId` is a ``str`` enum, so an id written as
a plain string elsewhere still compares equal to its member. Every list that groups formats by what they
can do (the scanner's "content that runs code" check, the report card's format families, the inventory's
choice of an asset's principal file) derives from :data:`CATALOGUE` here instead of spelling ids out.

Core module (beside :mod:`mlvet.model` and :mod:`mlvet.rules`): it imports nothing from mlvet.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

__all__ = ["CATALOGUE", "REFINED", "Family", "FormatId", "FormatInfo", "code_formats", "family_of", "info"]


class FormatId(str, Enum):
    """A format id; its value is the string reported in results (``str()`` and ``format()`` give it too)."""

    # The pickle family and its containers: loading runs the stream.
    PICKLE = "pickle"
    PYTORCH_ZIP = "pytorch-zip"
    PYTORCH_PT2 = "pytorch-pt2"
    PYTORCH_LEGACY = "pytorch-legacy"
    PYTORCH_LEGACY_TAR = "pytorch-legacy-tar"
    TORCHSCRIPT = "torchscript"
    COMPRESSED = "compressed"
    NUMPY_OBJECT_ARRAY = "numpy-object-array"
    # Data-only weight formats.
    SAFETENSORS = "safetensors"
    GGUF = "gguf"
    ONNX = "onnx"
    ONNX_EXTERNAL_DATA = "onnx-external-data"
    TFLITE = "tflite"
    NUMPY_NPY = "numpy-npy"
    NUMPY_NPZ = "numpy-npz"
    PMML = "pmml"
    # Graph and layer descriptions the loader rebuilds.
    KERAS = "keras"
    KERAS_H5 = "keras-h5"
    KERAS_WEIGHTS_H5 = "keras-weights-h5"
    KERAS_CONFIG = "keras-config"
    HDF5 = "hdf5"
    SKOPS = "skops"
    TF_SAVEDMODEL = "tf-savedmodel"
    TF_GRAPHDEF = "tf-graphdef"
    TF_SAVEDMODEL_ZIP = "tf-savedmodel-zip"
    TF_KERAS_METADATA = "tf-keras-metadata"
    TF_FINGERPRINT = "tf-fingerprint"
    TF_CHECKPOINT_INDEX = "tf-checkpoint-index"
    TF_CHECKPOINT_DATA = "tf-checkpoint-data"
    TF_TEXT = "tf-text"
    # Archives.
    ZIP = "zip"
    TAR = "tar"
    SEVEN_Z = "7z"
    # Repository files: configs, templates, code, metadata.
    HUGGINGFACE_CONFIG = "huggingface-config"
    CHAT_TEMPLATE = "chat-template"
    PYTHON = "python"
    MLFLOW_MLMODEL = "mlflow-mlmodel"
    XML = "xml"
    YAML_PYTHON = "yaml-python"
    # Long-tail model formats (issue 12): parsed, data only unless a value is a pickle (scanned as one).
    MSGPACK = "msgpack"
    FLAX_MSGPACK = "flax-msgpack"
    THINC_MSGPACK = "thinc-msgpack"
    SPACY_MSGPACK = "spacy-msgpack"
    SPACY_DOCBIN = "spacy-docbin"
    MATLAB = "matlab"
    CATBOOST = "catboost"
    XGBOOST = "xgboost"
    LIGHTGBM = "lightgbm"
    FASTTEXT = "fasttext"
    WORD2VEC = "word2vec"
    SENTENCEPIECE = "sentencepiece"
    ORT = "onnxruntime-ort"
    ORBAX_OCDBT = "orbax-ocdbt"
    ZARR_CHUNK = "zarr-chunk"
    # Long-tail model formats (issue 12: fmt-new).
    COREML = "coreml"
    COREML_WEIGHTS = "coreml-weights"
    COREML_MANIFEST = "coreml-manifest"
    MXNET_PARAMS = "mxnet-params"
    MXNET_SYMBOL = "mxnet-symbol"
    CNTK = "cntk"
    PADDLE_PROGRAM = "paddle-program"
    PADDLE_PARAMS = "paddle-params"
    OPENVINO_IR = "openvino-ir"
    OPENVINO_WEIGHTS = "openvino-weights"
    TENSORRT_ENGINE = "tensorrt-engine"
    EXECUTORCH = "executorch"
    RKNN = "rknn"
    TORCH7 = "torch7"
    # Inventory-only kinds and the catch-alls.
    WEBDATASET = "webdataset"
    PARQUET = "parquet"
    ARROW = "arrow"
    TFRECORD = "tfrecord"
    GGML = "ggml"
    NUMPY = "numpy"
    # Code-bearing layouts and configs (issue 12, fmt-code).
    TORCH_PACKAGE = "torch-package"
    TORCHSERVE_MAR = "torchserve-mar"
    MLFLOW_ARCHIVE = "mlflow-archive"
    NEMO = "nemo"
    HYDRA_CONFIG = "hydra-config"
    LOADER_CODE = "loader-code"
    DIFFUSERS_INDEX = "diffusers-index"
    R_SERIALIZED = "r-serialized"
    R_RDS = "r-rds"
    R_RDATA = "r-rdata"
    JINJA_TEMPLATE = "jinja-template"
    PROMPT_YAML = "prompt-yaml"
    TF_METAGRAPH = "tf-metagraph"
    OTHER = "other"
    UNKNOWN = "unknown"
    # Issue 12 (fmt-img): llamafile executables, container images and Ollama models.
    LLAMAFILE = "llamafile"
    DOCKER_ARCHIVE = "docker-archive"
    OCI_LAYOUT = "oci-layout"
    OCI_BLOB = "oci-blob"
    OLLAMA_MANIFEST = "ollama-manifest"
    # Issue 15 (data): datasets' loading scripts and metadata (Parquet/Arrow are above).
    HF_DATASET_SCRIPT = "hf-dataset-script"
    HF_DATASET_INFO = "hf-dataset-info"
    HF_DATASET_STATE = "hf-dataset-state"
    HF_DATASET_FEATURES = "hf-dataset-features"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


#: What loading a format means for its user: ``code`` runs the file's own instructions (pickle family),
#: ``graph`` rebuilds named layers or ops, ``data`` only parses values.
Family = Literal["code", "graph", "data"]


@dataclass(frozen=True)
class FormatInfo:
    """What one format can do."""

    id: FormatId
    #: Loading it with its usual loader can run code the file carries.
    runs_code: bool = False
    #: A model's weights or graph (as opposed to configs, text, code or archives).
    weights: bool = False
    #: An archive whose members are scanned by their own formats.
    container: bool = False
    #: The family the report card scores it in (None: not a weight format).
    family: Family | None = None
    #: A more specific name for content first recognised as a container (a zip that is a torch checkpoint):
    #: reported as the result's format instead of the container's.
    refines: bool = False


F = FormatId
_ENTRIES: tuple[FormatInfo, ...] = (
    # Order matters for `refines`: the first refined format seen in a file names its result.
    # Code-bearing layouts first: a .nemo or .mar holds a torch checkpoint, but is named by its layout.
    FormatInfo(F.NEMO, runs_code=True, refines=True),
    FormatInfo(F.TORCHSERVE_MAR, runs_code=True, refines=True),
    FormatInfo(F.TORCH_PACKAGE, runs_code=True, refines=True),
    FormatInfo(F.MLFLOW_ARCHIVE, runs_code=True, refines=True),
    FormatInfo(F.R_RDATA, runs_code=True, refines=True),
    FormatInfo(F.R_RDS, runs_code=True, refines=True),
    FormatInfo(F.KERAS, weights=True, family="graph", refines=True),
    FormatInfo(F.KERAS_H5, weights=True, family="graph", refines=True),
    FormatInfo(F.SKOPS, weights=True, family="graph", refines=True),
    FormatInfo(F.PYTORCH_LEGACY_TAR, runs_code=True, weights=True, family="code", refines=True),
    FormatInfo(F.PYTORCH_LEGACY, runs_code=True, weights=True, family="code", refines=True),
    FormatInfo(F.TORCHSCRIPT, runs_code=True, weights=True, family="code", refines=True),
    FormatInfo(F.PYTORCH_PT2, runs_code=True, weights=True, family="code", refines=True),
    FormatInfo(F.PYTORCH_ZIP, runs_code=True, weights=True, family="code", refines=True),
    FormatInfo(F.NUMPY_NPZ, weights=True, family="data", refines=True),
    FormatInfo(F.PICKLE, runs_code=True, weights=True, family="code"),
    FormatInfo(F.COMPRESSED, runs_code=True, weights=True, container=True, family="code"),
    FormatInfo(F.NUMPY_OBJECT_ARRAY, runs_code=True),
    FormatInfo(F.SAFETENSORS, weights=True, family="data"),
    FormatInfo(F.GGUF, weights=True, family="data"),
    FormatInfo(F.ONNX, weights=True, family="data"),
    FormatInfo(F.ONNX_EXTERNAL_DATA),
    FormatInfo(F.TFLITE, weights=True, family="data"),
    FormatInfo(F.NUMPY_NPY, weights=True, family="data"),
    FormatInfo(F.PMML, weights=True, family="data"),
    FormatInfo(F.KERAS_WEIGHTS_H5),
    FormatInfo(F.KERAS_CONFIG),
    FormatInfo(F.HDF5, weights=True, family="graph"),
    FormatInfo(F.TF_SAVEDMODEL, weights=True, family="graph"),
    FormatInfo(F.TF_GRAPHDEF, weights=True, family="graph"),
    FormatInfo(F.TF_SAVEDMODEL_ZIP, container=True),
    FormatInfo(F.TF_KERAS_METADATA),
    FormatInfo(F.TF_FINGERPRINT),
    FormatInfo(F.TF_CHECKPOINT_INDEX),
    FormatInfo(F.TF_CHECKPOINT_DATA),
    FormatInfo(F.TF_TEXT),
    FormatInfo(F.ZIP, container=True),
    FormatInfo(F.TAR, container=True),
    FormatInfo(F.SEVEN_Z, container=True),
    FormatInfo(F.HUGGINGFACE_CONFIG),
    FormatInfo(F.CHAT_TEMPLATE),
    FormatInfo(F.PYTHON),
    FormatInfo(F.MLFLOW_MLMODEL),
    FormatInfo(F.XML),
    # YAML with PyYAML python/object tags: an unsafe yaml.load (old Keras model_from_yaml) builds the objects.
    FormatInfo(F.YAML_PYTHON, runs_code=True),
    FormatInfo(F.MSGPACK, weights=True, family="data"),
    FormatInfo(F.FLAX_MSGPACK),
    FormatInfo(F.THINC_MSGPACK),
    FormatInfo(F.SPACY_MSGPACK),
    FormatInfo(F.SPACY_DOCBIN),
    FormatInfo(F.MATLAB, weights=True, family="data"),
    FormatInfo(F.CATBOOST, weights=True, family="data"),
    FormatInfo(F.XGBOOST, weights=True, family="data"),
    FormatInfo(F.LIGHTGBM, weights=True, family="data"),
    FormatInfo(F.FASTTEXT, weights=True, family="data"),
    FormatInfo(F.WORD2VEC, weights=True, family="data"),
    FormatInfo(F.SENTENCEPIECE),
    FormatInfo(F.ORT, weights=True, family="data"),
    FormatInfo(F.ORBAX_OCDBT, weights=True, family="data"),
    FormatInfo(F.ZARR_CHUNK),
    # Long-tail model formats (issue 12: fmt-new). Torch7 stores Lua bytecode; CNTK user functions import code.
    FormatInfo(F.COREML, weights=True, family="graph"),
    FormatInfo(F.COREML_WEIGHTS),
    FormatInfo(F.COREML_MANIFEST),
    FormatInfo(F.MXNET_PARAMS, weights=True, family="data"),
    FormatInfo(F.MXNET_SYMBOL, weights=True, family="graph"),
    FormatInfo(F.CNTK, weights=True, family="graph"),
    FormatInfo(F.PADDLE_PROGRAM, weights=True, family="graph"),
    FormatInfo(F.PADDLE_PARAMS, weights=True, family="data"),
    FormatInfo(F.OPENVINO_IR, weights=True, family="graph"),
    FormatInfo(F.OPENVINO_WEIGHTS),
    FormatInfo(F.TENSORRT_ENGINE, weights=True, family="graph"),
    FormatInfo(F.EXECUTORCH, weights=True, family="graph"),
    FormatInfo(F.RKNN, weights=True, family="graph"),
    FormatInfo(F.TORCH7, runs_code=True, weights=True, family="code"),
    FormatInfo(F.WEBDATASET),
    FormatInfo(F.PARQUET),
    FormatInfo(F.ARROW),
    FormatInfo(F.TFRECORD),
    FormatInfo(F.GGML),
    FormatInfo(F.NUMPY),
    # Hydra/OmegaConf configs: instantiate() calls every _target_. Loader-imported code by name.
    FormatInfo(F.HYDRA_CONFIG),
    FormatInfo(F.LOADER_CODE),
    FormatInfo(F.DIFFUSERS_INDEX),
    FormatInfo(F.R_SERIALIZED, runs_code=True),
    FormatInfo(F.JINJA_TEMPLATE),
    FormatInfo(F.PROMPT_YAML),
    FormatInfo(F.TF_METAGRAPH),
    FormatInfo(F.OTHER),
    FormatInfo(F.UNKNOWN),
    # The file is a program: running it runs its machine code (the embedded GGUF is scanned as a member).
    FormatInfo(F.LLAMAFILE, runs_code=True, container=True),
    FormatInfo(F.DOCKER_ARCHIVE, container=True),
    FormatInfo(F.OCI_LAYOUT),
    FormatInfo(F.OCI_BLOB, container=True),
    FormatInfo(F.OLLAMA_MANIFEST),
    # load_dataset(trust_remote_code=True) imports the script; the rest is metadata read as data.
    FormatInfo(F.HF_DATASET_SCRIPT, runs_code=True),
    FormatInfo(F.HF_DATASET_INFO),
    FormatInfo(F.HF_DATASET_STATE),
    FormatInfo(F.HF_DATASET_FEATURES),
)

#: Every format by id, in the catalogue's order.
CATALOGUE: dict[FormatId, FormatInfo] = {e.id: e for e in _ENTRIES}

#: Formats that name a result instead of the container they were found in, most specific first.
REFINED: tuple[FormatId, ...] = tuple(e.id for e in _ENTRIES if e.refines)


def info(fmt: str) -> FormatInfo | None:
    """The catalogue entry of ``fmt`` (None for ids outside it, such as the ``<kind>-code`` of hf.py)."""
    try:
        return CATALOGUE[FormatId(fmt)]
    except ValueError:
        return None


def code_formats() -> frozenset[FormatId]:
    """Formats whose usual loader runs code carried by the file."""
    return frozenset(e.id for e in _ENTRIES if e.runs_code)


def family_of(fmt: str) -> Family | None:
    """The report card's family of ``fmt`` (None when it is not a weight format)."""
    entry = info(fmt)
    return entry.family if entry is not None else None
