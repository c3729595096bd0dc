"""TensorFlow: SavedModel (``saved_model.pb``, ``keras_metadata.pb``, ``fingerprint.pb``, ``variables/``)
and frozen GraphDef ``.pb`` files. No TensorFlow at run time.

A TensorFlow graph runs whatever operators it names, and some operators reach outside the tensor world:
they read or write files (``ReadFile``, ``WriteFile``, ``MatchingFiles``, file-backed datasets, ``PrintV2``
to a ``file://`` stream), call back into Python (``PyFunc``, ``EagerPyFunc``) or talk to the network (RPC
and tf.data service ops). Loading a SavedModel and calling a signature runs them. This module lists every
operator in the graph *and* in the function library (where tf.function bodies live), reports the
dangerous ones, reports operators that are not in TensorFlow's standard registry (custom ops need a
native library loaded by the application), resolves constant file paths fed to those operators, and
checks asset paths and Keras metadata (``Lambda`` layers carry marshalled Python bytecode).

Checkpoint operators (``SaveV2``, ``RestoreV2``, ``MergeV2Checkpoints`` ...) are in every SavedModel: its
saver functions write and read the checkpoint at a path given by the caller. They are reported only when
their path is a constant that is absolute or walks upwards — that is a graph writing to a fixed place.

Files are protobuf messages and are walked with the streaming wire reader: ``tensor_content`` of frozen
constants is skipped by offset, so graph size does not matter. Each file of a SavedModel folder is
recognised by its content (the scanner sees files one at a time); checkpoint data shards, which are raw
tensor bytes, are accepted only next to a valid checkpoint index. The protobuf *text* format
(``saved_model.pbtxt``, which TensorFlow loads when there is no ``.pb``) is read line by line for
operators, URLs and asset names, so it cannot pass as a plain text file.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, BinaryIO

from mlvet.analysis.protowire import LEN, VARINT, Field, Message, WireReader, try_fields
from mlvet.containers.zipread import ZipArchive
from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.zip import register_zip_layout
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


_OPS = _table()
#: Checkpoint operators and the index of their path input(s): standard in every SavedModel.
_CHECKPOINT_PATHS: dict[str, tuple[int, ...]] = {
    "SaveV2": (0,), "RestoreV2": (0,), "Save": (0,), "SaveSlices": (0,), "Restore": (0,),
    "RestoreSlice": (0,), "MergeV2Checkpoints": (0, 1), "DTensorRestoreV2": (0,),
}
#: File-path inputs of dangerous ops whose constant value is worth showing.
_PATH_INPUTS: dict[str, tuple[int, ...]] = {
    "ReadFile": (0,), "WriteFile": (0,), "MatchingFiles": (0,), "TFRecordDataset": (0,),
    "TFRecordDatasetV2": (0,), "TextLineDataset": (0,), "FixedLengthRecordDataset": (0,),
    "CSVDataset": (0,), "LoadDataset": (0,), "SaveDataset": (1,), "SaveDatasetV2": (1,),
    "InitializeTableFromTextFile": (1,), "InitializeTableFromTextFileV2": (1,), "CacheDataset": (1,),
    "CacheDatasetV2": (1,), "CreateSummaryFileWriter": (1,), "RpcClient": (0,), "RpcServer": (0,),
    "SqlDataset": (1,), "LMDBDataset": (0,), "MatchingFilesDataset": (0,),
}
#: Attributes that carry a file name or URL on some ops.
_PATH_ATTRS = frozenset({"output_stream", "debug_urls", "file_pattern", "memory_region_name", "log_dir_path",
                         "output_file_path", "descriptor_source", "file_name"})
_SUSPICIOUS_CUSTOM = re.compile(r"(?i)(file|read|write|exec|shell|system|popen|process|socket|http|url|"
                                r"download|upload|rpc|python|pyfunc|eval|command|spawn)")
_DT_STRING = 7
_MAX_DISTINCT_OPS = 10_000
_MAX_CONST = 1024
#: Keras metadata JSON parsed per object; larger entries are an error (json.loads costs ~10x in memory).
_KERAS_JSON_LIMIT = 16 * 1024 * 1024


def classify_op(op: str) -> tuple[Rule, Severity, str] | None:
    """How dangerous a TensorFlow operator is by name alone (also used for TFLite Flex ops)."""
    return _OPS.get(op)


@lru_cache(maxsize=1)
def standard_ops() -> frozenset[str]:
    """TensorFlow's registered operator names (generated from the tensorflow package; see data file)."""
    text = resources.files("mlvet.formats").joinpath(_DATA).joinpath("tf_ops.txt").read_text("utf-8")
    return frozenset(ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#"))


@lru_cache(maxsize=1)
def keras_builtins() -> frozenset[str]:
    text = resources.files("mlvet.formats").joinpath(_DATA).joinpath("keras_builtins.txt").read_text("utf-8")
    return frozenset(ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#"))


# ---- sniffing ------------------------------------------------------------------------------------

_IDENT = re.compile(rb"^[A-Za-z_][A-Za-z0-9_>.\-]{0,199}$")
_NODE_FIELDS = {1: LEN, 2: LEN, 3: LEN, 4: LEN, 5: LEN, 6: LEN, 7: LEN}
_GRAPH_FIELDS = {1: LEN, 2: LEN, 3: VARINT, 4: LEN, 5: LEN}
_META_GRAPH_FIELDS = {1: LEN, 2: LEN, 3: LEN, 4: LEN, 5: LEN, 6: LEN, 7: LEN}
_FINGERPRINT_FIELDS = {1: VARINT, 2: VARINT, 3: VARINT, 4: VARINT, 5: VARINT, 6: LEN, 7: LEN}
_KERAS_OBJECT_FIELDS = {2: VARINT, 3: LEN, 4: LEN, 5: LEN, 6: LEN}
_SSTABLE_MAGIC = (0xDB4775248B80FB57).to_bytes(8, "little")
_SHARD_NAME = re.compile(r"^(?P<prefix>.+)\.data-(?P<i>\d{5})-of-(?P<n>\d{5})$")


def _inner(head: bytes, start: int, length: int, limit: int = 8) -> list[tuple[int, int, int, int]] | None:
    if start >= len(head):
        return []
    return try_fields(head[start : min(len(head), start + length)], limit)


def _looks_like_node(head: bytes, start: int, length: int) -> bool:
    inner = _inner(head, start, length)
    if not inner:
        return False
    sub = head[start : start + length]
    has_op = False
    for n, w, v, s in inner:
        if _NODE_FIELDS.get(n) != w:
            return False
        if n in (1, 2) and s + v <= len(sub):
            if not _IDENT.match(sub[s : s + v]) and not (n == 1 and v and sub[s:s + v].isascii()):
                return False
            has_op = has_op or n == 2
    return has_op or len(sub) < length  # op may sit beyond the head when the name is long


def looks_like_graphdef(head: bytes) -> bool:
    fields = try_fields(head, 16)
    if not fields:
        return False
    if any(_GRAPH_FIELDS.get(f[0]) != f[1] for f in fields):
        return False
    n, _w, v, s = fields[0]
    if n == 1:
        return _looks_like_node(head, s, v)
    if n == 2:  # function library first (no top-level nodes)
        inner = _inner(head, s, v)
        if not inner:
            return False
        return all(f[0] in (1, 2, 3) and f[1] == LEN for f in inner)
    return False


def looks_like_saved_model(head: bytes) -> bool:
    fields = try_fields(head, 4)
    if not fields or len(fields) < 2:
        return False
    if fields[0][:2] != (1, VARINT) or fields[0][2] > 16:
        return False
    n, w, v, s = fields[1]
    if (n, w) != (2, LEN):
        return False
    inner = _inner(head, s, v, 4)
    if not inner:
        return False
    return all(_META_GRAPH_FIELDS.get(f[0]) == f[1] for f in inner)


def looks_like_keras_metadata(head: bytes) -> bool:
    fields = try_fields(head, 4)
    if not fields or any(f[:2] != (1, LEN) for f in fields):
        return False
    _n, _w, v, s = fields[0]
    inner = _inner(head, s, v, 6)
    if not inner or any(_KERAS_OBJECT_FIELDS.get(f[0]) != f[1] for f in inner):
        return False
    sub = head[s : s + v]
    for fn, _fw, fv, fs in inner:
        if fn == 4 and sub[fs : fs + fv].startswith(b"_tf_keras"):
            return True
        if fn == 5 and sub[fs : fs + 1] == b"{":
            return True
    return False


def looks_like_fingerprint(head: bytes, size: int) -> bool:
    if size > 4096:
        return False
    fields = try_fields(head, 16)
    if not fields or len(head) < size:
        return False
    numbers = [f[0] for f in fields]
    if any(_FINGERPRINT_FIELDS.get(f[0]) != f[1] for f in fields) or len(set(numbers)) != len(numbers):
        return False
    return len({1, 2, 3, 4, 5} & set(numbers)) >= 3


def starts_like_pickle_proto(head: bytes) -> bool:
    """A PROTO opcode with a valid protocol: every protocol-2+ pickle starts this way."""
    return len(head) >= 2 and head[0] == 0x80 and head[1] <= 5


def looks_like_checkpoint_index(probe: Probe) -> bool:
    return probe.size >= 48 and probe.tail(48)[-8:] == _SSTABLE_MAGIC


# ---- graph analysis --------------------------------------------------------------------------------


@dataclass
class _Node:
    name: str
    op: str
    inputs: list[str]
    attrs: dict[str, list[str]]
    offset: int


@dataclass
class _Scope:
    """A graph or one function body: node names are local to it (inputs refer to them)."""

    where: str
    consts: dict[str, str] = field(default_factory=dict)
    flagged: list[_Node] = field(default_factory=list)


@dataclass
class _Inventory:
    ops: Counter[str] = field(default_factory=Counter)
    overflow: bool = False
    nodes: int = 0
    functions: int = 0
    first_use: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    tf_version: str = ""


class _GraphWalker:
    def __init__(self, reader: WireReader, ctx: ScanContext) -> None:
        self.r = reader
        self.ctx = ctx
        self.inv = _Inventory()

    # GraphDef{node=1, library=2}
    def graph_def(self, msg: Message, where: str) -> None:
        scope = _Scope(where)
        for f in self.r.fields(msg):
            if f.number == 1:
                self._node(self.r.message(f), scope)
            elif f.number == 2:
                self._library(self.r.message(f), where)
        self._finish(scope)

    # FunctionDefLibrary{function=1}
    def _library(self, msg: Message, where: str) -> None:
        for f in self.r.fields(msg):
            if f.number == 1:
                self._function(self.r.message(f), where)

    # FunctionDef{signature=1 OpDef{name=1}, node_def=3}
    def _function(self, msg: Message, where: str) -> None:
        r = self.r
        name = ""
        bodies: list[Field] = []
        for f in r.fields(msg):
            if f.number == 1:
                for g in r.fields(r.message(f)):
                    if g.number == 1 and g.wire == LEN:
                        name = r.text(g, 256)
            elif f.number == 3:
                bodies.append(f)
        self.inv.functions += 1
        scope = _Scope(f"{where} function {name or '?'}")
        for f in bodies:
            self._node(r.message(f), scope)
        self._finish(scope)

    # NodeDef{name=1, op=2, input=3, device=4, attr=5 map<string, AttrValue>}
    def _node(self, msg: Message, scope: _Scope) -> None:
        r = self.r
        op = ""
        name_field: Field | None = None
        input_fields: list[Field] = []
        attrs: dict[str, list[str]] = {}
        const_value: str | None = None
        for f in r.fields(msg):
            n = f.number
            if n == 2 and f.wire == LEN:
                op = r.text(f, 256)
            elif n == 1 and f.wire == LEN:
                name_field = f  # decoded only when needed: most nodes are plain math
            elif n == 3 and f.wire == LEN:
                if len(input_fields) < 8:
                    input_fields.append(f)
            elif n == 5:
                key, value = self._attr_entry(r.message(f), op)
                if key is not None:
                    if isinstance(value, str):
                        const_value = value
                    elif value:
                        attrs[key] = value
        inv = self.inv
        inv.nodes += 1
        if op in inv.ops:
            inv.ops[op] += 1
        elif len(inv.ops) < _MAX_DISTINCT_OPS:
            inv.ops[op] += 1
            inv.first_use[op] = f"{scope.where}/{self._name(name_field)}"
        else:
            inv.overflow = True
        if op == "Const":
            if const_value is not None:
                scope.consts[self._name(name_field)] = const_value
        elif op in _OPS or op in _CHECKPOINT_PATHS or op in _PATH_INPUTS or attrs or op not in standard_ops():
            inputs = [r.text(f, 512) for f in input_fields]
            scope.flagged.append(_Node(self._name(name_field), op, inputs, attrs, msg.start))

    def _name(self, f: Field | None) -> str:
        return self.r.text(f, 512) if f is not None else ""

    def _attr_entry(self, msg: Message, op: str) -> tuple[str | None, list[str] | str | None]:
        """One ``attr`` map entry: returns interesting string values (or a Const's string value)."""
        r = self.r
        key: str | None = None
        value_field: Field | None = None
        for f in r.fields(msg):
            if f.number == 1 and f.wire == LEN:
                key = r.text(f, 256)
            elif f.number == 2 and f.wire == LEN:
                value_field = f
        if key is None or value_field is None:
            return None, None
        if op == "Const" and key == "value":
            return key, self._const_string(r.message(value_field))
        if key in _PATH_ATTRS:
            return key, self._attr_strings(r.message(value_field))
        return None, None

    def _attr_strings(self, msg: Message) -> list[str]:
        """AttrValue{s=2, list=1 ListValue{s=2}} as text."""
        r = self.r
        out: list[str] = []
        for f in r.fields(msg):
            if f.number == 2 and f.wire == LEN:
                out.append(r.text(f, _MAX_CONST))
            elif f.number == 1 and f.wire == LEN:
                for g in r.fields(r.message(f)):
                    if g.number == 2 and g.wire == LEN and len(out) < 16:
                        out.append(r.text(g, _MAX_CONST))
        return out

    def _const_string(self, msg: Message) -> str | None:
        """AttrValue.tensor(8) → TensorProto{dtype=1, string_val=8}: the first string of a string constant.

        ``tensor_content`` (the bulk of frozen weights) is skipped, never read.
        """
        r = self.r
        for f in r.fields(msg):
            if f.number == 8 and f.wire == LEN:
                dtype = 0
                first: str | None = None
                for g in r.fields(r.message(f)):
                    if g.number == 1 and g.wire == VARINT:
                        dtype = g.value
                    elif g.number == 8 and g.wire == LEN and first is None:
                        first = r.text(g, _MAX_CONST)
                return first if dtype == _DT_STRING else None
        return None

    def _finish(self, scope: _Scope) -> None:
        for node in scope.flagged:
            _judge(node, scope, self.ctx)


def _const_inputs(node: _Node, scope: _Scope, indices: tuple[int, ...]) -> list[str]:
    values = []
    for i in indices:
        if i < len(node.inputs):
            src = node.inputs[i].lstrip("^").split(":")[0]
            if src in scope.consts:
                values.append(scope.consts[src])
    return values


#: Paths no model has a reason to read or write: system files, credentials, shell start-up files.
_SENSITIVE = re.compile(
    r"(?i)(^|[\\/])(etc|proc|sys|root|dev|boot|windows|system32)([\\/]|$)|^~|[\\/]\.(ssh|aws|gnupg|kube|docker|"
    r"config)([\\/]|$)|\.(bashrc|profile|zshrc|netrc|pgpass|git-credentials)$|id_(rsa|ed25519|ecdsa)|passwd|shadow|"
    r"\.\./\.\.|cron"
)


def _escapes(path: str) -> bool:
    p = path.replace("\\", "/")
    return p.startswith(("/", "~")) or bool(re.match(r"^[A-Za-z]:", p)) or "/../" in f"/{p}/" or "://" in p


def _judge(node: _Node, scope: _Scope, ctx: ScanContext) -> None:
    op = node.op
    where = f"{scope.where}/{node.name}"
    attr_text = "; ".join(f"{k}={v!r}" for k, vs in node.attrs.items() for v in vs[:4])
    if op in _CHECKPOINT_PATHS:
        for path in _const_inputs(node, scope, _CHECKPOINT_PATHS[op]):
            if _escapes(path):
                ctx.report(TFG502, f"checkpoint op {op} uses the fixed path {path[:200]!r} ({where})",
                           severity=Severity.HIGH if _SENSITIVE.search(path) else Severity.MEDIUM,
                           offset=node.offset, evidence=f"{op} {path}"[:400])
        return
    if op == "PrintV2":
        stream = next(iter(node.attrs.get("output_stream", [])), "")
        if stream.startswith("file://"):
            ctx.report(TFG502, f"PrintV2 appends to the file {stream[7:][:200]!r} ({where})",
                       offset=node.offset, evidence=f"PrintV2 output_stream={stream}"[:400])
        return
    if op.startswith("Debug") and node.attrs.get("debug_urls"):
        for url in node.attrs["debug_urls"]:
            if url.startswith("file://"):
                ctx.report(TFG502, f"{op} dumps tensors to {url[:200]!r} ({where})", severity=Severity.MEDIUM,
                           offset=node.offset, evidence=url[:400])
            elif url:
                ctx.report(TFG503, f"{op} streams tensors to {url[:200]!r} ({where})", offset=node.offset,
                           evidence=url[:400])
        return
    if op in ("DecodeProtoV2", "EncodeProto"):
        source = next(iter(node.attrs.get("descriptor_source", [])), "local://")
        if source not in ("local://", ""):
            ctx.report(TFG502, f"{op} reads protobuf descriptors from {source[:200]!r} ({where})",
                       severity=Severity.MEDIUM, offset=node.offset, evidence=source[:400])
        return
    paths = _const_inputs(node, scope, _PATH_INPUTS.get(op, ()))
    detail = ""
    if paths:
        detail = f" on {', '.join(repr(p[:200]) for p in paths)}"
    elif attr_text:
        detail = f" ({attr_text[:300]})"
    if op in _OPS:
        rule, sev, what = _OPS[op]
        ctx.report(rule, f"{op} {what}{detail} ({where})", severity=sev, offset=node.offset,
                   evidence=f"{op}{detail}"[:400])
        return
    if op in ("InitializeTableFromTextFile", "InitializeTableFromTextFileV2"):
        # Standard for vocabulary lookups: the file normally comes from the SavedModel's assets, and TF1
        # exports keep the exporter's absolute vocabulary path as a constant. Only a system or secret
        # file is a finding of weight.
        for p in paths:
            if _escapes(p):
                sensitive = bool(_SENSITIVE.search(p))
                ctx.report(TFG502, f"{op} loads a lookup table from {p[:200]!r} ({where})",
                           severity=Severity.HIGH if sensitive else Severity.LOW, offset=node.offset,
                           evidence=f"{op} {p}"[:400])
        return
    if op and op not in standard_ops():
        suspicious = bool(_SUSPICIOUS_CUSTOM.search(op))
        ctx.report(TFG504, f"custom operator {op!r} ({where})", severity=Severity.MEDIUM if suspicious else None,
                   offset=node.offset, evidence=op)


def _report_inventory(inv: _Inventory, ctx: ScanContext, extra: str = "") -> None:
    ops = ", ".join(f"{op}×{n}" if n > 1 else op for op, n in sorted(inv.ops.items()))
    msg = (f"{inv.nodes} nodes, {len(inv.ops)} operator types"
           + (f", {inv.functions} functions" if inv.functions else "")
           + (f" (more than {_MAX_DISTINCT_OPS} distinct, list cut)" if inv.overflow else "")
           + (f"; tags {', '.join(inv.tags)}" if inv.tags else "")
           + (f"; TensorFlow {inv.tf_version}" if inv.tf_version else "")
           + extra)
    ctx.report(TFG500, msg, evidence=ops[:4000])


# ---- Keras metadata --------------------------------------------------------------------------------

_DANGEROUS_NAMES = re.compile(r"^(os|posix|nt|subprocess|system|popen|exec|eval|compile|__import__|__builtins__|"
                              r"builtins|socket|urllib|requests|open|getattr|importlib|pty|shutil|sys|spawn\w*|"
                              r"execv\w*|run|check_output|call|remove|unlink|rmtree|marshal|pickle|loads|input)$")


def _bytecode_names(blob: bytes) -> list[str]:
    """Identifier-like strings inside marshalled code (names, attributes, constants), without unmarshalling."""
    names = re.findall(rb"[A-Za-z_][A-Za-z0-9_]{1,63}", blob)
    out: list[str] = []
    for n in names:
        s = n.decode("ascii")
        if s not in out:
            out.append(s)
    return out[:200]


class _KerasChecker:
    """Finds Lambda layers and non-builtin classes in Keras metadata JSON (keras_metadata.pb or
    SavedUserObject.metadata)."""

    def __init__(self, ctx: ScanContext) -> None:
        self.ctx = ctx
        self.custom: dict[str, str] = {}
        self._lambdas: set[str] = set()

    def check(self, text: str, where: str, offset: int) -> None:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            self.ctx.report(TFG508, f"Keras metadata at {where} is not valid JSON", severity=Severity.MEDIUM,
                            offset=offset, evidence=text[:200])
            return
        self._walk(data, where, offset, 0)

    def _walk(self, obj: Any, where: str, offset: int, depth: int) -> None:
        if depth > 200:
            raise AnalysisError("Keras metadata nests deeper than 200 levels")
        if isinstance(obj, dict):
            cls = obj.get("class_name")
            if isinstance(cls, str):
                if cls == "Lambda" and isinstance(obj.get("config"), dict):
                    self._lambda(obj["config"], where, offset)
                elif cls not in keras_builtins() and not cls.startswith("__"):
                    self.custom.setdefault(cls, where)
            for value in obj.values():
                self._walk(value, where, offset, depth + 1)
        elif isinstance(obj, list):
            for value in obj:
                self._walk(value, where, offset, depth + 1)

    def _lambda(self, config: dict[str, Any], where: str, offset: int) -> None:
        name = config.get("name", "?")
        ftype = config.get("function_type", "?")
        module = config.get("module")
        func = config.get("function")
        if isinstance(func, dict):
            func = func.get("items")
        raw = func[0] if isinstance(func, list) and func else func
        # The network's config repeats every layer's config: report each Lambda once.
        key = json.dumps([name, ftype, module, raw], sort_keys=True, default=str)
        if key in self._lambdas:
            return
        self._lambdas.add(key)
        if ftype == "lambda" and isinstance(raw, str):
            try:
                code = base64.b64decode(raw.encode("ascii", "replace")[: 16 * 1024 * 1024])
            except (binascii.Error, ValueError):
                code = b""
            names = _bytecode_names(code)
            bad = [n for n in names if _DANGEROUS_NAMES.match(n)]
            sev = Severity.CRITICAL if bad else Severity.HIGH
            extra = f"; bytecode names include {', '.join(bad[:10])}" if bad else ""
            self.ctx.report(TFG507, f"Lambda layer {name!r} holds marshalled Python bytecode ({len(code)} bytes, "
                            f"module {module!r}){extra} ({where})", severity=sev, offset=offset,
                            evidence=" ".join(names[:60])[:600])
        else:
            target = f"{module}.{raw}" if isinstance(raw, str) and module else repr(raw)[:200]
            sev = Severity.MEDIUM
            if isinstance(raw, str) and isinstance(module, str):
                verdict = self.ctx.policy.classify(module, raw)
                if verdict.tier.name == "DANGEROUS":
                    sev = Severity.CRITICAL
            self.ctx.report(TFG507, f"Lambda layer {name!r} calls the function {target} (function_type "
                            f"{ftype!r}) ({where})", severity=sev, offset=offset, evidence=target[:400])

    def finish(self) -> None:
        if self.custom:
            names = sorted(self.custom)
            self.ctx.report(TFG508, f"{len(names)} class name(s) not built into Keras: {', '.join(names[:20])}",
                            evidence=", ".join(names[:200])[:2000])


# ---- handlers --------------------------------------------------------------------------------------


class GraphDefHandler:
    """A frozen GraphDef (``.pb``): the whole model is one graph, weights in Const nodes."""

    id = "tf-graphdef"
    priority = 66

    def sniff(self, probe: Probe) -> bool:
        return looks_like_graphdef(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        reader = WireReader(stream, size, what="TensorFlow GraphDef")
        walker = _GraphWalker(reader, ctx)
        walker.graph_def(reader.root(), "graph")
        if walker.inv.nodes == 0 and walker.inv.functions == 0:
            raise AnalysisError("TensorFlow GraphDef holds no nodes and no functions")
        _report_inventory(walker.inv, ctx)


class SavedModelHandler:
    """``saved_model.pb``: SavedModel{schema_version=1, meta_graphs=2 MetaGraphDef}."""

    id = "tf-savedmodel"
    priority = 62

    def sniff(self, probe: Probe) -> bool:
        return looks_like_saved_model(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        self._assets_reported: set[str] = set()
        r = WireReader(stream, size, what="TensorFlow SavedModel")
        walker = _GraphWalker(r, ctx)
        keras = _KerasChecker(ctx)
        metas = 0
        for f in r.fields(r.root()):
            if f.number == 2:
                metas += 1
                self._meta_graph(r, r.message(f), walker, keras, ctx, f"meta_graph[{metas - 1}]")
        if metas == 0:
            raise AnalysisError("TensorFlow SavedModel holds no meta graph")
        keras.finish()
        _report_inventory(walker.inv, ctx, f"; {metas} meta graph(s)")

    def _meta_graph(self, r: WireReader, msg: Message, walker: _GraphWalker, keras: _KerasChecker,
                    ctx: ScanContext, where: str) -> None:
        for f in r.fields(msg):
            n = f.number
            if n == 1:  # MetaInfoDef{tags=4, tensorflow_version=5}
                for g in r.fields(r.message(f)):
                    if g.number == 4 and g.wire == LEN and len(walker.inv.tags) < 16:
                        walker.inv.tags.append(r.text(g, 64))
                    elif g.number == 5 and g.wire == LEN:
                        walker.inv.tf_version = r.text(g, 64)
            elif n == 2:
                walker.graph_def(r.message(f), where)
            elif n == 6:  # AssetFileDef{filename=2}
                for g in r.fields(r.message(f)):
                    if g.number == 2 and g.wire == LEN:
                        name = r.text(g, 1024)
                        if _asset_escapes(name) and name not in self._assets_reported:
                            self._assets_reported.add(name)
                            ctx.report(TFG506, f"asset file name {name[:200]!r} leaves the assets folder",
                                       offset=g.offset, evidence=name[:400])
            elif n == 7:
                # SavedObjectGraph{nodes=1 SavedObject{user_object=4 SavedUserObject{metadata=3}}}
                for g in r.fields(r.message(f)):
                    if g.number != 1:
                        continue
                    for h in r.fields(r.message(g)):
                        if h.number != 4:
                            continue
                        for u in r.fields(r.message(h)):
                            if u.number == 3 and u.wire == LEN and u.value:
                                _check_json_size(u)
                                keras.check(r.text(u, _KERAS_JSON_LIMIT), f"{where} object graph", u.offset)


def _check_json_size(f: Field) -> None:
    if f.value > _KERAS_JSON_LIMIT:
        raise AnalysisError(f"Keras metadata entry of {f.value} bytes at byte {f.offset} exceeds the analysis "
                            f"limit of {_KERAS_JSON_LIMIT} bytes")


def _asset_escapes(name: str) -> bool:
    parts = re.split(r"[\\/]+", name)
    return name == "" or "\x00" in name or name.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:", name)) \
        or ".." in parts


class KerasMetadataHandler:
    """``keras_metadata.pb``: SavedMetadata{nodes=1 SavedObject{node_id=2, node_path=3, identifier=4,
    metadata=5 (JSON)}} written by tf.keras / tf_keras next to saved_model.pb."""

    id = "tf-keras-metadata"
    priority = 61

    def sniff(self, probe: Probe) -> bool:
        return looks_like_keras_metadata(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        r = WireReader(stream, size, what="Keras SavedModel metadata")
        keras = _KerasChecker(ctx)
        count = 0
        for f in r.fields(r.root()):
            if f.number != 1:
                continue
            count += 1
            path = ""
            for g in r.fields(r.message(f)):
                if g.number == 3 and g.wire == LEN:
                    path = r.text(g, 512)
                elif g.number == 5 and g.wire == LEN:
                    _check_json_size(g)
                    keras.check(r.text(g, _KERAS_JSON_LIMIT), path or f"node {count - 1}", g.offset)
        if count == 0:
            raise AnalysisError("Keras SavedModel metadata holds no objects")
        keras.finish()


class FingerprintHandler:
    """``fingerprint.pb``: a handful of hashes (FingerprintDef); no code, no strings of interest."""

    id = "tf-fingerprint"
    priority = 63

    def sniff(self, probe: Probe) -> bool:
        return looks_like_fingerprint(probe.head, probe.size)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        r = WireReader(stream, size, what="SavedModel fingerprint")
        for _ in r.fields(r.root()):
            pass
        if ctx.depth == 0:
            ctx.sink.skip_reason = "TensorFlow SavedModel fingerprint (hashes only)"


class CheckpointIndexHandler:
    """``*.index`` of a TensorFlow checkpoint: an SSTable of tensor names → shard offsets (data only)."""

    id = "tf-checkpoint-index"
    priority = 60

    def sniff(self, probe: Probe) -> bool:
        return looks_like_checkpoint_index(probe)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        _check_sstable_footer(stream, size)
        if ctx.depth == 0:
            ctx.sink.skip_reason = "TensorFlow checkpoint index (tensor names and offsets, no code)"


def _check_sstable_footer(stream: BinaryIO, size: int) -> None:
    """LevelDB table footer: metaindex and index block handles (two varint pairs) then the magic."""
    stream.seek(size - 48)
    footer = stream.read(48)
    if len(footer) != 48 or footer[-8:] != _SSTABLE_MAGIC:
        raise AnalysisError("malformed TensorFlow checkpoint index: bad table footer")
    pos = 0
    for _ in range(4):
        value, shift = 0, 0
        while True:
            if pos >= 40 or shift > 63:
                raise AnalysisError("malformed TensorFlow checkpoint index: bad block handle in footer")
            b = footer[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if value > size:
            raise AnalysisError("malformed TensorFlow checkpoint index: block handle points past the end")


class CheckpointDataHandler:
    """``*.data-NNNNN-of-NNNNN``: raw tensor bytes of a checkpoint shard, with no signature of its own.

    Claimed by name, and accepted only when the matching ``.index`` sits next to it with a valid table
    footer; otherwise it is an error, not clean. It runs just before the pickle handler because float
    data often passes a loose protocol-0/1 pickle sniff (a leading ``T`` reads as BINSTRING); a file that
    starts with a PROTO opcode is left to the pickle handler, so a real pickle renamed like a shard is
    still analysed as one. Archives, compressed streams and other magic formats sniff earlier anyway.
    """

    id = "tf-checkpoint-data"
    priority = 45

    def sniff(self, probe: Probe) -> bool:
        return bool(_SHARD_NAME.match(probe.name)) and not starts_like_pickle_proto(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        if ctx.members:
            if ctx.opaque_ok:
                return
            raise AnalysisError("TensorFlow checkpoint shard inside an archive: its index cannot be verified here")
        m = _SHARD_NAME.match(os.path.basename(ctx.path))
        if m is None:
            raise AnalysisError("not a TensorFlow checkpoint shard name")
        index = os.path.join(os.path.dirname(ctx.path), m.group("prefix") + ".index")
        try:
            with open(index, "rb") as f:
                isize = os.fstat(f.fileno()).st_size
                if isize < 48:
                    raise AnalysisError(f"checkpoint index {os.path.basename(index)} is too short")
                _check_sstable_footer(f, isize)
        except OSError:
            raise AnalysisError(f"TensorFlow checkpoint shard without its index {os.path.basename(index)!r}: "
                                "the bytes cannot be attributed to a checkpoint") from None
        ctx.sink.skip_reason = "TensorFlow checkpoint tensor data (raw tensor bytes, no code)"


class SavedModelZipLayout:
    """A zipped SavedModel or checkpoint: data shards are raw tensor bytes when their index is beside them.

    Only the shards are taken over (every other member, the index included, is still content-scanned);
    a shard without its index stays an unrecognised member of the archive.
    """

    id = "tf-savedmodel-zip"
    opaque_members = False

    def matches(self, names: list[str], archive: ZipArchive) -> bool:
        return bool(self._shards(names))

    def analyse(self, archive: ZipArchive, ctx: ScanContext) -> set[str]:
        return self._shards([m.name for m in archive.members])

    @staticmethod
    def _shards(names: list[str]) -> set[str]:
        present = set(names)
        out = set()
        for name in names:
            m = _SHARD_NAME.match(name)
            if m is not None and m.group("prefix") + ".index" in present:
                out.add(name)
        return out


# ---- protobuf text format ----------------------------------------------------------------------------
# TensorFlow loads ``saved_model.pbtxt`` when there is no ``saved_model.pb``, and graph tools read
# ``.pbtxt`` GraphDefs: left to the text handler, a graph full of ReadFile ops would be "just text".

_PBTXT_START = re.compile(
    rb"^\s*(?:#[^\n]*\n\s*)*(?:saved_model_schema_version\s*:|meta_graphs\s*\{|node\s*\{\s*name\s*:|library\s*\{"
    rb"|versions\s*\{\s*producer)"
)
_TEXT_OP = re.compile(r'(?<![\w.])op\s*:\s*"((?:[^"\\\n]|\\.){1,256})"')
_TEXT_URL = re.compile(r'"((?:file|grpc)://(?:[^"\\\n]|\\.){0,400})"')
_TEXT_ASSET = re.compile(r'(?<![\w.])filename\s*:\s*"((?:[^"\\\n]|\\.){0,1024})"')
_TEXT_LAMBDA = re.compile(r'class_name\\*"\s*:\s*\\*"Lambda\\*"')
_TEXT_LINE_LIMIT = 1 << 20


def looks_like_pbtxt(head: bytes) -> bool:
    return b"\x00" not in head and _PBTXT_START.match(head) is not None


class TextGraphHandler:
    """``saved_model.pbtxt`` / ``.pbtxt`` GraphDefs: protobuf text format, read line by line."""

    id = "tf-text"
    priority = 67

    def sniff(self, probe: Probe) -> bool:
        return looks_like_pbtxt(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        ops: Counter[str] = Counter()
        first: dict[str, int] = {}
        urls: list[tuple[str, int]] = []
        lambdas = 0
        lineno = 0
        while True:
            raw = stream.readline(_TEXT_LINE_LIMIT)
            if not raw:
                break
            lineno += 1
            line = raw.decode("utf-8", "replace")
            for m in _TEXT_OP.finditer(line):
                op = m.group(1)
                if op in ops or len(ops) < _MAX_DISTINCT_OPS:
                    ops[op] += 1
                    first.setdefault(op, lineno)
            for m in _TEXT_URL.finditer(line):
                if len(urls) < 64:
                    urls.append((m.group(1), lineno))
            for m in _TEXT_ASSET.finditer(line):
                if _asset_escapes(m.group(1)):
                    ctx.report(TFG506, f"asset file name {m.group(1)[:200]!r} leaves the assets folder (line {lineno})",
                               evidence=m.group(1)[:400])
            lambdas += len(_TEXT_LAMBDA.findall(line))
        if not ops:
            raise AnalysisError("TensorFlow text-format graph names no operators")
        for op, count in sorted(ops.items()):
            node = _Node(f"line {first[op]}" + (f" (+{count - 1} more)" if count > 1 else ""), op, [], {}, 0)
            _judge(node, _Scope("text graph"), ctx)
        sensitive = any(op == "PrintV2" or op.startswith("Debug") for op in ops)
        for url, at in urls:
            rule = TFG502 if url.startswith("file://") else TFG503
            ctx.report(rule, f"string {url[:200]!r} at line {at} names a {url.split(':')[0]} URL",
                       severity=Severity.HIGH if sensitive else Severity.MEDIUM, evidence=url[:400])
        if lambdas:
            ctx.report(TFG507, f"Keras metadata in the text graph holds {lambdas} Lambda layer reference(s)")
        inv = _Inventory(ops=ops, nodes=sum(ops.values()))
        _report_inventory(inv, ctx, "; protobuf text format")


for _handler in (CheckpointIndexHandler(), KerasMetadataHandler(), SavedModelHandler(), FingerprintHandler(),
                 CheckpointDataHandler(), GraphDefHandler(), TextGraphHandler()):
    register(_handler)
register_zip_layout(SavedModelZipLayout())
