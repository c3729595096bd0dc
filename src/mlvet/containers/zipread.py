"""A ZIP reader that sees an archive the way ``torch.load`` does, not the way Python's ``zipfile`` does.

Why this exists: ``torch.load`` reads checkpoints with PyTorch's bundled miniz (``PyTorchStreamReader`` in
``caffe2/serialize/inline_container.cc``). miniz and ``zipfile`` disagree on many details, and each
disagreement is a scanner bypass: a file that makes ``zipfile`` raise (bad CRC, local/central name mismatch,
an unreadable extra member, a stray end-of-central-directory signature in the last 21 bytes, ...) blinds a
``zipfile``-based scanner (picklescan, modelscan) while ``torch.load`` still unpickles ``data.pkl``. The
semantics reproduced here, with sources, are summarised in ``notes/zip_torch_semantics.md``:

* the end-of-central-directory (EOCD) record is found by miniz's backwards scan in 4096-byte steps
  (:func:`find_eocd`), comments are not validated, and zip64 records are found through the locator;
* offsets are absolute (no "prefixed archive" bias, unlike ``zipfile``);
* a member's data starts after the *local* header's name and extra fields; the local name is never
  compared with the central one; local flags are ignored;
* CRC-32 is never checked (PyTorch builds miniz with ``MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS``);
* a stored member's data is ``uncompressed_size`` bytes long (miniz reads that many), a deflated member's
  input is ``compressed_size`` bytes and must inflate to exactly ``uncompressed_size`` bytes;
* records are looked up case-insensitively (ASCII) by binary search over a heap-sorted index, which decides
  which of several same-named members ``torch.load`` uses (:meth:`ZipArchive.locate`).

Everything that would make a *different* reader see something else is reported as a :class:`ZipAnomaly`
so the caller can both analyse what torch loads and flag the evasion attempt. The reader never loads a
whole file: it reads the EOCD region, the central directory, each local header, and member data on demand
through bounded streams.
"""

from __future__ import annotations

import io
import itertools
import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Final

from mlvet.errors import AnalysisError, LimitExceeded

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "ZipAnomaly",
    "ZipArchive",
    "ZipFormatError",
    "ZipLimitError",
    "ZipMember",
    "find_eocd",
    "find_eocd_any",
    "has_zip_structure",
    "looks_like_zip",
    "scan_local_headers",
]

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

_EOCD_STRUCT: Final = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR_STRUCT: Final = struct.Struct("<4sLQL")
_ZIP64_EOCD_STRUCT: Final = struct.Struct("<4sQ2H2L4Q")
_CENTRAL_STRUCT: Final = struct.Struct("<4s6H3L5H2L")
_LOCAL_STRUCT: Final = struct.Struct("<4s5H3L2H")

# miniz's mz_zip_reader_locate_header_sig: 4096-byte buffer, steps back by 4096 - 3 bytes, gives up once
# it has looked 0xFFFF + 22 bytes back from the end.
_MINIZ_SCAN_BUF: Final = 4096
_MINIZ_SCAN_STEP: Final = _MINIZ_SCAN_BUF - 3
_MINIZ_SCAN_GIVE_UP: Final = 0xFFFF + EOCD_SIZE
# Python's zipfile._EndRecData looks at most this far back from the end.
_PY_EOCD_WINDOW: Final = (1 << 16) + EOCD_SIZE
# zipfile raises NotImplementedError above this "version needed to extract" (miniz ignores the field).
_PY_MAX_EXTRACT_VERSION: Final = 63
# Wide fallback window: covers both readers (miniz can reach ~69.6 KB back).
_WIDE_EOCD_WINDOW: Final = _MINIZ_SCAN_GIVE_UP + 2 * _MINIZ_SCAN_BUF

_IO_CHUNK: Final = 64 * 1024
# Offsets beyond this cannot be in any real file (and overflow seek()); such reads return nothing.
_MAX_OFFSET: Final = 1 << 62
_MiB: Final = 1024 * 1024
_ZIP_BOMB_SLACK: Final = 1 * _MiB

_PYTHON_VIEW: Final = "Python's zipfile (used by picklescan, modelscan and most scanners)"


class ZipFormatError(AnalysisError):
    """The archive (or one member) cannot be read at all: no EOCD, truncated directory, corrupt deflate..."""


class ZipLimitError(LimitExceeded):
    """A size limit was hit while extracting a member (``max_size``, declared-size excess, or ratio)."""

    def __init__(self, what: str, limit: int, message: str) -> None:
        super().__init__(what, limit, message)


@dataclass(frozen=True)
class ZipAnomaly:
    """Something a different ZIP reader would see differently, or that hides bytes from the loader.

    ``code`` is a stable identifier (see ``ANOMALY_CODES``); ``message`` says why it matters.
    """

    code: str
    member: str | None
    message: str


#: Every anomaly code this module can emit, with a one-line meaning (documentation and tests).
ANOMALY_CODES: Final[dict[str, str]] = {
    "crc_mismatch": "member data does not match its CRC-32; zipfile raises, torch.load does not check",
    "crc_not_recorded": "CRC-32 field is 0 (torch.save without CRCs); zipfile raises, torch.load does not",
    "name_mismatch": "local header name differs from the central one; zipfile raises, torch ignores it",
    "encrypted_flag": "encryption flag set (central: both readers refuse the member; local only: ignored)",
    "patch_flag": "compressed-patch flag set in the central directory; both readers refuse the member",
    "masked_directory_flag": "flag 0x2000 set; miniz refuses the whole archive",
    "data_descriptor_flag": "orphan entry whose size had to be inferred from a data descriptor",
    "prefix_bytes": "bytes before the first local header",
    "gap_bytes": "bytes between members that no central directory entry accounts for",
    "duplicate_name": "several central entries with the same name; readers pick different ones",
    "case_collision": "names equal up to ASCII case; torch's lookup is case-insensitive",
    "orphan_local_header": "local header not referenced by the central directory; torch never loads it",
    "overlapping_members": "member data ranges overlap (shared data or hidden nesting)",
    "unsupported_method": "compression method other than stored/deflate; torch cannot read the member",
    "size_mismatch": "sizes disagree (stored compressed != uncompressed, or inflated size != declared)",
    "zip64": "zip64 records present but inconsistent with what Python's zipfile assumes",
    "comment": "archive comment present (bytes never loaded by torch)",
    "eocd_not_at_end": "bytes after the end-of-central-directory record (or comment length mismatch)",
    "eocd_divergence": "Python's zipfile finds a different (or no) end-of-central-directory record",
    "cd_offset_mismatch": "central directory is not where the EOCD implies; zipfile rebases, torch does not",
    "bad_local_header": "a central entry points at something that is not a readable local header",
    "data_out_of_bounds": "member data extends past the end of the file",
    "directory_attr": "a non-empty member carries the DOS directory attribute; miniz returns no data",
    "outside_prefix": "member outside the torch archive folder; torch.load refuses the file",
    "version_needed": "'version needed to extract' above 6.3; zipfile refuses the archive, miniz ignores it",
    "bad_extra_field": "malformed extra field; zipfile refuses the archive, miniz ignores it",
    "cd_entry_count_mismatch": "more central entries than the end record declares; torch sees fewer",
    "torch_unreadable": "miniz (torch.load) would refuse the whole archive; parsed leniently anyway",
    "scan_truncated": "the orphan/gap scan stopped at its byte budget",
}


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


