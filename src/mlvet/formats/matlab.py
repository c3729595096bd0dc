"""MATLAB MAT-files (``scipy.io.savemat``, MATLAB ``save``): level 5 element trees and v7.3 (HDF5).

A level 5 MAT-file is a 128-byte text header then a sequence of data elements (type, byte count, data), each
variable one ``miMATRIX`` element (or an ``miCOMPRESSED`` zlib stream holding one). Numeric, logical, char,
sparse, cell and struct arrays are data: ``scipy.io.loadmat`` and MATLAB's ``load`` only build values. Three
array classes are more than data when MATLAB loads them:

* ``mxFUNCTION_CLASS`` (16): a function handle. An anonymous handle stores its MATLAB expression as text and
  runs it whenever the program calls the loaded variable; a named handle (``@system``) calls that function.
* ``mxOBJECT_CLASS`` (3) and ``mxOPAQUE_CLASS`` (17, classdef/MCOS objects): ``load`` constructs the class
  and calls its ``loadobj``/property methods. That code is the class's (on the MATLAB path), not the file's,
  so these rank low: worth knowing, not an attack by themselves.

Elements are walked with their byte counts checked against the enclosing element; numeric data is skipped,
never read; compressed elements are inflated into a bounded spool. v7.3 files are HDF5 after a 512-byte
header and are scanned by the HDF5 handler.
"""

from __future__ import annotations

import re
import struct
import tempfile
import zlib
from typing import BinaryIO

from mlvet.errors import AnalysisError, LimitExceeded
from mlvet.formats.base import SPOOL_BYTES, Probe, ScanContext, Window, register
from mlvet.model import Severity
from mlvet.rules import define_rule

OTH031 = define_rule(
    "OTH031", "matlab-function-handle", Severity.MEDIUM,
    "The MAT-file stores a MATLAB function handle.",
    "A function handle is code: an anonymous handle carries a MATLAB expression that runs whenever the "
    "loaded variable is called, a named one calls that function. Handles that name shell, eval, Java or "
    "Python access are high. scipy.io.loadmat does not run it; MATLAB programs that call the variable do.",
    "Load the file only into code that never calls its function handles, or strip them from the file.",
    94,
)
OTH032 = define_rule(
    "OTH032", "matlab-object", Severity.LOW,
    "The MAT-file stores a MATLAB object (mxOBJECT or classdef/opaque class).",
    "MATLAB's load constructs the class and calls its loadobj and property methods: code of the class on the "
    "MATLAB path (not carried in the file) runs while loading.",
    "Check that the named classes are ones you expect, or load with scipy.io.loadmat, which builds no objects.",
)

HEADER = 128
_MI_INT8, _MI_MATRIX, _MI_COMPRESSED, _MI_UTF8, _MI_UTF16, _MI_UINT16 = 1, 14, 15, 16, 17, 4
_MX_OBJECT, _MX_FUNCTION, _MX_OPAQUE = 3, 16, 17
_VALID_TYPES = frozenset({1, 2, 3, 4, 5, 6, 7, 9, 12, 13, 14, 15, 16, 17, 18})
_MAX_DEPTH = 32
_MAX_ELEMENTS = 1_000_000
_MAX_TEXT = 1 << 16
_DANGEROUS = re.compile(r"(?i)\b(system|unix|dos|eval|evalin|evalc|feval|builtin|winopen|java\.lang|py\.|"
                        r"websave|webwrite|urlread|urlwrite|delete|rmdir|copyfile|movefile|perl|python)\b|!")


def is_level5(head: bytes) -> bool:
    """A level 5 / v7.3 header: "MATLAB" text, version 0x0100 or 0x0200, endian indicator IM or MI."""
    return (len(head) >= HEADER and head[:6] == b"MATLAB" and head[126:128] in (b"IM", b"MI")
            and head[124:126] in (b"\x00\x01", b"\x01\x00", b"\x00\x02", b"\x02\x00"))


