"""A streaming reader for the protocol-buffers wire format, with no ``protobuf`` runtime and no schema.

TensorFlow (``saved_model.pb``, frozen GraphDefs) and ONNX files are protobuf messages that can hold
gigabytes of tensor bytes (``tensor_content``, ``raw_data``). Parsing them with the protobuf runtime
materialises every field and caps messages at 2 GiB; a scanner only needs the *structure* (op names,
attributes, file locations). This reader walks a message field by field over a seekable stream: a
length-delimited field is either descended into (a sub-message) or skipped by moving an offset, so a
multi-GB initializer costs one varint read. Every length is checked against its enclosing message and
the file, nesting depth is bounded, and anything inconsistent raises :class:`AnalysisError` with the byte
offset, so a malformed file is an ``error`` result, never a crash or a silent "clean".

Reads go through a small window cache: walking thousands of tiny NodeDef fields costs memory slicing,
not one system call per field, while skipping a large field moves the window without reading it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

from mlvet.errors import AnalysisError

VARINT = 0
I64 = 1
LEN = 2
SGROUP = 3
EGROUP = 4
I32 = 5

#: protobuf's own parser refuses messages nested deeper than 100; so do we.
DEFAULT_MAX_DEPTH = 100
#: Bytes fetched per window refill: big enough to cover many small fields, small enough to stay cheap.
_WINDOW = 64 * 1024
#: Largest field number the wire format allows (29 bits).
_MAX_FIELD = (1 << 29) - 1


class Message(NamedTuple):
    """A message's byte span ``[start, end)`` in the stream and its nesting depth (the root is 0)."""

    start: int
    end: int
    depth: int

    @property
    def size(self) -> int:
        """Bytes of the message on the wire."""
        return self.end - self.start


class Field(NamedTuple):
    """One field as it sits on the wire (a tuple: walking millions of fields must stay cheap).

    ``value`` is the integer for VARINT/I64/I32 fields and the payload length for LEN fields;
    ``start`` is where the payload begins (for LEN fields) and ``offset`` is where the tag begins.
    """

    number: int
    wire: int
    offset: int
    start: int
    value: int
    depth: int

    @property
    def end(self) -> int:
        """First byte after the field (LEN: after the payload)."""
        if self.wire == LEN:
            return self.start + self.value
        return self.start

    @property
    def signed(self) -> int:
        """The value read as a two's-complement int64 (protobuf ``int64``/``int32`` encoding)."""
        return self.value - (1 << 64) if self.value >= 1 << 63 else self.value