def _read_at(fileobj: BinaryIO, offset: int, n: int) -> bytes:
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


def _decode_name(raw: bytes) -> str:
    """Names are bytes to miniz; torch encodes lookups as UTF-8. Undecodable bytes stay visible."""
    return raw.decode("utf-8", "backslashreplace")


def looks_like_zip(head: bytes) -> bool:
    """True if ``head`` (the first bytes of a file) starts like a ZIP archive.

    Only the start is checked; use :func:`has_zip_structure` for archives with prefixed bytes.
    ``torch.load`` itself only treats a file as a zip checkpoint when it starts with ``PK\\x03\\x04``.
    """
    return head.startswith((SIG_LOCAL, SIG_EOCD))


def find_eocd(fileobj: BinaryIO, size: int) -> int | None:
    """Offset of the EOCD record exactly as miniz finds it, or None where miniz fails.

    miniz scans backwards in 4096-byte buffers, taking the last ``PK\\x05\\x06`` that has at least 22
    bytes after it (comment length is not checked), and gives up once it has looked back 0xFFFF + 22
    bytes (so up to ~69.6 KB are searched, vs 65557 bytes for Python). When the next step would start
    before offset 0, miniz computes a negative offset (an unsigned wrap-around) and its read fails; that
    failure is reproduced because ``torch.load`` fails the same way.
    """
    if size < EOCD_SIZE:
        return None
    cur = max(size - _MINIZ_SCAN_BUF, 0)
    while True:
        if cur < 0:
            return None
        n = min(_MINIZ_SCAN_BUF, size - cur)
        buf = _read_at(fileobj, cur, n)
        if len(buf) != n:
            return None
        end = n
        while True:
            i = buf.rfind(SIG_EOCD, 0, end)
            if i < 0:
                break
            if size - (cur + i) >= EOCD_SIZE:
                return cur + i
            end = i + 3
        if cur == 0 or size - cur >= _MINIZ_SCAN_GIVE_UP:
            return None
        cur -= _MINIZ_SCAN_STEP


def find_eocd_any(fileobj: BinaryIO, size: int) -> int | None:
    """The last EOCD signature with 22 bytes after it in a window wider than both readers search.

    Used as a lenient fallback so that an archive torch cannot open is still analysed (other loaders
    may open it) and flagged.
    """
    if size < EOCD_SIZE:
        return None
    start = max(size - _WIDE_EOCD_WINDOW, 0)
    buf = _read_at(fileobj, start, size - start)
    end = len(buf)
    while True:
        i = buf.rfind(SIG_EOCD, 0, end)
        if i < 0:
            return None
        if len(buf) - i >= EOCD_SIZE:
            return start + i
        end = i + 3


def _python_find_eocd(fileobj: BinaryIO, size: int) -> int | None:
    """Where CPython's ``zipfile._EndRecData`` finds the EOCD (None: it raises "not a zip file")."""
    if size < EOCD_SIZE:
        return None
    tail = _read_at(fileobj, size - EOCD_SIZE, EOCD_SIZE)
    if tail[:4] == SIG_EOCD and tail[-2:] == b"\x00\x00":
        return size - EOCD_SIZE
    start = max(size - _PY_EOCD_WINDOW, 0)
    buf = _read_at(fileobj, start, size - start)
    i = buf.rfind(SIG_EOCD)
    if i < 0 or len(buf) - i < EOCD_SIZE:
        return None
    return start + i


def has_zip_structure(fileobj: BinaryIO, size: int) -> bool:
    """True if the file has a ZIP end record anywhere a reader could find it (prefixed archives too)."""
    return find_eocd_any(fileobj, size) is not None


@dataclass(frozen=True)
class _Local:
    offset: int
    flags: int
    method: int
    crc32: int
    compressed_size: int
    uncompressed_size: int
    raw_name: bytes
    extra: bytes
    data_offset: int


def _parse_local(fileobj: BinaryIO, size: int, offset: int) -> _Local | None:
    """Parse a local header at ``offset`` (None if there is no complete one)."""
    if offset < 0 or offset + LOCAL_HEADER_SIZE > size:
        return None
    head = _read_at(fileobj, offset, LOCAL_HEADER_SIZE)
    if len(head) != LOCAL_HEADER_SIZE:
        return None
    sig, _needed, flags, method, _t, _d, crc, csize, usize, nlen, elen = _LOCAL_STRUCT.unpack(head)
    if sig != SIG_LOCAL:
        return None
    var = _read_at(fileobj, offset + LOCAL_HEADER_SIZE, nlen + elen)
    if len(var) != nlen + elen:
        return None
    raw_name, extra = var[:nlen], var[nlen:]
    if U32_MAX in (csize, usize):
        z64 = _zip64_extra(extra, usize == U32_MAX, csize == U32_MAX, False)
        if z64 is not None:
            usize = z64[0] if z64[0] is not None else usize
            csize = z64[1] if z64[1] is not None else csize
    data_offset = offset + LOCAL_HEADER_SIZE + nlen + elen
    return _Local(offset, flags, method, crc, csize, usize, raw_name, extra, data_offset)


