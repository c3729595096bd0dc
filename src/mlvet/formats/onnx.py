"""ONNX models (``.onnx``): graph nodes, custom operator domains, external data, functions, metadata.

An ONNX file is one protobuf ``ModelProto``. Standard ONNX operators are pure tensor math, so the risks
are elsewhere: operators from custom domains need native code that the runtime must load from somewhere
else (report them so a reviewer knows); tensors whose bytes live in *external data* files name those
files by a ``location`` string that loaders join to the model folder — an absolute path, a ``..``
component or a symlink reads any file on the machine into the model (CVE-2022-25882, its bypass
CVE-2024-27318, and the symlink variant GHSA-p433-9wv8-28xj), and the ``*/_ORT_MEM_ADDR_/*`` marker makes
some runtimes read process memory at an address taken from the file. The file is walked with the
streaming wire reader (:mod:`mlvet.formats.onnx_model`): initializer ``raw_data`` is skipped by offset,
so a multi-GB model costs the same time and memory as its structure. Sub-graphs (``If``/``Loop``/``Scan``
bodies), model-local functions and training graphs are walked too. External data is checked and
attributed by :mod:`mlvet.formats.onnx_external`.
"""

from __future__ import annotations

from typing import BinaryIO

from mlvet.analysis.protowire import WireReader
from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.onnx_backdoor import report_backdoors
from mlvet.formats.onnx_external import OnnxExternalDataHandler, check_external, referencing_model
from mlvet.formats.onnx_model import (
    MAX_DISTINCT_OPS,
    MAX_PYTHON_NODES,
    ONX600,
    ONX601,
    ONX602,
    ONX603,
    ONX604,
    ONX605,
    PYTHON_OP_TYPES,
    ModelWalker,
    WalkState,
    looks_like_onnx,
)
from mlvet.model import Severity

__all__ = [
    "ONX600", "ONX601", "ONX602", "ONX603", "ONX604", "ONX605", "OnnxExternalDataHandler", "OnnxHandler",
    "looks_like_onnx", "referencing_model",
]

#: The ONNX standard domains ('' and 'ai.onnx' are the same default domain).
_STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "ai.onnx.preview"})
#: Runtime contrib domains shipped inside onnxruntime / PyTorch exporters: native code, but well known.
_KNOWN_DOMAINS = frozenset({
    "com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental", "com.microsoft.dml",
    "com.ms.internal.nhwc", "ai.onnx.contrib", "org.pytorch.aten", "com.microsoft.extensions",
})
#: onnxruntime-extensions' operator domain (its native kernels and the Python functions of ``onnx_op``).
_EXTENSIONS_DOMAIN = "ai.onnx.contrib"


class OnnxHandler:
    """ONNX ModelProto files: inventory, custom and Python operators, functions, external data."""
    id = "onnx"
    priority = 70

    def sniff(self, probe: Probe) -> bool:
        return looks_like_onnx(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        reader = WireReader(stream, size, what="ONNX model")
        walker = ModelWalker(reader, ctx)
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
            check_external(ext, ctx)
        report_backdoors(reader, ctx)


def _report_inventory(st: WalkState, ctx: ScanContext) -> None:
    by_domain: dict[str, list[str]] = {}
    for (domain, op), count in sorted(st.ops.items()):
        by_domain.setdefault(domain or "ai.onnx", []).append(f"{op}×{count}" if count > 1 else op)
    parts = [f"{d}: {', '.join(ops)}" for d, ops in sorted(by_domain.items())]
    opsets = ", ".join(f"{d}={v}" for d, v in sorted(st.opsets.items()))
    msg = (f"{st.nodes} nodes, {len(st.ops)} operator types"
           + (f" (more than {MAX_DISTINCT_OPS} distinct, list cut)" if st.op_overflow else "")
           + (f", {st.subgraphs} sub-graphs" if st.subgraphs else "")
           + (f"; opsets {opsets}" if opsets else "")
           + (f"; producer {st.producer!r}" if st.producer else ""))
    ctx.report(ONX600, msg, evidence="; ".join(parts)[:4000])


def _report_custom_ops(st: WalkState, ctx: ScanContext) -> None:
    local = {(d, n) for d, n, _ in st.functions}
    custom: dict[str, list[str]] = {}
    for (domain, op), _count in sorted(st.ops.items()):
        if (domain, op) in local:
            continue
        if op in PYTHON_OP_TYPES:
            continue  # reported node by node below, with their attributes
        if domain in _STANDARD_DOMAINS:
            continue
        custom.setdefault(domain, []).append(op)
    _report_python_ops(st, ctx, local)
    for domain, ops in sorted(custom.items()):
        sev = Severity.LOW if domain in _KNOWN_DOMAINS else Severity.MEDIUM
        kind = "onnxruntime/exporter contrib domain" if domain in _KNOWN_DOMAINS else "custom domain"
        extra = ""
        if domain == _EXTENSIONS_DOMAIN:
            extra = (" (onnxruntime-extensions: native kernels, or Python functions the loading program "
                     "registered with onnx_op)")
        ctx.report(ONX601, f"{len(ops)} operator(s) from {kind} {domain!r}: {', '.join(ops[:20])}{extra}",
                   severity=sev, evidence=f"{domain}: {', '.join(ops[:200])}")


def _report_python_ops(st: WalkState, ctx: ScanContext, local: set[tuple[str, str]]) -> None:
    """PyOp / PythonOp nodes, in any domain: each hands its inputs and attributes to Python code.

    onnxruntime-extensions runs a ``PyOp`` by calling the Python function registered for it in the
    loading process (``PyCustomOpDef``), ORTModule's ``com.microsoft::PythonOp`` calls the
    torch.autograd.Function named in its attributes, and torch's fallthrough export leaves
    ``PythonOp`` nodes for autograd Functions. A runtime without those registrations fails to load
    the model, so a model that needs them is code-dependent by construction: high, with the node and
    its attributes (which usually name the function) as evidence.
    """
    for node in st.python_nodes:
        if (node.domain, node.op_type) in local:
            continue
        attrs = ", ".join(f"{k}={v}" for k, v in node.attributes)
        qualified = f"{node.domain or 'ai.onnx'}::{node.op_type}"
        ctx.report(
            ONX601,
            f"node {node.where} ({qualified}) calls a Python function registered in the loading process "
            "with the node's inputs and attributes" + (f" ({attrs[:200]})" if attrs else ""),
            severity=Severity.HIGH, evidence=f"{qualified} at {node.where}; attributes: {attrs or 'none'}"[:2000],
        )
    if st.python_overflow:
        ctx.report(ONX601, f"{st.python_overflow} further Python-calling node(s) not listed "
                   f"(limit {MAX_PYTHON_NODES})", severity=Severity.HIGH)


register(OnnxHandler())
register(OnnxExternalDataHandler())
