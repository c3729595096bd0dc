"""Content that is certainly not a model (images, text, executables, documents...): ``skipped`` with a
reason. Anything unrecognised and binary is an ``error`` result: mlvet never calls unknown bytes clean.

Formats that are models but not yet analysed (safetensors, GGUF, ONNX, HDF5, TFLite...) are recognised
here too, so the result says exactly what the file is and that it was not analysed.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.model import Severity
from mlvet.rules import define_rule

OTH030 = define_rule(
    "OTH030", "empty-file", Severity.INFO,
    "The file is empty (0 bytes).",
    "An empty file holds nothing a loader could execute or build, so it is reported clean; every model loader "
    "fails on it, so it may be a truncated download or a placeholder a pipeline writes (spaCy's empty "
    "patterns.jsonl). Truncated non-empty files stay errors.",
    "Nothing to do for security; re-download the file if a model was expected here.",
)

_NOT_MODELS: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"%PDF-", "PDF document"),
    (b"\x7fELF", "ELF executable or library"),
    (b"MZ", "Windows executable"),
    (b"\xcf\xfa\xed\xfe", "Mach-O binary"),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"\x00asm", "WebAssembly module"),
    (b"PAR1", "Parquet data file"),
    (b"ARROW1", "Arrow data file"),
    (b"SR\x00\x04", "IDL save file"),
]


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum of TFRecord framing; only ever run on 8 bytes here."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def is_tfrecord(head: bytes) -> bool:
    """TFRecord: uint64 length then the masked CRC-32C of those 8 bytes (1 in 4 billion by accident)."""
    if len(head) < 12 or head[5:8] != b"\x00\x00\x00":  # records are < 2**40 bytes: cheap reject first
        return False
    (length,) = struct.unpack("<Q", head[:8])
    (crc,) = struct.unpack("<I", head[8:12])
    masked = (((c := crc32c(head[:8])) >> 15 | c << 17) + 0xA282EAD8) & 0xFFFFFFFF
    return bool(0 < length < 1 << 40 and masked == crc)


def is_arrow_stream(head: bytes) -> bool:
    """Arrow IPC stream (``datasets`` cache files): continuation marker, metadata length, flatbuffer root."""
    if len(head) < 16 or head[:4] != b"\xff\xff\xff\xff":
        return False
    (meta_len,) = struct.unpack("<i", head[4:8])
    (root,) = struct.unpack("<I", head[8:12])
    return bool(8 <= meta_len < 1 << 24 and meta_len % 8 == 0 and 4 <= root < meta_len)


def _text_kind(head: bytes) -> str | None:
    if not head:
        return None
    if b"\x00" in head:
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:
            return None
    return "text file"


class MiscHandler:
    """Recognised content that carries no code of its own (images, text, known data formats): reported as ``other``."""
    id = "other"
    priority = 90

    def sniff(self, probe: Probe) -> bool:
        return True

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        head = stream.read(4096)
        if not head:
            if not ctx.opaque_ok:
                ctx.report(OTH030, "empty file: nothing a loader could run (loaders fail on it)")
            return
        if len(head) >= 8 and int.from_bytes(head[:8], "little") < min(size, 100_000_000) and head[8:9] == b"{":
            raise AnalysisError("looks like a safetensors file, but its header is not valid safetensors JSON")
        for magic, what in _NOT_MODELS:
            if head.startswith(magic):
                self._skip(ctx, f"{what}: not a model format")
                return
        if is_tfrecord(head):
            self._skip(ctx, "TFRecord data file: not a model format")
            return
        if is_arrow_stream(head):
            self._skip(ctx, "Arrow IPC stream data file: not a model format")
            return
        kind = _text_kind(head)
        if kind is not None:
            self._skip(ctx, f"{kind}: not a model format")
            return
        if head[:1] == b"{" and head[1:2] in (b"L", b"i", b"U", b"l", b"$", b"#", b"}"):
            self._skip(ctx, "UBJSON data (XGBoost .ubj model): a data-only format, no code runs on load")
            return
        if ctx.opaque_ok:
            return  # tensor bytes inside a known model archive
        raise AnalysisError("unrecognised binary content: not a known model, archive or data format")

    @staticmethod
    def _skip(ctx: ScanContext, reason: str) -> None:
        if ctx.depth == 0:
            ctx.sink.skip_reason = reason


register(MiscHandler())
