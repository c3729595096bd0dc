"""The archive: a central-directory view of a ZIP with miniz (``torch.load``) semantics, and its lookups.

:class:`ZipArchive` wires the stages together (end records, central directory, anomaly checks, carving of
orphans) and offers what callers need: the members, torch's record lookup, and bounded member streams.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from mlvet.containers.zipread.anomaly import AnomalyLog, ZipAnomaly
from mlvet.containers.zipread.central import read_central_directory, sort_like_miniz
from mlvet.containers.zipread.checks import check_layout, check_names
from mlvet.containers.zipread.eocd import locate_eocd, read_end_records
from mlvet.containers.zipread.records import (
    IO_CHUNK,
    METHOD_DEFLATE,
    METHOD_STORED,
    MiB,
    ZipFormatError,
    ZipMember,
    decode_name,
)
from mlvet.containers.zipread.stream import MemberStream


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
        max_gap_scan: int = 64 * MiB,
    ) -> None:
        self.fileobj = fileobj
        self.size = size
        self.strict = strict
        #: Where every stage records what a different reader would see differently.
        self.log = AnomalyLog(strict)
        self._sorted: list[int] | None = None

        self.eocd_offset = locate_eocd(fileobj, size, self.log)
        end = read_end_records(fileobj, size, self.eocd_offset, self.log, max_members)
        self.zip64 = end.zip64
        self.bias = end.bias
        self.comment = end.comment
        self.cd_offset = end.cd_offset
        self.cd_size = end.cd_size
        self.members: tuple[ZipMember, ...] = read_central_directory(fileobj, size, end, self.log)
        self._keys = [m.raw_name.lower() for m in self.members]
        check_names(self)
        self.gaps: tuple[tuple[int, int], ...]
        self.orphans: tuple[ZipMember, ...]
        self.gaps, self.orphans = check_layout(self, end.z64_extent, max_gap_scan)
        self.anomalies: tuple[ZipAnomaly, ...] = tuple(self.log.parsed)

    # -- public API ------------------------------------------------------------------------------------

    def checked_anomalies(self) -> tuple[ZipAnomaly, ...]:
        """Anomalies found while reading member data (CRC, inflated size); grows as streams are read."""
        return tuple(self.log.checked)

    def all_anomalies(self) -> tuple[ZipAnomaly, ...]:
        """Parse-time anomalies followed by those found while reading data so far."""
        return self.anomalies + tuple(self.log.checked)

    @property
    def torch_prefix(self) -> str | None:
        """The folder torch prefixes every record with: the first central entry's name up to its first
        '/' (``PyTorchStreamReader::init``). None if that name has no '/' (torch.load then refuses)."""
        if not self.members:
            return None
        raw = self.members[0].raw_name
        cut = raw.find(b"/")
        return None if cut < 0 else decode_name(raw[:cut])

    def locate(self, name: str | bytes) -> ZipMember | None:
        """The member miniz's ``mz_zip_reader_locate_file(name, flags=0)`` returns (case-insensitive)."""
        target = (name.encode("utf-8") if isinstance(name, str) else name).lower()
        if self._sorted is None:
            self._sorted = sort_like_miniz(self._keys)
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
        ratio_floor_bytes: int = 64 * MiB,
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
        raw = MemberStream(self.fileobj, self.log, member, max_size, max_ratio, ratio_floor_bytes)
        return io.BufferedReader(raw, buffer_size=IO_CHUNK)

    def read(self, member: ZipMember, max_size: int) -> bytes:
        """Convenience: the whole member (bounded by ``max_size``)."""
        with self.open(member, max_size) as stream:
            return stream.read()
