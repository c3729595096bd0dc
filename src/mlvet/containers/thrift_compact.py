"""A bounded reader for the Thrift compact protocol, enough to read a Parquet footer's key-value metadata.

Parquet's ``FileMetaData`` is a Thrift struct in the compact protocol at the end of the file. Where a pickle can
hide in a parquet file is its key-value metadata (``ARROW:schema`` with extension types, ``huggingface``
features), so only that field is decoded; every other field is skipped structurally, with a depth limit and
every length checked against the bytes there are, so a crafted footer is an error, never a crash or an
allocation. The footer is read into memory by the caller, bounded by its own size limit.
"""

from __future__ import annotations

from mlvet.errors import AnalysisError

__all__ = ["CompactReader", "parquet_key_values"]

_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT, _UUID = range(14)
#: Nesting deeper than this is not a Parquet footer (the real schema nests a handful of levels).
MAX_DEPTH = 64


class CompactReader:
    """Cursor over one Thrift compact-protocol buffer; every read is bounds-checked."""

    def __init__(self, data: bytes, label: str = "Parquet footer") -> None:
        self.data = data
        self.pos = 0
        self.label = label

    def fail(self, what: str) -> AnalysisError:
        """The error for a malformed buffer."""
        return AnalysisError(f"malformed {self.label}: {what} at byte {self.pos}")

    def byte(self) -> int:
        """One unsigned byte."""
        if self.pos >= len(self.data):
            raise self.fail("ends early (truncated)")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        """An unsigned LEB128 varint (at most 10 bytes)."""
        out = shift = 0
        for _ in range(10):
            b = self.byte()
            out |= (b & 0x7F) << shift
            if not b & 0x80:
                return out
            shift += 7
        raise self.fail("varint longer than 10 bytes")

    def zigzag(self) -> int:
        """A zigzag-encoded signed varint (i16, i32 and i64 are all written this way)."""
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def binary(self) -> bytes:
        """A length-prefixed byte string."""
        n = self.varint()
        if n > len(self.data) - self.pos:
            raise self.fail(f"{n}-byte string runs past the end")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def skip(self, ttype: int, depth: int = 0) -> None:
        """Skip one value of compact type ``ttype`` (structs, lists and maps recursively)."""
        if depth > MAX_DEPTH:
            raise self.fail("nested too deeply")
        if ttype in (_TRUE, _FALSE):
            return
        if ttype == _BYTE:
            self.byte()
        elif ttype in (_I16, _I32, _I64):
            self.varint()
        elif ttype == _DOUBLE:
            self._advance(8)
        elif ttype == _UUID:
            self._advance(16)
        elif ttype == _BINARY:
            self.binary()
        elif ttype in (_LIST, _SET):
            etype, n = self.list_header()
            for _ in range(n):
                self.skip_element(etype, depth + 1)
        elif ttype == _MAP:
            n = self.varint()
            if n:
                kv = self.byte()
                self._check_count(n, 2)
                for _ in range(n):
                    self.skip_element(kv >> 4, depth + 1)
                    self.skip_element(kv & 15, depth + 1)
        elif ttype == _STRUCT:
            for fid, ftype in self.fields():
                del fid
                self.skip(ftype, depth + 1)
        else:
            raise self.fail(f"unknown compact type {ttype}")

    def skip_element(self, etype: int, depth: int) -> None:
        """Skip one list/map element (a boolean element takes a byte, unlike a boolean field)."""
        if etype in (_TRUE, _FALSE):
            self.byte()
        else:
            self.skip(etype, depth)

    def list_header(self) -> tuple[int, int]:
        """(element type, count) of a list or set, the count checked against the bytes left."""
        h = self.byte()
        n = h >> 4
        if n == 15:
            n = self.varint()
        self._check_count(n, 1)
        return h & 15, n

    def fields(self) -> _Fields:
        """Iterate the (field id, type) headers of a struct until its STOP byte."""
        return _Fields(self)

    def _check_count(self, n: int, min_bytes: int) -> None:
        if n * min_bytes > len(self.data) - self.pos:
            raise self.fail(f"{n} elements cannot fit in the bytes left")

    def _advance(self, n: int) -> None:
        if n > len(self.data) - self.pos:
            raise self.fail("ends early (truncated)")
        self.pos += n


class _Fields:
    """Iterator over a struct's field headers (the field value is left for the caller to read or skip)."""

    def __init__(self, reader: CompactReader) -> None:
        self.r = reader
        self.last = 0

    def __iter__(self) -> _Fields:
        return self

    def __next__(self) -> tuple[int, int]:
        h = self.r.byte()
        if h == _STOP:
            raise StopIteration
        delta, ttype = h >> 4, h & 15
        fid = self.last + delta if delta else self.r.zigzag()
        self.last = fid
        return fid, ttype


def parquet_key_values(footer: bytes) -> list[tuple[str, bytes]]:
    """The ``key_value_metadata`` (field 5) of a Parquet ``FileMetaData`` in compact protocol, in file order.

    Keys are decoded as UTF-8 (with escapes for invalid bytes); values stay bytes, absent values are b"".
    Raises :class:`~mlvet.errors.AnalysisError` for a malformed footer.
    """
    r = CompactReader(footer)
    out: list[tuple[str, bytes]] = []
    for fid, ftype in r.fields():
        if fid == 5 and ftype == _LIST:
            etype, n = r.list_header()
            if etype != _STRUCT:
                raise r.fail("key_value_metadata is not a list of structs")
            for _ in range(n):
                key, value = "", b""
                for kid, ktype in r.fields():
                    if kid == 1 and ktype == _BINARY:
                        key = r.binary().decode("utf-8", "backslashreplace")
                    elif kid == 2 and ktype == _BINARY:
                        value = r.binary()
                    else:
                        r.skip(ktype, 1)
                out.append((key, value))
        else:
            r.skip(ftype)
    return out