def _zip64_extra(
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


def _extra_is_well_formed(extra: bytes) -> bool:
    """False where CPython's ``ZipInfo._decodeExtra`` raises (a record overrunning the extra data)."""
    pos = 0
    while len(extra) - pos >= 4:
        _field_id, field_size = struct.unpack_from("<HH", extra, pos)
        if field_size + 4 > len(extra) - pos:
            return False
        pos += 4 + field_size
    return True


def _sort_like_miniz(keys: list[bytes]) -> list[int]:
    """Indices sorted by miniz's heap sort (``mz_zip_reader_sort_central_dir_offsets_by_filename``).

    Heap sort is not stable, so the exact sift sequence matters: it decides which of several
    case-insensitively equal names a binary search hits first, i.e. which one ``torch.load`` reads.
    ``keys`` are ASCII-lowercased names; bytes ``<`` equals miniz's comparison (shorter prefix first).
    """
    size = len(keys)
    idx = list(range(size))
    if size <= 1:
        return idx

    def sift(root: int, end: int) -> None:
        while True:
            child = 2 * root + 1
            if child >= end:
                return
            if child + 1 < end and keys[idx[child]] < keys[idx[child + 1]]:
                child += 1
            if not keys[idx[root]] < keys[idx[child]]:
                return
            idx[root], idx[child] = idx[child], idx[root]
            root = child

    start = (size - 2) >> 1
    while True:
        sift(start, size)
        if start == 0:
            break
        start -= 1
    end = size - 1
    while end > 0:
        idx[end], idx[0] = idx[0], idx[end]
        sift(0, end)
        end -= 1
    return idx


class _MemberRaw(io.RawIOBase):
    """Raw stream of one member's bytes as miniz would produce them (bounded memory)."""

    def __init__(
        self,
        archive: ZipArchive,
        member: ZipMember,
        max_size: int,
        max_ratio: int | None,
        ratio_floor_bytes: int,
    ) -> None:
        super().__init__()
        self._archive = archive
        self._member = member
        self._f = archive.fileobj
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
            n = min(want, allowed, self._in_remaining, _IO_CHUNK * 16)
            data = _read_at(self._f, self._in_pos, n)
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
                n = min(_IO_CHUNK, self._in_remaining)
                src = _read_at(self._f, self._in_pos, n)
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
                self._archive._note(
                    ZipAnomaly(
                        "size_mismatch",
                        m.name,
                        f"inflates to more than the declared {m.uncompressed_size} bytes: miniz stops "
                        "with an error (torch.load fails) while lenient readers return the extra data",
                    )
                )
            if self._delivered > 2 * m.uncompressed_size + _ZIP_BOMB_SLACK:
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
            self._archive._note(
                ZipAnomaly(
                    "size_mismatch",
                    m.name,
                    f"inflates to {self._delivered} bytes but {m.uncompressed_size} are declared: miniz "
                    "(torch.load) reports an unexpected decompressed size",
                )
            )
        if (self._crc & U32_MAX) != m.crc32 and m.crc32 == 0:
            self._archive._note(
                ZipAnomaly(
                    "crc_not_recorded",
                    m.name,
                    "CRC-32 is recorded as 0 (what torch.save writes after "
                    "torch.serialization.set_crc32_options(False)): torch.load ignores it, "
                    f"{_PYTHON_VIEW} raises BadZipFile when reading the member",
                )
            )
        elif (self._crc & U32_MAX) != m.crc32:
            self._archive._note(
                ZipAnomaly(
                    "crc_mismatch",
                    m.name,
                    f"CRC-32 of the data is {self._crc & U32_MAX:#010x}, the central directory says "
                    f"{m.crc32:#010x}: {_PYTHON_VIEW} raises BadZipFile when reading it, but torch.load "
                    "never checks CRCs and loads it (CVE-2025-10156 class bypass)",
                )
            )


class ZipArchive:
    """Central-directory view of a ZIP file with miniz (``torch.load``) semantics.

    ``strict=True`` raises :class:`ZipFormatError` wherever miniz would refuse the archive; by default
    such conditions are recorded as a ``torch_unreadable`` anomaly and parsing continues when it can
    (other loaders may still open the file, so it must still be analysed).

    The underlying file object is shared by every stream returned by :meth:`open` (each read seeks first);
    not thread-safe.
    """

    def __init__(
        self,
        fileobj: BinaryIO,
        size: int,
        *,
        strict: bool = False,
        max_members: int = 1_000_000,
        max_gap_scan: int = 64 * _MiB,
    ) -> None:
        self.fileobj = fileobj
        self.size = size
        self.strict = strict
        self._anomalies: list[ZipAnomaly] = []
        self._checked: list[ZipAnomaly] = []
        self._checked_keys: set[tuple[str, str | None]] = set()
        self.zip64 = False
        self.bias = 0
        self.comment = b""
        self.gaps: tuple[tuple[int, int], ...] = ()
        self.orphans: tuple[ZipMember, ...] = ()
        self._sorted: list[int] | None = None
        self._keys: list[bytes] = []

        self.eocd_offset = self._locate_eocd()
        cd_offset, cd_size, total, num_this_disk, z64_extent = self._read_end_records(max_members)
        self.cd_offset = cd_offset
        self.cd_size = cd_size
        self.members: tuple[ZipMember, ...] = self._read_central_directory(
            cd_offset, cd_size, total, num_this_disk
        )
        self._keys = [m.raw_name.lower() for m in self.members]
        self._check_names()
        self._check_layout(z64_extent, max_gap_scan)
        self.anomalies: tuple[ZipAnomaly, ...] = tuple(self._anomalies)

    # -- public API ------------------------------------------------------------------------------------

    def checked_anomalies(self) -> tuple[ZipAnomaly, ...]:
        """Anomalies found while reading member data (CRC, inflated size); grows as streams are read."""
        return tuple(self._checked)

    def all_anomalies(self) -> tuple[ZipAnomaly, ...]:
        """Parse-time anomalies followed by those found while reading data so far."""
        return self.anomalies + tuple(self._checked)

    @property
    def torch_prefix(self) -> str | None:
        """The folder torch prefixes every record with: the first central entry's name up to its first
        '/' (``PyTorchStreamReader::init``). None if that name has no '/' (torch.load then refuses)."""
        if not self.members:
            return None
        raw = self.members[0].raw_name
        cut = raw.find(b"/")
        return None if cut < 0 else _decode_name(raw[:cut])

    def locate(self, name: str | bytes) -> ZipMember | None:
        """The member miniz's ``mz_zip_reader_locate_file(name, flags=0)`` returns (case-insensitive)."""
        target = (name.encode("utf-8") if isinstance(name, str) else name).lower()
        if self._sorted is None:
            self._sorted = _sort_like_miniz(self._keys)
        lo, hi = 0, len(self._sorted) - 1
        while lo <= hi:
            mid = lo + ((hi - lo) >> 1)
            index = self._sorted[mid]
            key = self._keys[index]
            if key == target:
                return self.members[index]
            if key < target:
                lo = mid + 1
            else:
                hi = mid - 1
        return None

    def torch_record(self, record: str) -> ZipMember | None:
        """The member ``PyTorchStreamReader::getRecord(record)`` reads, e.g. ``"data.pkl"``."""
        prefix = self.torch_prefix
        if prefix is None:
            return None
        return self.locate(f"{prefix}/{record}")

    def open(
        self,
        member: ZipMember,
        max_size: int,
        *,
        max_ratio: int | None = None,
        ratio_floor_bytes: int = 64 * _MiB,
    ) -> BinaryIO:
        """A readable stream of the member's bytes as torch would get them. Memory stays bounded.

        Stored members are a window over the file (``uncompressed_size`` bytes, like miniz); deflated
        members are inflated incrementally from ``compressed_size`` input bytes. CRC is never enforced,
        but a mismatch is recorded (see :meth:`checked_anomalies`) once the stream is read to its end.
        Raises :class:`ZipLimitError` when more than ``max_size`` bytes would be produced, when inflation
        runs far past the declared size, or (``max_ratio``) on a bomb-like ratio; :class:`ZipFormatError`
        on unsupported methods, unreadable headers, truncated or corrupt data.
        """
        if max_size < 0:
            raise ValueError("max_size must be >= 0")
        if member.data_offset < 0:
            raise ZipFormatError(
                f"member {member.name!r}: its local header at offset {member.header_offset + self.bias} "
                "is unreadable (torch.load fails on this record too)"
            )
        if member.method not in (METHOD_STORED, METHOD_DEFLATE) and not member.is_dir:
            raise ZipFormatError(
                f"member {member.name!r}: compression method {member.method} is not supported "
                "(torch.load supports only stored and deflate, and fails on this record too)"
            )
        end = member.data_offset + max(member.compressed_size, member.stored_length)
        if end > self.size and not member.is_dir:
            raise ZipFormatError(
                f"member {member.name!r}: data runs to offset {end}, past the end of the file ({self.size})"
            )
        raw = _MemberRaw(self, member, max_size, max_ratio, ratio_floor_bytes)
        return io.BufferedReader(raw, buffer_size=_IO_CHUNK)

    def read(self, member: ZipMember, max_size: int) -> bytes:
        """Convenience: the whole member (bounded by ``max_size``)."""
        with self.open(member, max_size) as stream:
            return stream.read()

    # -- parsing ---------------------------------------------------------------------------------------

    def _add(self, code: str, member: str | None, message: str) -> None:
        self._anomalies.append(ZipAnomaly(code, member, message))

    def _note(self, anomaly: ZipAnomaly) -> None:
        key = (anomaly.code, anomaly.member)
        if key not in self._checked_keys:
            self._checked_keys.add(key)
            self._checked.append(anomaly)

    def _torch_fatal(self, reason: str) -> None:
        """miniz would refuse the archive: raise in strict mode, else record and continue."""
        message = f"torch.load cannot open this archive: {reason}"
        if self.strict:
            raise ZipFormatError(message)
        self._add("torch_unreadable", None, message + "; other ZIP readers may, so it is analysed anyway")

    def _locate_eocd(self) -> int:
        size = self.size
        eocd = find_eocd(self.fileobj, size)
        py_eocd = _python_find_eocd(self.fileobj, size)
        if eocd is None:
            wide = find_eocd_any(self.fileobj, size)
            if wide is None:
                raise ZipFormatError("not a ZIP archive: no end-of-central-directory record found")
            self._torch_fatal("miniz's backwards scan does not reach the end-of-central-directory record")
            eocd = wide
        if py_eocd != eocd:
            where = (
                "finds none and raises 'File is not a zip file'"
                if py_eocd is None
                else (f"uses the one at offset {py_eocd} instead of {eocd}")
            )
            self._add(
                "eocd_divergence",
                None,
                f"{_PYTHON_VIEW} {where}; such scanners see a different archive than torch.load "
                "(e.g. a stray 'PK\\x05\\x06' in the last 21 bytes, or an EOCD more than 65557 bytes "
                "from the end)",
            )
        return eocd

    def _read_end_records(self, max_members: int) -> tuple[int, int, int, int, tuple[int, int] | None]:
        f, size, eocd = self.fileobj, self.size, self.eocd_offset
        raw = _read_at(f, eocd, EOCD_SIZE)
        if len(raw) != EOCD_SIZE:
            raise ZipFormatError("truncated end-of-central-directory record")
        _sig, disk, cd_disk, n_disk, n_total, cd_size, cd_offset, comment_len = _EOCD_STRUCT.unpack(raw)
        comment_end = eocd + EOCD_SIZE + comment_len
        self.comment = _read_at(f, eocd + EOCD_SIZE, min(comment_len, size - eocd - EOCD_SIZE))
        if comment_len:
            self._add(
                "comment",
                None,
                f"archive comment of {comment_len} bytes: torch.load ignores it, so content hidden "
                "there is never loaded but may be extracted by other tools",
            )
        if comment_end != size:
            what = (
                f"{size - comment_end} bytes follow the end record"
                if comment_end < size
                else f"comment length {comment_len} runs past the end of the file"
            )
            self._add(
                "eocd_not_at_end",
                None,
                f"{what}: miniz does not check this (torch.load still opens the file), "
                "appended data is a common place to hide a second payload",
            )

        # Python's view: zip64 record assumed right before the locator, offsets rebased by "concat".
        python_z64 = eocd - ZIP64_LOCATOR_SIZE - ZIP64_EOCD_SIZE
        py_total, py_cd_size, py_cd_end = n_total, cd_size, eocd
        loc = _read_at(f, eocd - ZIP64_LOCATOR_SIZE, ZIP64_LOCATOR_SIZE) if python_z64 >= 0 else b""
        has_locator = len(loc) == ZIP64_LOCATOR_SIZE and loc[:4] == SIG_ZIP64_LOCATOR
        if has_locator:
            py_rec = _read_at(f, python_z64, ZIP64_EOCD_SIZE)
            if len(py_rec) == ZIP64_EOCD_SIZE and py_rec[:4] == SIG_ZIP64_EOCD:
                fields = _ZIP64_EOCD_STRUCT.unpack(py_rec)
                py_total, py_cd_size, py_cd_end = fields[7], fields[8], python_z64
                py_cd_offset = fields[9]
            else:
                py_cd_offset = cd_offset
        else:
            py_cd_offset = cd_offset
        python_concat = py_cd_end - py_cd_size - py_cd_offset
        python_cd_start = py_cd_end - py_cd_size

        # miniz's view (mz_zip_reader_read_central_dir).
        z64_extent: tuple[int, int] | None = None
        num_this_disk, total, entries_here = disk, n_total, n_disk
        if has_locator and python_z64 >= 0:
            _s, _z64_disk, z64_offset, n_disks = _ZIP64_LOCATOR_STRUCT.unpack(loc)
            rec = b""
            if z64_offset > size - ZIP64_EOCD_SIZE:
                self._torch_fatal(f"the zip64 locator points past the end of the file ({z64_offset})")
            else:
                rec = _read_at(f, z64_offset, ZIP64_EOCD_SIZE)
            if len(rec) == ZIP64_EOCD_SIZE and rec[:4] == SIG_ZIP64_EOCD:
                (_s, rec_size, _mb, _nd, z_disk, z_cd_disk, z_n_disk, z_total, z_cd_size, z_cd_offset) = (
                    _ZIP64_EOCD_STRUCT.unpack(rec)
                )
                self.zip64 = True
                z64_extent = (z64_offset, z64_offset + ZIP64_EOCD_SIZE)
                if z64_offset != python_z64:
                    self._add(
                        "zip64",
                        None,
                        f"zip64 end record is at offset {z64_offset} (from the locator) but "
                        f"{_PYTHON_VIEW} assumes it sits right before the locator at {python_z64}: "
                        "the two readers can use different central directories",
                    )
                if rec_size < ZIP64_EOCD_SIZE - 12:
                    self._torch_fatal("the zip64 end record declares an impossible size")
                if n_disks != 1:
                    self._torch_fatal("the zip64 locator declares a multi-disk archive")
                if z_total > U32_MAX or z_n_disk > U32_MAX or z_cd_size > U32_MAX:
                    self._torch_fatal("zip64 entry count or directory size beyond miniz's limits")
                total, entries_here, cd_size, cd_offset = z_total, z_n_disk, z_cd_size, z_cd_offset
                num_this_disk, cd_disk = z_disk, z_cd_disk
        if total != entries_here or ((num_this_disk | cd_disk) != 0 and (num_this_disk != 1 or cd_disk != 1)):
            self._torch_fatal("the end record describes a multi-disk archive")

        fits = cd_size >= total * CENTRAL_HEADER_SIZE and cd_offset + cd_size <= size
        sig_ok = total == 0 or _read_at(f, cd_offset, 4) == SIG_CENTRAL
        if not (fits and sig_ok):
            # miniz reads the directory at the absolute offset and fails; Python's zipfile rebases.
            py_fits = (
                py_total > 0
                and python_cd_start >= 0
                and py_cd_size >= py_total * CENTRAL_HEADER_SIZE
                and python_cd_start + py_cd_size <= size
            )
            if python_concat != 0 and py_fits and _read_at(f, python_cd_start, 4) == SIG_CENTRAL:
                self._torch_fatal(f"the central directory is not at offset {cd_offset}")
                self.bias = python_concat
                if python_concat > 0:
                    self._add(
                        "prefix_bytes",
                        None,
                        f"{python_concat} bytes precede the archive and offsets are not adjusted: "
                        f"{_PYTHON_VIEW} rebases them, torch.load (miniz) does not and fails",
                    )
                cd_offset, cd_size, total = python_cd_start, py_cd_size, py_total
                if has_locator and py_cd_end == python_z64:
                    z64_extent = (python_z64, python_z64 + ZIP64_EOCD_SIZE)
            elif not fits:
                raise ZipFormatError(
                    f"central directory ({total} entries, {cd_size} bytes at offset {cd_offset}) does not "
                    f"fit in the {size}-byte file (truncated archive?)"
                )
            else:
                raise ZipFormatError(f"no central directory at offset {cd_offset} (corrupt archive)")
        elif python_cd_start != cd_offset:
            self._add(
                "cd_offset_mismatch",
                None,
                f"torch.load reads the central directory at offset {cd_offset}, {_PYTHON_VIEW} at "
                f"{python_cd_start} (it shifts every member by {python_concat:+d} bytes): the two "
                "can see different members",
            )
        if total > max_members:
            raise ZipLimitError(
                "zip_members",
                max_members,
                f"archive declares {total} members, above the limit of {max_members}",
            )
        return cd_offset, cd_size, total, num_this_disk, z64_extent

    def _read_central_directory(
        self, cd_offset: int, cd_size: int, total: int, num_this_disk: int
    ) -> tuple[ZipMember, ...]:
        f = self.fileobj
        members: list[ZipMember] = []
        pos = 0
        # Read the directory in chunks; never the whole file (the directory itself is bounded by size).
        buf = b""
        buf_start = 0

        def need(start: int, length: int) -> bytes:
            nonlocal buf, buf_start
            if start < buf_start or start + length > buf_start + len(buf):
                chunk = max(length, _IO_CHUNK * 4)
                buf = _read_at(f, cd_offset + start, min(chunk, cd_size - start))
                buf_start = start
            rel = start - buf_start
            return buf[rel : rel + length]

        for index in range(total):
            remaining = cd_size - pos
            if remaining < CENTRAL_HEADER_SIZE:
                raise ZipFormatError(f"central directory truncated at entry {index} of {total}")
            head = need(pos, CENTRAL_HEADER_SIZE)
            if len(head) != CENTRAL_HEADER_SIZE or head[:4] != SIG_CENTRAL:
                raise ZipFormatError(f"central directory entry {index} has a bad signature (corrupt archive)")
            (
                _sig,
                _made_by,
                needed,
                flags,
                method,
                mtime,
                _mdate,
                crc,
                csize,
                usize,
                nlen,
                elen,
                clen,
                disk_start,
                _int_attr,
                ext_attr,
                lho,
            ) = _CENTRAL_STRUCT.unpack(head)
            total_len = CENTRAL_HEADER_SIZE + nlen + elen + clen
            if total_len > remaining:
                raise ZipFormatError(f"central directory entry {index} overruns the directory")
            var = need(pos + CENTRAL_HEADER_SIZE, nlen + elen)
            if len(var) != nlen + elen:
                raise ZipFormatError(f"central directory entry {index} is truncated")
            raw_name, extra = var[:nlen], var[nlen:]
            name = _decode_name(raw_name)
            if (needed & 0xFF) > _PY_MAX_EXTRACT_VERSION:
                self._add(
                    "version_needed",
                    name,
                    f"'version needed to extract' is {needed & 0xFF}: {_PYTHON_VIEW} raises "
                    "NotImplementedError when opening the archive, miniz ignores the field",
                )
            if not _extra_is_well_formed(extra):
                self._add(
                    "bad_extra_field",
                    name,
                    f"malformed extra field: {_PYTHON_VIEW} raises BadZipFile when opening the "
                    "archive, miniz only parses it for zip64 sizes",
                )
            if max(csize, usize, lho) == U32_MAX and elen:
                z64 = _zip64_extra(extra, usize == U32_MAX, csize == U32_MAX, lho == U32_MAX)
                if z64 is not None:
                    usize = z64[0] if z64[0] is not None else usize
                    csize = z64[1] if z64[1] is not None else csize
                    lho = z64[2] if z64[2] is not None else lho
            # miniz reads 32 bits at the method offset (method + DOS time), so this check only fires when
            # both are zero, which is what torch.save writes.
            if U32_MAX not in (csize, usize) and (
                (method == 0 and mtime == 0 and usize != csize) or (usize and not csize)
            ):
                self._torch_fatal(f"entry {name!r} has inconsistent sizes")
            if disk_start == 0xFFFF or (disk_start not in (num_this_disk, 1)):
                self._torch_fatal(f"entry {name!r} lives on another disk")
            if csize != U32_MAX and lho + self.bias + LOCAL_HEADER_SIZE + csize > self.size:
                self._torch_fatal(f"entry {name!r} extends past the end of the file")
            if flags & FLAG_LOCAL_DIR_MASKED:
                self._add(
                    "masked_directory_flag",
                    name,
                    "flag bit 13 (masked local headers) is set: miniz refuses the whole archive",
                )
                self._torch_fatal(f"entry {name!r} has flag bit 13 set")
            members.append(
                self._member_from_local(
                    index=index,
                    raw_name=raw_name,
                    name=name,
                    method=method,
                    flags=flags,
                    crc=crc,
                    csize=csize,
                    usize=usize,
                    lho=lho,
                    ext_attr=ext_attr,
                )
            )
            pos += total_len
        if pos < cd_size and need(pos, 4) == SIG_CENTRAL:
            self._add(
                "cd_entry_count_mismatch",
                None,
                f"the central directory holds more entries than the {total} the end record declares: "
                f"torch.load (miniz) reads only {total}, {_PYTHON_VIEW} reads all of them",
            )
        return tuple(members)

    def _member_from_local(
        self,
        *,
        index: int,
        raw_name: bytes,
        name: str,
        method: int,
        flags: int,
        crc: int,
        csize: int,
        usize: int,
        lho: int,
        ext_attr: int,
    ) -> ZipMember:
        local = _parse_local(self.fileobj, self.size, lho + self.bias)
        if local is None:
            self._add(
                "bad_local_header",
                name,
                f"no valid local header at offset {lho + self.bias}: torch.load fails if it reads this "
                "record, zipfile raises 'Bad magic number for file header'",
            )
            return ZipMember(
                name, None, method, flags, crc, csize, usize, lho, -1, index, raw_name, None, ext_attr
            )
        member = ZipMember(
            name,
            _decode_name(local.raw_name),
            method,
            flags,
            crc,
            csize,
            usize,
            lho,
            local.data_offset,
            index,
            raw_name,
            local.flags,
            ext_attr,
        )
        if local.raw_name != raw_name:
            self._add(
                "name_mismatch",
                name,
                f"local header names it {member.local_name!r}: {_PYTHON_VIEW} raises BadZipFile "
                "('File name in directory and header differ'), torch.load uses the central name and "
                "loads it (CVE-2025-1944 class bypass)",
            )
        if flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION):
            self._add(
                "encrypted_flag",
                name,
                "marked encrypted in the central directory: torch.load raises 'unsupported encryption' "
                "if it reads this record and zipfile demands a password; a scanner that aborts on "
                "it loses the whole archive while torch still loads the other records "
                "(CVE-2025-1945 class bypass)",
            )
        elif local.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION):
            self._add(
                "encrypted_flag",
                name,
                "marked encrypted in the local header only: both torch.load and zipfile ignore local "
                "flags and read it as plain data; scanners that honour local flags skip it",
            )
        if flags & FLAG_COMPRESSED_PATCH:
            self._add(
                "patch_flag",
                name,
                "compressed-patch flag set: torch.load and zipfile both refuse this member; a scanner "
                "that aborts on it loses the whole archive",
            )
        if method not in (METHOD_STORED, METHOD_DEFLATE):
            self._add(
                "unsupported_method",
                name,
                f"compression method {method}: torch.load cannot read this record (it fails if asked "
                "to), other readers may support it",
            )
        elif method == METHOD_STORED and csize != usize:
            self._add(
                "size_mismatch",
                name,
                f"stored member with compressed size {csize} != uncompressed size {usize}: miniz "
                f"reads {usize} bytes (torch.load), {_PYTHON_VIEW} reads {csize}; they see different "
                "data",
            )
        if ext_attr & 0x10 and not raw_name.endswith(b"/") and usize:
            self._add(
                "directory_attr",
                name,
                "DOS directory attribute on a non-empty member: miniz returns no data for it",
            )
        end = member.data_offset + max(csize, member.stored_length)
        if end > self.size and not member.is_dir:
            self._add(
                "data_out_of_bounds",
                name,
                f"data would end at offset {end}, past the end of the file ({self.size})",
            )
        return member

    def _check_names(self) -> None:
        by_raw: dict[bytes, list[ZipMember]] = {}
        by_key: dict[bytes, set[bytes]] = {}
        for m, key in zip(self.members, self._keys, strict=True):
            by_raw.setdefault(m.raw_name, []).append(m)
            by_key.setdefault(key, set()).add(m.raw_name)
        for raw, group in by_raw.items():
            if len(group) > 1:
                chosen = self.locate(raw)
                which = f"index {chosen.index}" if chosen is not None else "none"
                self._add(
                    "duplicate_name",
                    _decode_name(raw),
                    f"{len(group)} entries share this name: {_PYTHON_VIEW} returns the last one, "
                    f"torch.load's sorted lookup returns {which}; every copy must be analysed",
                )
        for key, raws in by_key.items():
            if len(raws) > 1:
                chosen = self.locate(key)
                shown = ", ".join(sorted(repr(_decode_name(r)) for r in raws))
                self._add(
                    "case_collision",
                    chosen.name if chosen else None,
                    f"names {shown} differ only in case: torch.load looks records up "
                    f"case-insensitively and would read {chosen.name if chosen else None!r}",
                )
        prefix = self.torch_prefix
        if prefix is not None and (self.torch_record("data.pkl") or self.torch_record("version")):
            want = self.members[0].raw_name[: self.members[0].raw_name.find(b"/") + 1]
            for m in self.members:
                if not m.raw_name.startswith(want):
                    self._add(
                        "outside_prefix",
                        m.name,
                        f"not inside the archive folder {prefix!r}/: torch.load raises 'file in "
                        "archive is not in a subdirectory' (it lists all records), so the file does "
                        "not load",
                    )

    def _check_layout(self, z64_extent: tuple[int, int] | None, max_gap_scan: int) -> None:
        """Find overlaps, unaccounted bytes and orphan local headers hidden in them."""
        size = self.size
        spans: list[tuple[int, int, ZipMember | None]] = []
        for m in self.members:
            start = m.header_offset + self.bias
            if m.data_offset < 0:
                continue
            end = m.data_offset + (0 if m.is_dir else max(m.compressed_size, m.stored_length))
            end += self._descriptor_length(m, end)
            spans.append((start, min(end, size), m))
        spans.sort(key=lambda s: (s[0], s[1]))
        for (s1, e1, m1), (s2, _e2, m2) in itertools.pairwise(spans):
            if s2 < e1 and m1 is not None and m2 is not None:
                self._add(
                    "overlapping_members",
                    m2.name,
                    f"starts at offset {s2}, inside {m1.name!r} ({s1}-{e1}): shared or nested data "
                    "(overlap zip bombs, or one payload reachable under two names)",
                )
        regions: list[tuple[int, int]] = [(s, e) for s, e, _ in spans]
        regions.append((self.cd_offset, min(self.cd_offset + self.cd_size, size)))
        if z64_extent is not None:
            regions.append(z64_extent)
            regions.append((self.eocd_offset - ZIP64_LOCATOR_SIZE, self.eocd_offset))
        # The comment is left out on purpose: it is scanned for hidden local headers like any gap.
        regions.append((self.eocd_offset, min(size, self.eocd_offset + EOCD_SIZE)))
        regions.sort()
        gaps: list[tuple[int, int]] = []
        cursor = 0
        for s, e in regions:
            if s > cursor:
                gaps.append((cursor, s))
            cursor = max(cursor, e)
        if cursor < size:
            gaps.append((cursor, size))
        self.gaps = tuple(gaps)
        trailing_start = min(size, self.eocd_offset + EOCD_SIZE)
        for s, e in gaps:
            if s == 0 and self.bias == 0:
                self._add(
                    "prefix_bytes",
                    None,
                    f"{e} bytes precede the first member: torch.load only treats a file as a zip "
                    "checkpoint when it starts with 'PK\\x03\\x04' (otherwise its legacy loader "
                    "unpickles from offset 0); the bytes are never loaded as a record",
                )
            elif s >= trailing_start:
                continue  # reported as comment / eocd_not_at_end
            elif s > 0:
                self._add(
                    "gap_bytes",
                    None,
                    f"{e - s} bytes at offset {s} belong to no member: a place to hide data",
                )
        self.orphans = self._scan_gaps(gaps, max_gap_scan)

    def _descriptor_length(self, m: ZipMember, at: int) -> int:
        """Length of the data descriptor after a member's data (0 if none is recognised)."""
        if m.local_flags is None or not (m.local_flags & FLAG_DATA_DESCRIPTOR):
            return 0
        tail = _read_at(self.fileobj, at, 24)
        for with_sig in (True, False):
            base = 4 if with_sig else 0
            if with_sig and tail[:4] != SIG_DATA_DESCRIPTOR:
                continue
            if len(tail) >= base + 12:
                crc, c32, u32 = struct.unpack_from("<3L", tail, base)
                if (crc, c32, u32) == (m.crc32, m.compressed_size & U32_MAX, m.uncompressed_size & U32_MAX):
                    if len(tail) >= base + 20:
                        c64, u64 = struct.unpack_from("<2Q", tail, base + 4)
                        if (
                            c64 == m.compressed_size
                            and u64 == m.uncompressed_size
                            and (m.compressed_size >= U32_MAX or m.uncompressed_size >= U32_MAX)
                        ):
                            return base + 20
                    return base + 12
            if len(tail) >= base + 20:
                crc, c64, u64 = struct.unpack_from("<L2Q", tail, base)
                if crc == m.crc32 and c64 == m.compressed_size and u64 == m.uncompressed_size:
                    return base + 20
        return 0

    def _scan_gaps(self, gaps: list[tuple[int, int]], budget: int) -> tuple[ZipMember, ...]:
        found: list[ZipMember] = []
        scanned = 0
        for gap_start, gap_end in gaps:
            pos = gap_start
            while pos < gap_end:
                if scanned >= budget:
                    self._add(
                        "scan_truncated",
                        None,
                        f"stopped looking for hidden local headers after {budget} bytes of gaps",
                    )
                    return tuple(found)
                n = min(_IO_CHUNK * 4, gap_end - pos, budget - scanned)
                buf = _read_at(self.fileobj, pos, n + 3)
                scanned += n
                hit = buf.find(SIG_LOCAL, 0, n + 3)
                if hit < 0 or hit >= n:
                    pos += n
                    continue
                at = pos + hit
                member = _member_from_scan(self.fileobj, self.size, at, gap_end, "orphan")
                if member is None:
                    pos = at + 1
                    continue
                found.append(member)
                self._add(
                    "orphan_local_header",
                    member.name,
                    f"local header at offset {at} is not listed in the central directory: torch.load "
                    "never reads it, but extraction tools that walk local headers do; its content "
                    "should be analysed",
                )
                if not member.sizes_known:
                    self._add(
                        "data_descriptor_flag",
                        member.name,
                        "orphan entry with a data descriptor: its size was inferred from the gap",
                    )
                pos = max(at + 1, min(gap_end, member.data_offset + member.compressed_size))
        return tuple(found)


