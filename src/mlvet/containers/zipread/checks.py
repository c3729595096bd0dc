"""Anomaly checks over a parsed archive: per-entry disagreements, names, and the byte layout.

These are the tricks that make one reader (and so one scanner) see something other than the loader:
local and central headers that disagree, duplicate and case-colliding names, overlapping members, bytes
that no entry accounts for and local headers hidden in them. Each becomes a :class:`ZipAnomaly`; the
hidden entries are returned as orphans so that their content is analysed too.
"""

from __future__ import annotations

import itertools
import struct
from typing import TYPE_CHECKING, BinaryIO

from mlvet.containers.zipread.anomaly import PYTHON_VIEW, AnomalyLog
from mlvet.containers.zipread.carve import member_from_scan
from mlvet.containers.zipread.records import (
    EOCD_SIZE,
    FLAG_COMPRESSED_PATCH,
    FLAG_DATA_DESCRIPTOR,
    FLAG_ENCRYPTED,
    FLAG_STRONG_ENCRYPTION,
    IO_CHUNK,
    METHOD_DEFLATE,
    METHOD_STORED,
    SIG_DATA_DESCRIPTOR,
    SIG_LOCAL,
    U32_MAX,
    ZIP64_LOCATOR_SIZE,
    LocalHeader,
    ZipMember,
    decode_name,
    read_at,
)

if TYPE_CHECKING:
    from mlvet.containers.zipread.archive import ZipArchive


def check_entry(log: AnomalyLog, member: ZipMember, local: LocalHeader, size: int) -> None:
    """Per-entry anomalies: local/central disagreements, flags and methods that split the readers."""
    name, raw_name, flags, method = member.name, member.raw_name, member.flags, member.method
    csize, usize, ext_attr = member.compressed_size, member.uncompressed_size, member.external_attr
    if local.raw_name != raw_name:
        log.add(
            "name_mismatch",
            name,
            f"local header names it {member.local_name!r}: {PYTHON_VIEW} raises BadZipFile "
            "('File name in directory and header differ'), torch.load uses the central name and "
            "loads it (CVE-2025-1944 class bypass)",
        )
    if flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION):
        log.add(
            "encrypted_flag",
            name,
            "marked encrypted in the central directory: torch.load raises 'unsupported encryption' "
            "if it reads this record and zipfile demands a password; a scanner that aborts on "
            "it loses the whole archive while torch still loads the other records "
            "(CVE-2025-1945 class bypass)",
        )
    elif local.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION):
        log.add(
            "encrypted_flag",
            name,
            "marked encrypted in the local header only: both torch.load and zipfile ignore local "
            "flags and read it as plain data; scanners that honour local flags skip it",
        )
    if flags & FLAG_COMPRESSED_PATCH:
        log.add(
            "patch_flag",
            name,
            "compressed-patch flag set: torch.load and zipfile both refuse this member; a scanner "
            "that aborts on it loses the whole archive",
        )
    if method not in (METHOD_STORED, METHOD_DEFLATE):
        log.add(
            "unsupported_method",
            name,
            f"compression method {method}: torch.load cannot read this record (it fails if asked "
            "to), other readers may support it",
        )
    elif method == METHOD_STORED and csize != usize:
        log.add(
            "size_mismatch",
            name,
            f"stored member with compressed size {csize} != uncompressed size {usize}: miniz "
            f"reads {usize} bytes (torch.load), {PYTHON_VIEW} reads {csize}; they see different "
            "data",
        )
    if ext_attr & 0x10 and not raw_name.endswith(b"/") and usize:
        log.add(
            "directory_attr",
            name,
            "DOS directory attribute on a non-empty member: miniz returns no data for it",
        )
    end = member.data_offset + max(csize, member.stored_length)
    if end > size and not member.is_dir:
        log.add(
            "data_out_of_bounds",
            name,
            f"data would end at offset {end}, past the end of the file ({size})",
        )


def check_names(archive: ZipArchive) -> None:
    """Duplicate names, case collisions (torch looks names up case-insensitively) and torch's folder rule."""
    log = archive.log
    by_raw: dict[bytes, list[ZipMember]] = {}
    by_key: dict[bytes, set[bytes]] = {}
    for m, key in ((m, m.raw_name.lower()) for m in archive.members):
        by_raw.setdefault(m.raw_name, []).append(m)
        by_key.setdefault(key, set()).add(m.raw_name)
    for raw, group in by_raw.items():
        if len(group) > 1:
            chosen = archive.locate(raw)
            which = f"index {chosen.index}" if chosen is not None else "none"
            log.add(
                "duplicate_name",
                decode_name(raw),
                f"{len(group)} entries share this name: {PYTHON_VIEW} returns the last one, "
                f"torch.load's sorted lookup returns {which}; every copy must be analysed",
            )
    for key, raws in by_key.items():
        if len(raws) > 1:
            chosen = archive.locate(key)
            shown = ", ".join(sorted(repr(decode_name(r)) for r in raws))
            log.add(
                "case_collision",
                chosen.name if chosen else None,
                f"names {shown} differ only in case: torch.load looks records up "
                f"case-insensitively and would read {chosen.name if chosen else None!r}",
            )
    prefix = archive.torch_prefix
    if prefix is not None and (archive.torch_record("data.pkl") or archive.torch_record("version")):
        want = archive.members[0].raw_name[: archive.members[0].raw_name.find(b"/") + 1]
        for m in archive.members:
            if not m.raw_name.startswith(want):
                log.add(
                    "outside_prefix",
                    m.name,
                    f"not inside the archive folder {prefix!r}/: torch.load raises 'file in "
                    "archive is not in a subdirectory' (it lists all records), so the file does "
                    "not load",
                )


