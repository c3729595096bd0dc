"""A bounded MessagePack reader: the structure of a msgpack document without its bulk bytes.

Flax checkpoints (``flax.serialization.to_bytes``), thinc/spaCy weights, spaCy tokenizers and DocBins are
msgpack. The scanner needs their structure (map keys, the small values that say what a record is) and the
*positions* of their large binary values (tensor bytes, nested documents), never the bulk bytes in memory.
The ``msgpack`` package would build the whole document, binary values included, in memory; this reader keeps
binary and extension values longer than :data:`INLINE_BYTES` as :class:`Blob` references (offset, length) and
checks every declared length against the bytes left before reading or allocating anything, so a crafted
length cannot make it allocate. Depth, item count and text kept are bounded too.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO, TypeAlias

__all__ = ["INLINE_BYTES", "Blob", "Ext", "MsgpackError", "Value", "parse", "plausible_head"]

#: Binary values up to this length are returned as ``bytes`` (keys such as msgpack-numpy's ``b"nd"``).
INLINE_BYTES = 256
_MAX_DEPTH = 64
_MAX_ITEMS = 20_000_000
_MAX_TEXT = 64 << 20
_CHUNK = 1 << 16


class MsgpackError(ValueError):
    """The bytes are not a well-formed msgpack document (or exceed a bound)."""


@dataclass(frozen=True)
class Blob:
    """A binary value left in the file: ``length`` bytes at ``offset``."""

    offset: int
    length: int


@dataclass(frozen=True)
class Ext:
    """An extension value: its type code and its payload (inline bytes, or a :class:`Blob` when long)."""

    code: int
    data: bytes | Blob


#: A decoded value; map keys are any hashable value (arrays used as keys become tuples).
Value: TypeAlias = bool | int | float | str | bytes | Blob | Ext | list["Value"] | dict[object, "Value"] | None


class _Source:
    """Sequential reads over a seekable stream with a small buffer; skips seek instead of reading."""

    def __init__(self, stream: BinaryIO, start: int, end: int) -> None:
        self.stream = stream
        self.end = end
        self.pos = start
        self._buf = b""
        self._at = start
        stream.seek(start)

    def left(self) -> int:
        return self.end - self.pos

    def take(self, n: int) -> bytes:
        if n > self.left():
            raise MsgpackError(f"value of {n} bytes at byte {self.pos} runs past the end ({self.end})")
        rel = self.pos - self._at
        if rel + n > len(self._buf):
            self.stream.seek(self.pos)
            self._buf = self.stream.read(max(n, min(_CHUNK, self.left())))
            self._at = self.pos
            rel = 0
            if len(self._buf) < n:
                raise MsgpackError(f"stream ends early at byte {self.pos}")
        self.pos += n
        return self._buf[rel : rel + n]

    def skip(self, n: int) -> int:
        if n > self.left():
            raise MsgpackError(f"value of {n} bytes at byte {self.pos} runs past the end ({self.end})")
        here = self.pos
        self.pos += n
        return here


_FIXED = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q",
          0xCA: ">f", 0xCB: ">d"}
_FIXEXT = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}


class _Parser:
    def __init__(self, src: _Source) -> None:
        self.src = src
        self.items = 0
        self.text = 0

    def _len(self, fmt: str) -> int:
        n: int = struct.unpack(fmt, self.src.take(struct.calcsize(fmt)))[0]
        return n

    def _raw(self, n: int) -> bytes | Blob:
        if n <= INLINE_BYTES:
            return self.src.take(n)
        return Blob(self.src.skip(n), n)

    def _str(self, n: int) -> str:
        self.text += n
        if self.text > _MAX_TEXT:
            raise MsgpackError(f"more than {_MAX_TEXT} bytes of text")
        try:
            return self.src.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise MsgpackError(f"invalid UTF-8 string before byte {self.src.pos}") from None

    def _count(self, n: int, per_item: int) -> int:
        self.items += n
        if self.items > _MAX_ITEMS:
            raise MsgpackError(f"more than {_MAX_ITEMS} values")
        if n * per_item > self.src.left():
            raise MsgpackError(f"container of {n} items at byte {self.src.pos} is longer than the data left")
        return n

    def value(self, depth: int) -> Value:
        if depth > _MAX_DEPTH:
            raise MsgpackError(f"nesting deeper than {_MAX_DEPTH}")
        b = self.src.take(1)[0]
        if b <= 0x7F:
            return b
        if b >= 0xE0:
            return b - 0x100
        if 0x80 <= b <= 0x8F:
            return self._map(b & 0x0F, depth)
        if 0x90 <= b <= 0x9F:
            return self._array(b & 0x0F, depth)
        if 0xA0 <= b <= 0xBF:
            return self._str(b & 0x1F)
        if b == 0xC0:
            return None
        if b in (0xC2, 0xC3):
            return b == 0xC3
        if b in _FIXED:
            fmt = _FIXED[b]
            v: int | float = struct.unpack(fmt, self.src.take(struct.calcsize(fmt)))[0]
            return v
        if b in (0xC4, 0xC5, 0xC6):
            return self._raw(self._len((">B", ">H", ">I")[b - 0xC4]))
        if b in (0xD9, 0xDA, 0xDB):
            return self._str(self._len((">B", ">H", ">I")[b - 0xD9]))
        if b in (0xDC, 0xDD):
            return self._array(self._len(">H" if b == 0xDC else ">I"), depth)
        if b in (0xDE, 0xDF):
            return self._map(self._len(">H" if b == 0xDE else ">I"), depth)
        if b in _FIXEXT:
            code = struct.unpack(">b", self.src.take(1))[0]
            return Ext(code, self._raw(_FIXEXT[b]))
        if b in (0xC7, 0xC8, 0xC9):
            n = self._len((">B", ">H", ">I")[b - 0xC7])
            code = struct.unpack(">b", self.src.take(1))[0]
            return Ext(code, self._raw(n))
        raise MsgpackError(f"invalid msgpack type byte 0x{b:02x} at byte {self.src.pos - 1}")

    def _array(self, n: int, depth: int) -> list[Value]:
        return [self.value(depth + 1) for _ in range(self._count(n, 1))]

    def _map(self, n: int, depth: int) -> dict[object, Value]:
        out: dict[object, Value] = {}
        for _ in range(self._count(n, 2)):
            raw = self.value(depth + 1)
            if isinstance(raw, dict):
                raise MsgpackError("a map used as a map key")
            key: object = tuple(raw) if isinstance(raw, list) else raw
            try:
                out[key] = self.value(depth + 1)
            except TypeError:  # an array key holding an unhashable value
                raise MsgpackError("unhashable map key") from None
        return out


def parse(stream: BinaryIO, start: int = 0, end: int | None = None, *, whole: bool = True) -> Value:
    """The msgpack document at ``start`` (to ``end``, default the end of the stream).

    With ``whole`` the document must fill the range exactly (trailing bytes are an error: a loader reading one
    object would ignore them, so they are a place to hide data). Raises :class:`MsgpackError`.
    """
    if end is None:
        end = stream.seek(0, 2)
    src = _Source(stream, start, end)
    parser = _Parser(src)
    out = parser.value(0)
    if whole and src.left():
        raise MsgpackError(f"{src.left()} bytes after the msgpack document (ends at byte {src.pos})")
    return out


def plausible_head(head: bytes) -> bool:
    """A map with at least one entry whose first key is a string or short binary: the documents read here.

    A pickle starts 0x80 (an empty fixmap), so it never passes.
    """
    if len(head) < 3:
        return False
    b = head[0]
    if 0x81 <= b <= 0x8F:
        k = head[1:]
    elif b in (0xDE, 0xDF):
        size = 2 if b == 0xDE else 4
        if int.from_bytes(head[1 : 1 + size], "big") == 0:
            return False
        k = head[1 + size :]
    else:
        return False
    return bool(k) and (0xA1 <= k[0] <= 0xBF or k[0] in (0xD9, 0xC4))
