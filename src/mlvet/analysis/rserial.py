"""A bounded, streaming reader of R's serialization format (``saveRDS``, ``save``, ``serialize``).

R writes objects as a tree of items (``src/main/serialize.c``): each starts with a flags integer (the SEXP
type in the low byte, then the object/attribute/tag bits and the gp "levels" above bit 12), followed by what
that type carries. Vectors are skipped by their declared size (never read into memory); only names,
strings of interest and the shape of code are kept. The reader evaluates nothing: it reports

* **promises** (PROMSXP): an unevaluated expression with the environment to run it in. R forces a promise
  when the value is first used, so a promise stored as an ordinary value runs its code as soon as the loaded
  object is touched (CVE-2024-27322, HiddenLayer 2024; R 4.4.0 stopped unserializing them). R itself writes
  unforced promises only as lazy arguments in the frames of saved closures' environments.
* **closures, byte code and language objects** (CLOSXP, BCODESXP, LANGSXP): code that runs when called
  (a model's family functions, formulas and calls are ordinary), with the functions each one calls.
* **active bindings** in environment frames: a function that runs whenever the variable is read.
* **ALTREP classes** from packages: R loads the class's package namespace to rebuild the vector.

Both the XDR (``X``) and native little-endian (``B``) encodings are read; the ASCII encoding (``A``) is
refused (an error, never a clean verdict). Everything is bounded: item count, nesting, string sizes.
"""

from __future__ import annotations

import struct
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from mlvet.errors import AnalysisError, LimitExceeded

#: Items read before giving up (a data frame of a million strings is a million items).
MAX_ITEMS = 20_000_000
#: Nesting followed: a model formula with n terms nests n calls deep (``y ~ x1 + ... + xn``). The reader runs
#: in a thread with a large stack and a raised recursion limit (see :func:`_deep`), three frames per level.
MAX_DEPTH = 5000
#: Stack of the reader's thread (reserved address space, committed only as deep objects need it).
_STACK_BYTES = 512 * 1024 * 1024
#: Longest string kept (longer CHARSXPs are skipped after this many bytes).
MAX_NAME = 256
#: Code objects whose calls are kept.
MAX_CODE = 10_000

# SEXP types (Rinternals.h) and the pseudo-types of serialize.c.
NILSXP, SYMSXP, LISTSXP, CLOSXP, ENVSXP, PROMSXP, LANGSXP = 0, 1, 2, 3, 4, 5, 6
SPECIALSXP, BUILTINSXP, CHARSXP, LGLSXP, INTSXP, REALSXP, CPLXSXP = 7, 8, 9, 10, 13, 14, 15
STRSXP, DOTSXP, VECSXP, EXPRSXP, BCODESXP, EXTPTRSXP, WEAKREFSXP, RAWSXP, S4SXP = 16, 17, 19, 20, 21, 22, 23, 24, 25
REFSXP, NILVALUE, GLOBALENV, UNBOUNDVALUE, MISSINGARG, BASENAMESPACE = 255, 254, 253, 252, 251, 250
NAMESPACESXP, PACKAGESXP, PERSISTSXP, CLASSREFSXP, GENERICREFSXP = 249, 248, 247, 246, 245
BCREPDEF, BCREPREF, EMPTYENV, BASEENV, ATTRLANGSXP, ATTRLISTSXP, ALTREPSXP = 244, 243, 242, 241, 240, 239, 238
_PAIRS = (LISTSXP, LANGSXP, CLOSXP, PROMSXP, DOTSXP)
_CONSTANTS = (NILVALUE, GLOBALENV, UNBOUNDVALUE, MISSINGARG, BASENAMESPACE, EMPTYENV, BASEENV)
_ELEMENT_BYTES = {LGLSXP: 4, INTSXP: 4, REALSXP: 8, CPLXSXP: 16, RAWSXP: 1}
#: gp bit of a frame cell that holds an active binding (ACTIVE_BINDING_MASK, 1 << 15, in LEVELS).
_ACTIVE_BINDING = 1 << 15


@dataclass(frozen=True)
class Sym:
    """A symbol (a variable or function name)."""

    name: str


class _Unbound:
    """R_UnboundValue: the value slot of a promise that has not been forced."""


UNBOUND = _Unbound()


@dataclass
class CodeObject:
    """One closure, promise, byte-code object or active binding, with the functions its code calls."""

    kind: str
    #: Where it sits: a variable name (frame tag or list element), or "" when anonymous.
    name: str
    #: True for a promise whose value was never computed (its expression runs on first use).
    unforced: bool = False
    #: True for a promise stored in an environment frame (a lazy argument of a saved closure).
    in_frame: bool = False
    calls: list[str] = field(default_factory=list)