class WireReader:
    """Walk protobuf messages in a seekable binary stream without materialising them.

    ``what`` names the format in error messages ("ONNX model", "TensorFlow GraphDef" ...).
    """

    def __init__(
        self,
        stream: BinaryIO,
        size: int,
        *,
        what: str = "protobuf message",
        max_depth: int = DEFAULT_MAX_DEPTH,
        base: int = 0,
    ) -> None:
        self._stream = stream
        self._size = size
        self._base = base
        self.what = what
        self.max_depth = max_depth
        self._buf = b""
        self._buf_start = 0
        #: Bytes actually read from the stream (tests assert that large payloads are skipped).
        self.bytes_read = 0

    # ---- low-level access -------------------------------------------------------------------------

    def root(self) -> Message:
        """The whole stream as one message."""
        return Message(0, self._size, 0)

    def _fail(self, message: str, offset: int) -> AnalysisError:
        return AnalysisError(f"malformed {self.what}: {message} at byte {offset}")

    def _window(self, pos: int, need: int) -> tuple[bytes, int]:
        """Bytes available from ``pos`` (at least ``need`` unless the stream ends) and their offset."""
        rel = pos - self._buf_start
        if rel >= 0 and rel + need <= len(self._buf):
            return self._buf, rel
        self._stream.seek(self._base + pos)
        want = max(need, _WINDOW)
        want = min(want, max(0, self._size - pos))
        data = self._stream.read(want)
        self.bytes_read += len(data)
        self._buf = data
        self._buf_start = pos
        return data, 0

    def read(self, pos: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``pos`` (raises when the stream is shorter)."""
        if length <= 0:
            return b""
        if pos + length > self._size:
            raise self._fail(f"{length}-byte read runs past the end of the data ({self._size} bytes)", pos)
        if length > _WINDOW:
            self._stream.seek(self._base + pos)
            data = self._stream.read(length)
            self.bytes_read += len(data)
        else:
            buf, rel = self._window(pos, length)
            data = buf[rel : rel + length]
        if len(data) != length:
            raise self._fail("data ends early (truncated file)", pos)
        return data

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        """Decode a varint at ``pos`` that must finish before ``end``; returns (value, next position)."""
        buf, rel = self._window(pos, 10)
        result = 0
        shift = 0
        i = 0
        while True:
            if pos + i >= end or rel + i >= len(buf):
                raise self._fail("varint runs past the end of its message (truncated)", pos)
            b = buf[rel + i]
            result |= (b & 0x7F) << shift
            i += 1
            if not b & 0x80:
                break
            shift += 7
            if i >= 10:
                raise self._fail("varint longer than 10 bytes", pos)
        if result >= 1 << 64:
            raise self._fail("varint overflows 64 bits", pos)
        return result, pos + i

    # ---- message walking --------------------------------------------------------------------------

    def fields(self, msg: Message) -> Iterator[Field]:
        """Every field of ``msg`` in wire order; LEN payloads are not read (descend or read on demand).

        Tags and lengths are decoded inline from the current window (most are one or two bytes); the
        window is refilled only when fewer than 20 bytes remain in it, so skipping a LEN payload of any
        size costs nothing beyond moving ``pos``.
        """
        pos = msg.start
        end = msg.end
        depth = msg.depth
        if end > self._size:
            raise self._fail(f"message ends at {end}, past the end of the data", msg.start)
        buf, rel = self._window(pos, min(end - pos, 20))
        base = pos - rel
        while pos < end:
            # ``buf`` is an immutable snapshot of [base, base+len(buf)): still valid after the consumer
            # descended or read elsewhere between two yields. Refill when pos left it or nears its end.
            i = pos - base
            if i < 0 or (i + 20 > len(buf) and base + len(buf) < end):
                buf, rel = self._window(pos, min(end - pos, 20))
                base = pos - rel
                i = rel
            limit = min(end - base, len(buf))
            tag_at = pos
            # tag
            if i >= limit:
                raise self._fail("varint runs past the end of its message (truncated)", pos)
            b = buf[i]
            if b < 0x80:
                tag = b
                i += 1
            else:
                tag, i = self._varint_at(buf, i, limit, base)
            number = tag >> 3
            wire = tag & 7
            if number == 0 or number > _MAX_FIELD:
                raise self._fail(f"invalid field number {number}", tag_at)
            if wire in (VARINT, LEN):
                if i >= limit:
                    raise self._fail("varint runs past the end of its message (truncated)", base + i)
                b = buf[i]
                if b < 0x80:
                    value = b
                    i += 1
                else:
                    value, i = self._varint_at(buf, i, limit, base)
                pos = base + i
                if wire == LEN:
                    if value > end - pos:
                        raise self._fail(
                            f"field {number} declares {value} bytes but only {end - pos} remain in its message",
                            tag_at,
                        )
                    yield Field(number, wire, tag_at, pos, value, depth)
                    pos += value
                else:
                    yield Field(number, wire, tag_at, pos, value, depth)
            elif wire in (I64, I32):
                width = 8 if wire == I64 else 4
                start = base + i
                if end - start < width:
                    kind = "fixed64" if wire == I64 else "fixed32"
                    raise self._fail(f"{kind} field {number} is truncated", tag_at)
                raw = buf[i : i + width] if i + width <= len(buf) else self.read(start, width)
                pos = start + width
                yield Field(number, wire, tag_at, pos, int.from_bytes(raw, "little"), depth)
            else:
                # Groups (3/4) are a proto2 relic that no TensorFlow or ONNX writer emits; wire types 6/7
                # do not exist. Either way the bytes cannot be a model file of these formats.
                raise self._fail(f"unsupported wire type {wire} for field {number}", tag_at)

    def _varint_at(self, buf: bytes, i: int, limit: int, base: int) -> tuple[int, int]:
        """Multi-byte varint at ``buf[i]`` that must end before ``buf[limit]``."""
        result = 0
        shift = 0
        start = i
        while True:
            if i >= limit:
                # fields() keeps 20 bytes (two maximal varints) in the window while the message goes on,
                # so running out here means the message or the file really ends.
                raise self._fail("varint runs past the end of its message (truncated)", base + start)
            b = buf[i]
            result |= (b & 0x7F) << shift
            i += 1
            if not b & 0x80:
                break
            shift += 7
            if i - start >= 10:
                raise self._fail("varint longer than 10 bytes", base + start)
        if result >= 1 << 64:
            raise self._fail("varint overflows 64 bits", base + start)
        return result, i

    def message(self, f: Field) -> Message:
        """Descend into a LEN field as a sub-message (depth-checked)."""
        if f.wire != LEN:
            raise self._fail(f"field {f.number} should be a message but has wire type {f.wire}", f.offset)
        depth = f.depth + 1
        if depth > self.max_depth:
            raise self._fail(f"messages nested deeper than {self.max_depth} levels", f.offset)
        return Message(f.start, f.start + f.value, depth)

    def payload(self, f: Field, limit: int) -> tuple[bytes, bool]:
        """The payload of a LEN field, at most ``limit`` bytes; the flag says whether it was cut."""
        if f.wire != LEN:
            raise self._fail(f"field {f.number} should be length-delimited but has wire type {f.wire}", f.offset)
        n = min(f.value, limit)
        return self.read(f.start, n), f.value > limit

    def text(self, f: Field, limit: int = 4096) -> str:
        """A string field decoded as UTF-8 (undecodable bytes escaped), cut at ``limit`` bytes."""
        rel = f.start - self._buf_start
        if f.wire == LEN and f.value <= limit and rel >= 0 and rel + f.value <= len(self._buf):
            return self._buf[rel : rel + f.value].decode("utf-8", "backslashreplace")  # fast path: in window
        data, cut = self.payload(f, limit)
        s = data.decode("utf-8", "backslashreplace")
        return s + "…" if cut else s


def try_fields(data: bytes, limit: int = 64) -> list[tuple[int, int, int, int]] | None:
    """Parse up to ``limit`` top-level fields from an in-memory prefix, for cheap content sniffing.

    Returns ``(number, wire, value_or_length, payload_start)`` tuples, or None when the bytes are not a
    plausible protobuf prefix. A LEN field whose payload extends past ``data`` ends the list (its payload
    lies beyond the prefix); that is not an error, because sniffing only ever sees the head of a file.
    """
    out: list[tuple[int, int, int, int]] = []
    pos = 0
    n = len(data)

    def varint(p: int) -> tuple[int, int] | None:
        result = 0
        shift = 0
        for i in range(10):
            if p + i >= n:
                return None
            b = data[p + i]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result, p + i + 1
            shift += 7
        return None

    while pos < n and len(out) < limit:
        got = varint(pos)
        if got is None:
            return out or None
        tag, pos = got
        number, wire = tag >> 3, tag & 7
        if number == 0 or number > _MAX_FIELD:
            return None
        if wire == VARINT:
            got = varint(pos)
            if got is None:
                return out or None
            out.append((number, wire, got[0], got[1]))
            pos = got[1]
        elif wire == LEN:
            got = varint(pos)
            if got is None:
                return out or None
            length, pos = got
            out.append((number, wire, length, pos))
            if pos + length > n:
                return out
            pos += length
        elif wire == I64:
            if pos + 8 > n:
                return out
            out.append((number, wire, int.from_bytes(data[pos : pos + 8], "little"), pos + 8))
            pos += 8
        elif wire == I32:
            if pos + 4 > n:
                return out
            out.append((number, wire, int.from_bytes(data[pos : pos + 4], "little"), pos + 4))
            pos += 4
        else:
            return None
    return out
