"""The ONNX ``ModelProto`` walker: operators, sub-graphs, functions, external-data references, text.

Shared by the model handler (:mod:`mlvet.formats.onnx`) and the external-data attribution
(:mod:`mlvet.formats.onnx_external`), which walks a neighbouring model without reporting. The file is
walked with the streaming wire reader: initializer ``raw_data`` is skipped by offset, so a multi-GB
model costs the same time and memory as its structure.
"""

from __future__ import annotations

import re
import struct
from collections import Counter
from dataclasses import dataclass, field

from mlvet.analysis.protowire import I32, LEN, VARINT, Field, Message, WireReader, try_fields
from mlvet.formats.base import ScanContext
from mlvet.model import Severity
from mlvet.rules import define_rule

ONX600 = define_rule(
    "ONX600", "onnx-op-inventory", Severity.INFO,
    "Inventory of the ONNX graph: operator types by domain, node count, opsets.",
    "Knowing which operators a model runs is the basis of every review; this lists them.",
    "Nothing to fix; compare the list with what the model is supposed to do.",
)
ONX601 = define_rule(
    "ONX601", "onnx-custom-op", Severity.MEDIUM,
    "The graph uses operators from a custom (non-ONNX) domain, or operators that call Python (PyOp, "
    "PythonOp) in any domain (high).",
    "Custom operators run native or Python code that the runtime must load from a library outside the "
    "model (onnxruntime register_custom_ops_library, onnxruntime-extensions); the model cannot be reviewed "
    "without that code. PyOp / PythonOp nodes hand their inputs and attributes to a Python function of the "
    "loading process (onnxruntime-extensions' onnx_op registry, ORTModule's autograd bridge). Contrib "
    "domains of onnxruntime (com.microsoft ...) are reported at low severity.",
    "Check which library implements these operators and whether you trust it; never serve a model with "
    "Python operators you did not write.",
    829,
)
ONX602 = define_rule(
    "ONX602", "onnx-external-data-path", Severity.HIGH,
    "An external-data location is absolute, walks out of the model folder ('..'), resolves outside it "
    "through a symlink, or is a runtime memory-address marker.",
    "Loaders join the location to the model folder and read that file into the model: onnx before 1.13 "
    "(CVE-2022-25882), before 1.16 for nested '..' (CVE-2024-27318) and before 1.21 for symlinks "
    "(GHSA-p433-9wv8-28xj) read arbitrary files; '*/_ORT_MEM_ADDR_/*' makes some runtimes read memory at "
    "an address from the file. The file's contents then leak through the model's outputs.",
    "Do not load the model. External data must be plain relative file names inside the model folder.",
    22,
)
ONX603 = define_rule(
    "ONX603", "onnx-external-data-anomaly", Severity.LOW,
    "External data is missing, hard-linked, or described with invalid or unknown keys, offsets or lengths.",
    "A missing file means the model is incomplete; invalid offsets/lengths and unknown keys are how "
    "loaders were crashed or had internal attributes overwritten (GHSA-538c-55jv-c5g9); a hard link "
    "can point at a sensitive file without being a symlink.",
    "Obtain the complete model from its publisher; never load one whose external data looks crafted.",
    20,
)
ONX604 = define_rule(
    "ONX604", "onnx-local-functions", Severity.INFO,
    "The model defines model-local functions (FunctionProto); their bodies were analysed too.",
    "Local functions are graphs the runtime inlines; listing them makes the call structure reviewable.",
    "Nothing to fix.",
)
ONX605 = define_rule(
    "ONX605", "onnx-suspicious-text", Severity.INFO,
    "A doc_string or metadata property is very large or contains code-like text.",
    "Metadata is not executed by ONNX runtimes, but tools and notebooks that display or evaluate it can "
    "be abused; oversized text is also a place to smuggle data.",
    "Review the text shown.",
)


_CODE_LIKE = re.compile(
    r"(<script\b|\bimport\s+(os|subprocess|socket|sys)\b|__import__|\beval\s*\(|\bexec\s*\(|os\.system|subprocess\.|"
    r"\bcurl\s+http|\bwget\s+http|powershell|/bin/sh\b)",
    re.IGNORECASE,
)
_BIG_TEXT = 1 << 20
_NAME_LIMIT = 512
#: Distinct operator names tracked (the node count is always exact); bounds memory on hostile files.
MAX_DISTINCT_OPS = 10_000