@dataclass
class RAnalysis:
    """What a serialized R object contains that can run code."""

    encoding: str
    version: int
    code: list[CodeObject] = field(default_factory=list)
    language_objects: int = 0
    closures: int = 0
    altrep_packages: set[str] = field(default_factory=set)
    top_names: list[str] = field(default_factory=list)
    items: int = 0


class _Reader:
    def __init__(self, stream: BinaryIO, size: int, binary_le: bool) -> None:
        self.s = stream
        self.size = size
        self.pos = stream.tell()
        self.int_fmt = "<i" if binary_le else ">i"
        self.refs: list[object] = []
        self.items = 0
        self.depth = 0
        self.result: RAnalysis | None = None
        #: Code objects being read (innermost last): calls found go to each of them.
        self.open_code: list[CodeObject] = []
        #: What the next item is to its parent: "frame" (an environment's bindings) or "binding" (a value).
        self.context = ""

    # ---- primitives ---------------------------------------------------------------------------------
    def read(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.size:
            raise AnalysisError(f"R serialization truncated: {n} bytes wanted at offset {self.pos} of {self.size}")
        data = self.s.read(n)
        if len(data) != n:
            raise AnalysisError(f"R serialization truncated at offset {self.pos}")
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise AnalysisError(f"R serialization declares {n} bytes at offset {self.pos}, past the end ({self.size})")
        self.pos += n
        self.s.seek(self.pos)

    def i32(self) -> int:
        value: int = struct.unpack(self.int_fmt, self.read(4))[0]
        return value

    def length(self) -> int:
        n = self.i32()
        if n == -1:
            hi, lo = self.i32(), self.i32()
            n = (hi << 32) + (lo & 0xFFFFFFFF)
        if n < 0:
            raise AnalysisError(f"R serialization: negative length {n} at offset {self.pos}")
        return n

    def string(self, n: int) -> str:
        keep = min(n, MAX_NAME)
        text = self.read(keep).decode("utf-8", "replace")
        self.skip(n - keep)
        return text

    # ---- items --------------------------------------------------------------------------------------
    def item(self, name: str = "") -> object:
        return self._item(self.i32(), name)

    def _count(self) -> None:
        self.items += 1
        if self.items > MAX_ITEMS:
            raise LimitExceeded("max_items", MAX_ITEMS, f"R object has more than {MAX_ITEMS} items")

    def _item(self, flags: int, name: str = "") -> object:
        self._count()
        context, self.context = self.context, ""
        typ = flags & 0xFF
        if typ in _CONSTANTS:
            return UNBOUND if typ == UNBOUNDVALUE else None
        if typ == REFSXP:
            index = flags >> 8 or self.i32()
            if not 1 <= index <= len(self.refs):
                raise AnalysisError(f"R serialization: reference {index} to an unknown item")
            return self.refs[index - 1]
        if typ in (PERSISTSXP, NAMESPACESXP, PACKAGESXP):
            names = self._string_vec()
            self.refs.append(names)
            return names
        if typ == SYMSXP:
            printname = self.item()
            sym = Sym(printname if isinstance(printname, str) else "")
            self.refs.append(sym)
            return sym
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise LimitExceeded("max_depth", MAX_DEPTH, f"R object nests deeper than {MAX_DEPTH} levels")
        try:
            if typ == ENVSXP:
                return self._env()
            if typ in _PAIRS:
                return self._pairs(flags, name, context)
            return self._other(flags, typ, name)
        finally:
            self.depth -= 1

    def _string_vec(self) -> list[str]:
        if self.i32() != 0:
            raise AnalysisError("R serialization: names vector with a non-zero flag")
        n = self.length()
        out = [self.item() for _ in range(n)]
        return [s for s in out if isinstance(s, str)]

    def _env(self) -> object:
        self.i32()  # locked
        marker = object()
        self.refs.append(marker)
        self.item()  # enclosing environment
        self.context = "frame"
        self.item()  # frame: a tagged pairlist of bindings
        flags = self.i32()  # hash table: a list of frame pairlists (or NULL)
        if flags & 0xFF == VECSXP:
            self._count()
            for _ in range(self.length()):
                self.context = "frame"
                self.item()
            if flags & (1 << 9):
                self.item()
        else:
            self._item(flags)
        self.item()  # attributes
        return marker

    def _pairs(self, flags: int, name: str, context: str) -> object:
        """A pairlist-like chain (list, call, closure, promise, dots), its cdr chain read iteratively.

        Returns the first cars (at most three) of a list or call, None for closures and promises.
        """
        first: list[object] = []
        head = flags & 0xFF
        frame = context == "frame"
        while True:
            typ = flags & 0xFF
            if flags & (1 << 9):
                self.item()
            tag = self.item() if flags & (1 << 10) else None
            here = tag.name if isinstance(tag, Sym) else name
            code = self._open(typ, here, flags >> 12, frame)
            if typ == PROMSXP and code is not None:
                code.in_frame = context == "binding"
            try:
                if frame:
                    self.context = "binding"
                car = self.item(here if typ == LISTSXP else "")
                if typ == PROMSXP and code is not None:
                    code.unforced = car is UNBOUND
                if typ in (CLOSXP, PROMSXP):
                    self.item()  # the body / the expression (the closure's formals were the car)
                    return None
            finally:
                if code is not None:
                    self.open_code.pop()
            if len(first) < 3:
                first.append(car)
            nxt = self.i32()
            if (nxt & 0xFF) in (LISTSXP, DOTSXP):
                flags = nxt
                self._count()
                continue
            self._item(nxt)
            break
        if head == LANGSXP and first:
            fn = first[0]
            if isinstance(fn, Sym) and fn.name in ("::", ":::") and len(first) == 3:
                pkg, name_ = first[1], first[2]
                if isinstance(pkg, Sym) and isinstance(name_, Sym):
                    self._record(f"{pkg.name}::{name_.name}")
            elif isinstance(fn, Sym):
                self._record(fn.name)
        return first

    def _open(self, typ: int, name: str, levels: int, frame_cell: bool) -> CodeObject | None:
        """Start a code object for a closure, promise or active-binding cell (None for other cells)."""
        assert self.result is not None
        kind = {CLOSXP: "closure", PROMSXP: "promise"}.get(typ)
        if typ == LANGSXP:
            self.result.language_objects += 1
        if kind is None and frame_cell and levels & _ACTIVE_BINDING:
            kind = "active binding"
        if kind is None:
            return None
        code = CodeObject(kind, name)
        if typ == CLOSXP:
            self.result.closures += 1
        if len(self.result.code) < MAX_CODE:
            self.result.code.append(code)
        self.open_code.append(code)
        return code

    def _record(self, fn: str) -> None:
        for code in self.open_code:
            if len(code.calls) < 200:
                code.calls.append(fn)

    def _call(self, fn: object) -> None:
        if isinstance(fn, Sym) and fn.name not in ("::", ":::"):
            self._record(fn.name)

    def _other(self, flags: int, typ: int, name: str) -> object:
        has_attr = flags & (1 << 9)
        value: object = None
        if typ == CHARSXP:
            n = self.i32()
            return None if n == -1 else self.string(n)
        if typ in _ELEMENT_BYTES:
            self.skip(self.length() * _ELEMENT_BYTES[typ])
        elif typ in (STRSXP, VECSXP, EXPRSXP):
            n = self.length()
            for _ in range(n):
                self.item()
        elif typ == BCODESXP:
            code = self._open(CLOSXP, name, 0, False) if not self.open_code else None
            if code is not None:
                code.kind = "byte code"
            try:
                self._bc(self.i32())
            finally:
                if code is not None:
                    self.open_code.pop()
        elif typ in (SPECIALSXP, BUILTINSXP):
            value = Sym(self.string(self.i32()))
        elif typ == EXTPTRSXP:
            self.refs.append(None)
            self.item()
            self.item()
        elif typ == WEAKREFSXP:
            self.refs.append(None)
        elif typ == ALTREPSXP:
            info = self.item()
            if isinstance(info, list) and len(info) >= 2 and isinstance(info[1], Sym):
                assert self.result is not None
                self.result.altrep_packages.add(info[1].name)
            self.item()
            self.item()
            return None
        elif typ == S4SXP:
            pass
        else:
            raise AnalysisError(f"R serialization: unknown item type {typ} at offset {self.pos - 4}")
        if has_attr:
            self.item()
        return value

    # ---- byte code ----------------------------------------------------------------------------------
    def _bc(self, reps: int) -> None:
        if reps < 0 or reps > 10_000_000:
            raise AnalysisError(f"R byte code declares {reps} shared cells")
        self._bc1()

    def _bc1(self) -> None:
        self.item()  # the instruction vector (an INTSXP)
        n = self.i32()
        if n < 0:
            raise AnalysisError("R byte code: negative constant count")
        for _ in range(n):
            self._count()
            typ = self.i32()
            if typ == BCODESXP:
                self._bc1()
            elif typ in (LANGSXP, LISTSXP, BCREPDEF, BCREPREF, ATTRLANGSXP, ATTRLISTSXP):
                self._bc_lang(typ)
            else:
                self.item()

    def _bc_lang(self, typ: int) -> object:
        """A call or pairlist of byte-code constants (serialize.c ReadBCLang), its cdr chain iteratively."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise LimitExceeded("max_depth", MAX_DEPTH, f"R byte code nests deeper than {MAX_DEPTH} levels")
        try:
            while True:
                if typ == BCREPREF:
                    self.i32()
                    return None
                if typ not in (BCREPDEF, LANGSXP, LISTSXP, ATTRLANGSXP, ATTRLISTSXP):
                    return self.item()
                self._count()
                if typ == BCREPDEF:
                    self.i32()
                    typ = self.i32()
                if typ in (ATTRLANGSXP, ATTRLISTSXP):
                    self.item()
                    typ = LANGSXP if typ == ATTRLANGSXP else LISTSXP
                self.item()  # tag
                car = self._bc_lang(self.i32())
                if typ == LANGSXP:
                    assert self.result is not None
                    self.result.language_objects += 1
                    self._call(car)
                typ = self.i32()  # the cdr, read in this loop
        finally:
            self.depth -= 1


def read_header(stream: BinaryIO) -> tuple[str, int]:
    """(encoding letter, format version) of a serialization stream positioned at its ``X\\n`` / ``B\\n``."""
    magic = stream.read(2)
    if magic not in (b"X\n", b"B\n", b"A\n", b"b\n"):
        raise AnalysisError(f"not an R serialization stream (starts {magic!r})")
    if magic == b"A\n":
        raise AnalysisError("ASCII R serialization (save(ascii=TRUE)) is not analysed")
    return magic[:1].decode(), 0


def _deep(fn: Callable[[], RAnalysis]) -> RAnalysis:
    """Run ``fn`` in a thread with a large stack and a recursion limit that fits :data:`MAX_DEPTH`.

    R objects nest as deep as their formulas and calls; the reader follows them recursively (cdr chains are
    iterative). The interpreter-wide limit is restored afterwards; the thread's stack keeps deep recursion
    from reaching the C stack limit of the caller's thread.
    """
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    old_limit = sys.getrecursionlimit()
    try:
        old_stack = threading.stack_size(_STACK_BYTES)
    except (ValueError, RuntimeError):  # no configurable thread stacks: read in this thread, default limits
        return fn()
    try:
        thread = threading.Thread(target=run, name="mlvet-rserial", daemon=True)
        sys.setrecursionlimit(max(old_limit, 4 * MAX_DEPTH + 2000))
        thread.start()
    except RuntimeError:  # the thread could not be started (address space limits): same fallback
        sys.setrecursionlimit(old_limit)
        return fn()
    finally:
        threading.stack_size(old_stack)
    try:
        thread.join()
    finally:
        sys.setrecursionlimit(old_limit)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    value = box["value"]
    assert isinstance(value, RAnalysis)
    return value


def analyse_serialized(stream: BinaryIO, size: int, *, rdata: bool) -> RAnalysis:
    """Read one serialization stream (from the stream's current position) and return what it contains.

    ``rdata``: the object is the tagged pairlist that ``save()`` writes (its tags are variable names).
    Raises :class:`AnalysisError` for malformed or unsupported input and :class:`LimitExceeded` past limits.
    """
    return _deep(lambda: _analyse(stream, size, rdata=rdata))


def _analyse(stream: BinaryIO, size: int, *, rdata: bool) -> RAnalysis:
    start = stream.tell()
    encoding, _ = read_header(stream)
    reader = _Reader(stream, size, binary_le=encoding == "B")
    reader.pos = start + 2
    version = reader.i32()
    reader.i32()  # writer R version
    reader.i32()  # minimal reader R version
    if version == 3:
        reader.string(reader.i32())  # native encoding
    elif version != 2:
        raise AnalysisError(f"R serialization format version {version} is not known")
    reader.result = RAnalysis({"X": "xdr", "B": "native"}[encoding], version)
    if rdata:
        flags = reader.i32()
        typ = flags & 0xFF
        while typ == LISTSXP:
            if flags & (1 << 9):
                reader.item()
            tag = reader.item() if flags & (1 << 10) else None
            var = tag.name if isinstance(tag, Sym) else ""
            reader.result.top_names.append(var)
            reader.item(var)
            flags = reader.i32()
            typ = flags & 0xFF
        reader._item(flags)
    else:
        reader.item()
    reader.result.items = reader.items
    return reader.result
