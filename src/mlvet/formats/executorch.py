"""ExecuTorch programs (``.pte``): a FlatBuffer with the file identifier ``ET`` + two digits (``ET12``).

A program is a list of execution plans (one per exported method), each with the *operators* its kernel
calls use (``name`` such as ``aten::add`` plus an overload) and the *delegates* that run whole subgraphs
(``id`` names a backend such as ``XnnpackBackend``; the processed blob is that backend's own format).
Constant tensors sit in segments after the FlatBuffer. The runtime resolves every operator and backend
by name in what the application binary registered; nothing in the file is loaded as code. The paths
that need review are therefore names:

* operators outside the PyTorch/ExecuTorch namespaces (``aten``, ``quantized_decomposed``, ``dim_order_ops``,
  ``executorch_prim`` ...): custom kernels the application must link, low (medium for a name that
  suggests file, process or network access);
* delegates to a backend that is not one of ExecuTorch's published backends: low (medium likewise).

The FlatBuffer is read by hand with bounds checks (the reader of :mod:`mlvet.formats.tflite`); tensor and
delegate data are never read. The extended header's segment base and the segments are checked to lie
inside the file.
"""

from __future__ import annotations

import re
import struct
from typing import BinaryIO

from mlvet.errors import AnalysisError, LimitExceeded
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.native_refs import reference_severity
from mlvet.formats.tflite import _FlatBuffer
from mlvet.model import Severity
from mlvet.rules import define_rule

OTH082 = define_rule(
    "OTH082", "executorch-custom-op", Severity.LOW,
    "The ExecuTorch program calls operators outside the PyTorch and ExecuTorch operator namespaces.",
    "A custom operator is a native kernel the application binary must register; the program cannot be "
    "reviewed without it. Names suggesting file, process or network access are medium.",
    "Check which library implements these operators and whether you trust it.",
    829,
)
OTH083 = define_rule(
    "OTH083", "executorch-unknown-delegate", Severity.LOW,
    "The ExecuTorch program delegates subgraphs to a backend that is not one of ExecuTorch's own.",
    "The named backend (native code registered by the application) receives an opaque blob from the file "
    "and runs it; an unknown backend cannot be reviewed.",
    "Check which library registers this backend and whether you trust it.",
    829,
)

_IDENT = re.compile(rb"ET\d\d")
_OWN_NAMESPACES = frozenset({"aten", "quantized_decomposed", "dim_order_ops", "executorch_prim", "prim", "quantized",
                             "torchao", "llama", "cadence", "et_vk", "tosa", "mlx"})
_OWN_BACKENDS = frozenset({
    "XnnpackBackend", "CoreMLBackend", "MPSBackend", "VulkanBackend", "QnnBackend", "EthosUBackend",
    "NeuronBackend", "VgfBackend", "OpenvinoBackend", "CadenceBackend", "BackendWithCompilerDemo",
    "SamsungBackend", "EnnBackend", "NxpBackend", "CudaBackend", "MetalBackend", "AotiBackend", "TensorRTBackend",
})
_MAX_ITEMS = 1_000_000


