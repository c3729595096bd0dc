"""ZIP record layouts, the member model and local-header parsing: the bytes every other module reads.

A ZIP is a sequence of local headers (each followed by its data), a central directory that lists them,
and an end record that points at the directory. This module knows the fixed layouts of those records,
the flag and method values that matter to ``torch.load``'s reader (miniz), the :class:`ZipMember` that
the rest of the package passes around, and how a single local header is parsed. It reads through
:func:`read_at` only, so a hostile offset can never seek outside the file or read more than asked.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO, Final

from mlvet.errors import AnalysisError, LimitExceeded

SIG_LOCAL: Final = b"PK\x03\x04"
SIG_CENTRAL: Final = b"PK\x01\x02"
SIG_EOCD: Final = b"PK\x05\x06"
SIG_ZIP64_EOCD: Final = b"PK\x06\x06"
SIG_ZIP64_LOCATOR: Final = b"PK\x06\x07"
SIG_DATA_DESCRIPTOR: Final = b"PK\x07\x08"

LOCAL_HEADER_SIZE: Final = 30
CENTRAL_HEADER_SIZE: Final = 46
EOCD_SIZE: Final = 22
ZIP64_EOCD_SIZE: Final = 56
ZIP64_LOCATOR_SIZE: Final = 20
U32_MAX: Final = 0xFFFFFFFF

FLAG_ENCRYPTED: Final = 0x0001
FLAG_DATA_DESCRIPTOR: Final = 0x0008
FLAG_COMPRESSED_PATCH: Final = 0x0020
FLAG_STRONG_ENCRYPTION: Final = 0x0040
FLAG_UTF8: Final = 0x0800
FLAG_LOCAL_DIR_MASKED: Final = 0x2000

METHOD_STORED: Final = 0
METHOD_DEFLATE: Final = 8

EOCD_STRUCT: Final = struct.Struct("<4s4H2LH")
ZIP64_LOCATOR_STRUCT: Final = struct.Struct("<4sLQL")
ZIP64_EOCD_STRUCT: Final = struct.Struct("<4sQ2H2L4Q")
CENTRAL_STRUCT: Final = struct.Struct("<4s6H3L5H2L")
LOCAL_STRUCT: Final = struct.Struct("<4s5H3L2H")

#: Read granularity for member data, gap scans and the central directory.
IO_CHUNK: Final = 64 * 1024
# Offsets beyond this cannot be in any real file (and overflow seek()); such reads return nothing.
_MAX_OFFSET: Final = 1 << 62
MiB: Final = 1024 * 1024


class ZipFormatError(AnalysisError):
    """The archive (or one member) cannot be read at all: no EOCD, truncated directory, corrupt deflate..."""


class ZipLimitError(LimitExceeded):
    """A size limit was hit while extracting a member (``max_size``, declared-size excess, or ratio)."""

    def __init__(self, what: str, limit: int, message: str) -> None:
        super().__init__(what, limit, message)


@dataclass(frozen=True)
class ZipMember:
    """One archive entry, with the offsets miniz would use.

    ``header_offset`` is the value stored in the central directory (before any bias);
    ``data_offset`` is the absolute file offset of the data: local header offset + 30 + *local* name length
    + *local* extra length, exactly as miniz computes it (``-1`` when the local header is unreadable).
    """

    name: str
    local_name: str | None
    method: int
    flags: int
    crc32: int
    compressed_size: int
    uncompressed_size: int
    header_offset: int
    data_offset: int
    #: Position in the central directory (``-1`` for entries found only by local-header scanning).
    index: int = -1
    raw_name: bytes = b""
    local_flags: int | None = None
    external_attr: int = 0
    #: "central" for central-directory entries; "orphan"/"scan" for local headers found by scanning.
    origin: str = "central"
    #: False when sizes were inferred (data descriptor entry found by scanning): no size/CRC checks.
    sizes_known: bool = True

    @property
    def is_dir(self) -> bool:
        """miniz's notion of a directory: name ends with '/' or the DOS directory attribute is set."""
        return self.raw_name.endswith(b"/") or bool(self.external_attr & 0x10)

    @property
    def stored_length(self) -> int:
        """Bytes of file data miniz reads for this member (stored: uncompressed size; else compressed)."""
        if self.method == METHOD_STORED and self.sizes_known:
            return self.uncompressed_size
        return self.compressed_size


