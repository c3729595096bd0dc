"""Torch7 (Lua torch) serialized objects (``.t7``), as ``torch.save`` writes them in binary mode.

The format is a tree of tagged values (``File.lua``'s ``writeObject``): nil, numbers, booleans, strings,
tables, *torch objects* (an instance of a registered Lua class, named by a string in the file) and
*functions*. Two of those are code paths, and they are the only ones:

* a **function** (tags 6, 7, 8) is Lua bytecode that ``torch.load`` hands to ``loadstring`` and stores in
  the model: whatever calls it (a module's ``forward``, a hook) runs the file's own code, and LuaJIT has no
  bytecode verifier, so crafted bytecode breaks out of Lua altogether. High.
* a **torch object** names a Lua class that ``torch.factory`` must find already registered; its ``read``
  method (Lua code of the package that defines the class) then parses the following bytes. Classes of
  ``torch.*`` and ``nn.*`` are the framework's own; any other package (``cudnn``, ``nngraph``, a private
  one) runs that package's code on load. Low (medium for a name suggesting file, process or network
  access), as mlvet rates custom operators elsewhere: the code is not in the file, but the file picks it.

Tensors and storages are read by the layout of Torch's own ``read`` methods, so their data is skipped by
size, never loaded. A class outside the known ones is assumed to use the default table layout (as every
``nn`` module does); if the bytes that follow do not parse that way the result is an error, not clean.
Every count and size is checked against the bytes left, nesting is bounded, and so is the object count.
ASCII-mode files (``torch.save(..., 'ascii')``: numbers as text, strings raw) are walked the same way.
"""

from __future__ import annotations

import re
import struct
from typing import BinaryIO

from mlvet.errors import AnalysisError, LimitExceeded
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.native_refs import reference_severity
from mlvet.model import Severity
from mlvet.rules import define_rule

OTH084 = define_rule(
    "OTH084", "torch7-lua-function", Severity.HIGH,
    "The Torch7 file contains a serialized Lua function (bytecode).",
    "torch.load passes the bytecode to loadstring and stores the function in the model; any code that calls "
    "it (forward, a hook, a callback) runs the file's own instructions, and LuaJIT does not verify bytecode.",
    "Do not load the file. Obtain the weights in a data-only format (a tensor file, safetensors).",
    94,
)
OTH085 = define_rule(
    "OTH085", "torch7-foreign-class", Severity.LOW,
    "The Torch7 file names Lua classes outside torch.* and nn.*.",
    "torch.load instantiates each named class and runs its package's read method on the bytes that follow; "
    "that package's Lua code (not the file) runs, but the file chooses which. Names suggesting file, "
    "process or network access are medium.",
    "Check that you trust the Lua packages that define these classes before loading.",
    470,
)

_NIL, _NUMBER, _STRING, _TABLE, _TORCH, _BOOLEAN, _FUNCTION, _LEGACY_RECUR, _RECUR = range(9)
_MAX_DEPTH = 200
_MAX_OBJECTS = 5_000_000
_MAX_CLASS_NAME = 256
_WINDOW = 64 * 1024
_ELEMENT = {"Byte": 1, "Char": 1, "Bool": 1, "Short": 2, "Half": 2, "Int": 4, "Float": 4, "Long": 8,
            "Double": 8, "Cuda": 4, "CudaByte": 1, "CudaChar": 1, "CudaShort": 2, "CudaHalf": 2,
            "CudaInt": 4, "CudaLong": 8, "CudaDouble": 8}
_TENSOR = re.compile(r"^torch\.(\w*?)(Tensor|Storage)$")
_ASCII = re.compile(rb"^[34]\r?\n1\r?\n")
_TOKEN = re.compile(rb"[ \t\r\n]{0,32}([^ \t\r\n]{1,64})?")
_OWN = ("torch.", "nn.")


def looks_like_torch7(head: bytes) -> bool:
    """Binary ``torch.save`` output: a table or torch object with reference index 1, then its header."""
    if len(head) < 16:
        return False
    tag, index, n = struct.unpack_from("<iii", head)
    if index != 1:
        return False
    if tag == _TORCH:
        name = head[12 : 12 + min(n, 64)]
        return (n == 3 and name == b"V 1") or (0 < n <= _MAX_CLASS_NAME and name.startswith(_OWN_BYTES))
    if tag == _TABLE:
        return 0 <= n < 10_000_000 and struct.unpack_from("<i", head, 12)[0] in (_NUMBER, _STRING, _BOOLEAN)
    return False


