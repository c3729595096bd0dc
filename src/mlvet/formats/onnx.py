"""ONNX models (``.onnx``): graph nodes, custom operator domains, external data, functions, metadata.

An ONNX file is one protobuf ``ModelProto``. Standard ONNX operators are pure tensor math, so the risks
are elsewhere: operators from custom domains need native code that the runtime must load from somewhere
else (report them so a reviewer knows); tensors whose bytes live in *external data* files name those
files by a ``location`` string that loaders join to the model folder — an absolute path, a ``..``
component or a symlink reads any file on the machine into the model (CVE-2022-25882, its bypass
CVE-2024-27318, and the symlink variant GHSA-p433-9wv8-28xj), and the ``*/_ORT_MEM_ADDR_/*`` marker makes
some runtimes read process memory at an address taken from the file. The file is walked with the
streaming wire reader: initializer ``raw_data`` is skipped by offset, so a multi-GB model costs the
same time and memory as its structure. Sub-graphs (``If``/``Loop``/``Scan`` bodies), model-local
functions and training graphs are walked too.
"""

from __future__ import annotations

import os
import re
import stat
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import BinaryIO

from mlvet.analysis.protowire import LEN, VARINT, Field, Message, WireReader, try_fields
from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register
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
    "The graph uses operators from a custom (non-ONNX) domain.",
    "Custom operators run native or Python code that the runtime must load from a library outside the "
    "model (onnxruntime register_custom_ops_library, onnxruntime-extensions); the model cannot be reviewed "
    "without that code. Contrib domains of onnxruntime (com.microsoft ...) are reported at low severity.",
    "Check which library implements these operators and whether you trust it.",
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

#: The ONNX standard domains ('' and 'ai.onnx' are the same default domain).
_STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "ai.onnx.preview"})
#: Runtime contrib domains shipped inside onnxruntime / PyTorch exporters: native code, but well known.
_KNOWN_DOMAINS = frozenset({
    "com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental", "com.microsoft.dml",
    "com.ms.internal.nhwc", "ai.onnx.contrib", "org.pytorch.aten", "com.microsoft.extensions",
})
#: Contrib operators that call back into Python in the loading process (ORTModule's autograd bridge).
_PYTHON_OPS = frozenset({("com.microsoft", "PythonOp"), ("com.microsoft", "PythonOpGrad")})
#: Keys onnx's ExternalDataInfo accepts; anything else was used for attribute injection.
_EXTERNAL_KEYS = frozenset({"location", "offset", "length", "checksum", "basepath"})
_ORT_MEM_ADDR = "*/_ORT_MEM_ADDR_/*"
_CODE_LIKE = re.compile(
    r"(<script\b|\bimport\s+(os|subprocess|socket|sys)\b|__import__|\beval\s*\(|\bexec\s*\(|os\.system|subprocess\.|"
    r"\bcurl\s+http|\bwget\s+http|powershell|/bin/sh\b)",
    re.IGNORECASE,
)
_BIG_TEXT = 1 << 20
_NAME_LIMIT = 512
#: Distinct operator names tracked (the node count is always exact); bounds memory on hostile files.
_MAX_DISTINCT_OPS = 10_000

# ModelProto fields and their wire types, for sniffing.
_MODEL_FIELDS = {
    1: VARINT, 2: LEN, 3: LEN, 4: LEN, 5: VARINT, 6: LEN, 7: LEN, 8: LEN, 14: LEN, 20: LEN, 25: LEN, 26: LEN,
}
_GRAPH_FIELDS = {1: LEN, 2: LEN, 5: LEN, 10: LEN, 11: LEN, 12: LEN, 13: LEN, 14: LEN, 15: LEN, 16: LEN}


@dataclass
class _External:
    tensor: str
    where: str
    offset: int
    entries: list[tuple[str, str]]
    data_location: int


@dataclass
class _State:
    ops: Counter[tuple[str, str]] = field(default_factory=Counter)
    op_overflow: bool = False
    nodes: int = 0
    subgraphs: int = 0
    functions: list[tuple[str, str, str]] = field(default_factory=list)
    opsets: dict[str, int] = field(default_factory=dict)
    external: list[_External] = field(default_factory=list)
    first_use: dict[tuple[str, str], str] = field(default_factory=dict)
    producer: str = ""
    ir_version: int | None = None


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
    return all(c.isprintable() for c in text)


