"""Apache MXNet models: ``.params`` NDArray lists and ``-symbol.json`` graphs.

``mx.nd.save`` / ``HybridBlock.export`` write parameters as a binary NDArray list: the list magic ``0x112``,
a reserved word, a count of arrays (each: a version magic, storage type, shapes, context, dtype, raw
data, and for sparse arrays their index arrays) and a list of names. It is data only; every shape and
size is checked against the file and the data skipped.

The graph (``-symbol.json``) is JSON: ``nodes`` with an ``op`` name and string ``attrs``. Built-in
operators are MXNet's own kernels. The one code path is the ``Custom`` operator: ``op_type`` names a
Python class registered with ``mx.operator.register`` in the loading process, whose ``forward`` runs on
every call — code outside the file, chosen by the file; reported low (medium when the name suggests
file, process or network access). Graphs of other operators are clean. A ``.params`` file that is really
a pickle is recognised as a pickle by its content before this handler sees it.
"""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO

from mlvet.errors import AnalysisError, LimitExceeded
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.native_refs import reference_severity
from mlvet.model import Severity
from mlvet.rules import define_rule

OTH072 = define_rule(
    "OTH072", "mxnet-custom-op", Severity.LOW,
    "The MXNet graph uses Custom operators: Python classes registered by the loading process.",
    "A Custom operator's op_type names a class registered with mx.operator.register; its forward runs on "
    "every call. The code is not in the file, so the graph cannot be reviewed without it. Names suggesting "
    "file, process or network access are medium.",
    "Check which Python module registers these operators and whether you trust it.",
    470,
)

_LIST_MAGIC = 0x112
_V1, _V2, _V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
#: mshadow type flags and element sizes.
_DTYPE = {0: 4, 1: 8, 2: 2, 3: 1, 4: 4, 5: 1, 6: 8, 7: 1, 8: 2, 9: 2, 10: 4, 11: 8, 12: 2}
_AUX = {1: 1, 2: 2}  # row_sparse: indices; csr: indptr + indices
_MAX_ARRAYS = 1_000_000
_MAX_SYMBOL = 64 * 1024 * 1024


def looks_like_params(head: bytes) -> bool:
    """The NDArray list magic ``0x112`` and the zero reserved word (counts are checked by the scan)."""
    if len(head) < 24:
        return False
    magic, reserved = struct.unpack_from("<QQ", head)
    return bool(magic == _LIST_MAGIC and reserved == 0)


