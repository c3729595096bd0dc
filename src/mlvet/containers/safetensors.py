"""The safetensors header reader shared by the scanner, the inventory and the trust commands.

A safetensors file is an 8-byte little-endian header length, a UTF-8 JSON object (``__metadata__`` and one
``{"dtype", "shape", "data_offsets"}`` entry per tensor), then the raw tensor bytes. Only the header is
read: a multi-GB file costs one ``read(8)`` and one ``read(N)``, with ``N`` checked against the file and
the caller's limit first.

It returns data, never findings: a :class:`SafetensorsHeader` keeps every top-level entry in file order,
duplicates included, and the keys that appeared twice anywhere (parsers disagree on which value wins);
:meth:`TensorEntry.of` gives the typed view of one entry when it is well formed. What stops the read
raises :class:`SafetensorsError` with a ``kind`` the caller can turn into its own message or finding.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from mlvet.errors import AnalysisError

__all__ = ["DTYPE_BITS", "MAX_HEADER", "SafetensorsError", "SafetensorsHeader", "TensorEntry", "is_uint",
           "read_header", "sniff_length"]

#: The Rust library's MAX_HEADER_SIZE.
MAX_HEADER = 100_000_000
#: dtype -> bits per element, from safetensors' ``Dtype::bitsize`` (safetensors 0.8 / main, 2026).
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
    "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}

ErrorKind = Literal["short", "beyond-file", "over-limit", "truncated", "not-utf8", "not-object", "bad-json"]


class SafetensorsError(AnalysisError):
    """The header cannot be read; ``kind`` says why and ``length`` is the declared header length."""

    def __init__(self, kind: ErrorKind, message: str, length: int | None = None) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.length = length


def sniff_length(head: bytes) -> int | None:
    """The header length if ``head`` looks like a safetensors file (length, then a JSON object)."""
    if len(head) < 10 or head[8:9] != b"{" or head[9:10] not in b'"} \t\r\n':
        return None
    n = int.from_bytes(head[:8], "little")
    return n if 2 <= n < 1 << 40 else None


def is_uint(value: Any) -> bool:
    """A JSON non-negative integer (booleans excluded)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True, slots=True)
class TensorEntry:
    """A well-formed tensor entry: ``dtype`` a string, ``shape`` non-negative integers, ``[begin, end]``
    non-negative integers relative to the data section (the dtype is *not* checked against the known set)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @classmethod
    def of(cls, name: str, entry: Any) -> TensorEntry | None:
        """The typed view of one header entry, or None when it lacks or mistypes a field."""
        if not isinstance(entry, dict):
            return None
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not isinstance(dtype, str) or not isinstance(shape, list) or not all(is_uint(d) for d in shape):
            return None
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(is_uint(o) for o in offsets):
            return None
        return cls(name, dtype, tuple(shape), offsets[0], offsets[1])


@dataclass(frozen=True, slots=True)
class SafetensorsHeader:
    """One parsed header: its length, where the data section starts, and its entries as written."""

    length: int
    #: Top-level ``(key, value)`` pairs in file order, duplicates included.
    entries: tuple[tuple[str, Any], ...]
    #: Keys seen twice in one JSON object (at any depth), in order of their second appearance.
    duplicates: tuple[str, ...]

    @property
    def data_start(self) -> int:
        """Offset of the data section (``data_offsets`` are relative to it)."""
        return 8 + self.length

    def tensor_items(self) -> Iterator[tuple[str, Any]]:
        """Every entry except ``__metadata__``, as written."""
        return ((k, v) for k, v in self.entries if k != "__metadata__")


class _Duplicates:
    """``object_pairs_hook`` that builds dicts and remembers every key seen twice in one object."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        #: The pairs of the object completed last: the top-level object, once parsing succeeds.
        self.last_pairs: list[tuple[str, Any]] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        self.last_pairs = pairs
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                self.keys.append(key)
            out[key] = value
        return out


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def read_header(stream: BinaryIO, size: int, *, limit: int = MAX_HEADER) -> SafetensorsHeader:
    """Read and parse the header of the safetensors file in ``stream`` (``size`` bytes long).

    The length is checked against the file first (``beyond-file``), then against ``limit`` (``over-limit``),
    before anything is allocated. NaN and Infinity are refused, as the reference library's parser does.
    """
    stream.seek(0)
    prefix = stream.read(8)
    if len(prefix) < 8:
        raise SafetensorsError("short", "truncated safetensors file: no header length")
    n = int.from_bytes(prefix, "little")
    if n > size - 8:
        raise SafetensorsError("beyond-file", f"safetensors header length {n:,} runs past the end of the file "
                               f"({size - 8:,} bytes): truncated or crafted", n)
    if n > limit:
        raise SafetensorsError("over-limit", f"safetensors header of {n:,} bytes is larger than {limit:,}; not "
                               "analysed", n)
    raw = stream.read(n)
    if len(raw) < n:
        raise SafetensorsError("truncated", "truncated safetensors header", n)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SafetensorsError("not-utf8", f"safetensors header is not UTF-8 (byte {exc.start + 8})", n) from None
    if not text.startswith("{"):
        raise SafetensorsError("not-object", "safetensors header does not start with '{'", n)
    dup = _Duplicates()
    try:
        header = json.loads(text, object_pairs_hook=dup, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise SafetensorsError("bad-json", f"safetensors header is not valid JSON ({exc})", n) from None
    if not isinstance(header, dict):
        raise SafetensorsError("not-object", "safetensors header is not a JSON object", n)
    return SafetensorsHeader(n, tuple(dup.last_pairs), tuple(dup.keys))
