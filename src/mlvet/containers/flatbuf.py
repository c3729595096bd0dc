"""Bounds-checked random access to a FlatBuffer inside a seekable stream.

ONNX Runtime ``.ort`` models and CatBoost ``.cbm`` models are FlatBuffers (the latter after an 8-byte
prefix). Their schemas are small and stable, so a handful of tables is read by hand rather than pulling in a
code generator: root table -> vtable -> field -> vector/string. Every offset and length is checked against
the buffer before it is followed, reads are windowed (the buffer is never loaded whole), and vectors longer
than the buffer could hold are refused, so a crafted file is an error, never a crash or an allocation.
"""

from __future__ import annotations

from typing import BinaryIO

from mlvet.errors import AnalysisError

__all__ = ["MAX_LISTED", "FlatBuffer"]

_WINDOW = 64 * 1024
#: Longest vector whose element positions are listed (tables, names, opsets; never tensor bytes).
MAX_LISTED = 1_000_000


class FlatBuffer:
    """The FlatBuffer of ``size`` bytes at ``base`` in ``stream``; positions are relative to ``base``."""

    def __init__(self, stream: BinaryIO, size: int, label: str, base: int = 0) -> None:
        self.stream = stream
        self.size = size
        self.base = base
        self.label = label
        self._buf = b""
        self._start = 0

    def fail(self, what: str, pos: int) -> AnalysisError:
        """The error for a malformed buffer (positions reported from the start of the file)."""
        return AnalysisError(f"malformed {self.label}: {what} at byte {self.base + pos}")

    def read(self, pos: int, n: int) -> bytes:
        """``n`` bytes at ``pos`` (an error when outside the buffer)."""
        if pos < 0 or n < 0 or pos + n > self.size:
            raise self.fail(f"{n}-byte read outside the buffer ({self.size} bytes)", pos)
        rel = pos - self._start
        if rel >= 0 and rel + n <= len(self._buf):
            return self._buf[rel : rel + n]
        self.stream.seek(self.base + pos)
        data = self.stream.read(max(n, min(_WINDOW, self.size - pos)))
        if len(data) < n:
            raise self.fail("file ends early (truncated)", pos)
        self._buf, self._start = data, pos
        return data[:n]

    def u16(self, pos: int) -> int:
        return int.from_bytes(self.read(pos, 2), "little")

    def u32(self, pos: int) -> int:
        return int.from_bytes(self.read(pos, 4), "little")

    def i32(self, pos: int) -> int:
        return int.from_bytes(self.read(pos, 4), "little", signed=True)

    def root(self) -> int:
        """The root table's position (the buffer's first uoffset)."""
        return self.deref(0)

    def deref(self, pos: int) -> int:
        """Follow the uoffset stored at ``pos``."""
        target = pos + self.u32(pos)
        if target >= self.size:
            raise self.fail("offset points past the end of the buffer", pos)
        return target

    def field(self, table: int, index: int) -> int | None:
        """Position of field ``index`` of the table at ``table`` (None when absent)."""
        vtable = table - self.i32(table)
        if not 0 <= vtable < self.size:
            raise self.fail("vtable outside the buffer", table)
        vsize = self.u16(vtable)
        tsize = self.u16(vtable + 2)
        if vsize < 4 or vsize % 2:
            raise self.fail(f"invalid vtable size {vsize}", vtable)
        slot = 4 + 2 * index
        if slot + 2 > vsize:
            return None
        off = self.u16(vtable + slot)
        if off == 0:
            return None
        if off >= tsize:
            raise self.fail(f"field {index} lies outside its table", table)
        return table + off

    def table(self, table: int, index: int) -> int | None:
        """The sub-table referenced by field ``index`` (None when absent)."""
        pos = self.field(table, index)
        return None if pos is None else self.deref(pos)

    def span(self, table: int, index: int, width: int = 4) -> tuple[int, int] | None:
        """(first element position, element count) of the vector in field ``index``, bounds-checked, without
        listing its elements (None when absent): for byte vectors such as tensor data, which are never read."""
        pos = self.field(table, index)
        if pos is None:
            return None
        vec = self.deref(pos)
        n = self.u32(vec)
        if vec + 4 + width * n > self.size:
            raise self.fail(f"vector of {n} elements does not fit in the buffer", vec)
        return vec + 4, n

    def vector(self, table: int, index: int, width: int = 4) -> list[int]:
        """Positions of the elements of the vector in field ``index`` (empty when absent).

        The list is bounded (:data:`MAX_LISTED`): a vector that fits in a big file can still hold hundreds of
        millions of elements, which would cost gigabytes as a list; such a vector is an error.
        """
        found = self.span(table, index, width)
        if found is None:
            return []
        first, n = found
        if n > MAX_LISTED:
            raise self.fail(f"vector of {n} elements is longer than mlvet lists ({MAX_LISTED})", first - 4)
        return [first + width * i for i in range(n)]

    def tables(self, table: int, index: int) -> list[int]:
        """The tables of a vector of tables in field ``index``."""
        return [self.deref(p) for p in self.vector(table, index)]

    def string(self, table: int, index: int, limit: int = 256) -> str | None:
        """The string in field ``index`` (None when absent), cut at ``limit`` bytes."""
        pos = self.field(table, index)
        if pos is None:
            return None
        s = self.deref(pos)
        n = self.u32(s)
        if s + 4 + n > self.size:
            raise self.fail(f"string of {n} bytes runs past the end of the buffer", s)
        text = self.read(s + 4, min(n, limit)).decode("utf-8", "backslashreplace")
        return text + "…" if n > limit else text