class _Reader:
    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream = stream
        self.size = size
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.size:
            raise AnalysisError(f"malformed MXNet parameter file: {n} bytes needed at byte {self.pos}, "
                                f"{self.size - self.pos} remain (truncated?)")
        self.stream.seek(self.pos)
        data = self.stream.read(n)
        if len(data) != n:
            raise AnalysisError(f"malformed MXNet parameter file: file ends early at byte {self.pos}")
        self.pos += n
        return data

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def i32(self) -> int:
        return int(struct.unpack("<i", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise AnalysisError(f"malformed MXNet parameter file: {n} data bytes declared at byte {self.pos}, "
                                f"{self.size - self.pos} remain")
        self.pos += n

    def shape(self, wide: bool) -> list[int] | None:
        """A TShape: ndim then dims (int64, or uint32 in the oldest files). None: unknown shape."""
        ndim = self.i32()
        if ndim < 0:
            return None
        if ndim > 32:
            raise AnalysisError(f"malformed MXNet parameter file: {ndim} dimensions at byte {self.pos - 4}")
        raw = self.take(ndim * (8 if wide else 4))
        return list(struct.unpack(f"<{ndim}{'q' if wide else 'I'}", raw))


def _elements(shape: list[int], where: int) -> int:
    n = 1
    for d in shape:
        if d < 0:
            raise AnalysisError(f"malformed MXNet parameter file: negative dimension at byte {where}")
        n *= d
        if n > 1 << 48:
            raise AnalysisError(f"malformed MXNet parameter file: array of more than 2**48 elements at {where}")
    return n


def _array(r: _Reader) -> None:
    at = r.pos
    magic = r.u32()
    if magic in (_V2, _V3):
        stype = r.i32()
        naux = _AUX.get(stype, 0)
        if stype not in (0, 1, 2):
            raise AnalysisError(f"malformed MXNet parameter file: storage type {stype} at byte {at}")
        storage = r.shape(True) if naux else None
        shape = r.shape(True)
    else:
        naux = 0
        storage = None
        if magic == _V1:
            shape = r.shape(True)
        else:  # legacy: the magic was the ndim of a uint32 shape
            r.pos = at
            shape = r.shape(False)
    if shape is None or not shape or (magic == _V3 and any(d < 0 for d in shape)):
        return  # a none array: nothing more is written
    r.skip(8)  # context: device type and id
    dtype = r.i32()
    width = _DTYPE.get(dtype)
    if width is None:
        raise AnalysisError(f"malformed MXNet parameter file: unknown dtype {dtype} at byte {at}")
    aux: list[int] = []
    for _ in range(naux):
        aux_width = _DTYPE.get(r.i32())
        aux_shape = r.shape(True)
        if aux_width is None or aux_shape is None:
            raise AnalysisError(f"malformed MXNet parameter file: bad sparse index array at byte {at}")
        aux.append(aux_width * _elements(aux_shape, at))
    r.skip(width * _elements(storage if storage is not None else shape, at))
    for n in aux:
        r.skip(n)


class MxnetParamsHandler:
    """MXNet ``.params`` NDArray lists: walked array by array (data only)."""

    id = "mxnet-params"
    priority = 57

    def sniff(self, probe: Probe) -> bool:
        return looks_like_params(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        r = _Reader(stream, size)
        r.skip(16)
        count = r.u64()
        if count > _MAX_ARRAYS:
            raise LimitExceeded("max_arrays", _MAX_ARRAYS, f"MXNet parameter file declares {count} arrays")
        for _ in range(count):
            _array(r)
        names = r.u64()
        if names not in (0, count):
            raise AnalysisError(f"malformed MXNet parameter file: {names} names for {count} arrays")
        for _ in range(names):
            n = r.u64()
            if n > 65536:
                raise AnalysisError(f"malformed MXNet parameter file: a {n}-byte array name at byte {r.pos}")
            r.skip(n)
        if r.pos != size:
            raise AnalysisError(f"malformed MXNet parameter file: {size - r.pos} bytes follow the name list")


def looks_like_symbol(head: bytes) -> bool:
    """A JSON object whose first keys are MXNet's ``nodes`` and ``arg_nodes``."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return text.startswith(b"{") and b'"nodes"' in text[:64] and b'"op"' in text and (
        b'"arg_nodes"' in head or b'"heads"' in head or b'"inputs"' in text)


class MxnetSymbolHandler:
    """MXNet ``-symbol.json`` graphs: Custom operators are reported."""

    id = "mxnet-symbol"
    priority = 55

    def sniff(self, probe: Probe) -> bool:
        return looks_like_symbol(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        if size > _MAX_SYMBOL:
            raise LimitExceeded("max_symbol_bytes", _MAX_SYMBOL,
                                f"MXNet symbol file of {size} bytes is larger than {_MAX_SYMBOL}")
        try:
            doc: Any = json.loads(stream.read(size))
        except (ValueError, RecursionError) as exc:
            raise AnalysisError(f"malformed MXNet symbol file: {exc}") from exc
        nodes = doc.get("nodes") if isinstance(doc, dict) else None
        if not isinstance(nodes, list) or not isinstance(doc.get("arg_nodes", []), list):
            raise AnalysisError("malformed MXNet symbol file: no node list")
        custom: dict[str, int] = {}
        for node in nodes:
            if not isinstance(node, dict) or not isinstance(node.get("op"), str):
                raise AnalysisError("malformed MXNet symbol file: a node without an op")
            if node["op"] == "Custom":
                attrs = node.get("attrs") or node.get("attr") or node.get("param") or {}
                op_type = attrs.get("op_type", "") if isinstance(attrs, dict) else ""
                label = str(op_type) or "(no op_type)"
                custom[label] = custom.get(label, 0) + 1
        for op_type, n in sorted(custom.items())[:50]:
            ctx.report(OTH072, f"Custom operator op_type={op_type!r} ×{n} runs a registered Python class",
                       severity=reference_severity(op_type), evidence=op_type[:300])


register(MxnetParamsHandler())
register(MxnetSymbolHandler())
