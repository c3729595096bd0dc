"""Legacy llama.cpp model files: GGML (unversioned), GGMF (v1) and GGJT (v1-v3), the formats before GGUF.

Layout (llama.cpp up to August 2023, and ``convert_llama_ggml_to_gguf.py`` which still reads it): a 4-byte
magic (``lmgg``/``fmgg``/``tjgg``, the uint32 ``'ggml'``/``'ggmf'``/``'ggjt'`` little-endian), a uint32
version (GGMF, GGJT), seven uint32 llama hyper-parameters (n_vocab, n_embd, n_mult, n_head, n_layer,
n_rot, ftype), ``n_vocab`` vocabulary entries (uint32 length, bytes, then a float32 score except in
unversioned GGML), then tensors until the end of the file: uint32 n_dims, name length and ggml type,
``n_dims`` uint32 dimensions, the name, padding to a 32-byte file offset (GGJT only), and the data.

What can run: nothing. The format has no metadata strings a loader interprets, no template and no code; the
one risk is the loaders' own parsing, which sized buffers from these numbers without checks. So the scan
checks every count, length and extent against the bytes actually present (OTH090/OTH091) and reads only the
headers: tensor data is stepped over by seeking. Only the llama layout is parsed; the other models of the
ggml examples (gpt-2, gpt-j ...) reuse the unversioned magic with their own hyper-parameters, and such a
file ends as an error rather than a guess.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from mlvet.containers.gguf import GGML_TYPES
from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, Window, register
from mlvet.rules import OTH090, OTH091

#: magic -> (format name, has a version field, token scores present, tensor data padded to 32 bytes).
MAGICS: dict[bytes, tuple[str, bool, bool, bool]] = {
    b"lmgg": ("GGML", False, False, False),
    b"fmgg": ("GGMF", True, True, False),
    b"tjgg": ("GGJT", True, True, True),
}
_VERSIONS = {"GGMF": (1,), "GGJT": (1, 2, 3)}
#: llama.cpp's own bounds (the converter asserts them): token and tensor name lengths, dimensions.
MAX_TOKEN = 4096
MAX_NAME = 4096
MAX_DIMS = 4
#: Tensors stepped over before the table counts as implausible.
MAX_TENSORS = 1 << 20
#: Quantised types whose block size changed in GGJT v3 (f32 scales became f16): (elements, bytes) before.
_PRE_V3_SIZES = {2: (32, 20), 3: (32, 24), 8: (32, 36)}


class _Reader:
    """Sequential reads through a small buffer; every read is checked against the bytes left."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream = stream
        self.size = size
        self.pos = 0
        self.buf = b""
        self.buf_at = 0

    def left(self) -> int:
        return self.size - self.pos

    def read(self, n: int) -> bytes:
        if n > self.left():
            raise EOFError
        off = self.pos - self.buf_at
        if off < 0 or off + n > len(self.buf):
            self.stream.seek(self.pos)
            self.buf = self.stream.read(max(n, 1 << 16))
            self.buf_at = self.pos
            off = 0
        self.pos += n
        return self.buf[off : off + n]

    def u32(self) -> int:
        return int(struct.unpack("<I", self.read(4))[0])

    def skip(self, n: int) -> None:
        if n > self.left():
            raise EOFError
        self.pos += n


def _hparams(r: _Reader) -> dict[str, int]:
    keys = ("n_vocab", "n_embd", "n_mult", "n_head", "n_layer", "n_rot", "ftype")
    return {k: r.u32() for k in keys}


