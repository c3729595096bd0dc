"""Static reader for CPython's ``marshal`` format: what a marshalled code object calls, without loading it.

Keras stores ``Lambda`` layers as ``marshal.dumps(fn.__code__)`` (base64 in the model config) and rebuilds
them with ``marshal.loads`` + ``types.FunctionType``. ``marshal.loads`` on hostile bytes is itself unsafe
(the format is documented as "not secure against erroneous or maliciously constructed data", and code
objects built from it are trusted by the interpreter), so mlvet never calls it: this module parses the
byte stream itself into plain Python values and :class:`CodeInfo` records.

Code objects change layout between Python versions and the stream carries no version number, so the
layout is recognised from the structure (number of leading integers and the types of the fields that
follow), trying each known layout on the outermost code object and keeping the one that parses:

* ``py3.11+`` (3.11 – 3.13, checked against each; 3.14 is read the same way and its marshal slices are
  accepted): 5 int32, code, consts, names, localsplusnames, localspluskinds, filename, name, qualname,
  firstlineno, linetable, exceptiontable;
* ``py3.8-3.10``: 6 int32 (with posonlyargcount and nlocals), code, consts, names, varnames, freevars,
  cellvars, filename, name, firstlineno, lnotab/linetable;
* ``py3.0-3.7``: the same without posonlyargcount;
* ``py2``: 4 int32 (no kwonlyargcount), Python 2 string references (``R``).

Everything is bounded: nesting depth, object count, and sizes are checked against the bytes that remain
before anything is allocated, and walks over the result are DAG-safe (``TYPE_REF`` lets a few bytes
reference one container many times).

What is extracted is what a reviewer needs: the names the code looks up (``co_names``: globals,
attributes, imported modules), its constants (strings, nested code objects, recursively), local names
and the raw bytecode. Opcode numbers differ in every minor version, so instructions are decoded only
with the running interpreter's own table (``dis.opmap``), only for code whose layout family matches it,
and only when the decoded stream is structurally consistent; the result is evidence, never a verdict.
"""

from __future__ import annotations

import dis
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

#: Deepest nesting of containers / code objects accepted (CPython allows 2000; real code uses < 20).
MAX_DEPTH = 200
#: Objects decoded from one stream before giving up (each needs at least one input byte anyway).
MAX_OBJECTS = 2_000_000
#: Longest integer kept as a number (in 15-bit digits); longer ones become a placeholder.
_MAX_LONG_DIGITS = 64

FLAG_REF = 0x80


class MarshalError(ValueError):
    """The bytes are not a marshal stream this reader understands (truncated, malformed, hostile)."""


@dataclass(frozen=True)
class Opaque:
    """A marshalled value that is kept only as a description (Ellipsis, StopIteration, huge ints ...)."""

    what: str

    def __repr__(self) -> str:
        return self.what


@dataclass(eq=False)
class CodeInfo:
    """The fields of one code object that matter for review; nested code objects are in ``consts``."""

    layout: str
    name: str
    qualname: str
    filename: str
    firstlineno: int
    argcount: int
    flags: int
    bytecode: bytes
    names: tuple[str, ...]
    varnames: tuple[str, ...]
    freevars: tuple[str, ...]
    cellvars: tuple[str, ...]
    consts: tuple[object, ...]
    #: Filled by :func:`decode_imports` when the running interpreter's opcode table applies.
    imports: tuple[str, ...] = field(default=())

    def walk(self) -> Iterator[CodeInfo]:
        """This code object and every code object nested in its constants (each once)."""
        seen: set[int] = set()
        stack: list[CodeInfo] = [self]
        while stack:
            code = stack.pop()
            if id(code) in seen:
                continue
            seen.add(id(code))
            yield code
            stack.extend(c for c in iter_values(code.consts) if isinstance(c, CodeInfo))


def iter_values(value: object, budget: int = 200_000) -> Iterator[object]:
    """Every value inside ``value`` (containers flattened, each container visited once), bounded."""
    seen: set[int] = set()
    stack: list[object] = [value]
    while stack and budget > 0:
        budget -= 1
        item = stack.pop()
        if isinstance(item, (tuple, list, frozenset)):
            if id(item) in seen:
                continue
            seen.add(id(item))
            stack.extend(reversed(list(item)))
            continue
        if isinstance(item, dict):
            if id(item) in seen:
                continue
            seen.add(id(item))
            for k, v in item.items():
                stack.append(v)
                stack.append(k)
            continue
        yield item


