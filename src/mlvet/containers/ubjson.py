"""A bounded UBJSON (Universal Binary JSON, draft 12) reader, as XGBoost writes ``.ubj`` models.

Only the structure is kept: object keys and scalar values; strongly typed numeric arrays (``[$d#L<n>``,
XGBoost's split conditions and weights) are skipped by seeking past ``n * width`` bytes after checking that
they fit in the file, so a model of any size costs memory for its keys only. Declared counts are checked
against the bytes left before any loop runs; depth and the number of values are bounded.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, TypeAlias

__all__ = ["Skipped", "UbjValue", "UbjsonError", "parse"]

_MAX_DEPTH = 64
_MAX_VALUES = 50_000_000
_MAX_STRING = 1 << 20
_CHUNK = 1 << 16
_INTS = {b"i": ">b", b"U": ">B", b"I": ">h", b"l": ">i", b"L": ">q"}
_NUMS = {**_INTS, b"d": ">f", b"D": ">d"}
_WIDTH = {b"i": 1, b"U": 1, b"I": 2, b"l": 4, b"L": 8, b"d": 4, b"D": 8, b"C": 1, b"T": 0, b"F": 0, b"Z": 0}


class UbjsonError(ValueError):
    """Not well-formed UBJSON, or beyond a bound."""


class Skipped(tuple[bytes, int]):
    """A typed array that was skipped: its element type marker and count."""


UbjValue: TypeAlias = bool | int | float | str | Skipped | list["UbjValue"] | dict[str, "UbjValue"] | None


class _Reader:
    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream = stream
        self.size = size
        self.pos = 0
        self.values = 0
        self._buf = b""
        self._at = 0
        stream.seek(0)

    def left(self) -> int:
        return self.size - self.pos

    def take(self, n: int) -> bytes:
        if n > self.left():
            raise UbjsonError(f"{n} bytes needed at byte {self.pos}, {self.left()} left (truncated)")
        rel = self.pos - self._at
        if rel + n > len(self._buf):
            self.stream.seek(self.pos)
            self._buf = self.stream.read(max(n, min(_CHUNK, self.left())))
            self._at, rel = self.pos, 0
            if len(self._buf) < n:
                raise UbjsonError(f"stream ends early at byte {self.pos}")
        self.pos += n
        return self._buf[rel : rel + n]

    def skip(self, n: int) -> None:
        if n > self.left():
            raise UbjsonError(f"array of {n} bytes at byte {self.pos} runs past the end of the file")
        self.pos += n

    def count(self, marker: bytes | None = None) -> int:
        m = marker or self.take(1)
        fmt = _INTS.get(m)
        if fmt is None:
            raise UbjsonError(f"length with non-integer type {m!r} at byte {self.pos - 1}")
        (n,) = struct.unpack(fmt, self.take(struct.calcsize(fmt)))
        if n < 0:
            raise UbjsonError(f"negative length at byte {self.pos}")
        return int(n)

    def string(self) -> str:
        n = self.count()
        if n > _MAX_STRING:
            raise UbjsonError(f"string of {n} bytes at byte {self.pos}")
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise UbjsonError(f"invalid UTF-8 before byte {self.pos}") from None

    def value(self, marker: bytes, depth: int) -> UbjValue:
        self.values += 1
        if self.values > _MAX_VALUES:
            raise UbjsonError(f"more than {_MAX_VALUES} values")
        if marker in _NUMS:
            fmt = _NUMS[marker]
            v: int | float = struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
            return v
        if marker == b"Z":
            return None
        if marker in (b"T", b"F"):
            return marker == b"T"
        if marker == b"C":
            return self.take(1).decode("latin-1")
        if marker in (b"S", b"H"):
            return self.string()
        if marker in (b"[", b"{"):
            if depth >= _MAX_DEPTH:
                raise UbjsonError(f"nesting deeper than {_MAX_DEPTH}")
            return self.container(marker == b"{", depth + 1)
        raise UbjsonError(f"invalid type marker {marker!r} at byte {self.pos - 1}")

    def container(self, is_object: bool, depth: int) -> UbjValue:
        typ: bytes | None = None
        n: int | None = None
        m = self.take(1)
        if m == b"$":
            typ = self.take(1)
            m = self.take(1)
            if m != b"#":
                raise UbjsonError(f"typed container without a count at byte {self.pos - 1}")
        if m == b"#":
            n = self.count()
            m = b""
        if typ is not None and n is not None and not is_object and typ in _WIDTH:
            self.skip(n * _WIDTH[typ])
            return Skipped((typ, n))
        if n is not None and n > self.left():
            raise UbjsonError(f"container of {n} items at byte {self.pos} is longer than the data left")
        out_list: list[UbjValue] = []
        out_obj: dict[str, UbjValue] = {}
        i = 0
        while n is None or i < n:
            if is_object:
                m = m or self.take(1)
                while n is None and m == b"N":
                    m = self.take(1)
                if n is None and m == b"}":
                    break
                key = self.string_from(m)
                out_obj[key] = self.value(typ if typ is not None else self.take(1), depth)
            else:
                if typ is not None:
                    m = typ
                else:
                    m = m or self.take(1)
                    while n is None and m == b"N":
                        m = self.take(1)
                    if n is None and m == b"]":
                        break
                out_list.append(self.value(m, depth))
            m = b""
            i += 1
        return out_obj if is_object else out_list

    def string_from(self, marker: bytes) -> str:
        """An object key: its length's integer marker was already read."""
        n = self.count(marker)
        if n > _MAX_STRING:
            raise UbjsonError(f"key of {n} bytes at byte {self.pos}")
        return self.take(n).decode("utf-8", "replace")


def parse(stream: BinaryIO, size: int) -> UbjValue:
    """The UBJSON document filling ``stream`` (``size`` bytes); trailing bytes are an error."""
    r = _Reader(stream, size)
    out = r.value(r.take(1), 0)
    if r.left():
        raise UbjsonError(f"{r.left()} bytes after the document")
    return out