def read_at(fileobj: BinaryIO, offset: int, n: int) -> bytes:
    """Read up to ``n`` bytes at ``offset``; short only at end of file. Never raises on negative offsets."""
    if offset < 0 or n <= 0 or offset > _MAX_OFFSET:
        return b""
    try:
        fileobj.seek(offset)
        parts: list[bytes] = []
        remaining = n
        while remaining > 0:
            chunk = fileobj.read(remaining)
            if not chunk:
                break
            parts.append(chunk)
            remaining -= len(chunk)
    except (OSError, ValueError, OverflowError) as exc:
        raise ZipFormatError(f"I/O error reading {n} bytes at offset {offset}: {exc}") from exc
    return b"".join(parts)


def decode_name(raw: bytes) -> str:
    """Names are bytes to miniz; torch encodes lookups as UTF-8. Undecodable bytes stay visible."""
    return raw.decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class LocalHeader:
    """A parsed local file header; ``data_offset`` is where miniz starts reading the member's data."""

    offset: int
    flags: int
    method: int
    crc32: int
    compressed_size: int
    uncompressed_size: int
    raw_name: bytes
    extra: bytes
    data_offset: int


def parse_local(fileobj: BinaryIO, size: int, offset: int) -> LocalHeader | None:
    """Parse a local header at ``offset`` (None if there is no complete one)."""
    if offset < 0 or offset + LOCAL_HEADER_SIZE > size:
        return None
    head = read_at(fileobj, offset, LOCAL_HEADER_SIZE)
    if len(head) != LOCAL_HEADER_SIZE:
        return None
    sig, _needed, flags, method, _t, _d, crc, csize, usize, nlen, elen = LOCAL_STRUCT.unpack(head)
    if sig != SIG_LOCAL:
        return None
    var = read_at(fileobj, offset + LOCAL_HEADER_SIZE, nlen + elen)
    if len(var) != nlen + elen:
        return None
    raw_name, extra = var[:nlen], var[nlen:]
    if U32_MAX in (csize, usize):
        z64 = zip64_extra(extra, usize == U32_MAX, csize == U32_MAX, False)
        if z64 is not None:
            usize = z64[0] if z64[0] is not None else usize
            csize = z64[1] if z64[1] is not None else csize
    data_offset = offset + LOCAL_HEADER_SIZE + nlen + elen
    return LocalHeader(offset, flags, method, crc, csize, usize, raw_name, extra, data_offset)


def zip64_extra(
    extra: bytes, want_usize: bool, want_csize: bool, want_offset: bool
) -> tuple[int | None, int | None, int | None] | None:
    """Values from a zip64 extended-information field (0x0001), in miniz's order; None if absent.

    Raises ZipFormatError where miniz's ``mz_zip_file_stat_internal`` fails (truncated extra records or a
    zip64 field too short for the values marked 0xFFFFFFFF).
    """
    pos = 0
    while pos < len(extra):
        if len(extra) - pos < 4:
            raise ZipFormatError("corrupt extra field: a record header is truncated")
        field_id, field_size = struct.unpack_from("<HH", extra, pos)
        if field_size + 4 > len(extra) - pos:
            raise ZipFormatError("corrupt extra field: a record overruns the extra data")
        if field_id == 0x0001:
            data = extra[pos + 4 : pos + 4 + field_size]
            values: list[int | None] = []
            cursor = 0
            for wanted in (want_usize, want_csize, want_offset):
                if not wanted:
                    values.append(None)
                    continue
                if len(data) - cursor < 8:
                    raise ZipFormatError("zip64 extra field is too short for the sizes marked 0xFFFFFFFF")
                values.append(struct.unpack_from("<Q", data, cursor)[0])
                cursor += 8
            return values[0], values[1], values[2]
        pos += 4 + field_size
    return None


def extra_is_well_formed(extra: bytes) -> bool:
    """False where CPython's ``ZipInfo._decodeExtra`` raises (a record overrunning the extra data)."""
    pos = 0
    while len(extra) - pos >= 4:
        _field_id, field_size = struct.unpack_from("<HH", extra, pos)
        if field_size + 4 > len(extra) - pos:
            return False
        pos += 4 + field_size
    return True