_OWN_BYTES = (b"torch.", b"nn.")


class _Reader:
    """Bounded little-endian reads over a seekable stream (a small window cache, skips by seek)."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream = stream
        self.size = size
        self.pos = 0
        self._buf = b""
        self._start = 0

    def fail(self, what: str) -> AnalysisError:
        return AnalysisError(f"malformed Torch7 file: {what} at byte {self.pos}")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.size:
            raise self.fail(f"{n}-byte read runs past the end of the file ({self.size} bytes; truncated?)")
        rel = self.pos - self._start
        if rel < 0 or rel + n > len(self._buf):
            self.stream.seek(self.pos)
            self._buf = self.stream.read(max(n, min(_WINDOW, self.size - self.pos)))
            self._start = self.pos
            rel = 0
            if len(self._buf) < n:
                raise self.fail("file ends early (truncated)")
        self.pos += n
        return self._buf[rel : rel + n]

    def i32(self) -> int:
        (value,) = struct.unpack("<i", self.take(4))
        return int(value)

    def i64(self) -> int:
        (value,) = struct.unpack("<q", self.take(8))
        return int(value)

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise self.fail(f"{n} bytes of data declared but only {self.size - self.pos} remain")
        self.pos += n

    # ---- typed reads: the walk says what it reads, each mode lays it out its own way ----

    def number(self) -> None:
        self.skip(8)

    def string(self, n: int) -> bytes:
        """``n`` raw bytes (a string or bytecode written with writeChar)."""
        return self.take(n)

    def values(self, count: int, width: int, raw: bool = False) -> None:
        """Skip ``count`` numbers of ``width`` bytes written in one call (storage data, sizes, strides)."""
        self.skip(count * width)


class _AsciiReader(_Reader):
    """``torch.save(..., 'ascii')``: numbers as text separated by spaces, a newline after each write call,
    strings and byte/char storages as raw bytes (then a newline)."""

    def _window_at(self, n: int) -> bytes:
        rel = self.pos - self._start
        if rel < 0 or rel + n > len(self._buf):
            self.stream.seek(self.pos)
            self._buf = self.stream.read(min(_WINDOW, self.size - self.pos))
            self._start = self.pos
            rel = 0
        return self._buf[rel : rel + n]

    def _token(self) -> bytes:
        while True:
            chunk = self._window_at(96)
            m = _TOKEN.match(chunk)
            if m is None:
                raise self.fail("expected a number (truncated or not an ASCII Torch7 file)")
            if m.group(1):
                self.pos += m.end()
                return m.group(1)
            if m.end() == 0:
                raise self.fail("file ends early (truncated)")
            self.pos += m.end()  # a long run of whitespace: keep going

    def _end_call(self) -> None:
        if self.pos < self.size and self._window_at(1) == b"\n":
            self.pos += 1

    def _int(self) -> int:
        tok = self._token()
        try:
            value = int(tok)
        except ValueError:
            raise self.fail(f"{tok[:20]!r} is not an integer") from None
        self._end_call()
        return value

    def i32(self) -> int:
        return self._int()

    def i64(self) -> int:
        return self._int()

    def number(self) -> None:
        tok = self._token()
        try:
            float(tok)
        except ValueError:
            raise self.fail(f"{tok[:20]!r} is not a number") from None
        self._end_call()

    def string(self, n: int) -> bytes:
        data = self.take(n)
        if n:
            self._end_call()
        return data

    def values(self, count: int, width: int, raw: bool = False) -> None:
        if raw:
            self.skip(count)
        else:
            for _ in range(count):
                self._token()
        if count:
            self._end_call()


class _Walk:
    """One pass over the object tree, collecting what the findings need."""

    def __init__(self, r: _Reader) -> None:
        self.r = r
        self.seen: set[int] = set()
        self.objects = 0
        self.functions: list[tuple[int, int, bytes]] = []
        self.classes: dict[str, int] = {}

    def value(self, depth: int) -> None:
        r = self.r
        if depth > _MAX_DEPTH:
            raise LimitExceeded("max_depth", _MAX_DEPTH, f"Torch7 objects nested deeper than {_MAX_DEPTH} levels")
        self.objects += 1
        if self.objects > _MAX_OBJECTS:
            raise LimitExceeded("max_objects", _MAX_OBJECTS, f"Torch7 file holds more than {_MAX_OBJECTS} objects")
        at = r.pos
        tag = r.i32()
        if tag == _NIL:
            return
        if tag == _NUMBER:
            r.number()
        elif tag == _BOOLEAN:
            r.i32()
        elif tag == _STRING:
            r.string(self._length("string"))
        elif tag == _FUNCTION:
            self._function(at, depth)
        elif tag in (_TABLE, _TORCH, _RECUR, _LEGACY_RECUR):
            index = r.i32()
            if index in self.seen:
                return  # a back reference to an object already read
            self.seen.add(index)
            if tag in (_RECUR, _LEGACY_RECUR):
                self._function(at, depth)
            elif tag == _TORCH:
                self._torch(depth)
            else:
                n = self._length("table", 4)
                for _ in range(n):
                    self.value(depth + 1)
                    self.value(depth + 1)
        else:
            raise AnalysisError(f"malformed Torch7 file: unknown type tag {tag} at byte {at}")

    def _length(self, what: str, unit: int = 1) -> int:
        n = self.r.i32()
        if n < 0 or n * unit > self.r.size - self.r.pos:
            raise self.r.fail(f"{what} of {n} elements does not fit in the rest of the file")
        return n

    def _function(self, at: int, depth: int) -> None:
        n = self._length("function bytecode")
        code = self.r.string(n)[:16]
        self.functions.append((at, n, code))
        self.value(depth + 1)  # the upvalues table

    def _torch(self, depth: int) -> None:
        r = self.r
        n = self._length("class header")
        if n > _MAX_CLASS_NAME:
            raise r.fail(f"class header of {n} bytes")
        version = r.string(n).decode("utf-8", "backslashreplace")
        if re.fullmatch(r"V \d+", version):
            n = self._length("class name")
            if n > _MAX_CLASS_NAME:
                raise r.fail(f"class name of {n} bytes")
            name = r.string(n).decode("utf-8", "backslashreplace")
        else:
            name = version  # files written before class versioning
        self.classes[name] = self.classes.get(name, 0) + 1
        m = _TENSOR.match(name)
        if m is None:
            self.value(depth + 1)  # the default layout: the object's fields as one table
            return
        width = _ELEMENT.get(m.group(1) or "Double")
        if width is None:
            raise r.fail(f"unknown tensor type {name!r}")
        if m.group(2) == "Storage":
            count = r.i64()
            if count < 0 or count * (width if type(r) is _Reader else 1) > r.size - r.pos:
                raise r.fail(f"{name} of {count} elements does not fit in the rest of the file")
            r.values(count, width, raw=m.group(1) in ("Byte", "Char", "CudaByte", "CudaChar"))
            return
        ndim = r.i32()
        if not 0 <= ndim <= 64:
            raise r.fail(f"{name} with {ndim} dimensions")
        r.values(ndim, 8)  # sizes
        r.values(ndim, 8)  # strides
        r.i64()  # storage offset
        self.value(depth + 1)  # the storage (or nil)


class Torch7Handler:
    """Torch7 files (binary or ASCII): every object is walked; Lua functions and foreign classes are reported."""

    id = "torch7"
    priority = 47

    def sniff(self, probe: Probe) -> bool:
        return looks_like_torch7(probe.head) or bool(_ASCII.match(probe.head) and b"\nV 1\n" in probe.head[:64])

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        head = stream.read(64)
        reader = _AsciiReader(stream, size) if _ASCII.match(head) else _Reader(stream, size)
        walk = _Walk(reader)
        walk.value(0)
        if isinstance(reader, _AsciiReader) and reader.pos < size:
            stream.seek(reader.pos)
            if not stream.read(65536).strip():
                reader.pos = size  # trailing whitespace after the last write
        if walk.r.pos != size:
            raise AnalysisError(f"malformed Torch7 file: {size - walk.r.pos} bytes follow the serialized object")
        for at, n, code in walk.functions[:20]:
            kind = "LuaJIT" if code.startswith(b"\x1bLJ") else "Lua" if code.startswith(b"\x1bLua") else "unknown"
            ctx.report(OTH084, f"serialized Lua function: {n} bytes of {kind} bytecode, loaded with loadstring",
                       offset=at, evidence=code.hex())
        foreign = {k: v for k, v in walk.classes.items() if not k.startswith(_OWN)}
        if foreign:
            names = ", ".join(f"{k}×{v}" for k, v in sorted(foreign.items())[:40])
            severity = max(reference_severity(k) for k in foreign)
            ctx.report(OTH085, f"{len(foreign)} Lua classes outside torch.*/nn.*: their packages' read methods run",
                       severity=severity, evidence=names[:2000])


register(Torch7Handler())
