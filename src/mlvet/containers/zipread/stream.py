"""Member streams: one member's bytes exactly as miniz (``torch.load``) produces them, in bounded memory.

Stored members are a window over the file (``uncompressed_size`` bytes, like miniz); deflated members are
inflated incrementally. Size and ratio limits stop a bomb while it inflates, and what can only be known
once the data is read (CRC, the real inflated size) is noted as an anomaly at the end of the stream.
"""

from __future__ import annotations

import io
import zlib
from typing import TYPE_CHECKING, BinaryIO, Final

from mlvet.containers.zipread.anomaly import PYTHON_VIEW, AnomalyLog, ZipAnomaly
from mlvet.containers.zipread.records import (
    IO_CHUNK,
    METHOD_DEFLATE,
    U32_MAX,
    MiB,
    ZipFormatError,
    ZipLimitError,
    ZipMember,
    read_at,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

#: How far past its declared size a deflated member may inflate before it is treated as a bomb.
ZIP_BOMB_SLACK: Final = 1 * MiB


class MemberStream(io.RawIOBase):
    """Raw stream of one member's bytes as miniz would produce them (bounded memory)."""

    def __init__(
        self,
        fileobj: BinaryIO,
        log: AnomalyLog,
        member: ZipMember,
        max_size: int,
        max_ratio: int | None,
        ratio_floor_bytes: int,
    ) -> None:
        super().__init__()
        self._log = log
        self._member = member
        self._f = fileobj
        self._max_size = max_size
        self._max_ratio = max_ratio
        self._ratio_floor = ratio_floor_bytes
        self._delivered = 0
        self._crc = 0
        self._done = False
        self._deflate = member.method == METHOD_DEFLATE
        self._in_pos = member.data_offset
        self._in_remaining = member.compressed_size if self._deflate else member.stored_length
        self._dec = zlib.decompressobj(-15) if self._deflate else None
        self._in_consumed = 0
        self._oversize_noted = False
        self._empty = member.is_dir or (member.compressed_size == 0 and member.sizes_known)

    def readable(self) -> bool:
        return True

    def readinto(self, b: WriteableBuffer, /) -> int:
        view = memoryview(b).cast("B")
        if self._done or len(view) == 0:
            return 0
        if self._empty:
            self._finish()
            return 0
        data = self._next(len(view))
        if not data:
            return 0
        view[: len(data)] = data
        return len(data)

    # -- internals -------------------------------------------------------------------------------------

    def _limit_hit(self) -> ZipLimitError:
        return ZipLimitError(
            "zip_member_bytes",
            self._max_size,
            f"member {self._member.name!r}: data exceeds the limit of {self._max_size} bytes",
        )

    def _next(self, want: int) -> bytes:
        allowed = self._max_size - self._delivered
        if self._dec is None:
            if self._in_remaining == 0:
                self._finish()
                return b""
            if allowed <= 0:
                raise self._limit_hit()
            n = min(want, allowed, self._in_remaining, IO_CHUNK * 16)
            data = read_at(self._f, self._in_pos, n)
            if len(data) != n:
                raise ZipFormatError(f"member {self._member.name!r}: data truncated at offset {self._in_pos}")
            self._in_pos += n
            self._in_remaining -= n
            return self._deliver(data)
        return self._inflate(want, allowed)

    def _inflate(self, want: int, allowed: int) -> bytes:
        dec = self._dec
        assert dec is not None
        while True:
            if dec.eof:
                self._finish()
                return b""
            src = dec.unconsumed_tail
            if not src and self._in_remaining > 0:
                n = min(IO_CHUNK, self._in_remaining)
                src = read_at(self._f, self._in_pos, n)
                if len(src) != n:
                    raise ZipFormatError(
                        f"member {self._member.name!r}: compressed data truncated at offset {self._in_pos}"
                    )
                self._in_pos += n
                self._in_remaining -= n
                self._in_consumed += n
            # With the budget spent, ask for one byte: it tells "more output" from "stream ends here".
            limit = min(want, allowed) if allowed > 0 else 1
            try:
                out = dec.decompress(src, limit)
            except zlib.error as exc:
                raise ZipFormatError(f"member {self._member.name!r}: corrupt deflate data ({exc})") from exc
            if out:
                if allowed <= 0:
                    raise self._limit_hit()
                return self._deliver(out)
            if dec.eof:
                self._finish()
                return b""
            if not dec.unconsumed_tail and self._in_remaining == 0:
                raise ZipFormatError(
                    f"member {self._member.name!r}: deflate stream ends before its end marker "
                    "(truncated; torch.load fails on it too)"
                )

    def _deliver(self, data: bytes) -> bytes:
        self._delivered += len(data)
        self._crc = zlib.crc32(data, self._crc)
        m = self._member
        if self._deflate and m.sizes_known and self._delivered > m.uncompressed_size:
            if not self._oversize_noted:
                self._oversize_noted = True
                self._log.note(
                    ZipAnomaly(
                        "size_mismatch",
                        m.name,
                        f"inflates to more than the declared {m.uncompressed_size} bytes: miniz stops "
                        "with an error (torch.load fails) while lenient readers return the extra data",
                    )
                )
            if self._delivered > 2 * m.uncompressed_size + ZIP_BOMB_SLACK:
                raise ZipLimitError(
                    "zip_declared_size",
                    m.uncompressed_size,
                    f"member {m.name!r}: inflated {self._delivered} bytes, far beyond the declared "
                    f"{m.uncompressed_size} (zip bomb?)",
                )
        if (
            self._max_ratio is not None
            and self._deflate
            and self._delivered > self._ratio_floor
            and self._delivered > self._max_ratio * max(self._in_consumed, 1)
        ):
            raise ZipLimitError(
                "zip_ratio",
                self._max_ratio,
                f"member {m.name!r}: compression ratio above {self._max_ratio}:1 (zip bomb?)",
            )
        return data

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        m = self._member
        if not m.sizes_known or self._empty:
            return
        if self._deflate and self._delivered != m.uncompressed_size and not self._oversize_noted:
            self._log.note(
                ZipAnomaly(
                    "size_mismatch",
                    m.name,
                    f"inflates to {self._delivered} bytes but {m.uncompressed_size} are declared: miniz "
                    "(torch.load) reports an unexpected decompressed size",
                )
            )
        if (self._crc & U32_MAX) != m.crc32 and m.crc32 == 0:
            self._log.note(
                ZipAnomaly(
                    "crc_not_recorded",
                    m.name,
                    "CRC-32 is recorded as 0 (what torch.save writes after "
                    "torch.serialization.set_crc32_options(False)): torch.load ignores it, "
                    f"{PYTHON_VIEW} raises BadZipFile when reading the member",
                )
            )
        elif (self._crc & U32_MAX) != m.crc32:
            self._log.note(
                ZipAnomaly(
                    "crc_mismatch",
                    m.name,
                    f"CRC-32 of the data is {self._crc & U32_MAX:#010x}, the central directory says "
                    f"{m.crc32:#010x}: {PYTHON_VIEW} raises BadZipFile when reading it, but torch.load "
                    "never checks CRCs and loads it (CVE-2025-10156 class bypass)",
                )
            )