class GgmlHandler:
    """Recognised by the three legacy magics (plus a valid version for GGMF/GGJT)."""

    id = "ggml"
    priority = 15

    def sniff(self, probe: Probe) -> bool:
        h = probe.head
        entry = MAGICS.get(h[:4])
        if entry is None or len(h) < 36:
            return False
        name, versioned, _, _ = entry
        if not versioned:
            return True
        return int.from_bytes(h[4:8], "little") in _VERSIONS[name]

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        name, versioned, scores, padded = MAGICS[stream.read(4)]
        r = _Reader(stream, size)
        r.pos = 4
        try:
            version = r.u32() if versioned else 0
            hp = _hparams(r)
        except EOFError:
            raise AnalysisError(f"{name} file ends inside its header") from None
        label = f"{name}v{version}" if versioned else name
        n_vocab = hp["n_vocab"]
        # Each entry needs at least 4 (length) + 4 (score) bytes: a count beyond that cannot be real.
        if n_vocab * (8 if scores else 4) > r.left():
            ctx.report(OTH090, f"{label} declares {n_vocab:,} vocabulary entries but only {r.left():,} bytes follow "
                       "the header: loaders reserve the vocabulary from this count (heap exhaustion/overflow)",
                       offset=4, evidence=f"n_vocab={n_vocab}")
            raise AnalysisError(f"{label}: vocabulary count exceeds the file")
        self._vocab(r, ctx, label, n_vocab, scores)
        self._tensors(r, ctx, label, version, padded, stream)

    def _vocab(self, r: _Reader, ctx: ScanContext, label: str, n_vocab: int, scores: bool) -> None:
        for i in range(n_vocab):
            at = r.pos
            try:
                n = r.u32()
                if n >= MAX_TOKEN or n > r.left():
                    ctx.report(OTH090, f"{label} vocabulary entry {i} is {n:,} bytes long (llama.cpp's limit is "
                               f"{MAX_TOKEN}; {r.left():,} bytes remain): an over-long read into a fixed buffer",
                               offset=at, evidence=f"token {i}: length {n}")
                    raise AnalysisError(f"{label}: implausible vocabulary entry length")
                r.skip(n + (4 if scores else 0))
            except EOFError:
                raise AnalysisError(f"{label}: file ends inside the vocabulary (entry {i} of {n_vocab})") from None

    def _tensors(
        self, r: _Reader, ctx: ScanContext, label: str, version: int, padded: bool, stream: BinaryIO
    ) -> None:
        count = 0
        while r.left() > 0:
            at = r.pos
            count += 1
            if count > MAX_TENSORS:
                ctx.report(OTH090, f"{label} has more than {MAX_TENSORS:,} tensors", offset=at)
                raise AnalysisError(f"{label}: tensor table too long")
            try:
                n_dims, name_len, ttype = r.u32(), r.u32(), r.u32()
            except EOFError:
                self._trailing(ctx, label, at, r, stream)
                return
            if n_dims > MAX_DIMS or name_len >= MAX_NAME:
                ctx.report(OTH090, f"{label} tensor #{count} declares {n_dims} dimensions and a {name_len:,}-byte "
                           f"name (loaders accept at most {MAX_DIMS} dimensions and {MAX_NAME} bytes): fixed-size "
                           "arrays overflow", offset=at, evidence=f"n_dims={n_dims} name_len={name_len}")
                raise AnalysisError(f"{label}: implausible tensor header")
            try:
                dims = [r.u32() for _ in range(n_dims)]
                tname = r.read(name_len).decode("utf-8", "replace")
            except EOFError:
                raise AnalysisError(f"{label}: file ends inside tensor #{count}'s header") from None
            sizes = GGML_TYPES.get(ttype)
            if sizes is None:
                raise AnalysisError(f"{label} tensor {tname!r} has unknown ggml type {ttype}; its size is unknown")
            _, block, type_size = sizes
            if version < 3 and ttype in _PRE_V3_SIZES:
                block, type_size = _PRE_V3_SIZES[ttype]
            n = 1
            for d in dims:
                n *= d
            if dims and dims[0] % block:
                raise AnalysisError(f"{label} tensor {tname!r}: first dimension {dims[0]} is not a multiple of "
                                    f"the {sizes[0]} block size {block}")
            nbytes = n // block * type_size
            if padded:
                r.skip(min(-r.pos % 32, r.left()))
            if nbytes > r.left():
                ctx.report(OTH091, f"{label} tensor {tname!r} needs {nbytes:,} bytes but only {r.left():,} remain: "
                           "loaders read past the end of the file (or the download is truncated)", offset=at,
                           evidence=f"{tname}: {dims} {sizes[0]}")
                return
            r.skip(nbytes)

    def _trailing(self, ctx: ScanContext, label: str, at: int, r: _Reader, stream: BinaryIO) -> None:
        extra = r.size - at
        ctx.report(OTH091, f"{label} file has {extra} bytes after its last tensor, too few for a tensor header",
                   offset=at, evidence=f"trailing data at offset {at:#x}")
        window = Window(stream, at, extra)
        ctx.child("<data after last tensor>", opaque_ok=True).scan_stream(
            window, extra, "<data after last tensor>"  # type: ignore[arg-type]
        )


register(GgmlHandler())