def _member_from_scan(fileobj: BinaryIO, size: int, at: int, limit: int, origin: str) -> ZipMember | None:
    """A member built from a local header alone (sizes inferred when a data descriptor is used)."""
    local = _parse_local(fileobj, size, at)
    if local is None or local.data_offset > size:
        return None
    csize, usize, crc = local.compressed_size, local.uncompressed_size, local.crc32
    known = True
    room = max(min(limit, size) - local.data_offset, 0)
    if local.flags & FLAG_DATA_DESCRIPTOR and csize == 0:
        known = False
        csize = _stored_extent(fileobj, local.data_offset, room) if local.method == METHOD_STORED else room
        usize = csize if local.method == METHOD_STORED else 0
    elif local.data_offset + csize > size:
        known = False
        csize = room
        usize = csize if local.method == METHOD_STORED else usize
    name = _decode_name(local.raw_name)
    return ZipMember(
        name,
        name,
        local.method,
        local.flags,
        crc,
        csize,
        usize,
        at,
        local.data_offset,
        -1,
        local.raw_name,
        local.flags,
        0,
        origin,
        known,
    )


def _stored_extent(fileobj: BinaryIO, data_offset: int, room: int) -> int:
    """Length of stored data ended by a data descriptor whose size field matches; else all of ``room``."""
    pos = 0
    while pos < room:
        n = min(_IO_CHUNK * 4, room - pos)
        buf = _read_at(fileobj, data_offset + pos, n + 24)
        i = buf.find(SIG_DATA_DESCRIPTOR)
        while 0 <= i < n:
            rel = pos + i
            if len(buf) >= i + 16:
                c32 = struct.unpack_from("<L", buf, i + 8)[0]
                if c32 == rel:
                    return rel
            if len(buf) >= i + 24:
                c64 = struct.unpack_from("<Q", buf, i + 8)[0]
                if c64 == rel:
                    return rel
            i = buf.find(SIG_DATA_DESCRIPTOR, i + 1)
        pos += n
    return room


