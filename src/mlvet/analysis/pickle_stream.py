"""The pickle machine's input and output: a chunked stream buffer, the fault, and the stream's analysis.

Split from :mod:`mlvet.analysis.pickle_vm` along its seam: :class:`StreamBuffer` knows bytes, chunks, frames
and truncation (never opcodes); :class:`StreamAnalysis` is what one stream would do when loaded, the data
the format layer turns into findings; :class:`PickleFault` is where ``pickle.load`` would fail too.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from mlvet.analysis.values import EVICTED, Call, Global, Opaque

_CHUNK = 1 << 20
#: Longest payload taken at face value (1 PiB); a larger declared length is a crafted stream.
_MAX_PAYLOAD = 1 << 50
_MARGIN = 16
_HEAD = 64

_unpack_d = struct.Struct(">d").unpack_from
_unpack_i4 = struct.Struct("<i").unpack_from
_unpack_I4 = struct.Struct("<I").unpack_from
_unpack_H = struct.Struct("<H").unpack_from
_unpack_Q = struct.Struct("<Q").unpack_from

#: Opcodes valid at protocol >= 2 that pickle.load accepts (used to sniff a stream start).
VALID_OPCODES = frozenset(b"(.012FIJKLMNPQRSTUVXabcdeghijlmopqrstuG}])\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89"
                          b"\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98BC")


class PickleFault(Exception):
    """The stream is invalid at this point: the real unpickler would raise here too."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass
class StreamAnalysis:
    """What one pickle stream would do when loaded."""

    start: int
    end: int = -1
    protocol: int = 0
    opcodes: int = 0
    globals: list[Global] = field(default_factory=list)
    #: Calls whose callee is not a plain reference (calls of call results, EVICTED, ...).
    dynamic_calls: list[Call] = field(default_factory=list)
    #: (rule_id, message, offset, evidence) for structural problems found while running.
    events: list[tuple[str, str, int, str]] = field(default_factory=list)
    #: Byte ranges that are themselves pickles: (offset, length, reason).
    nested: list[tuple[int, int, str]] = field(default_factory=list)
    #: Every call in order (for evidence and argument inspection).
    calls: list[Call] = field(default_factory=list)
    fault: PickleFault | None = None
    stopped: bool = False
    #: Value on the stack at STOP (for container-specific follow-up such as joblib).
    result: Any = None
    #: Containers pushed again through the memo (GET) or DUP: how much of the value is shared. Shared
    #: containers are what an exponential expansion is built from (see ``values.expanded_size``).
    shared: int = 0
    #: Legacy torch storages named by persistent ids: root key -> (storage type name, element count).
    storages: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """The stream reached STOP without a fault."""
        return self.stopped and self.fault is None


