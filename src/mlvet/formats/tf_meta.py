"""TensorFlow SavedModels without a schema version, and bare MetaGraphDefs (``*.meta``, ``export_meta_graph``).

``saved_model.pb`` normally starts with ``schema_version = 1``; TensorFlow's loader does not require it, and
a file without it starts directly with its ``meta_graphs``. By its first bytes such a file also looks like a
GraphDef whose first field is a function library, and read as one its operators are never seen: the graph
sits one level deeper. A TF1 checkpoint's ``model.ckpt.meta`` (``tf.compat.v1.train.export_meta_graph``,
``import_meta_graph`` loads it) is a MetaGraphDef on its own: MetaInfoDef, GraphDef, saver, collections,
signatures.

Both are recognised structurally (a walk over the top-level fields, skipping by length): a MetaGraphDef has
exactly one MetaInfoDef whose tags or TensorFlow version are short text, and one GraphDef. They are then
analysed exactly as a SavedModel's meta graphs are (:class:`mlvet.formats.tensorflow.SavedModelHandler`):
every operator of the graph and of its function library, assets, Keras object metadata. The operators a
bare meta graph declares in its ``stripped_op_list`` are checked too: custom operators are TFG504 findings,
never errors.
"""

from __future__ import annotations

import re
from typing import BinaryIO

from mlvet.analysis.protowire import LEN, Message, WireReader
from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.tensorflow import SavedModelHandler
from mlvet.formats.tf_graph import GraphWalker, report_inventory
from mlvet.formats.tf_keras import KerasChecker
from mlvet.formats.tf_ops import TFG504, standard_ops

_VERSION_RE = re.compile(r"^\d+\.\d+(\.\d+)?([-.\w]*)$")
_TAG_RE = re.compile(r"^[\w.-]{1,64}$")
#: Top-level fields looked at when recognising a meta graph (the rest is skipped by length anyway).
_MAX_SNIFF_FIELDS = 64


def _is_meta_graph(r: WireReader, msg: Message) -> bool:
    """Exactly one MetaInfoDef (field 1) with text tags or version, and exactly one GraphDef (field 2)."""
    infos, graphs = [], 0
    for seen, f in enumerate(r.fields(msg), 1):
        if f.wire != LEN or not 1 <= f.number <= 7 or seen > _MAX_SNIFF_FIELDS:
            return False
        if f.number == 1:
            infos.append(f)
        elif f.number == 2:
            graphs += 1
    if len(infos) != 1 or graphs != 1:
        return False
    texty = False
    for g in r.fields(r.message(infos[0])):
        if g.number in (1, 2, 3, 4, 5, 6, 8) and g.wire != LEN:
            return False
        if g.number == 5:
            texty = texty or bool(_VERSION_RE.match(r.text(g, 64)))
        elif g.number == 4:
            texty = texty or bool(_TAG_RE.match(r.text(g, 64)))
    return texty


def _stripped_ops(r: WireReader, msg: Message) -> list[tuple[str, int]]:
    """Operator names declared in MetaInfoDef.stripped_op_list (OpList{op=1 OpDef{name=1}})."""
    out: list[tuple[str, int]] = []
    for f in r.fields(msg):
        if f.number != 1:
            continue
        for g in r.fields(r.message(f)):
            if g.number == 2 and g.wire == LEN:
                for op in r.fields(r.message(g)):
                    if op.number == 1 and op.wire == LEN:
                        name = next((r.text(h, 256) for h in r.fields(r.message(op)) if h.number == 1), "")
                        if name:
                            out.append((name, op.offset))
    return out


class SchemalessSavedModelHandler:
    """``saved_model.pb`` without ``schema_version``: its first field is already a meta graph."""

    id = "tf-savedmodel"
    priority = 59

    def sniff(self, probe: Probe) -> bool:
        if probe.head[:1] != b"\x12":
            return False
        r = WireReader(probe.stream, probe.size, what="TensorFlow SavedModel")
        try:
            first = next(iter(r.fields(r.root())), None)
            return (first is not None and first.number == 2 and first.wire == LEN
                    and _is_meta_graph(r, r.message(first)))
        except AnalysisError:
            return False  # malformed: another handler (GraphDef) claims it and reports the damage

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        SavedModelHandler().scan(stream, size, ctx)


class MetaGraphHandler:
    """A bare MetaGraphDef (``model.ckpt.meta``): one meta graph, analysed like a SavedModel's."""

    id = "tf-metagraph"
    priority = 59

    def sniff(self, probe: Probe) -> bool:
        if probe.head[:1] != b"\x0a":
            return False
        r = WireReader(probe.stream, probe.size, what="TensorFlow MetaGraphDef")
        try:
            return _is_meta_graph(r, r.root())
        except AnalysisError:
            return False

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        r = WireReader(stream, size, what="TensorFlow MetaGraphDef")
        walker = GraphWalker(r, ctx)
        keras = KerasChecker(ctx)
        handler = SavedModelHandler()
        handler._assets_reported = set()
        handler._meta_graph(r, r.root(), walker, keras, ctx, "meta_graph")
        keras.finish()
        if walker.inv.nodes == 0 and walker.inv.functions == 0:
            raise AnalysisError("TensorFlow MetaGraphDef holds no nodes and no functions")
        seen = set(walker.inv.ops)
        for name, offset in _stripped_ops(r, r.root()):
            if name not in seen and name not in standard_ops():
                seen.add(name)
                ctx.report(TFG504, f"custom operator {name!r} declared in the stripped op list", offset=offset,
                           evidence=name)
        report_inventory(walker.inv, ctx, "; bare meta graph")


register(SchemalessSavedModelHandler())
register(MetaGraphHandler())