# ModelProto fields and their wire types, for sniffing.
_MODEL_FIELDS = {
    1: VARINT, 2: LEN, 3: LEN, 4: LEN, 5: VARINT, 6: LEN, 7: LEN, 8: LEN, 14: LEN, 20: LEN, 25: LEN, 26: LEN,
}
_GRAPH_FIELDS = {1: LEN, 2: LEN, 5: LEN, 10: LEN, 11: LEN, 12: LEN, 13: LEN, 14: LEN, 15: LEN, 16: LEN}


@dataclass
class ExternalRef:
    """A tensor whose bytes live in an external-data file: its ``external_data`` entries."""
    tensor: str
    where: str
    offset: int
    entries: list[tuple[str, str]]
    data_location: int


@dataclass
class WalkState:
    """Everything the walk collected: operators by domain, functions, opsets, external data."""
    ops: Counter[tuple[str, str]] = field(default_factory=Counter)
    op_overflow: bool = False
    nodes: int = 0
    subgraphs: int = 0
    functions: list[tuple[str, str, str]] = field(default_factory=list)
    opsets: dict[str, int] = field(default_factory=dict)
    external: list[ExternalRef] = field(default_factory=list)
    first_use: dict[tuple[str, str], str] = field(default_factory=dict)
    producer: str = ""
    ir_version: int | None = None
    #: Nodes whose operator calls Python registered in the loading process (bounded list).
    python_nodes: list[PythonNode] = field(default_factory=list)
    python_overflow: int = 0


#: Operator types that call a Python function of the loading process, whatever their domain:
#: onnxruntime-extensions' ``PyOp`` (PyCustomOpDef), ORTModule's ``PythonOp``/``PythonOpGrad`` (a
#: torch.autograd.Function named in an attribute), and torch's ``prim::PythonOp`` fallthrough export.
PYTHON_OP_TYPES = frozenset({"PyOp", "PythonOp", "PythonOpGrad", "PyFunc", "PyFuncStateless", "EagerPyFunc"})
#: Python-op nodes kept with their attributes for evidence (the count is always exact).
MAX_PYTHON_NODES = 50


@dataclass(frozen=True)
class PythonNode:
    """One node that calls registered Python: where it is and its attributes as text."""

    domain: str
    op_type: str
    where: str
    attributes: tuple[tuple[str, str], ...]


def looks_like_onnx(head: bytes) -> bool:
    """ModelProto shape: ``ir_version`` first, only ModelProto fields, and a graph or opset import."""
    fields = try_fields(head, 24)
    if not fields or fields[0][0] != 1 or fields[0][1] != VARINT or not 1 <= fields[0][2] <= 64:
        return False
    seen: set[int] = set()
    graph_ok = True
    for number, wire, value, start in fields:
        if _MODEL_FIELDS.get(number) != wire:
            return False
        seen.add(number)
        if number in (2, 3, 4) and start + value <= len(head) and not _printable(head[start : start + value]):
            return False
        if number == 7 and start < len(head):
            inner = try_fields(head[start : min(len(head), start + value)], 4)
            graph_ok = inner is not None and all(_GRAPH_FIELDS.get(n) == w for n, w, _, _ in inner)
    # A graph whose first fields are not GraphProto fields is still an ONNX model (a damaged one, which
    # the scan reports) when an opset_import follows it: the top level alone is then distinctive enough.
    if 7 in seen and not graph_ok:
        return 8 in seen
    return bool(seen & {7, 8})


