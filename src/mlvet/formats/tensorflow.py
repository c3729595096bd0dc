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

Layout: rules and operator tables in :mod:`mlvet.formats.tf_ops`, content sniffers in
:mod:`mlvet.formats.tf_sniff`, the graph walker in :mod:`mlvet.formats.tf_graph`, Keras metadata in
:mod:`mlvet.formats.tf_keras` (Lambda bytecode decoded by the same static marshal reader as ``.keras``
files); this module holds the handlers.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from typing import BinaryIO

from mlvet.analysis.protowire import LEN, Field, Message, WireReader
from mlvet.containers.zipread import ZipArchive
from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.tf_backdoor import report_tf_backdoors
from mlvet.formats.tf_graph import MAX_DISTINCT_OPS, GraphWalker, Inventory, Node, Scope, judge, report_inventory
from mlvet.formats.tf_keras import KerasChecker
from mlvet.formats.tf_ops import (
    TFG500,
    TFG501,
    TFG502,
    TFG503,
    TFG504,
    TFG505,
    TFG506,
    TFG507,
    TFG508,
    asset_escapes,
    classify_op,
    keras_builtins,
    standard_ops,
)
from mlvet.formats.tf_sniff import (
    SHARD_NAME,
    SSTABLE_MAGIC,
    looks_like_checkpoint_index,
    looks_like_fingerprint,
    looks_like_graphdef,
    looks_like_keras_metadata,
    looks_like_saved_model,
    starts_like_pickle_proto,
)
from mlvet.formats.zip import register_zip_layout
from mlvet.model import Severity

__all__ = [
    "TFG500", "TFG501", "TFG502", "TFG503", "TFG504", "TFG505", "TFG506", "TFG507", "TFG508",
    "CheckpointDataHandler", "CheckpointIndexHandler", "FingerprintHandler", "GraphDefHandler",
    "KerasMetadataHandler", "SavedModelHandler", "SavedModelZipLayout", "TextGraphHandler", "classify_op",
    "keras_builtins", "looks_like_checkpoint_index", "looks_like_fingerprint", "looks_like_graphdef",
    "looks_like_keras_metadata", "looks_like_pbtxt", "looks_like_saved_model", "standard_ops",
    "starts_like_pickle_proto",
]

#: Keras metadata JSON parsed per object; larger entries are an error (json.loads costs ~10x in memory).
_KERAS_JSON_LIMIT = 16 * 1024 * 1024


class GraphDefHandler:
    """A frozen GraphDef (``.pb``): the whole model is one graph, weights in Const nodes."""

    id = "tf-graphdef"
    priority = 66

    def sniff(self, probe: Probe) -> bool:
        return looks_like_graphdef(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        reader = WireReader(stream, size, what="TensorFlow GraphDef")
        walker = GraphWalker(reader, ctx)
        walker.graph_def(reader.root(), "graph")
        if walker.inv.nodes == 0 and walker.inv.functions == 0:
            raise AnalysisError("TensorFlow GraphDef holds no nodes and no functions")
        report_inventory(walker.inv, ctx)
        report_tf_backdoors(reader, [(reader.root(), "graph")], ctx)


class SavedModelHandler:
    """``saved_model.pb``: SavedModel{schema_version=1, meta_graphs=2 MetaGraphDef}."""

    id = "tf-savedmodel"
    priority = 62

    def sniff(self, probe: Probe) -> bool:
        return looks_like_saved_model(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        self._assets_reported: set[str] = set()
        r = WireReader(stream, size, what="TensorFlow SavedModel")
        walker = GraphWalker(r, ctx)
        keras = KerasChecker(ctx)
        metas = 0
        for f in r.fields(r.root()):
            if f.number == 2:
                metas += 1
                self._meta_graph(r, r.message(f), walker, keras, ctx, f"meta_graph[{metas - 1}]")
        if metas == 0:
            raise AnalysisError("TensorFlow SavedModel holds no meta graph")
        keras.finish()
        report_inventory(walker.inv, ctx, f"; {metas} meta graph(s)")

    def _meta_graph(self, r: WireReader, msg: Message, walker: GraphWalker, keras: KerasChecker,
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
                report_tf_backdoors(r, [(r.message(f), where)], ctx)
            elif n == 6:  # AssetFileDef{filename=2}
                for g in r.fields(r.message(f)):
                    if g.number == 2 and g.wire == LEN:
                        name = r.text(g, 1024)
                        if asset_escapes(name) and name not in self._assets_reported:
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


class KerasMetadataHandler:
    """``keras_metadata.pb``: SavedMetadata{nodes=1 SavedObject{node_id=2, node_path=3, identifier=4,
    metadata=5 (JSON)}} written by tf.keras / tf_keras next to saved_model.pb."""

    id = "tf-keras-metadata"
    priority = 61

    def sniff(self, probe: Probe) -> bool:
        return looks_like_keras_metadata(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        r = WireReader(stream, size, what="Keras SavedModel metadata")
        keras = KerasChecker(ctx)
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
    if len(footer) != 48 or footer[-8:] != SSTABLE_MAGIC:
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
        return bool(SHARD_NAME.match(probe.name)) and not starts_like_pickle_proto(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        if ctx.members:
            if ctx.opaque_ok:
                return
            raise AnalysisError("TensorFlow checkpoint shard inside an archive: its index cannot be verified here")
        m = SHARD_NAME.match(os.path.basename(ctx.path))
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
            m = SHARD_NAME.match(name)
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
    """Protobuf text format of a SavedModel or GraphDef (no NUL, a known first key)."""
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
                if op in ops or len(ops) < MAX_DISTINCT_OPS:
                    ops[op] += 1
                    first.setdefault(op, lineno)
            for m in _TEXT_URL.finditer(line):
                if len(urls) < 64:
                    urls.append((m.group(1), lineno))
            for m in _TEXT_ASSET.finditer(line):
                if asset_escapes(m.group(1)):
                    ctx.report(TFG506, f"asset file name {m.group(1)[:200]!r} leaves the assets folder (line {lineno})",
                               evidence=m.group(1)[:400])
            lambdas += len(_TEXT_LAMBDA.findall(line))
        if not ops:
            raise AnalysisError("TensorFlow text-format graph names no operators")
        for op, count in sorted(ops.items()):
            node = Node(f"line {first[op]}" + (f" (+{count - 1} more)" if count > 1 else ""), op, [], {}, 0)
            judge(node, Scope("text graph"), ctx)
        sensitive = any(op == "PrintV2" or op.startswith("Debug") for op in ops)
        for url, at in urls:
            rule = TFG502 if url.startswith("file://") else TFG503
            ctx.report(rule, f"string {url[:200]!r} at line {at} names a {url.split(':')[0]} URL",
                       severity=Severity.HIGH if sensitive else Severity.MEDIUM, evidence=url[:400])
        if lambdas:
            ctx.report(TFG507, f"Keras metadata in the text graph holds {lambdas} Lambda layer reference(s)")
        inv = Inventory(ops=ops, nodes=sum(ops.values()))
        report_inventory(inv, ctx, "; protobuf text format")


for _handler in (CheckpointIndexHandler(), KerasMetadataHandler(), SavedModelHandler(), FingerprintHandler(),
                 CheckpointDataHandler(), GraphDefHandler(), TextGraphHandler()):
    register(_handler)
register_zip_layout(SavedModelZipLayout())