class OnnxHandler:
    id = "onnx"
    priority = 70

    def sniff(self, probe: Probe) -> bool:
        return looks_like_onnx(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        reader = WireReader(stream, size, what="ONNX model")
        walker = _Walker(reader, ctx)
        walker.model(reader.root())
        st = walker.state
        if st.ir_version is None:
            raise AnalysisError("malformed ONNX model: no ir_version field")
        _report_inventory(st, ctx)
        _report_custom_ops(st, ctx)
        if st.functions:
            names = sorted({f"{d or 'ai.onnx'}::{n}" for d, n, _ in st.functions})
            ctx.report(ONX604, f"{len(st.functions)} model-local function(s): {', '.join(names[:30])}",
                       evidence=", ".join(names[:100]))
        for ext in st.external:
            _check_external(ext, ctx)


class _Walker:
    """Walks a ModelProto, collecting operators, functions and external-data references."""

    def __init__(self, reader: WireReader, ctx: ScanContext | None) -> None:
        self.r = reader
        self.ctx = ctx  # None: only collecting (external-data lookups), nothing is reported
        self.state = _State()

    def _text(self, f: Field, limit: int = _NAME_LIMIT) -> str:
        return self.r.text(f, limit)

    def model(self, msg: Message) -> None:
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
        elif len(st.ops) < _MAX_DISTINCT_OPS:
            st.ops[key] += 1
            name = self._text(name_field, 256) if name_field is not None else ""
            st.first_use[key] = f"{where}/{name or op_type}"
        else:
            st.op_overflow = True
        if attrs:
            if not name and name_field is not None:
                name = self._text(name_field, 256)
            label = f"{where}/{name or op_type}"
            for f in attrs:
                self._attribute(r.message(f), label)

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
            self.state.external.append(_External(name, where, msg.start, entries, location))

    def _entry(self, msg: Message) -> tuple[str, str]:
        key = value = ""
        for f in self.r.fields(msg):
            if f.number == 1 and f.wire == LEN:
                key = self._text(f, 256)
            elif f.number == 2 and f.wire == LEN:
                value = self._text(f, 4096)
        return key, value

    def function(self, msg: Message) -> None:
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


def _report_inventory(st: _State, ctx: ScanContext) -> None:
    by_domain: dict[str, list[str]] = {}
    for (domain, op), count in sorted(st.ops.items()):
        by_domain.setdefault(domain or "ai.onnx", []).append(f"{op}×{count}" if count > 1 else op)
    parts = [f"{d}: {', '.join(ops)}" for d, ops in sorted(by_domain.items())]
    opsets = ", ".join(f"{d}={v}" for d, v in sorted(st.opsets.items()))
    msg = (f"{st.nodes} nodes, {len(st.ops)} operator types"
           + (f" (more than {_MAX_DISTINCT_OPS} distinct, list cut)" if st.op_overflow else "")
           + (f", {st.subgraphs} sub-graphs" if st.subgraphs else "")
           + (f"; opsets {opsets}" if opsets else "")
           + (f"; producer {st.producer!r}" if st.producer else ""))
    ctx.report(ONX600, msg, evidence="; ".join(parts)[:4000])


def _report_custom_ops(st: _State, ctx: ScanContext) -> None:
    local = {(d, n) for d, n, _ in st.functions}
    custom: dict[str, list[str]] = {}
    for (domain, op), _count in sorted(st.ops.items()):
        if (domain, op) in _PYTHON_OPS:
            ctx.report(ONX601, f"operator {domain}::{op} calls back into Python code registered in the "
                       "loading process", severity=Severity.MEDIUM, evidence=f"{domain}::{op} at "
                       f"{st.first_use.get((domain, op), '?')}")
            continue
        if domain in _STANDARD_DOMAINS or (domain, op) in local:
            continue
        custom.setdefault(domain, []).append(op)
    for domain, ops in sorted(custom.items()):
        sev = Severity.LOW if domain in _KNOWN_DOMAINS else Severity.MEDIUM
        kind = "onnxruntime/exporter contrib domain" if domain in _KNOWN_DOMAINS else "custom domain"
        ctx.report(ONX601, f"{len(ops)} operator(s) from {kind} {domain!r}: {', '.join(ops[:20])}",
                   severity=sev, evidence=f"{domain}: {', '.join(ops[:200])}")


def _is_absolute(path: str) -> bool:
    return path.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:", path))


def _check_external(ext: _External, ctx: ScanContext) -> None:
    label = f"tensor {ext.tensor!r} ({ext.where})"
    keys = [k for k, _ in ext.entries]
    values = dict(ext.entries)
    unknown = sorted({k for k in keys if k not in _EXTERNAL_KEYS})
    if unknown:
        ctx.report(ONX603, f"{label}: unknown external_data keys {unknown}", severity=Severity.MEDIUM,
                   offset=ext.offset, evidence=", ".join(unknown)[:300])
    if len(keys) != len(set(keys)):
        ctx.report(ONX603, f"{label}: duplicate external_data keys", severity=Severity.MEDIUM, offset=ext.offset)
    if ext.data_location != 1:
        ctx.report(ONX603, f"{label}: external_data entries on a tensor whose data_location is not EXTERNAL",
                   offset=ext.offset)
    location = values.get("location")
    if location is None:
        ctx.report(ONX603, f"{label}: external tensor without a location", severity=Severity.MEDIUM, offset=ext.offset)
        return
    numbers: dict[str, int] = {}
    for key in ("offset", "length"):
        raw = values.get(key)
        if raw is None:
            continue
        if not raw.strip().isdigit():
            ctx.report(ONX603, f"{label}: external_data {key} {raw[:40]!r} is not a non-negative integer",
                       severity=Severity.MEDIUM, offset=ext.offset, evidence=raw[:100])
        else:
            numbers[key] = int(raw)
    if location == _ORT_MEM_ADDR:
        ctx.report(ONX602, f"{label}: location is onnxruntime's in-memory address marker {_ORT_MEM_ADDR!r}; "
                   f"the offset ({values.get('offset', '?')}) would be read as a memory address",
                   offset=ext.offset, evidence=location)
        return
    if not _location_is_safe(location, "location", label, ext, ctx):
        return
    base = values.get("basepath")
    if base is not None and base != "":
        _location_is_safe(base, "basepath", label, ext, ctx)
    if ctx.members:
        return  # inside an archive: there is no folder on disk to resolve against
    _check_on_disk(location, numbers, label, ext, ctx)


def _location_is_safe(location: str, key: str, label: str, ext: _External, ctx: ScanContext) -> bool:
    if location == "" or "\x00" in location:
        ctx.report(ONX603, f"{label}: external_data {key} is empty or contains a NUL byte",
                   severity=Severity.MEDIUM, offset=ext.offset, evidence=repr(location[:200]))
        return False
    parts = re.split(r"[\\/]+", location)
    if _is_absolute(location):
        ctx.report(ONX602, f"{label}: external_data {key} is an absolute path {location[:200]!r} "
                   "(CVE-2022-25882)", offset=ext.offset, evidence=location[:300])
        return False
    if ".." in parts:
        cve = "CVE-2022-25882" if parts[0] == ".." else "CVE-2024-27318: '..' after a sub-folder"
        ctx.report(ONX602, f"{label}: external_data {key} {location[:200]!r} walks out of the model folder ({cve})",
                   offset=ext.offset, evidence=location[:300])
        return False
    return True


def _within(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:
        return False


def _check_on_disk(location: str, numbers: dict[str, int], label: str, ext: _External, ctx: ScanContext) -> None:
    model_path = ctx.path
    folder = os.path.dirname(os.path.abspath(model_path))
    target = os.path.join(folder, location)
    if not os.path.lexists(target):
        ctx.report(ONX603, f"{label}: external data file {location!r} does not exist next to the model",
                   offset=ext.offset, evidence=location[:300])
        return
    real = os.path.realpath(target)
    # A Hugging Face cache keeps both the model and its data as symlinks into a blobs/ folder: the data is
    # "inside" when it stays within the folder that holds the model or the folder the model resolves to.
    roots = {os.path.realpath(folder), os.path.dirname(os.path.realpath(model_path))}
    if not any(_within(real, root) for root in roots):
        ctx.report(ONX602, f"{label}: external data {location!r} resolves outside the model folder to {real!r} "
                   "through a symbolic link (GHSA-p433-9wv8-28xj)", offset=ext.offset, evidence=f"{location} -> {real}")
        return
    try:
        st = os.stat(real)
    except OSError as exc:
        ctx.report(ONX603, f"{label}: external data {location!r} cannot be read ({exc.strerror})", offset=ext.offset)
        return
    if not stat.S_ISREG(st.st_mode):
        ctx.report(ONX603, f"{label}: external data {location!r} is not a regular file", severity=Severity.MEDIUM,
                   offset=ext.offset)
        return
    if st.st_nlink > 1:
        ctx.report(ONX603, f"{label}: external data {location!r} has {st.st_nlink} hard links (onnx ≥ 1.21 "
                   "refuses such files: a hard link can alias a file outside the folder)", offset=ext.offset)
    off = numbers.get("offset", 0)
    length = numbers.get("length")
    if off > st.st_size or (length is not None and off + length > st.st_size):
        ctx.report(ONX603, f"{label}: offset/length ({off}/{length}) point past the end of {location!r} "
                   f"({st.st_size} bytes)", offset=ext.offset)


# ---- external data files ---------------------------------------------------------------------------
# External tensor files are raw bytes with no signature. They are recognised the way loaders find them:
# an ONNX model next to them (or up to two folders above) names them in a ``location``. Content handlers
# run first, so a pickle or archive renamed to look like external data is still analysed as what it is.

_MAX_MODELS_PER_FOLDER = 64
_MAX_MODEL_BYTES_TO_INDEX = 1 << 40


@lru_cache(maxsize=256)
def _external_locations(model: str, mtime_ns: int, size: int) -> frozenset[str]:
    """Real paths of the external data files a model references (empty when it is not a readable model)."""
    del mtime_ns  # part of the cache key only
    try:
        with open(model, "rb") as f:
            if not looks_like_onnx(f.read(4096)) or size > _MAX_MODEL_BYTES_TO_INDEX:
                return frozenset()
            walker = _Walker(WireReader(f, size, what="ONNX model"), None)
            walker.model(walker.r.root())
    except Exception:  # a model that cannot be indexed attributes nothing (the file then fails closed)
        return frozenset()
    folder = os.path.dirname(model)
    roots = {os.path.realpath(folder), os.path.dirname(os.path.realpath(model))}
    out = set()
    for ext in walker.state.external:
        loc = dict(ext.entries).get("location")
        if loc and not _is_absolute(loc) and ".." not in re.split(r"[\\/]+", loc):
            real = os.path.realpath(os.path.join(folder, loc))
            # Only files that really live beside the model are attributed to it: a symlink that leads
            # elsewhere is the model's finding (ONX602), not a reason to skip the file it points to.
            if any(_within(real, root) for root in roots):
                out.add(real)
    return frozenset(out)


def _sibling_models(folder: str) -> list[str]:
    try:
        mtime = os.stat(folder).st_mtime_ns
    except OSError:
        return []
    return list(_models_in(folder, mtime))


@lru_cache(maxsize=256)
def _models_in(folder: str, mtime_ns: int) -> tuple[str, ...]:
    """``*.onnx`` files of a folder (cached per folder state: every file of a big folder asks)."""
    del mtime_ns  # part of the cache key only
    try:
        names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".onnx"))
    except OSError:
        return ()
    return tuple(os.path.join(folder, n) for n in names[:_MAX_MODELS_PER_FOLDER])


