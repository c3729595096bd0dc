"""The TensorFlow graph walker: every operator of a GraphDef and its function library, judged.

Walks ``GraphDef{node, library}`` with the streaming wire reader (``tensor_content`` of frozen
constants is skipped by offset), keeps string constants so that file paths fed to dangerous operators
can be shown, and reports each operator by :mod:`mlvet.formats.tf_ops`. Checkpoint operators are in
every SavedModel and are reported only for a fixed path that is absolute or walks upwards.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from mlvet.analysis.protowire import LEN, VARINT, Field, Message, WireReader
from mlvet.formats.base import ScanContext
from mlvet.formats.tf_ops import (
    CHECKPOINT_PATHS,
    OPS,
    PATH_ATTRS,
    PATH_INPUTS,
    SENSITIVE,
    SUSPICIOUS_CUSTOM,
    TFG500,
    TFG502,
    TFG503,
    TFG504,
    escapes,
    standard_ops,
)
from mlvet.model import Severity

_DT_STRING = 7
#: Distinct operator names tracked (the node count is always exact); bounds memory on hostile files.
MAX_DISTINCT_OPS = 10_000
_MAX_CONST = 1024

@dataclass
class Node:
    """A node worth judging: its name, operator, inputs, path-like attributes and offset."""
    name: str
    op: str
    inputs: list[str]
    attrs: dict[str, list[str]]
    offset: int


@dataclass
class Scope:
    """A graph or one function body: node names are local to it (inputs refer to them)."""

    where: str
    consts: dict[str, str] = field(default_factory=dict)
    flagged: list[Node] = field(default_factory=list)


@dataclass
class Inventory:
    """Operators with counts, functions, tags and version: the TFG500 inventory."""
    ops: Counter[str] = field(default_factory=Counter)
    overflow: bool = False
    nodes: int = 0
    functions: int = 0
    first_use: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    tf_version: str = ""


class GraphWalker:
    """Walks GraphDefs and function libraries, collecting constants and judging flagged nodes."""
    def __init__(self, reader: WireReader, ctx: ScanContext) -> None:
        self.r = reader
        self.ctx = ctx
        self.inv = Inventory()

    # GraphDef{node=1, library=2}
    def graph_def(self, msg: Message, where: str) -> None:
        """Walk ``GraphDef{node=1, library=2}``; nodes are judged at the end of each scope."""
        scope = Scope(where)
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
        scope = Scope(f"{where} function {name or '?'}")
        for f in bodies:
            self._node(r.message(f), scope)
        self._finish(scope)

    # NodeDef{name=1, op=2, input=3, device=4, attr=5 map<string, AttrValue>}
    def _node(self, msg: Message, scope: Scope) -> None:
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
        elif len(inv.ops) < MAX_DISTINCT_OPS:
            inv.ops[op] += 1
            inv.first_use[op] = f"{scope.where}/{self._name(name_field)}"
        else:
            inv.overflow = True
        if op == "Const":
            if const_value is not None:
                scope.consts[self._name(name_field)] = const_value
        elif op in OPS or op in CHECKPOINT_PATHS or op in PATH_INPUTS or attrs or op not in standard_ops():
            inputs = [r.text(f, 512) for f in input_fields]
            scope.flagged.append(Node(self._name(name_field), op, inputs, attrs, msg.start))

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
        if key in PATH_ATTRS:
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

    def _finish(self, scope: Scope) -> None:
        for node in scope.flagged:
            judge(node, scope, self.ctx)


def _const_inputs(node: Node, scope: Scope, indices: tuple[int, ...]) -> list[str]:
    values = []
    for i in indices:
        if i < len(node.inputs):
            src = node.inputs[i].lstrip("^").split(":")[0]
            if src in scope.consts:
                values.append(scope.consts[src])
    return values


def judge(node: Node, scope: Scope, ctx: ScanContext) -> None:
    """Report one node by what its operator does, with constant paths or attributes as detail."""
    op = node.op
    where = f"{scope.where}/{node.name}"
    attr_text = "; ".join(f"{k}={v!r}" for k, vs in node.attrs.items() for v in vs[:4])
    if op in CHECKPOINT_PATHS:
        for path in _const_inputs(node, scope, CHECKPOINT_PATHS[op]):
            if escapes(path):
                ctx.report(TFG502, f"checkpoint op {op} uses the fixed path {path[:200]!r} ({where})",
                           severity=Severity.HIGH if SENSITIVE.search(path) else Severity.MEDIUM,
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
    paths = _const_inputs(node, scope, PATH_INPUTS.get(op, ()))
    detail = ""
    if paths:
        detail = f" on {', '.join(repr(p[:200]) for p in paths)}"
    elif attr_text:
        detail = f" ({attr_text[:300]})"
    if op in OPS:
        rule, sev, what = OPS[op]
        ctx.report(rule, f"{op} {what}{detail} ({where})", severity=sev, offset=node.offset,
                   evidence=f"{op}{detail}"[:400])
        return
    if op in ("InitializeTableFromTextFile", "InitializeTableFromTextFileV2"):
        # Standard for vocabulary lookups: the file normally comes from the SavedModel's assets, and TF1
        # exports keep the exporter's absolute vocabulary path as a constant. Only a system or secret
        # file is a finding of weight.
        for p in paths:
            if escapes(p):
                sensitive = bool(SENSITIVE.search(p))
                ctx.report(TFG502, f"{op} loads a lookup table from {p[:200]!r} ({where})",
                           severity=Severity.HIGH if sensitive else Severity.LOW, offset=node.offset,
                           evidence=f"{op} {p}"[:400])
        return
    if op and op not in standard_ops():
        suspicious = bool(SUSPICIOUS_CUSTOM.search(op))
        ctx.report(TFG504, f"custom operator {op!r} ({where})", severity=Severity.MEDIUM if suspicious else None,
                   offset=node.offset, evidence=op)


def report_inventory(inv: Inventory, ctx: ScanContext, extra: str = "") -> None:
    """Report the operator inventory (TFG500, info)."""
    ops = ", ".join(f"{op}×{n}" if n > 1 else op for op, n in sorted(inv.ops.items()))
    msg = (f"{inv.nodes} nodes, {len(inv.ops)} operator types"
           + (f", {inv.functions} functions" if inv.functions else "")
           + (f" (more than {MAX_DISTINCT_OPS} distinct, list cut)" if inv.overflow else "")
           + (f"; tags {', '.join(inv.tags)}" if inv.tags else "")
           + (f"; TensorFlow {inv.tf_version}" if inv.tf_version else "")
           + extra)
    ctx.report(TFG500, msg, evidence=ops[:4000])

