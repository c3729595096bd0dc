"""Trigger branches in TensorFlow graphs (BKD100): the ONNX check, on GraphDefs and function bodies.

A second bounded walk of ``GraphDef{node=1, library=2}`` keeps each node's name, op and data inputs (control
inputs ``^x`` are dropped; ``x:1`` and ``x:out:0`` refer to node ``x``), maps TensorFlow's op names to the
ONNX vocabulary :mod:`mlvet.analysis.graph_triggers` speaks (``SelectV2`` is ``Where``, ``StatelessIf`` is
``If``, ``Sum`` is ``ReduceSum`` ...) and runs the same search. Graph inputs are ``Placeholder`` nodes (or a
function's arguments), constants are ``Const`` nodes, and outputs are a function's return values or, in a
GraphDef, the nodes nothing consumes.
"""

from __future__ import annotations

from mlvet.analysis.graph_triggers import Graph, Node, find_triggers
from mlvet.analysis.protowire import LEN, Message, WireReader
from mlvet.formats.base import ScanContext
from mlvet.formats.onnx_backdoor import report_triggers

#: TensorFlow op -> the ONNX op the trigger search knows (ops not listed keep their name).
TF_TO_ONNX = {
    "Select": "Where", "SelectV2": "Where", "If": "If", "StatelessIf": "If",
    "Equal": "Equal", "Greater": "Greater", "Less": "Less", "GreaterEqual": "GreaterOrEqual",
    "LessEqual": "LessOrEqual", "LogicalAnd": "And", "LogicalOr": "Or", "LogicalNot": "Not",
    "MatMul": "MatMul", "BatchMatMul": "MatMul", "BatchMatMulV2": "MatMul", "BatchMatMulV3": "MatMul",
    "Conv2D": "Conv", "Conv3D": "Conv", "DepthwiseConv2dNative": "Conv", "Conv2DBackpropInput": "ConvTranspose",
    "Softmax": "Softmax", "LogSoftmax": "LogSoftmax", "FusedBatchNorm": "BatchNormalization",
    "FusedBatchNormV3": "BatchNormalization", "Einsum": "Einsum",
    "Sum": "ReduceSum", "Mean": "ReduceMean", "Max": "ReduceMax", "Min": "ReduceMin", "Prod": "ReduceProd",
    "Any": "ReduceMax", "All": "ReduceMin",
    "StridedSlice": "Slice", "Slice": "Slice", "GatherV2": "Gather", "Gather": "Gather", "GatherNd": "GatherND",
    "Reshape": "Reshape", "Squeeze": "Squeeze", "ExpandDims": "Unsqueeze", "Cast": "Cast", "Identity": "Identity",
    "Transpose": "Transpose", "Add": "Add", "AddV2": "Add", "BiasAdd": "Add", "Sub": "Sub", "Mul": "Mul",
    "RealDiv": "Div", "Neg": "Neg", "Abs": "Abs", "ArgMax": "ArgMax", "ArgMin": "ArgMin", "ConcatV2": "Concat",
    "Tile": "Tile", "BroadcastTo": "Expand",
}
MAX_NODES = 500_000


def _ref(name: str) -> str:
    return name.split(":", 1)[0]


class _TfGraphs:
    def __init__(self, reader: WireReader) -> None:
        self.r = reader
        self.graphs: list[tuple[str, Graph]] = []
        self.count = 0

    def graph_def(self, msg: Message, where: str) -> None:
        nodes: list[Node] = []
        for f in self.r.fields(msg):
            if f.number == 1 and f.wire == LEN:
                node = self.node(self.r.message(f))
                if node is not None:
                    nodes.append(node)
            elif f.number == 2 and f.wire == LEN:
                for lib in self.r.fields(self.r.message(f)):
                    if lib.number == 1 and lib.wire == LEN:
                        self.function(self.r.message(lib), where)
        used = {v for n in nodes for v in n.inputs}
        graph = Graph(
            nodes=nodes,
            inputs={n.name for n in nodes if n.op == "Placeholder"},
            outputs=[n.name for n in nodes if n.name not in used and n.op not in ("NoOp", "Const", "Placeholder")],
            constants={n.name for n in nodes if n.op == "Const"},
        )
        self.graphs.append((where, graph))

    def function(self, msg: Message, where: str) -> None:
        r = self.r
        name = ""
        args: set[str] = set()
        nodes: list[Node] = []
        rets: list[str] = []
        for f in r.fields(msg):
            if f.number == 1 and f.wire == LEN:  # OpDef{name=1, input_arg=2 ArgDef{name=1}}
                for sig in r.fields(r.message(f)):
                    if sig.number == 1 and sig.wire == LEN:
                        name = r.text(sig, 256)
                    elif sig.number == 2 and sig.wire == LEN:
                        args |= {r.text(h, 256) for h in r.fields(r.message(sig)) if h.number == 1 and h.wire == LEN}
            elif f.number == 3 and f.wire == LEN:
                node = self.node(r.message(f))
                if node is not None:
                    nodes.append(node)
            elif f.number == 4 and f.wire == LEN:  # ret map entry {key=1, value=2}
                rets += [_ref(r.text(h, 512)) for h in r.fields(r.message(f)) if h.number == 2 and h.wire == LEN]
        graph = Graph(nodes=nodes, inputs=args, outputs=rets, constants={n.name for n in nodes if n.op == "Const"})
        self.graphs.append((f"{where} function {name or '?'}", graph))

    def node(self, msg: Message) -> Node | None:
        self.count += 1
        if self.count > MAX_NODES:
            return None
        name = op = ""
        ins: list[str] = []
        for f in self.r.fields(msg):
            if f.wire != LEN:
                continue
            if f.number == 1:
                name = self.r.text(f, 512)
            elif f.number == 2:
                op = self.r.text(f, 256)
            elif f.number == 3 and len(ins) < 64:
                text = self.r.text(f, 512)
                if not text.startswith("^"):
                    ins.append(_ref(text))
        return Node(name, TF_TO_ONNX.get(op, op), tuple(ins), (name,))


def report_tf_backdoors(reader: WireReader, graph_defs: list[tuple[Message, str]], ctx: ScanContext) -> None:
    """Run the trigger search on each GraphDef (and its functions) and report BKD100."""
    walker = _TfGraphs(reader)
    for msg, where in graph_defs:
        walker.graph_def(msg, where)
    if walker.count > MAX_NODES:
        ctx.error(f"TensorFlow graph has more than {MAX_NODES} nodes; the backdoor check read only the first ones")
    for where, g in walker.graphs:
        report_triggers(find_triggers(g), ctx, f"TensorFlow {where}")