class _Reader:
    def __init__(self, stream: BinaryIO, ctx: ScanContext, little: bool) -> None:
        self.stream = stream
        self.ctx = ctx
        self.e = "<" if little else ">"
        self.count = 0

    def tag(self, pos: int, end: int) -> tuple[int, int, int, int]:
        """(type, nbytes, data position, next element position) of the element at ``pos``."""
        if pos + 8 > end:
            raise AnalysisError(f"malformed MAT-file: element tag at byte {pos} runs past its container ({end})")
        self.stream.seek(pos)
        raw = self.stream.read(8)
        if len(raw) < 8:
            raise AnalysisError(f"malformed MAT-file: truncated element tag at byte {pos}")
        self.count += 1
        if self.count > _MAX_ELEMENTS:
            raise AnalysisError(f"MAT-file with more than {_MAX_ELEMENTS} elements")
        first, second = struct.unpack(self.e + "II", raw)
        if first >> 16:  # small data element: 2-byte count, 2-byte type, data in the next 4 bytes
            mtype, nbytes = first & 0xFFFF, first >> 16
            if nbytes > 4:
                raise AnalysisError(f"malformed MAT-file: small element of {nbytes} bytes at byte {pos}")
            return mtype, nbytes, pos + 4, pos + 8
        mtype, nbytes = first, second
        nxt = pos + 8 + nbytes
        if mtype != _MI_COMPRESSED:
            nxt += (-nbytes) % 8
        if mtype not in _VALID_TYPES:
            raise AnalysisError(f"malformed MAT-file: unknown element type {mtype} at byte {pos}")
        if pos + 8 + nbytes > end:
            raise AnalysisError(f"malformed MAT-file: element of {nbytes} bytes at byte {pos} runs past its "
                                f"container (ends at byte {end})")
        return mtype, nbytes, pos + 8, min(nxt, end)

    def elements(self, pos: int, end: int, depth: int, path: str) -> None:
        while pos < end:
            mtype, nbytes, data, nxt = self.tag(pos, end)
            if mtype == _MI_COMPRESSED:
                self._compressed(data, nbytes, depth, path)
            elif mtype == _MI_MATRIX:
                self.matrix(data, data + nbytes, depth, path, [])
            elif depth == 0:
                raise AnalysisError(f"malformed MAT-file: top-level element of type {mtype} at byte {pos}")
            pos = nxt

    def _compressed(self, data: int, nbytes: int, depth: int, path: str) -> None:
        limit = self.ctx.limits.max_member_bytes
        d = zlib.decompressobj()
        total = 0
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            self.stream.seek(data)
            left = nbytes
            try:
                while left:
                    chunk = self.stream.read(min(left, 1 << 20))
                    if not chunk:
                        raise AnalysisError("malformed MAT-file: compressed element is truncated")
                    left -= len(chunk)
                    out = d.decompress(chunk, 1 << 22)
                    while True:
                        total += len(out)
                        if total > limit or (total > self.ctx.limits.ratio_floor_bytes
                                             and total > nbytes * self.ctx.limits.max_ratio):
                            raise LimitExceeded("max_member_bytes", limit,
                                                f"compressed MAT-file element expands past {total} bytes "
                                                f"from {nbytes}: possible decompression bomb")
                        spool.write(out)
                        if not d.unconsumed_tail:
                            break
                        out = d.decompress(d.unconsumed_tail, 1 << 22)
            except zlib.error as exc:
                raise AnalysisError(f"malformed MAT-file: corrupt compressed element: {exc}") from None
            if not d.eof:
                raise AnalysisError("malformed MAT-file: compressed element ends early")
            inner = _Reader(spool, self.ctx, self.e == "<")  # type: ignore[arg-type]
            inner.count = self.count
            inner.elements(0, total, depth, path)
            self.count = inner.count

    def _text(self, mtype: int, data: int, nbytes: int) -> str:
        self.stream.seek(data)
        raw = self.stream.read(min(nbytes, _MAX_TEXT))
        if mtype in (_MI_UTF16, _MI_UINT16):
            return raw.decode("utf-16-le" if self.e == "<" else "utf-16-be", "replace")
        return raw.decode("utf-8", "replace")

    def matrix(self, pos: int, end: int, depth: int, path: str, texts: list[str]) -> int:
        """Walk one miMATRIX; returns its array class. ``texts`` collects char data (function handle text)."""
        if depth > _MAX_DEPTH:
            raise AnalysisError(f"MAT-file arrays nested deeper than {_MAX_DEPTH}")
        if pos == end:
            return 0  # an empty miMATRIX: MATLAB writes these for empty cells
        mtype, nbytes, data, nxt = self.tag(pos, end)
        if mtype != 6 or nbytes < 8:
            raise AnalysisError(f"malformed MAT-file: array without array flags at byte {pos}")
        self.stream.seek(data)
        cls = int(struct.unpack(self.e + "I", self.stream.read(4))[0]) & 0xFF
        pos = nxt
        name = ""
        strings: list[str] = []
        sub: list[str] = []
        index = 1
        while pos < end:
            mtype, nbytes, data, nxt = self.tag(pos, end)
            if mtype == _MI_MATRIX:
                self.matrix(data, data + nbytes, depth + 1, f"{path}/{name or '?'}", sub)
            elif index == 2 and mtype == _MI_INT8:
                name = self._text(mtype, data, nbytes)
            elif mtype in (_MI_INT8, _MI_UTF8, _MI_UTF16, _MI_UINT16) and len(sub) < 256:
                text = self._text(mtype, data, nbytes)
                strings.append(text)
                sub.append(text)
            pos = nxt
            index += 1
        where = f"{path}/{name}" if name else path or "/"
        if cls == _MX_FUNCTION:
            text = " ".join(s for s in sub if s.strip())[:1000]
            bad = _DANGEROUS.search(text)
            self.ctx.report(
                OTH031,
                f"variable {where} is a MATLAB function handle: calling the loaded variable runs "
                + (f"code naming {bad.group(0)!r} (shell, eval, Java/Python or file access)" if bad else
                   "the MATLAB code it names"),
                severity=Severity.HIGH if bad else None, evidence=text)
        elif cls in (_MX_OBJECT, _MX_OPAQUE):
            cname = next((s for s in strings if s and s != "MCOS"), "?")
            self.ctx.report(OTH032, f"variable {where} is a MATLAB object of class {cname[:200]!r}: MATLAB's load "
                            "runs that class's loadobj/property code", evidence=cname[:200])
        texts.extend(sub)
        return cls


class MatlabHandler:
    """MAT-files, level 5 (element tree walked, function handles and objects reported) and v7.3 (HDF5)."""

    id = "matlab"
    priority = 16

    def sniff(self, probe: Probe) -> bool:
        return is_level5(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        head = stream.read(HEADER)
        version = head[124:126]
        little = head[126:128] == b"IM"
        if version in (b"\x00\x02", b"\x02\x00"):
            if size <= 512:
                raise AnalysisError("MAT-file v7.3 without its HDF5 part")
            child = ctx.child("<hdf5>")
            if child.scan_stream(Window(stream, 512, size - 512), size - 512, "") is None:  # type: ignore[arg-type]
                child.error("v7.3 MAT-file: the part after the header is not HDF5")
            return
        _Reader(stream, ctx, little).elements(HEADER, size, 0, "")


register(MatlabHandler())