def _printable(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    # Producers write multi-line text here (CatBoost's producer_version is its git info).
    return all(c.isprintable() or c in "\n\r\t" for c in text)



class ModelWalker:
    """Walks a ModelProto, collecting operators, functions and external-data references."""

    def __init__(self, reader: WireReader, ctx: ScanContext | None) -> None:
        self.r = reader
        self.ctx = ctx  # None: only collecting (external-data lookups), nothing is reported
        self.state = WalkState()

    def _text(self, f: Field, limit: int = _NAME_LIMIT) -> str:
        return self.r.text(f, limit)

    def model(self, msg: Message) -> None:
        """Walk a ModelProto: graph, opsets, metadata, training graphs, functions."""
        r = self.r
        for f in r.fields(msg):
            n = f.number
            if n == 1 and f.wire == VARINT:
                self.state.ir_version = f.value
            elif n == 2 and f.wire == LEN:
                self.state.producer = self._text(f, 128)
            elif n == 6 and f.wire == LEN:
                self._doc(f, "model doc_string")
            elif n == 7:
                self.graph(r.message(f), "graph")
            elif n == 8:
                self._opset(r.message(f))
            elif n == 14:
                self._metadata(r.message(f), "model metadata_props")
            elif n == 20:
                self._training(r.message(f))
            elif n == 25:
                self.function(r.message(f))

    def _opset(self, msg: Message) -> None:
        domain, version = "", 0
        for f in self.r.fields(msg):
            if f.number == 1 and f.wire == LEN:
                domain = self._text(f, 256)
            elif f.number == 2 and f.wire == VARINT:
                version = f.signed
        self.state.opsets[domain or "ai.onnx"] = version

    def _training(self, msg: Message) -> None:
        for f in self.r.fields(msg):
            if f.number in (1, 2) and f.wire == LEN:
                self.graph(self.r.message(f), "training_info." + ("initialization" if f.number == 1 else "algorithm"))

    def graph(self, msg: Message, where: str) -> None:
        """Walk a GraphProto: nodes, initializers, text fields."""
        r = self.r
        name = ""
        for f in r.fields(msg):
            n = f.number
            if n == 1:
                self.node(r.message(f), where, name)
            elif n == 2 and f.wire == LEN:
                name = self._text(f, 256)
            elif n == 5:
                self.tensor(r.message(f), f"{where} initializer")
            elif n == 15:
                self._sparse(r.message(f), f"{where} sparse_initializer")
            elif n == 10 and f.wire == LEN:
                self._doc(f, f"{where} doc_string")
            elif n == 16:
                self._metadata(r.message(f), f"{where} metadata_props")

    def node(self, msg: Message, where: str, graph_name: str) -> None:
        """Count one NodeProto's operator and walk its attributes (sub-graphs, tensors); keep Python ops."""
        r = self.r
        op_type = domain = ""
        name_field: Field | None = None
        attrs: list[Field] = []
        for f in r.fields(msg):
            n = f.number
            if n == 4 and f.wire == LEN:
                op_type = self._text(f)
            elif n == 7 and f.wire == LEN:
                domain = self._text(f)
            elif n == 3 and f.wire == LEN:
                name_field = f  # decoded only when needed
            elif n == 5:
                attrs.append(f)
            elif n == 6 and f.wire == LEN:
                self._doc(f, f"{where} node doc_string")
            elif n == 9:
                self._metadata(r.message(f), f"{where} node metadata_props")
        st = self.state
        st.nodes += 1
        key = (domain, op_type)
        name = ""
        if key in st.ops:
            st.ops[key] += 1
        elif len(st.ops) < MAX_DISTINCT_OPS:
            st.ops[key] += 1
            name = self._text(name_field, 256) if name_field is not None else ""
            st.first_use[key] = f"{where}/{name or op_type}"
        else:
            st.op_overflow = True
        if attrs or op_type in PYTHON_OP_TYPES:
            if not name and name_field is not None:
                name = self._text(name_field, 256)
            label = f"{where}/{name or op_type}"
            for f in attrs:
                self._attribute(r.message(f), label)
        if op_type in PYTHON_OP_TYPES:
            if len(st.python_nodes) < MAX_PYTHON_NODES:
                shown = tuple(self._attribute_text(r.message(f)) for f in attrs[:32])
                st.python_nodes.append(PythonNode(domain, op_type, f"{where}/{name or '<unnamed>'}", shown))
            else:
                st.python_overflow += 1

    def _attribute_text(self, msg: Message) -> tuple[str, str]:
        """An attribute as ``(name, value text)``: strings, ints, floats and their lists; others by kind."""
        r = self.r
        name = ""
        values: list[str] = []
        for f in r.fields(msg):
            n = f.number
            if n == 1 and f.wire == LEN:
                name = self._text(f, 256)
            elif n in (4, 9) and f.wire == LEN and len(values) < 16:  # s, strings
                values.append(repr(self._text(f, 512)))
            elif n in (3, 8) and f.wire == VARINT and len(values) < 16:  # i, ints (unpacked)
                values.append(str(f.signed))
            elif n == 2 and f.wire == I32 and len(values) < 16:  # f
                values.append(repr(struct.unpack("<f", f.value.to_bytes(4, "little"))[0]))
            elif n in (5, 6, 10, 11, 22, 23):
                values.append({5: "<tensor>", 6: "<graph>", 10: "<tensors>", 11: "<graphs>"}.get(n, "<sparse tensor>"))
        text = values[0] if len(values) == 1 else "[" + ", ".join(values) + "]"
        return name, text

    def _attribute(self, msg: Message, where: str) -> None:
        r = self.r
        name = ""
        for f in r.fields(msg):
            n = f.number
            if n == 1 and f.wire == LEN:
                name = self._text(f, 256)
            elif n in (5, 10):
                self.tensor(r.message(f), f"{where}.{name or 'attribute'}")
            elif n in (6, 11):
                self.state.subgraphs += 1
                self.graph(r.message(f), f"{where}.{name or 'attribute'}")
            elif n in (22, 23):
                self._sparse(r.message(f), f"{where}.{name or 'attribute'}")

    def _sparse(self, msg: Message, where: str) -> None:
        for f in self.r.fields(msg):
            if f.number in (1, 2):
                self.tensor(self.r.message(f), where)

    def tensor(self, msg: Message, where: str) -> None:
        """Record a TensorProto's external-data entries (raw data is skipped, never read)."""
        r = self.r
        name = ""
        entries: list[tuple[str, str]] = []
        location = 0
        for f in r.fields(msg):
            n = f.number
            if n == 8 and f.wire == LEN:
                name = self._text(f, 256)
            elif n == 13:
                entries.append(self._entry(r.message(f)))
            elif n == 14 and f.wire == VARINT:
                location = f.value
            # raw_data (9) and the typed value arrays are skipped without being read.
        if entries or location == 1:
            self.state.external.append(ExternalRef(name, where, msg.start, entries, location))

    def _entry(self, msg: Message) -> tuple[str, str]:
        key = value = ""
        for f in self.r.fields(msg):
            if f.number == 1 and f.wire == LEN:
                key = self._text(f, 256)
            elif f.number == 2 and f.wire == LEN:
                value = self._text(f, 4096)
        return key, value

    def function(self, msg: Message) -> None:
        """Walk a model-local FunctionProto's nodes."""
        r = self.r
        name = domain = overload = ""
        nodes: list[Field] = []
        for f in r.fields(msg):
            n = f.number
            if n == 1 and f.wire == LEN:
                name = self._text(f)
            elif n == 10 and f.wire == LEN:
                domain = self._text(f)
            elif n == 13 and f.wire == LEN:
                overload = self._text(f)
            elif n == 7:
                nodes.append(f)
            elif n == 8 and f.wire == LEN:
                self._doc(f, "function doc_string")
        self.state.functions.append((domain, name, overload))
        for f in nodes:
            self.node(r.message(f), f"function {domain or 'ai.onnx'}::{name}", name)

    def _metadata(self, msg: Message, where: str) -> None:
        key = ""
        for f in self.r.fields(msg):
            if f.number == 1 and f.wire == LEN:
                key = self._text(f, 256)
            elif f.number == 2 and f.wire == LEN:
                self._doc(f, f"{where}[{key}]")

    def _doc(self, f: Field, where: str) -> None:
        if f.wire != LEN or f.value == 0 or self.ctx is None:
            return
        sample, _ = self.r.payload(f, 64 * 1024)
        text = sample.decode("utf-8", "replace")
        hit = _CODE_LIKE.search(text)
        if f.value > _BIG_TEXT:
            self.ctx.report(ONX605, f"{where} is {f.value} bytes long", offset=f.offset,
                            evidence=text[:200])
        elif hit:
            a = max(0, hit.start() - 80)
            self.ctx.report(ONX605, f"{where} contains code-like text ({hit.group(0)!r})", offset=f.offset,
                            evidence=text[a : hit.end() + 120])