def scan_local_headers(
    fileobj: BinaryIO, size: int, *, max_entries: int = 100_000, max_scan_bytes: int = 256 * _MiB
) -> tuple[ZipMember, ...]:
    """Walk local headers from the start of the file, without the central directory.

    For archives whose central directory is unreadable (or to compare against it): each header's data is
    skipped using its sizes; entries with a data descriptor and no sizes are bounded conservatively
    (stored: up to a descriptor whose size field matches; deflate: inflated only to find where the stream
    ends, within ``max_scan_bytes``). Between entries, the next ``PK\\x03\\x04`` is searched for, reading at
    most ``max_scan_bytes`` in total. Members have ``origin="scan"``.
    """
    found: list[ZipMember] = []
    pos = 0
    scanned = 0
    while pos < size and len(found) < max_entries and scanned < max_scan_bytes:
        head = _read_at(fileobj, pos, 4)
        if head != SIG_LOCAL:
            n = min(_IO_CHUNK * 4, size - pos, max_scan_bytes - scanned)
            buf = _read_at(fileobj, pos, n + 3)
            scanned += n
            hit = buf.find(SIG_LOCAL)
            if hit < 0 or hit >= n:
                pos += max(n, 1)
                continue
            pos += hit
            continue
        member = _member_from_scan(fileobj, size, pos, size, "scan")
        if member is None:
            pos += 1
            continue
        if not member.sizes_known and member.method == METHOD_DEFLATE:
            consumed = _deflate_extent(
                fileobj, member.data_offset, size - member.data_offset, max_scan_bytes - scanned
            )
            scanned += consumed if consumed is not None else 0
            if consumed is not None:
                member = _replace_csize(member, consumed)
        found.append(member)
        pos = max(pos + 1, member.data_offset + member.compressed_size)
    return tuple(found)


def _replace_csize(m: ZipMember, csize: int) -> ZipMember:
    return ZipMember(
        m.name,
        m.local_name,
        m.method,
        m.flags,
        m.crc32,
        csize,
        m.uncompressed_size,
        m.header_offset,
        m.data_offset,
        m.index,
        m.raw_name,
        m.local_flags,
        m.external_attr,
        m.origin,
        m.sizes_known,
    )


def _deflate_extent(fileobj: BinaryIO, start: int, room: int, budget: int) -> int | None:
    """Compressed length of the deflate stream at ``start`` (None if it does not end within the budget)."""
    dec = zlib.decompressobj(-15)
    consumed = 0
    while consumed < min(room, budget):
        n = min(_IO_CHUNK, room - consumed)
        chunk = _read_at(fileobj, start + consumed, n)
        if not chunk:
            return None
        try:
            while chunk:
                dec.decompress(chunk, _IO_CHUNK)
                chunk = dec.unconsumed_tail
                if dec.eof:
                    return consumed + n - len(dec.unused_data)
        except zlib.error:
            return None
        consumed += n
    return None
