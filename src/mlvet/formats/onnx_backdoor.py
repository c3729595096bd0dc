"""Architectural-backdoor checks on ONNX models: trigger branches in the graph, out-of-family weights.

The model walk (:mod:`mlvet.formats.onnx_model`) counts operators and never keeps edges; this second,
equally bounded walk reads the main graph's dataflow (node names, op types, inputs, outputs; the graph's
inputs, outputs and constants) for :func:`mlvet.analysis.graph_triggers.find_triggers`, and samples float
initializers (a bounded, evenly spread sample of each, at most ``MAX_SAMPLED_TENSORS`` tensors) for
:func:`mlvet.analysis.weight_stats.outliers`. Findings: BKD100 for a trigger branch (medium; high when the
alternative output is a constant or the raw input), BKD101 for out-of-family tensors (low).
"""

from __future__ import annotations

import struct
from collections import Counter

from mlvet.analysis.graph_triggers import Graph, Node, Trigger, find_triggers
from mlvet.analysis.protowire import LEN, VARINT, Field, Message, WireReader
from mlvet.analysis.weight_stats import MIN_FAMILY, SAMPLE, TensorStats, outliers, stats_of
from mlvet.formats.base import ScanContext
from mlvet.model import Confidence, Severity
from mlvet.rules import BKD100, BKD101

#: Float initializers sampled per model.
MAX_SAMPLED_TENSORS = 4096
#: Nodes read per graph.
MAX_NODES = 500_000
#: Contiguous runs a tensor's sample is read in (spread over the tensor).
_RUNS = 16
_FLOAT, _FLOAT16 = 1, 10


def _half(data: bytes) -> list[float]:
    return [v for (v,) in struct.iter_unpack("<e", data[: len(data) // 2 * 2])]


def _float(data: bytes) -> list[float]:
    return [v for (v,) in struct.iter_unpack("<f", data[: len(data) // 4 * 4])]


class _GraphReader:
    def __init__(self, reader: WireReader) -> None:
        self.r = reader
        self.graph = Graph()
        self.stats: list[TensorStats] = []
        #: Float initializers seen (name, shape, raw field, width); sampled later, only in families big enough.
        self.pending: list[tuple[str, tuple[int, ...], Field, int]] = []
        self.cut = False

    def model(self, msg: Message) -> None:
        for f in self.r.fields(msg):
            if f.number == 7 and f.wire == LEN:
                self.read_graph(self.r.message(f))

    def read_graph(self, msg: Message) -> None:
        r = self.r
        declared: list[str] = []
        init: set[str] = set()
        for f in r.fields(msg):
            n = f.number
            if n == 1 and f.wire == LEN:
                if len(self.graph.nodes) >= MAX_NODES:
                    self.cut = True
                    continue
                self.graph.nodes.append(self.node(r.message(f)))
            elif n == 5 and f.wire == LEN:
                init.add(self.tensor(r.message(f)))
            elif n in (11, 12) and f.wire == LEN:
                name = self.value_name(r.message(f))
                (declared if n == 11 else self.graph.outputs).append(name)
        self.graph.constants |= init
        self.graph.inputs = {v for v in declared if v not in init}

    def value_name(self, msg: Message) -> str:
        for f in self.r.fields(msg):
            if f.number == 1 and f.wire == LEN:
                return self.r.text(f, 512)
        return ""

    def node(self, msg: Message) -> Node:
        ins: list[str] = []
        outs: list[str] = []
        name = op = ""
        for f in self.r.fields(msg):
            n = f.number
            if f.wire != LEN:
                continue
            if n == 1 and len(ins) < 64:
                ins.append(self.r.text(f, 512))
            elif n == 2 and len(outs) < 64:
                outs.append(self.r.text(f, 512))
            elif n == 3:
                name = self.r.text(f, 256)
            elif n == 4:
                op = self.r.text(f, 128)
        return Node(name, op, tuple(ins), tuple(outs))

    def tensor(self, msg: Message) -> str:
        name = ""
        dims: list[int] = []
        dtype = 0
        raw: Field | None = None
        for f in self.r.fields(msg):
            n = f.number
            if n == 1 and f.wire == VARINT:
                dims.append(f.signed)
            elif n == 1 and f.wire == LEN:
                dims.extend(_packed_varints(self.r.read(f.start, min(f.value, 256))))
            elif n == 2 and f.wire == VARINT:
                dtype = f.value
            elif n == 8 and f.wire == LEN:
                name = self.r.text(f, 512)
            elif n == 9 and f.wire == LEN:
                raw = f
        if raw is not None and dtype in (_FLOAT, _FLOAT16):
            self.pending.append((name, tuple(dims), raw, 4 if dtype == _FLOAT else 2))
        return name

    def sample_families(self) -> None:
        """Sample the initializers whose shape family is big enough to compare (no tensor byte otherwise)."""
        family = Counter(shape for _, shape, _, _ in self.pending if len(shape) >= 2)
        for name, shape, raw, width in self.pending:
            if len(self.stats) >= MAX_SAMPLED_TENSORS:
                break
            if family[shape] < MIN_FAMILY:
                continue
            s = stats_of(name, shape, self.sample(raw, width))
            if s is not None:
                self.stats.append(s)

    def sample(self, raw: Field, width: int) -> list[float]:
        count = raw.value // width
        decode = _float if width == 4 else _half
        if count <= SAMPLE:
            return decode(self.r.read(raw.start, count * width))
        run = SAMPLE // _RUNS
        step = count // _RUNS
        out: list[float] = []
        for k in range(_RUNS):
            out.extend(decode(self.r.read(raw.start + k * step * width, run * width)))
        return out


def _packed_varints(data: bytes) -> list[int]:
    out: list[int] = []
    value = shift = 0
    for b in data:
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            out.append(value)
            value = shift = 0
    return out


def report_backdoors(reader: WireReader, ctx: ScanContext) -> None:
    """Read the main graph again (bounded) and report trigger branches and out-of-family weights."""
    g = _GraphReader(reader)
    g.model(reader.root())
    if g.cut:
        ctx.error(f"ONNX graph has more than {MAX_NODES} nodes; the backdoor check read only the first ones")
    report_triggers(find_triggers(g.graph), ctx, "ONNX")
    g.sample_families()
    report_outliers(g.stats, ctx, "ONNX initializer")


def report_triggers(triggers: list[Trigger], ctx: ScanContext, fmt: str) -> None:
    """BKD100 findings (shared by the ONNX and TensorFlow graph checks)."""
    for t in triggers:
        how = ("selects a constant or the raw input instead of the model's output"
               if t.unambiguous else "chooses the model's output or another value")
        ctx.report(
            BKD100,
            f"{fmt} graph: {t.select} {how} when the input matches a constant ({t.compare}); the result reaches "
            "the graph output without passing through the model body again",
            severity=Severity.HIGH if t.unambiguous else Severity.MEDIUM,
            confidence=Confidence.MEDIUM,
            evidence=" -> ".join(t.path)[:2000],
        )


def report_outliers(stats: list[TensorStats], ctx: ScanContext, what: str) -> None:
    """BKD101 findings for tensors far out of their shape family."""
    for o in outliers(stats)[:16]:
        ctx.report(
            BKD101,
            f"{what} {o.name!r} {list(o.shape)}: {o.statistic} {o.value:.4g} against a median of "
            f"{o.family_median:.4g} over the {o.family_size} tensors of this shape (robust z {o.z:+.1f})",
            confidence=Confidence.LOW,
            evidence=f"{o.name}: {o.statistic}={o.value:.6g}; family median {o.family_median:.6g}",
        )
