"""Word-vector files: fastText binary models (``.bin``/``.ftz``) and word2vec binary vectors.

Both are data: a header, a vocabulary and float matrices that the loaders copy into arrays. Neither loader
builds objects or calls anything named in the file, so there is no code path to flag; what is checked is that
the file *is* what it claims, with every count and matrix size checked against the bytes that remain, so a
truncated or crafted file (a vocabulary count of 2**31, a matrix larger than the file) is an error and the
loaders' unbounded allocations are never mirrored here.

* fastText (``fasttext.cc``: ``saveModel``): int32 magic 793712314 and version, the training arguments, the
  dictionary (words as NUL-terminated strings with counts and types, pruning pairs), then the input and
  output matrices, dense (``int64 m, n`` then ``m*n`` floats) or product-quantized.
* word2vec binary (``KeyedVectors.save_word2vec_format(binary=True)``, the original C tool): a text line
  ``<count> <dim>``, then per word its bytes, a space and ``dim`` float32 values (optionally a newline).
"""

from __future__ import annotations

import re
import struct
from typing import BinaryIO

from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register

FASTTEXT_MAGIC = 793712314
_ARGS_BYTES = 12 * 4 + 8
_MAX_WORD = 1 << 16
_W2V_HEADER = re.compile(rb"\A(\d{1,12}) (\d{1,7})[ \t\r]*\n")
_KSUB = 256
_CHUNK = 1 << 16


class _Reader:
    """Sequential bounded reads with a buffer (vocabularies are millions of short records)."""

    def __init__(self, stream: BinaryIO, size: int, what: str, pos: int = 0) -> None:
        self.stream = stream
        self.size = size
        self.what = what
        self.pos = pos
        self._buf = b""
        self._at = pos
        stream.seek(pos)

    def fail(self, msg: str) -> AnalysisError:
        return AnalysisError(f"malformed {self.what}: {msg} at byte {self.pos}")

    def left(self) -> int:
        return self.size - self.pos

    def _fill(self, n: int) -> None:
        if self.pos - self._at + n > len(self._buf):
            self.stream.seek(self.pos)
            self._buf = self.stream.read(max(n, min(_CHUNK, self.left())))
            self._at = self.pos

    def take(self, n: int) -> bytes:
        if n > self.left():
            raise self.fail(f"{n} bytes needed, {self.left()} left (truncated)")
        self._fill(n)
        rel = self.pos - self._at
        out = self._buf[rel : rel + n]
        if len(out) < n:
            raise self.fail("file ends early")
        self.pos += n
        return out

    def skip(self, n: int, what: str) -> None:
        if n < 0 or n > self.left():
            raise self.fail(f"{what} of {n} bytes runs past the end of the file ({self.left()} left)")
        self.pos += n

    def until(self, stop: bytes, limit: int) -> bytes:
        """Bytes up to (not including) ``stop``; the stop byte is consumed."""
        out = bytearray()
        while True:
            self._fill(1)
            rel = self.pos - self._at
            chunk = self._buf[rel:]
            if not chunk:
                raise self.fail("file ends inside a word (truncated)")
            i = chunk.find(stop)
            part = chunk if i < 0 else chunk[:i]
            out += part
            if len(out) > limit:
                raise self.fail(f"word longer than {limit} bytes")
            self.pos += len(part)
            if i >= 0:
                self.pos += 1
                return bytes(out)

    def unpack(self, fmt: str) -> tuple[int, ...]:
        values: tuple[int, ...] = struct.unpack(fmt, self.take(struct.calcsize(fmt)))
        return values