# Layouts: (label, leading int32 count, field spec). Field kinds: b=bytes, t=tuple, T=tuple of str,
# s=str, i=int32 (raw, not an object), k=bytes/str (line tables), a=any object.
_LAYOUTS: tuple[tuple[str, int, str], ...] = (
    ("py3.11+", 5, "btTTbsssikk"),
    ("py3.8-3.10", 6, "btTTTTssik"),
    ("py3.0-3.7", 5, "btTTTTssik"),
    ("py2", 4, "btTTTTssik"),
)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.refs: list[object] = []
        self.interned: list[str] = []
        self.objects = 0
        self.layout: str | None = None

    # ---- primitives ------------------------------------------------------------------------------

    def need(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise MarshalError(f"truncated marshal data at offset {self.pos} (needs {n} bytes)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise MarshalError(f"truncated marshal data at offset {self.pos}")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def int32(self) -> int:
        return int(struct.unpack("<i", self.need(4))[0])

    def size(self) -> int:
        n = self.int32()
        if n < 0:
            raise MarshalError(f"negative size {n} at offset {self.pos - 4}")
        return n

    def count(self, n: int) -> int:
        """A container's item count: each item needs at least one byte, so more than remain is bogus."""
        if n > len(self.data) - self.pos:
            raise MarshalError(f"container claims {n} items but only {len(self.data) - self.pos} bytes remain")
        return n

    # ---- objects ---------------------------------------------------------------------------------

    def obj(self, depth: int = 0) -> object:
        if depth > MAX_DEPTH:
            raise MarshalError(f"marshal data nests deeper than {MAX_DEPTH} levels")
        self.objects += 1
        if self.objects > MAX_OBJECTS:
            raise MarshalError(f"more than {MAX_OBJECTS} marshalled objects")
        at = self.pos
        code = self.byte()
        flag = bool(code & FLAG_REF)
        t = chr(code & ~FLAG_REF)
        if t == "0":
            raise MarshalError(f"NULL object at offset {at}")
        if t in "NFTS.":
            value: object = {"N": None, "F": False, "T": True, "S": Opaque("StopIteration"),
                             ".": Opaque("Ellipsis")}[t]
            return value  # singletons are never added to the reference table
        if t == "r":
            index = self.int32()
            if not 0 <= index < len(self.refs):
                raise MarshalError(f"invalid reference {index} at offset {at}")
            return self.refs[index]
        if t == "R":  # Python 2 interned-string reference
            index = self.int32()
            if not 0 <= index < len(self.interned):
                raise MarshalError(f"invalid string reference {index} at offset {at}")
            return self.interned[index]
        if t in "([{<>":
            return self.container(t, flag, depth)
        if t == ")":
            return self.container(t, flag, depth)
        if t == "c":
            return self.code(flag, depth)
        if t == ":":  # slice (marshal version 5, Python 3.14)
            slot = self.reserve(flag)
            parts = (self.obj(depth + 1), self.obj(depth + 1), self.obj(depth + 1))
            value = Opaque(f"slice{parts!r}"[:200])
            self.fill(slot, value)
            return value
        value = self.scalar(t, at)
        if flag:
            self.refs.append(value)
        return value

    def reserve(self, flag: bool) -> int:
        if not flag:
            return -1
        self.refs.append(Opaque("<object under construction>"))
        return len(self.refs) - 1

    def fill(self, slot: int, value: object) -> None:
        if slot >= 0:
            self.refs[slot] = value

    def scalar(self, t: str, at: int) -> object:
        if t == "i":
            return self.int32()
        if t == "I":
            return int(struct.unpack("<q", self.need(8))[0])
        if t == "l":
            n = self.int32()
            digits = abs(n)
            if digits * 2 > len(self.data) - self.pos:
                raise MarshalError(f"long integer of {digits} digits runs past the end at offset {at}")
            raw = self.need(digits * 2)
            if digits > _MAX_LONG_DIGITS:
                return Opaque(f"<integer of {digits * 15} bits>")
            value = 0
            for i in range(digits - 1, -1, -1):
                d = raw[2 * i] | (raw[2 * i + 1] << 8)
                if d > 0x7FFF:
                    raise MarshalError(f"bad long digit at offset {at}")
                value = (value << 15) | d
            return -value if n < 0 else value
        if t == "g":
            return float(struct.unpack("<d", self.need(8))[0])
        if t == "f":
            return self.text_float(at)
        if t == "y":
            re_, im = struct.unpack("<dd", self.need(16))
            return complex(re_, im)
        if t == "x":
            return complex(self.text_float(at), self.text_float(at))
        if t == "s":
            return self.need(self.size())
        if t in "tu":
            raw = self.need(self.size())
            try:
                text = raw.decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:
                if t == "t":  # Python 2: interned byte strings
                    text = raw.decode("latin-1")
                else:
                    raise MarshalError(f"invalid UTF-8 string at offset {at}") from None
            if t == "t":
                self.interned.append(text)
            return text
        if t in "aA":
            return self.need(self.size()).decode("latin-1")
        if t in "zZ":
            return self.need(self.byte()).decode("latin-1")
        if t == "?":
            raise MarshalError(f"unknown-object marker at offset {at}")
        raise MarshalError(f"unknown marshal type code {t!r} (0x{ord(t):02x}) at offset {at}")

    def text_float(self, at: int) -> float:
        raw = self.need(self.byte())
        try:
            return float(raw.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise MarshalError(f"bad float literal at offset {at}") from None

    def container(self, t: str, flag: bool, depth: int) -> object:
        slot = self.reserve(flag)
        if t == "{":
            pairs: dict[object, object] = {}
            while True:
                if self.pos < len(self.data) and self.data[self.pos] == ord("0"):
                    self.pos += 1
                    break
                key = self.obj(depth + 1)
                val = self.obj(depth + 1)
                try:
                    pairs[key] = val
                except TypeError:  # unhashable key (e.g. a list): keep it under its description
                    pairs[Opaque(repr(type(key).__name__))] = val
            self.fill(slot, pairs)
            return pairs
        n = self.byte() if t == ")" else self.count(self.size())
        items = [self.obj(depth + 1) for _ in range(n)]
        value: object
        if t in "<>":
            value = frozenset(i for i in items if _hashable(i))
        elif t == "[":
            value = items
        else:
            value = tuple(items)
        self.fill(slot, value)
        return value

    def code(self, flag: bool, depth: int) -> CodeInfo:
        slot = self.reserve(flag)
        if self.layout is not None:
            info = self.code_as(self.layout, depth)
        else:
            start, nrefs, ninterned, nobjects = self.pos, len(self.refs), len(self.interned), self.objects
            errors: list[str] = []
            for label, _, _ in _LAYOUTS:
                self.layout = label
                try:
                    info = self.code_as(label, depth)
                    break
                except MarshalError as exc:
                    errors.append(f"{label}: {exc}")
                    self.pos = start
                    del self.refs[nrefs:]
                    del self.interned[ninterned:]
                    self.objects = nobjects
                    self.layout = None
            else:
                raise MarshalError("code object matches no known CPython layout (" + "; ".join(errors) + ")")
        self.fill(slot, info)
        return info

    def code_as(self, label: str, depth: int) -> CodeInfo:
        _, nints, spec = next(x for x in _LAYOUTS if x[0] == label)
        ints = [self.int32() for _ in range(nints)]
        fields: list[object] = []
        for kind in spec:
            if kind == "i":
                fields.append(self.int32())
                continue
            value = self.obj(depth + 1)
            if kind == "b" and not isinstance(value, bytes):
                raise MarshalError(f"code field is {type(value).__name__}, expected bytes")
            if kind == "t" and not isinstance(value, tuple):
                raise MarshalError(f"code constants are {type(value).__name__}, expected a tuple")
            if kind == "T" and not (isinstance(value, tuple) and all(isinstance(v, (str, bytes)) for v in value)):
                raise MarshalError("code name table is not a tuple of strings")
            if kind == "s" and not isinstance(value, (str, bytes)):
                raise MarshalError(f"code name field is {type(value).__name__}, expected a string")
            if kind == "k" and not isinstance(value, (bytes, str)):
                raise MarshalError(f"code line table is {type(value).__name__}, expected bytes")
            fields.append(value)
        argcount, flags = ints[0], ints[-1]
        if not (0 <= argcount < 1 << 16) or any(i < 0 for i in ints[:-1]):
            raise MarshalError("implausible argument counts in code object header")
        if label == "py3.11+":
            code_b, consts, names, lp_names, lp_kinds, filename, name, qualname, first = fields[:9]
            assert isinstance(lp_names, tuple) and isinstance(lp_kinds, bytes)
            if len(lp_kinds) != len(lp_names):
                raise MarshalError("localspluskinds does not match localsplusnames")
            strs = _strs(lp_names)
            varnames = tuple(n for n, k in zip(strs, lp_kinds, strict=True) if k & 0x20 or not k & 0xE0)
            cellvars = tuple(n for n, k in zip(strs, lp_kinds, strict=True) if k & 0x40)
            freevars = tuple(n for n, k in zip(strs, lp_kinds, strict=True) if k & 0x80)
        else:
            code_b, consts, names, var_t, free_t, cell_t, filename, name, first = fields[:9]
            qualname = name
            varnames, freevars, cellvars = _strs(var_t), _strs(free_t), _strs(cell_t)
        assert isinstance(code_b, bytes) and isinstance(consts, tuple) and isinstance(first, int)
        return CodeInfo(
            layout=label,
            name=_str(name),
            qualname=_str(qualname),
            filename=_str(filename),
            firstlineno=first,
            argcount=argcount,
            flags=flags,
            bytecode=code_b,
            names=_strs(names),
            varnames=varnames,
            freevars=freevars,
            cellvars=cellvars,
            consts=consts,
        )


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _str(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def _strs(value: object) -> tuple[str, ...]:
    assert isinstance(value, tuple)
    return tuple(_str(v) for v in value)


def read_marshal(data: bytes) -> object:
    """Decode one marshalled value from ``data`` into plain values and :class:`CodeInfo` (never executes).

    Raises :class:`MarshalError` for anything malformed, truncated, too deep or too large.
    """
    reader = _Reader(data)
    try:
        value = reader.obj()
    except RecursionError:
        raise MarshalError("marshal data nests too deeply") from None
    for code in (value.walk() if isinstance(value, CodeInfo) else ()):
        code.imports = decode_imports(code)
    return value


# ---- instruction decoding (running interpreter's table only) ---------------------------------------

_THIS_LAYOUT = (
    "py3.11+" if sys.version_info >= (3, 11) else "py3.8-3.10" if sys.version_info >= (3, 8) else "py3.0-3.7"
)
_IMPORT_NAME = dis.opmap.get("IMPORT_NAME")
_EXTENDED_ARG = dis.opmap.get("EXTENDED_ARG")
_NAME_OPS = frozenset(
    dis.opmap[n] for n in ("IMPORT_NAME", "IMPORT_FROM", "STORE_NAME", "DELETE_NAME", "STORE_GLOBAL",
                           "DELETE_GLOBAL", "STORE_ATTR", "DELETE_ATTR") if n in dis.opmap
)
_CONST_OPS = frozenset(dis.hasconst)
_KNOWN_OPS = frozenset(op for op, name in enumerate(dis.opname) if not name.startswith("<"))


def decode_imports(code: CodeInfo) -> tuple[str, ...]:
    """Module names this code imports, decoded with the running interpreter's opcode table.

    Only attempted when the code's layout family is the interpreter's own and every instruction decodes
    to a known opcode whose name/constant arguments are in range; otherwise ``()`` (the caller still has
    ``names``, which include every imported module name anyway).
    """
    if code.layout != _THIS_LAYOUT or _IMPORT_NAME is None or len(code.bytecode) % 2:
        return ()
    imports: list[str] = []
    ext = 0
    raw = code.bytecode
    for i in range(0, len(raw), 2):
        op, arg = raw[i], raw[i + 1] | ext
        if op not in _KNOWN_OPS:
            return ()
        if op == _EXTENDED_ARG:
            ext = arg << 8
            continue
        ext = 0
        if op in _NAME_OPS and arg >= len(code.names):
            return ()
        if op in _CONST_OPS and arg >= len(code.consts):
            return ()
        if op == _IMPORT_NAME:
            imports.append(code.names[arg])
    return tuple(dict.fromkeys(imports))


def code_strings(code: CodeInfo, limit: int = 4096) -> list[str]:
    """String (and bytes) constants of ``code`` and everything nested in it, each once, in order."""
    out: dict[str, None] = {}
    for c in code.walk():
        for v in iter_values(c.consts):
            if isinstance(v, str):
                out.setdefault(v[:limit], None)
            elif isinstance(v, bytes):
                out.setdefault(v[:limit].decode("latin-1"), None)
    return list(out)


def code_names(code: CodeInfo) -> list[str]:
    """``co_names`` of ``code`` and every nested code object (globals, attributes, imported modules)."""
    out: dict[str, None] = {}
    for c in code.walk():
        for n in c.names:
            out.setdefault(n, None)
    return list(out)
