"""Single compressed streams: gzip, bz2, xz, lzma-alone, zlib (joblib), lz4, Zstandard and joblib's old ``ZF``.

joblib writes its compressed dumps as one compressed stream of the pickle (with inline array bytes),
pandas' ``to_pickle('x.pkl.gz')`` / ``('x.pkl.zst')`` likewise (``read_pickle`` picks the codec by
suffix), and a ``.tar.gz`` is a tar inside gzip. Each stream is
decompressed into a bounded spool (memory, then disk) and the content is identified and scanned again.
Size and ratio limits turn a bomb into a finding instead of a full disk.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable
from typing import Any, BinaryIO

from mlvet.errors import AnalysisError, LimitExceeded
from mlvet.formats.base import SPOOL_BYTES, Probe, ScanContext, register


def _zlib_ok(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0


def _zf_decompressor() -> Any:
    return zlib.decompressobj()


class _Lz4:
    def __init__(self) -> None:
        try:
            import lz4.frame
        except ImportError:
            raise AnalysisError(
                "lz4-compressed stream: install mlvet[lz4] to analyse it (not analysed)"
            ) from None
        self._d = lz4.frame.LZ4FrameDecompressor()
        self.eof = False
        self.unused_data = b""

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        out: bytes = self._d.decompress(data, max_length=max_length)
        self.eof = bool(self._d.eof)
        self.unused_data = bytes(getattr(self._d, "unused_data", b"") or b"")
        return out

    @property
    def needs_input(self) -> bool:
        return bool(getattr(self._d, "needs_input", True))


class _Zstd:
    """Zstandard frames (pandas ``compression='zstd'``, ``.pkl.zst``) through the standard library's codec.

    ``compression.zstd`` (Python 3.14) or its backport ``backports.zstd`` (the ``mlvet[zstd]`` extra) wrap the
    reference C library; without either the stream is an ``error`` result, never clean. Skippable frames
    end a "stream" like any frame, so the multi-stream loop below moves on to the frame after them.
    """

    def __init__(self) -> None:
        try:
            from compression import zstd  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            try:
                from backports import zstd  # type: ignore[import-not-found,no-redef,unused-ignore]
            except ImportError:
                raise AnalysisError(
                    "Zstandard-compressed stream: install mlvet[zstd] to analyse it (not analysed)"
                ) from None
        self._error: type[Exception] = zstd.ZstdError
        self._d = zstd.ZstdDecompressor()

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        try:
            return bytes(self._d.decompress(data, max_length))
        except self._error as exc:
            raise ValueError(str(exc)) from None

    @property
    def eof(self) -> bool:
        return bool(self._d.eof)

    @property
    def needs_input(self) -> bool:
        return bool(self._d.needs_input)

    @property
    def unused_data(self) -> bytes:
        return bytes(self._d.unused_data)


def _zstd_frame(h: bytes) -> bool:
    """A Zstandard frame or a skippable frame (magic 0x184D2A50..5F), as ``ZstdFile`` reads them."""
    return h[:4] == b"\x28\xb5\x2f\xfd" or (len(h) >= 8 and h[1:4] == b"\x2a\x4d\x18" and h[0] & 0xF0 == 0x50)


_KINDS: list[tuple[str, Callable[[bytes], bool], Callable[[], Any], int]] = [
    ("gzip", lambda h: h[:2] == b"\x1f\x8b", lambda: zlib.decompressobj(31), 0),
    ("bzip2", lambda h: h[:3] == b"BZh" and h[3:4].isdigit(), bz2.BZ2Decompressor, 0),
    ("xz", lambda h: h[:6] == b"\xfd7zXZ\x00", lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ), 0),
    ("lzma", lambda h: h[:2] == b"\x5d\x00" and h[2:3] == b"\x00",
     lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE), 0),
    ("lz4", lambda h: h[:4] == b"\x04\x22\x4d\x18", _Lz4, 0),
    ("zstd", _zstd_frame, _Zstd, 0),
    ("zlib", _zlib_ok, zlib.decompressobj, 0),
    ("joblib-zf", lambda h: _zf_start(h) is not None, _zf_decompressor, 21),
]


def _zf_start(head: bytes) -> int | None:
    """Where the zlib stream of an old joblib ``ZF`` file starts (None: not one).

    joblib's ``write_zfile`` wrote ``b"ZF"``, the hex length left-justified to ``len(hex(2**64))`` (19) and
    the zlib stream; ``read_zfile`` skips one more byte when it is a space (files of older versions, whose
    length field was one longer). The stream starts right after the padding, at 21 or 22.
    """
    if head[:4] != b"ZF0x":
        return None
    for start in (21, 22, 23):
        field = head[2:start].rstrip(b" L")
        if _zlib_ok(head[start : start + 2]) and all(c in b"0123456789abcdefx" for c in field.lower()):
            return start
    return None


class CompressedHandler:
    """gzip, bz2, xz, lz4 and zstd streams (joblib's and pandas' compressors): decompressed within limits, scanned by
    content."""
    id = "compressed"
    priority = 30

    def sniff(self, probe: Probe) -> bool:
        return any(test(probe.head) for _, test, _, _ in _KINDS)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        head = stream.read(64)
        stream.seek(0)
        match = next((k for k in _KINDS if k[1](head)), None)
        if match is None:  # pragma: no cover - sniff guarantees a match
            raise AnalysisError("unknown compression")
        kind, _test, factory, skip = match
        if kind == "joblib-zf":
            skip = _zf_start(head) or skip
        ctx.saw_format(kind)
        stream.seek(skip)
        import tempfile

        limit = ctx.limits.max_member_bytes
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            total = _inflate(stream, spool, factory, limit, size, ctx, kind)
            spool.seek(0)
            sub = ctx.child(f"<{kind}>")
            fmt = sub.scan_stream(spool, total, "")  # type: ignore[arg-type]
            if fmt is None:
                sub.error(f"content of the {kind} stream is not a recognised model or archive format")


def _outputs(d: Any, data: bytes) -> Any:
    """Feed ``data`` to a decompressor, yielding bounded output chunks (zlib- and bz2-style APIs)."""
    step = 1 << 22
    if hasattr(d, "unconsumed_tail"):
        yield d.decompress(data, step)
        while d.unconsumed_tail and not d.eof:
            yield d.decompress(d.unconsumed_tail, step)
    else:
        yield d.decompress(data, step)
        while not d.eof and not d.needs_input:
            yield d.decompress(b"", step)


#: Formats whose standard readers (gzip.GzipFile, bz2.BZ2File, lzma.LZMAFile, lz4.frame) read several streams
#: back to back as one: joblib and pandas see the concatenation, so it is what must be analysed (a payload
#: split across gzip members hid from scanners that stop at the first one: the nullifAI technique).
_MULTI_STREAM = {"gzip": b"\x1f\x8b", "bzip2": b"BZh", "xz": b"\xfd7zXZ\x00", "lz4": b"\x04\x22\x4d\x18",
                 "zstd": b"\x28\xb5\x2f\xfd"}


def _next_stream(d: Any, src: BinaryIO, kind: str) -> bytes | None:
    """The input that starts the next stream of a multi-stream file, or None when the file ends here.

    Like gzip's reader, zero padding between gzip members is skipped; other trailing bytes end the data (the
    standard readers either ignore them or fail, neither of which loads more content).
    """
    magic = _MULTI_STREAM.get(kind)
    if magic is None:
        return None
    rest = bytes(d.unused_data)
    while True:
        if kind == "gzip":
            rest = rest.lstrip(b"\x00")
        if len(rest) >= len(magic) and kind == "zstd":
            return rest if len(rest) >= 8 and _zstd_frame(rest) else None
        if len(rest) >= len(magic):
            return rest if rest.startswith(magic) else None
        more = src.read(1 << 20)
        if not more:
            return None
        rest += more


def _inflate(
    src: BinaryIO, dst: Any, factory: Callable[[], Any], limit: int, size: int, ctx: ScanContext, kind: str
) -> int:
    """Decompress every stream of ``src`` (back to back, as the standard readers do) into ``dst``, with size
    and ratio limits over the whole output."""
    d = factory()
    total = 0
    lim = ctx.limits
    pending = b""
    try:
        while True:
            chunk = pending or src.read(1 << 20)
            pending = b""
            if not chunk:
                break
            for out in _outputs(d, chunk):
                total += len(out)
                if total > limit:
                    raise LimitExceeded("max_member_bytes", limit, f"{kind} stream expands past {limit} bytes")
                if total > lim.ratio_floor_bytes and size and total / size > lim.max_ratio:
                    raise LimitExceeded(
                        "max_ratio", lim.max_ratio,
                        f"{kind} stream expands more than {lim.max_ratio}x ({size} -> {total}+ bytes): "
                        "possible decompression bomb",
                    )
                dst.write(out)
            if d.eof:
                nxt = _next_stream(d, src, kind)
                if nxt is None:
                    break
                d = factory()
                pending = nxt
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
        raise AnalysisError(f"corrupt {kind} stream after {total} decompressed bytes: {exc}") from None
    if not d.eof:
        raise AnalysisError(f"{kind} stream is truncated (ended after {total} decompressed bytes)")
    return total


register(CompressedHandler())