class FastTextHandler:
    """fastText binary models: arguments, dictionary and matrix sizes checked; the format carries no code."""

    id = "fasttext"
    priority = 16

    def sniff(self, probe: Probe) -> bool:
        h = probe.head
        return len(h) >= 8 and struct.unpack("<i", h[:4])[0] == FASTTEXT_MAGIC

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        r = _Reader(stream, size, "fastText model")
        _magic, version = r.unpack("<ii")
        if not 0 < version <= 64:
            raise r.fail(f"unsupported version {version}")
        args = r.unpack("<12i")
        r.take(8)  # t (double)
        dim = args[0]
        if not 0 < dim <= 1 << 16:
            raise r.fail(f"implausible dimension {dim}")
        nwords_total, _nwords, _nlabels = r.unpack("<3i")
        _ntokens, prune = r.unpack("<2q")
        if not 0 <= nwords_total <= r.left() // 10 or not -1 <= prune <= r.left() // 8:
            raise r.fail(f"dictionary of {nwords_total} words / {prune} pruned ids does not fit in the file")
        for _ in range(nwords_total):
            r.until(b"\x00", _MAX_WORD)
            r.skip(9, "word entry")  # int64 count, int8 type
        r.skip(8 * max(prune, 0), "pruning index")
        for which in ("input", "output"):
            quantized = r.take(1)[0]
            if quantized not in (0, 1):
                raise r.fail(f"{which} matrix flag {quantized} is not a boolean")
            if quantized:
                self._quantized(r, which)
            else:
                self._dense(r, which)
        if r.left():
            raise r.fail(f"{r.left()} bytes after the output matrix")

    @staticmethod
    def _dense(r: _Reader, which: str) -> None:
        m, n = r.unpack("<2q")
        if m < 0 or n < 0:
            raise r.fail(f"negative {which} matrix shape {m}x{n}")
        r.skip(4 * m * n, f"{which} matrix {m}x{n}")

    @staticmethod
    def _pq(r: _Reader, which: str) -> None:
        dim, _nsubq, _dsub, _last = r.unpack("<4i")
        if dim < 0:
            raise r.fail(f"negative {which} quantizer dimension")
        r.skip(4 * dim * _KSUB, f"{which} quantizer centroids")

    def _quantized(self, r: _Reader, which: str) -> None:
        qnorm = r.take(1)[0]
        m, _n = r.unpack("<2q")
        (codesize,) = r.unpack("<i")
        if m < 0 or codesize < 0:
            raise r.fail(f"negative {which} quantized matrix size")
        r.skip(codesize, f"{which} codes")
        self._pq(r, which)
        if qnorm:
            r.skip(m, f"{which} norm codes")
            self._pq(r, which)


def _w2v_shape(head: bytes) -> tuple[int, int, int] | None:
    m = _W2V_HEADER.match(head)
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), m.end()


class Word2VecHandler:
    """word2vec binary vectors: the header's count and dimension checked against every record."""

    id = "word2vec"
    priority = 17

    def sniff(self, probe: Probe) -> bool:
        shape = _w2v_shape(probe.head)
        if shape is None:
            return False
        count, dim, start = shape
        if count == 0 or dim == 0:
            return False
        space = probe.head.find(b" ", start)
        if space < 0:
            return False
        vec = probe.head[space + 1 : space + 1 + 4 * dim]
        # Binary floats, unlike the text format's decimal digits, are almost never all printable ASCII.
        return bool(vec) and any(b < 0x20 or b > 0x7E for b in vec)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        head = stream.read(64)
        shape = _w2v_shape(head)
        if shape is None:
            raise AnalysisError("malformed word2vec file: no '<count> <dim>' header")
        count, dim, start = shape
        r = _Reader(stream, size, "word2vec binary file", start)
        if count > r.left() // (4 * dim + 2):
            raise r.fail(f"{count} vectors of {dim} floats do not fit in the file")
        for _ in range(count):
            word = r.until(b" ", _MAX_WORD).lstrip(b"\n")
            if not word:
                raise r.fail("empty word")
            r.skip(4 * dim, f"vector of {dim} floats")
        if r.left() and r.take(r.left()).strip(b"\n"):
            raise r.fail("data after the last vector")


register(FastTextHandler())
register(Word2VecHandler())