def referencing_model(path: str) -> str | None:
    """The ONNX model whose external data ``path`` is, if any (searched in its folder and two above)."""
    real = os.path.realpath(path)
    base = os.path.basename(path)
    folder = os.path.dirname(os.path.abspath(path))
    for _ in range(3):
        for model in _sibling_models(folder):
            try:
                st = os.stat(model)
            except OSError:
                continue
            refs = _external_locations(model, st.st_mtime_ns, st.st_size)
            if real in refs:
                return model
            # torch.onnx.export writes '<model>.onnx.data' even when every weight fits inline (often empty).
            same_folder = os.path.dirname(model) == os.path.dirname(os.path.abspath(path))
            named_after = base in (os.path.basename(model) + ".data", os.path.basename(model) + "_data")
            if same_folder and named_after and _is_onnx_file(model):
                return model
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return None


def _is_onnx_file(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return looks_like_onnx(f.read(4096))
    except OSError:
        return False


class OnnxExternalDataHandler:
    """Raw tensor bytes stored outside an ONNX model (``save_as_external_data``).

    Runs just before the pickle handler: float data often passes a loose protocol-0/1 pickle sniff, and
    a model's own data file must not become a "malformed pickle" error. A file that starts with a PROTO
    opcode is left to the pickle handler (ONNX loaders never unpickle, but other tools might).
    """

    id = "onnx-external-data"
    priority = 46

    def sniff(self, probe: Probe) -> bool:
        if len(probe.head) >= 2 and probe.head[0] == 0x80 and probe.head[1] <= 5:
            return False
        path = getattr(probe.stream, "name", None)
        return isinstance(path, str) and os.path.isfile(path) and referencing_model(path) is not None

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        path = getattr(stream, "name", None)
        if ctx.members or not isinstance(path, str) or not os.path.samefile(path, ctx.path):
            raise AnalysisError("ONNX external data can only be attributed to a model on disk")
        model = referencing_model(path)
        if model is None:
            raise AnalysisError("no ONNX model references this file as external data")
        ctx.sink.skip_reason = f"ONNX external tensor data of {os.path.basename(model)} (raw tensor bytes, no code)"


register(OnnxHandler())
register(OnnxExternalDataHandler())