def _looks_like_pickle(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x80 and 1 <= head[1] <= 5


class StreamBuffer:
    """A binary file read in chunks (seekable or not), with the bounds checks a pickle reader needs."""

    def __init__(self, f: BinaryIO, *, seekable: bool = True) -> None:
        self.f = f
        self.seekable = seekable
        self.buf = b""
        self.base = f.tell() if seekable else 0
        self.pos = 0
        self.eof = False

    # ---- buffer management --------------------------------------------------------------------------

    @property
    def offset(self) -> int:
        """Absolute stream offset of the next unread byte."""
        return self.base + self.pos

    def _refill(self, need: int) -> None:
        """Make at least ``need`` bytes available from ``pos`` (fewer only at EOF)."""
        keep = self.buf[self.pos :]
        self.base += self.pos
        self.pos = 0
        want = max(_CHUNK, need) - len(keep)
        chunk = self.f.read(want) if want > 0 else b""
        if len(chunk) < want:
            self.eof = True
        self.buf = keep + chunk if keep else chunk

    def read(self, n: int) -> bytes:
        """Read exactly ``n`` bytes (small reads only) or fail like the unpickler does on truncation."""
        if self.pos + n > len(self.buf):
            self._refill(n)
            if self.pos + n > len(self.buf):
                raise PickleFault("pickle data was truncated", self.offset)
        data = self.buf[self.pos : self.pos + n]
        self.pos += n
        return data

    def skip(self, n: int) -> bytes:
        """Skip ``n`` payload bytes without holding them; return up to 64 leading bytes."""
        if n > _MAX_PAYLOAD:
            raise PickleFault(f"pickle data was truncated: payload length {n} is beyond any real file", self.offset)
        avail = len(self.buf) - self.pos
        if n <= avail:
            head = self.buf[self.pos : self.pos + min(n, _HEAD)]
            self.pos += n
            return head
        if n - avail <= _CHUNK:
            self._refill(n)
            return self.skip(n) if len(self.buf) - self.pos >= n else self._truncated()
        head = self.read(min(n, _HEAD))
        remaining = n - len(head)
        avail = len(self.buf) - self.pos
        remaining -= avail
        self.base += len(self.buf)
        self.buf = b""
        self.pos = 0
        if self.seekable:
            here = self.base
            self.f.seek(here + remaining)
            if self.f.tell() != here + remaining or not self._probe_end(here + remaining):
                raise PickleFault("pickle data was truncated (payload runs past end of file)", here)
            self.base = here + remaining
        else:
            while remaining:
                got = self.f.read(min(remaining, _CHUNK))
                if not got:
                    raise PickleFault("pickle data was truncated (payload runs past end of stream)", self.base)
                remaining -= len(got)
                self.base += len(got)
        return head

    def _check_frame_fits(self, frame_end: int, at: int) -> None:
        """A FRAME longer than the rest of the stream is refused by the real unpickler."""
        if frame_end > _MAX_PAYLOAD:
            raise PickleFault("FRAME length is beyond any real file", at)
        if self.seekable and frame_end - self.base > len(self.buf):
            here = self.f.tell()
            try:
                if not self._probe_end(frame_end):
                    raise PickleFault("FRAME runs past the end of the data", at)
            finally:
                self.f.seek(here)

    def _probe_end(self, target: int) -> bool:
        """After a seek: the payload must really exist (seek past EOF succeeds silently)."""
        if target == 0:
            return True
        self.f.seek(target - 1)
        ok = len(self.f.read(1)) == 1
        self.f.seek(target)
        return ok

    def _truncated(self) -> bytes:
        raise PickleFault("pickle data was truncated", self.offset)

    def readline(self, limit: int = 1 << 16) -> bytes:
        """Read a protocol-0 argument line (without the newline)."""
        while True:
            nl = self.buf.find(b"\n", self.pos, self.pos + limit + 1)
            if nl != -1:
                line = self.buf[self.pos : nl]
                self.pos = nl + 1
                return line
            if len(self.buf) - self.pos > limit:
                raise PickleFault("protocol-0 argument line too long", self.offset)
            if self.eof:
                raise PickleFault("pickle data was truncated (no newline)", self.offset)
            self._refill(len(self.buf) - self.pos + _CHUNK)

    def peek(self, n: int) -> bytes:
        """The next ``n`` bytes without consuming them (fewer at end of file)."""
        if self.pos + n > len(self.buf) and not self.eof:
            self._refill(n)
        return self.buf[self.pos : self.pos + n]

    # ---- the machine ----------------------------------------------------------------------------------


def record_call(res: StreamAnalysis, func: Any, args: Any, kind: str, at: int, index: int,
                kwargs: Any = None) -> Call:
    """Record a call the loader makes: on its callee's reference, or as a dynamic call (PKL204)."""
    c = Call(func, args, kind, at, index, kwargs)
    res.calls.append(c)
    tf = type(func)
    if tf is Call and kind.startswith("method:"):
        # A method of an instance (APPENDS/SETITEMS/ADDITEMS on a non-container): it belongs to
        # the class that made the instance.
        owner = func.func
        if type(owner) is Global:
            owner.add_call(c)
        else:
            res.dynamic_calls.append(c)
    elif tf is Global:
        func.add_call(c)
    elif func is EVICTED or tf is Call or tf is Opaque:
        res.dynamic_calls.append(c)
    else:
        raise PickleFault(f"{tf.__name__} object is not callable", at)
    return c


def add_items(container: Any, items: list[Any], cap: int, code_seen: bool) -> None:
    """Append ``items`` up to the container cap; dropped items are counted, those carrying code kept."""
    room = cap - len(container)
    if room >= len(items):
        container.extend(items)
        return
    if room > 0:
        container.extend(items[:room])
        items = items[room:]
    container.extra += len(items)
    if code_seen:
        # A dropped item that carries code stays visible for argument inspection.
        container.extend(it for it in items if type(it) in (Global, Call))


def str_value(raw: bytes, at: int, encoding: str = "utf-8") -> str:
    """Decode a string argument as the unpickler does; invalid text is where pickle.load fails too."""
    try:
        return raw.decode(encoding, "surrogatepass")
    except UnicodeDecodeError:
        raise PickleFault("invalid UTF-8 in string", at) from None


def _as_text(value: Any) -> str:
    from mlvet.analysis.values import render

    return value if type(value) is str else f"<{render(value, 80)}>"


def _pid_text(pid: Any) -> str:
    from mlvet.analysis.values import render

    return render(pid, 120)


def _proto0_string(line: bytes, at: int) -> str:
    """Decode a protocol-0 STRING argument (quoted, with Python escapes) without eval."""
    if len(line) >= 2 and line[:1] == line[-1:] and line[:1] in (b"'", b'"'):
        body = line[1:-1]
    else:
        raise PickleFault("the STRING opcode argument must be quoted", at)
    try:
        return body.decode("unicode-escape")[:4096]
    except UnicodeDecodeError:
        return body.decode("latin-1")[:4096]
