"""TensorFlow rules and operator knowledge: which operators reach files, processes or the network.

Shared by the SavedModel / GraphDef / text-graph readers (:mod:`mlvet.formats.tensorflow`) and the
TFLite reader (Flex ops are TensorFlow ops). The standard operator registry is a generated data file
(``data/tf_ops.txt``, from ``tests/assets/make_tf_ops.py``); the tables below are hand-kept, each op
with what it does and the severity that follows from the file alone.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from mlvet.model import Severity
from mlvet.rules import Rule, define_rule

TFG500 = define_rule(
    "TFG500", "tf-op-inventory", Severity.INFO,
    "Inventory of the TensorFlow graph: operator types with counts, functions, tags and version.",
    "Knowing which operators a model runs is the basis of every review; this lists them.",
    "Nothing to fix; compare the list with what the model is supposed to do.",
)
TFG501 = define_rule(
    "TFG501", "tf-python-op", Severity.HIGH,
    "The graph calls back into Python (PyFunc, PyFuncStateless, EagerPyFunc).",
    "These operators run a Python function of the process that loads the model; the function is not in "
    "the file, so what runs depends on code outside the model — a classic way to smuggle behaviour in.",
    "Do not serve the model; re-export it without py_function / numpy_function.",
    94,
)
TFG502 = define_rule(
    "TFG502", "tf-file-op", Severity.HIGH,
    "The graph reads, writes, lists or memory-maps files (ReadFile, WriteFile, MatchingFiles, file "
    "datasets, PrintV2 to a file, constant checkpoint paths ...).",
    "Running the model then touches the file system of whoever serves it: it can read secrets into its "
    "outputs, overwrite files, or enumerate folders.",
    "Do not run the model; find out why a model needs file access and re-export it without those ops.",
    73,
)
TFG503 = define_rule(
    "TFG503", "tf-network-op", Severity.HIGH,
    "The graph opens network connections (RPC, tf.data service, remote calls, debugger gRPC streams) or "
    "exchanges tensors with other processes.",
    "Network operators can exfiltrate inputs and outputs or fetch data from an attacker's server when the "
    "model runs. Send/Recv and collective operators only reach tasks of a configured cluster (low).",
    "Do not run the model outside an isolated network; re-export it without these ops.",
    918,
)
TFG504 = define_rule(
    "TFG504", "tf-custom-op", Severity.LOW,
    "The graph uses operators that are not in TensorFlow's standard operator registry.",
    "Custom operators are native code that the application loads (tf.load_op_library); the model cannot be "
    "reviewed without that library. Names that suggest file, process or network access are medium.",
    "Check which library provides these operators and whether you trust it.",
    829,
)
TFG505 = define_rule(
    "TFG505", "tf-opaque-code", Severity.MEDIUM,
    "The graph embeds code that this inventory cannot see (a serialized graph fed to DatasetFromGraph, an "
    "XLA custom call, a StableHLO module).",
    "Operators inside those payloads run too; static inventories of the outer graph do not list them.",
    "Review the embedded program, or re-export the model without it.",
    94,
)
TFG506 = define_rule(
    "TFG506", "tf-asset-path", Severity.HIGH,
    "A SavedModel asset file name is absolute or walks out of the assets folder ('..').",
    "Loading joins the name to the assets folder and reads that file into the model (lookup tables, "
    "vocabularies), so any file on the machine can be pulled in and leaked through outputs.",
    "Do not load the model; asset file names must be plain relative names.",
    22,
)
TFG507 = define_rule(
    "TFG507", "tf-keras-lambda", Severity.HIGH,
    "Keras metadata in the SavedModel holds a Lambda layer (marshalled Python bytecode or a named function).",
    "Legacy Keras (tf.keras / tf_keras) rebuilds Lambda layers from this metadata when loading and runs the "
    "bytecode when the layer is called; there is no safe mode for SavedModel directories.",
    "Do not load with Keras; re-export the model without Lambda layers.",
    94,
)
TFG508 = define_rule(
    "TFG508", "tf-keras-custom-object", Severity.LOW,
    "Keras metadata names classes or functions that are not built into Keras (custom objects).",
    "Custom objects are code the loading application must supply; the model depends on it.",
    "Check where the custom classes come from before loading with custom_objects.",
    502,
)

_DATA = "data"

# ---- operator classification ---------------------------------------------------------------------
# (rule, severity, what it does). Severity reflects what the op can do from the file alone: a file read
# at a path taken from the graph is high; writing summaries into a log folder given by the caller is medium.
_H, _M, _L = Severity.HIGH, Severity.MEDIUM, Severity.LOW


def _table() -> dict[str, tuple[Rule, Severity, str]]:
    t: dict[str, tuple[Rule, Severity, str]] = {}

    def add(rule: Rule, sev: Severity, what: str, names: str) -> None:
        for n in names.split():
            t[n] = (rule, sev, what)

    add(TFG501, _H, "runs a Python function of the loading process", "PyFunc PyFuncStateless EagerPyFunc")
    add(TFG502, _H, "reads a file", "ReadFile ImmutableConst WholeFileReader WholeFileReaderV2 "
        "TextLineReader TextLineReaderV2 FixedLengthRecordReader FixedLengthRecordReaderV2 TFRecordReader "
        "TFRecordReaderV2 LMDBReader RecordInput LoadAndRemapMatrix GenerateVocabRemapping")
    add(TFG502, _H, "writes a file", "WriteFile DatasetToTFRecord ExperimentalDatasetToTFRecord "
        "SaveDataset SaveDatasetV2 DistributedSave DumpTensor CalibrationStatisticsSaver")
    add(TFG502, _H, "lists files matching a pattern", "MatchingFiles MatchingFilesDataset "
        "ExperimentalMatchingFilesDataset")
    add(TFG502, _H, "reads files through a dataset", "TFRecordDataset TFRecordDatasetV2 FixedLengthRecordDataset "
        "FixedLengthRecordDatasetV2 TextLineDataset CSVDataset CSVDatasetV2 ExperimentalCSVDataset LMDBDataset "
        "ExperimentalLMDBDataset LoadDataset SnapshotDatasetReader SnapshotChunkDataset ListSnapshotChunksDataset "
        "SqlDataset ExperimentalSqlDataset")
    add(TFG502, _M, "reads or writes a dataset cache or snapshot on disk", "CacheDataset CacheDatasetV2 "
        "SnapshotDataset SnapshotDatasetV2")
    add(TFG502, _M, "writes summaries to a log folder or database", "CreateSummaryFileWriter "
        "CreateSummaryDbWriter ImportEvent")
    add(TFG502, _M, "changes file-system configuration", "FileSystemSetConfiguration")
    add(TFG503, _H, "makes or serves RPC calls", "RpcClient RpcServer RpcCall RpcServerStart RpcServerRegister "
        "RpcGetValue RpcCheckStatus")
    add(TFG503, _H, "connects to a tf.data service", "DataServiceDataset DataServiceDatasetV2 "
        "DataServiceDatasetV3 DataServiceDatasetV4 RegisterDataset RegisterDatasetV2")
    add(TFG503, _M, "runs a function on a remote device", "RemoteCall")
    add(TFG503, _L, "exchanges tensors with another device or task", "Send Recv _Send _Recv _HostSend "
        "_HostRecv CollectiveBcastSend CollectiveBcastRecv CollectiveBcastSendV2 CollectiveBcastRecvV2 "
        "CollectiveGather CollectiveGatherV2 CollectiveReduce CollectiveReduceV2 CollectiveReduceV3 "
        "CollectiveAllToAllV2 CollectiveAllToAllV3 CollectiveReduceScatterV2 CollectivePermute "
        "CollectiveInitializeCommunicator CollectiveAssignGroupV2")
    add(TFG505, _M, "runs a graph passed in as data", "DatasetFromGraph")
    add(TFG505, _M, "calls a native XLA custom-call target", "XlaCustomCall XlaCustomCallV2")
    add(TFG505, _L, "runs an embedded StableHLO module", "XlaCallModule")
    return t


OPS = _table()
#: Checkpoint operators and the index of their path input(s): standard in every SavedModel.
CHECKPOINT_PATHS: dict[str, tuple[int, ...]] = {
    "SaveV2": (0,), "RestoreV2": (0,), "Save": (0,), "SaveSlices": (0,), "Restore": (0,),
    "RestoreSlice": (0,), "MergeV2Checkpoints": (0, 1), "DTensorRestoreV2": (0,),
}
#: File-path inputs of dangerous ops whose constant value is worth showing.
PATH_INPUTS: dict[str, tuple[int, ...]] = {
    "ReadFile": (0,), "WriteFile": (0,), "MatchingFiles": (0,), "TFRecordDataset": (0,),
    "TFRecordDatasetV2": (0,), "TextLineDataset": (0,), "FixedLengthRecordDataset": (0,),
    "CSVDataset": (0,), "LoadDataset": (0,), "SaveDataset": (1,), "SaveDatasetV2": (1,),
    "InitializeTableFromTextFile": (1,), "InitializeTableFromTextFileV2": (1,), "CacheDataset": (1,),
    "CacheDatasetV2": (1,), "CreateSummaryFileWriter": (1,), "RpcClient": (0,), "RpcServer": (0,),
    "SqlDataset": (1,), "LMDBDataset": (0,), "MatchingFilesDataset": (0,),
}
#: Attributes that carry a file name or URL on some ops.
PATH_ATTRS = frozenset({"output_stream", "debug_urls", "file_pattern", "memory_region_name", "log_dir_path",
                        "output_file_path", "descriptor_source", "file_name"})
SUSPICIOUS_CUSTOM = re.compile(r"(?i)(file|read|write|exec|shell|system|popen|process|socket|http|url|"
                               r"download|upload|rpc|python|pyfunc|eval|command|spawn)")


def classify_op(op: str) -> tuple[Rule, Severity, str] | None:
    """How dangerous a TensorFlow operator is by name alone (also used for TFLite Flex ops)."""
    return OPS.get(op)


@lru_cache(maxsize=1)
def standard_ops() -> frozenset[str]:
    """TensorFlow's registered operator names (generated from the tensorflow package; see data file)."""
    text = resources.files("mlvet.formats").joinpath(_DATA).joinpath("tf_ops.txt").read_text("utf-8")
    return frozenset(ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#"))


@lru_cache(maxsize=1)
def keras_builtins() -> frozenset[str]:
    """Class names built into Keras (generated data file): anything else in Keras metadata is custom."""
    text = resources.files("mlvet.formats").joinpath(_DATA).joinpath("keras_builtins.txt").read_text("utf-8")
    return frozenset(ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#"))


# ---- paths -----------------------------------------------------------------------------------------

#: Paths no model has a reason to read or write: system files, credentials, shell start-up files.
SENSITIVE = re.compile(
    r"(?i)(^|[\\/])(etc|proc|sys|root|dev|boot|windows|system32)([\\/]|$)|^~|[\\/]\.(ssh|aws|gnupg|kube|docker|"
    r"config)([\\/]|$)|\.(bashrc|profile|zshrc|netrc|pgpass|git-credentials)$|id_(rsa|ed25519|ecdsa)|passwd|shadow|"
    r"\.\./\.\.|cron"
)


def escapes(path: str) -> bool:
    """A path that leaves wherever the loader puts it: absolute, home-relative, '..' or a URL."""
    p = path.replace("\\", "/")
    return p.startswith(("/", "~")) or bool(re.match(r"^[A-Za-z]:", p)) or "/../" in f"/{p}/" or "://" in p


def asset_escapes(name: str) -> bool:
    """A SavedModel asset name that is empty, absolute or walks out of the assets folder."""
    parts = re.split(r"[\\/]+", name)
    return name == "" or "\x00" in name or name.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:", name)) \
        or ".." in parts