class _Fb(_FlatBuffer):
    """The TFLite walker's position-based reader, with errors naming an ExecuTorch program."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        super().__init__(stream, size)
        self.label = "ExecuTorch program"


def looks_like_pte(head: bytes, size: int) -> bool:
    """The FlatBuffer identifier ``ETnn`` at bytes 4..8 (offsets are checked by the scan)."""
    return len(head) >= 16 and bool(_IDENT.fullmatch(head[4:8])) and size >= 16


class ExecuTorchHandler:
    """ExecuTorch ``.pte`` programs: operator namespaces and delegate backends are reported."""

    id = "executorch"
    priority = 16

    def sniff(self, probe: Probe) -> bool:
        return looks_like_pte(probe.head, probe.size)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        fb = _Fb(stream, size)
        segment_base = _check_extended_header(fb, size)
        root = fb.deref(0)
        _check_segments(fb, root, segment_base, size)
        plans_at = fb.field(root, 1)
        if plans_at is None:
            raise AnalysisError("malformed ExecuTorch program: no execution plans")
        first, count = fb.vector_at(plans_at, "execution_plan")
        ops: dict[str, int] = {}
        backends: dict[str, int] = {}
        for i in range(min(count, _MAX_ITEMS)):
            plan = fb.table_at(first + 4 * i)
            at = fb.field(plan, 6)
            if at is not None:
                o_first, o_count = fb.vector_at(at, "operators")
                if o_count > _MAX_ITEMS:
                    raise LimitExceeded("max_items", _MAX_ITEMS, f"ExecuTorch plan lists {o_count} operators")
                for k in range(o_count):
                    op = fb.table_at(o_first + 4 * k)
                    name_at = fb.field(op, 0)
                    name = fb.string_at(name_at) if name_at is not None else ""
                    ops[name] = ops.get(name, 0) + 1
            at = fb.field(plan, 7)
            if at is not None:
                d_first, d_count = fb.vector_at(at, "delegates")
                for k in range(min(d_count, _MAX_ITEMS)):
                    d = fb.table_at(d_first + 4 * k)
                    id_at = fb.field(d, 0)
                    backend = fb.string_at(id_at) if id_at is not None else ""
                    backends[backend] = backends.get(backend, 0) + 1
        for name in sorted(ops)[:200]:
            namespace = name.split("::", 1)[0] if "::" in name else ""
            if namespace not in _OWN_NAMESPACES:
                ctx.report(OTH082, f"operator {name!r} is outside the PyTorch/ExecuTorch namespaces",
                           severity=reference_severity(name), evidence=name)
        for backend in sorted(backends)[:50]:
            if backend not in _OWN_BACKENDS:
                ctx.report(OTH083, f"subgraphs delegated to backend {backend!r}", severity=reference_severity(backend),
                           evidence=backend)


def _check_extended_header(fb: _Fb, size: int) -> int | None:
    """The optional ``eh00`` header after the root offset: program size and segment base must fit.

    Returns the segment base offset (None when the file has no extended header).
    """
    if size < 32:
        raise AnalysisError("malformed ExecuTorch program: shorter than its header")
    head = fb.read(8, 24)
    if head[:4] != b"eh00":
        return None
    length = struct.unpack_from("<I", head, 4)[0]
    if length < 24:
        raise AnalysisError("malformed ExecuTorch program: extended header too short")
    program_size, segment_base = struct.unpack_from("<QQ", head, 8)
    if program_size > size or segment_base > size:
        raise AnalysisError(f"malformed ExecuTorch program: header declares {program_size} program bytes and "
                            f"segments from byte {segment_base}, but the file has {size} bytes (truncated?)")
    return int(segment_base)


def _check_segments(fb: _Fb, root: int, base: int | None, size: int) -> None:
    """Every ``DataSegment`` (offset, size after the segment base) must lie inside the file."""
    at = fb.field(root, 4)
    if at is None:
        return
    first, count = fb.vector_at(at, "segments")
    if count and base is None:
        raise AnalysisError("malformed ExecuTorch program: data segments but no extended header")
    for k in range(min(count, _MAX_ITEMS)):
        seg = fb.table_at(first + 4 * k)
        off_at, len_at = fb.field(seg, 0), fb.field(seg, 1)
        offset = int.from_bytes(fb.read(off_at, 8), "little") if off_at is not None else 0
        length = int.from_bytes(fb.read(len_at, 8), "little") if len_at is not None else 0
        if (base or 0) + offset + length > size:
            raise AnalysisError(f"malformed ExecuTorch program: segment {k} ({length} bytes at {offset} after the "
                                f"segment base) runs past the end of the file ({size} bytes; truncated?)")


register(ExecuTorchHandler())
