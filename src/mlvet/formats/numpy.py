"""NumPy ``.npy`` files (``.npz`` members are found by the zip handler and come here too).

Numeric arrays carry no code. Object arrays (``dtype('O')`` or structured dtypes with objects) are
stored as a pickle right after the header, which ``numpy.load(allow_pickle=True)`` runs: that pickle is
analysed like any other.
"""

from __future__ import annotations

import ast
import math
import re
from typing import BinaryIO

from mlvet.errors import AnalysisError, LimitExceeded
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.pickle import analyse_pickle_stream

MAGIC = b"\x93NUMPY"


class NpyHandler:
    """NumPy ``.npy`` files: the header is parsed; an object dtype means a pickle follows, which is analysed."""
    id = "numpy-npy"
    priority = 10

    def sniff(self, probe: Probe) -> bool:
        return probe.head.startswith(MAGIC)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        head = stream.read(10)
        if len(head) < 10:
            raise AnalysisError("truncated .npy header")
        major = head[6]
        if major == 1:
            hlen = int.from_bytes(head[8:10], "little")
            start = 10
        elif major in (2, 3):
            rest = stream.read(2)
            hlen = int.from_bytes(head[8:10] + rest, "little")
            start = 12
        else:
            raise AnalysisError(f"unsupported .npy format version {major}")
        if hlen > 1 << 20:
            raise AnalysisError(f".npy header of {hlen} bytes is implausibly large")
        stream.seek(start)
        raw = stream.read(hlen)
        if len(raw) < hlen:
            raise AnalysisError("truncated .npy header")
        try:
            # literal_eval parses literals only; it cannot call anything.
            header = ast.literal_eval(raw.decode("latin-1" if major < 3 else "utf-8"))
        except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
            raise AnalysisError(".npy header is not a valid Python literal") from None
        if not isinstance(header, dict) or not {"descr", "fortran_order", "shape"} <= set(header):
            raise AnalysisError(".npy header lacks descr/fortran_order/shape")
        if has_object_dtype(header["descr"]):
            ctx.saw_format("numpy-object-array")
            analyse_pickle_stream(stream, ctx.child("<object array pickle>"), start=start + hlen, trailing_ok=True)
            return
        itemsize = _itemsize(header["descr"])
        shape = header["shape"]
        if itemsize is None or not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
            return  # structured or unusual dtype: data only, no code; size not checked
        expected = math.prod(shape) * itemsize
        actual = size - (start + hlen)
        lim = ctx.limits
        if expected > max(lim.ratio_floor_bytes, actual * lim.max_ratio) or expected > lim.max_member_bytes:
            # numpy.load allocates the declared shape before reading (keras PR #23016): a small member
            # declaring gigabytes exhausts memory whatever it stores. Far beyond what is stored: a bomb.
            raise LimitExceeded(
                "npy-declared-bytes", lim.ratio_floor_bytes,
                f".npy header declares {expected} bytes of data ({shape!r} x {itemsize}) but {actual} are stored: "
                "numpy.load allocates the declared size first (an allocation bomb)")
        if actual < expected:
            raise AnalysisError(f"truncated .npy: {actual} data bytes, the header promises {expected}")


_SIMPLE = re.compile(r"^[<>|=]?([bBiufcSUVmMa?])(\d*)(\[\w+\])?$")


def _itemsize(descr: object) -> int | None:
    """Bytes per element for a simple dtype string (``<f4``, ``|S3``, ``<U5``, ``<M8[ns]``); None otherwise."""
    if not isinstance(descr, str):
        return None
    m = _SIMPLE.match(descr)
    if m is None:
        return None
    kind, digits = m.group(1), m.group(2)
    if kind in "Mm":
        return 8
    if kind == "?":
        return 1
    if not digits:
        return None
    n = int(digits)
    return 4 * n if kind == "U" else n


def has_object_dtype(descr: object) -> bool:
    """True if a ``.npy`` header's ``descr`` (plain or structured) has an object field: a pickle follows."""
    if isinstance(descr, str):
        return descr.lstrip("<>|=").startswith("O")
    if isinstance(descr, (list, tuple)):
        return any(has_object_dtype(part) for part in descr)
    return False


register(NpyHandler())