def check_layout(
    archive: ZipArchive, z64_extent: tuple[int, int] | None, max_gap_scan: int
) -> tuple[tuple[tuple[int, int], ...], tuple[ZipMember, ...]]:
    """Find overlaps, unaccounted bytes and orphan local headers hidden in them: returns (gaps, orphans)."""
    log = archive.log
    size = archive.size
    spans: list[tuple[int, int, ZipMember | None]] = []
    for m in archive.members:
        start = m.header_offset + archive.bias
        if m.data_offset < 0:
            continue
        end = m.data_offset + (0 if m.is_dir else max(m.compressed_size, m.stored_length))
        end += _descriptor_length(archive.fileobj, m, end)
        spans.append((start, min(end, size), m))
    spans.sort(key=lambda s: (s[0], s[1]))
    for (s1, e1, m1), (s2, _e2, m2) in itertools.pairwise(spans):
        if s2 < e1 and m1 is not None and m2 is not None:
            log.add(
                "overlapping_members",
                m2.name,
                f"starts at offset {s2}, inside {m1.name!r} ({s1}-{e1}): shared or nested data "
                "(overlap zip bombs, or one payload reachable under two names)",
            )
    regions: list[tuple[int, int]] = [(s, e) for s, e, _ in spans]
    regions.append((archive.cd_offset, min(archive.cd_offset + archive.cd_size, size)))
    if z64_extent is not None:
        regions.append(z64_extent)
        regions.append((archive.eocd_offset - ZIP64_LOCATOR_SIZE, archive.eocd_offset))
    # The comment is left out on purpose: it is scanned for hidden local headers like any gap.
    regions.append((archive.eocd_offset, min(size, archive.eocd_offset + EOCD_SIZE)))
    regions.sort()
    gaps: list[tuple[int, int]] = []
    cursor = 0
    for s, e in regions:
        if s > cursor:
            gaps.append((cursor, s))
        cursor = max(cursor, e)
    if cursor < size:
        gaps.append((cursor, size))
    trailing_start = min(size, archive.eocd_offset + EOCD_SIZE)
    for s, e in gaps:
        if s == 0 and archive.bias == 0:
            log.add(
                "prefix_bytes",
                None,
                f"{e} bytes precede the first member: torch.load only treats a file as a zip "
                "checkpoint when it starts with 'PK\\x03\\x04' (otherwise its legacy loader "
                "unpickles from offset 0); the bytes are never loaded as a record",
            )
        elif s >= trailing_start:
            continue  # reported as comment / eocd_not_at_end
        elif s > 0:
            log.add(
                "gap_bytes",
                None,
                f"{e - s} bytes at offset {s} belong to no member: a place to hide data",
            )
    return tuple(gaps), _scan_gaps(archive.fileobj, archive.size, log, gaps, max_gap_scan)


def _descriptor_length(fileobj: BinaryIO, m: ZipMember, at: int) -> int:
    """Length of the data descriptor after a member's data (0 if none is recognised)."""
    if m.local_flags is None or not (m.local_flags & FLAG_DATA_DESCRIPTOR):
        return 0
    tail = read_at(fileobj, at, 24)
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


def _scan_gaps(
    fileobj: BinaryIO, size: int, log: AnomalyLog, gaps: list[tuple[int, int]], budget: int
) -> tuple[ZipMember, ...]:
    """Local headers hidden in the gaps (orphans): extraction tools that walk local headers find them."""
    found: list[ZipMember] = []
    scanned = 0
    for gap_start, gap_end in gaps:
        pos = gap_start
        while pos < gap_end:
            if scanned >= budget:
                log.add(
                    "scan_truncated",
                    None,
                    f"stopped looking for hidden local headers after {budget} bytes of gaps",
                )
                return tuple(found)
            n = min(IO_CHUNK * 4, gap_end - pos, budget - scanned)
            buf = read_at(fileobj, pos, n + 3)
            scanned += n
            hit = buf.find(SIG_LOCAL, 0, n + 3)
            if hit < 0 or hit >= n:
                pos += n
                continue
            at = pos + hit
            member = member_from_scan(fileobj, size, at, gap_end, "orphan")
            if member is None:
                pos = at + 1
                continue
            found.append(member)
            log.add(
                "orphan_local_header",
                member.name,
                f"local header at offset {at} is not listed in the central directory: torch.load "
                "never reads it, but extraction tools that walk local headers do; its content "
                "should be analysed",
            )
            if not member.sizes_known:
                log.add(
                    "data_descriptor_flag",
                    member.name,
                    "orphan entry with a data descriptor: its size was inferred from the gap",
                )
            pos = max(at + 1, min(gap_end, member.data_offset + member.compressed_size))
    return tuple(found)

