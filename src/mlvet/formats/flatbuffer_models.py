"""FlatBuffer models: ONNX Runtime ``.ort`` files and CatBoost ``.cbm`` models.

**ONNX Runtime (``.ort``)**: an ``InferenceSession`` FlatBuffer with the file identifier ``ORTM`` at bytes
4..8 (onnxruntime's ``ort.fbs``). Like an ONNX model it is a graph of operators the runtime's own kernels
execute; what can bring foreign code is an operator from a custom domain (a library the application must
register) or a Python-calling operator. The operator types and domains of every graph, sub-graphs of
If/Loop/Scan included, are read and reported with the ONNX rules (ONX600 inventory, ONX601 custom/Python
operators). Tensor data is never read.

**CatBoost (``.cbm``)**: ``CBM1``, a 32-bit size, then a ``TModelCore`` FlatBuffer (trees, feature
descriptions, an info map) and optional binary parts (categorical-feature counters). CatBoost builds no
objects and calls nothing named in the file: it is data. The structure is still checked (the core's size
against the file, the root table, the format-version string) so a damaged or crafted file is an error.
"""

from __future__ import annotations

from typing import BinaryIO

from mlvet.containers.flatbuf import FlatBuffer
from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.onnx import _report_custom_ops, _report_inventory  # the ONNX rules, shared on purpose
from mlvet.formats.onnx_model import MAX_DISTINCT_OPS, MAX_PYTHON_NODES, PYTHON_OP_TYPES, PythonNode, WalkState

ORT_IDENTIFIER = b"ORTM"
CBM_MAGIC = b"CBM1"
_MAX_GRAPH_DEPTH = 32

# ort.fbs field indices (InferenceSession, Model, Graph, Node, Attribute).
_SESSION_VERSION, _SESSION_MODEL = 0, 1
_MODEL_IR, _MODEL_OPSETS, _MODEL_PRODUCER, _MODEL_GRAPH = 0, 1, 2, 7
_GRAPH_INITIALIZERS, _GRAPH_NODES = 0, 2
_TENSOR_NAME, _TENSOR_RAW = 0, 4
_NODE_NAME, _NODE_DOMAIN, _NODE_OP = 0, 2, 5
_NODE_ATTRS = 10
_ATTR_NAME, _ATTR_G, _ATTR_GRAPHS = 0, 7, 12
_OPSET_DOMAIN, _OPSET_VERSION = 0, 1


class OrtHandler:
    """ONNX Runtime ``.ort`` models: operator domains and types read from the FlatBuffer, ONNX rules applied."""

    id = "onnxruntime-ort"
    priority = 15

    def sniff(self, probe: Probe) -> bool:
        h = probe.head
        return len(h) >= 16 and h[4:8] == ORT_IDENTIFIER and 8 <= int.from_bytes(h[:4], "little") < probe.size

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        if size % 4:
            # FlatBufferBuilder pads the finished buffer to its alignment (at least 4): a size that is not a
            # multiple of 4 was cut.
            raise AnalysisError(f"malformed ONNX Runtime model: {size} bytes is not a whole FlatBuffer (truncated)")
        fb = FlatBuffer(stream, size, "ONNX Runtime model")
        session = fb.root()
        fb.string(session, _SESSION_VERSION)
        model = fb.table(session, _SESSION_MODEL)
        if model is None:
            raise AnalysisError("malformed ONNX Runtime model: no model table")
        st = WalkState()
        ir = fb.field(model, _MODEL_IR)
        st.ir_version = fb.i32(ir) if ir is not None else 0
        st.producer = fb.string(model, _MODEL_PRODUCER) or ""
        for opset in fb.tables(model, _MODEL_OPSETS):
            ver = fb.field(opset, _OPSET_VERSION)
            st.opsets[fb.string(opset, _OPSET_DOMAIN) or "ai.onnx"] = fb.i32(ver) if ver is not None else 0
        graph = fb.table(model, _MODEL_GRAPH)
        if graph is None:
            raise AnalysisError("malformed ONNX Runtime model: no graph")
        self._graph(fb, graph, st, "graph", 0)
        _report_inventory(st, ctx)
        _report_custom_ops(st, ctx)

    def _graph(self, fb: FlatBuffer, graph: int, st: WalkState, where: str, depth: int) -> None:
        if depth > _MAX_GRAPH_DEPTH:
            raise AnalysisError(f"ONNX Runtime model: sub-graphs nested deeper than {_MAX_GRAPH_DEPTH}")
        if depth:
            st.subgraphs += 1
        for tensor in fb.tables(graph, _GRAPH_INITIALIZERS):
            fb.string(tensor, _TENSOR_NAME)
            fb.span(tensor, _TENSOR_RAW, width=1)  # bounds only: the tensor bytes are never read or listed
        for node in fb.tables(graph, _GRAPH_NODES):
            st.nodes += 1
            domain = fb.string(node, _NODE_DOMAIN) or ""
            op = fb.string(node, _NODE_OP) or ""
            name = fb.string(node, _NODE_NAME) or f"#{st.nodes}"
            key = (domain, op)
            if key in st.ops or len(st.ops) < MAX_DISTINCT_OPS:
                st.ops[key] += 1
            else:
                st.op_overflow = True
            if op in PYTHON_OP_TYPES:
                if len(st.python_nodes) < MAX_PYTHON_NODES:
                    st.python_nodes.append(PythonNode(domain, op, f"{where}/{name}", ()))
                else:
                    st.python_overflow += 1
            for attr in fb.tables(node, _NODE_ATTRS):
                sub = fb.table(attr, _ATTR_G)
                label = f"{where}/{name}.{fb.string(attr, _ATTR_NAME) or '?'}"
                if sub is not None:
                    self._graph(fb, sub, st, label, depth + 1)
                for g in fb.tables(attr, _ATTR_GRAPHS):
                    self._graph(fb, g, st, label, depth + 1)


class CatBoostHandler:
    """CatBoost ``.cbm`` models: the ``CBM1`` core FlatBuffer is bounds-checked; the format carries no code."""

    id = "catboost"
    priority = 15

    def sniff(self, probe: Probe) -> bool:
        return probe.head[:4] == CBM_MAGIC and len(probe.head) >= 16

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        stream.seek(4)
        core = int.from_bytes(stream.read(4), "little")
        if core < 12 or 8 + core > size:
            raise AnalysisError(f"malformed CatBoost model: core of {core} bytes in a {size}-byte file")
        fb = FlatBuffer(stream, core, "CatBoost model", base=8)
        root = fb.root()
        version = fb.string(root, 0)
        if version is None or not version.startswith("FlabuffersModel_v"):
            raise AnalysisError(f"malformed CatBoost model: unexpected format version {version!r}")
        if fb.table(root, 1) is None:
            raise AnalysisError("malformed CatBoost model: no trees")


register(OrtHandler())
register(CatBoostHandler())
