"""Carving: members found by walking local headers, without (or beside) the central directory.

Extraction tools that stream local headers (and ``unzip`` on a broken directory) see entries the central
directory never lists; an attacker hides a payload there. These functions find such entries and bound
the ones whose size is only in a trailing data descriptor, reading within a byte budget.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

from mlvet.containers.zipread.records import (
    FLAG_DATA_DESCRIPTOR,
    IO_CHUNK,
    METHOD_DEFLATE,
    METHOD_STORED,
    SIG_DATA_DESCRIPTOR,
    SIG_LOCAL,
    MiB,
    ZipMember,
    decode_name,
    parse_local,
    read_at,
)


def member_from_scan(fileobj: BinaryIO, size: int, at: int, limit: int, origin: str) -> ZipMember | None:
    """A member built from a local header alone (sizes inferred when a data descriptor is used)."""
    local = parse_local(fileobj, size, at)
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
    name = decode_name(local.raw_name)
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
        n = min(IO_CHUNK * 4, room - pos)
        buf = read_at(fileobj, data_offset + pos, n + 24)
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
    fileobj: BinaryIO, size: int, *, max_entries: int = 100_000, max_scan_bytes: int = 256 * MiB
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
        head = read_at(fileobj, pos, 4)
        if head != SIG_LOCAL:
            n = min(IO_CHUNK * 4, size - pos, max_scan_bytes - scanned)
            buf = read_at(fileobj, pos, n + 3)
            scanned += n
            hit = buf.find(SIG_LOCAL)
            if hit < 0 or hit >= n:
                pos += max(n, 1)
                continue
            pos += hit
            continue
        member = member_from_scan(fileobj, size, pos, size, "scan")
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
    """``m`` with the compressed size found by inflating its data (scanned entries only)."""
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
        n = min(IO_CHUNK, room - consumed)
        chunk = read_at(fileobj, start + consumed, n)
        if not chunk:
            return None
        try:
            while chunk:
                dec.decompress(chunk, IO_CHUNK)
                chunk = dec.unconsumed_tail
                if dec.eof:
                    return consumed + n - len(dec.unused_data)
        except zlib.error:
            return None
        consumed += n
    return None
