"""The central directory: the member list ``torch.load`` sees, and miniz's case-insensitive lookup order.

Each central entry is joined with its local header here (miniz takes the data offset from the *local*
name and extra lengths), so a member's bytes are always those the loader would read.
"""

from __future__ import annotations

from typing import BinaryIO, Final

from mlvet.containers.zipread.anomaly import PYTHON_VIEW, AnomalyLog
from mlvet.containers.zipread.checks import check_entry
from mlvet.containers.zipread.eocd import EndRecords
from mlvet.containers.zipread.records import (
    CENTRAL_HEADER_SIZE,
    CENTRAL_STRUCT,
    FLAG_LOCAL_DIR_MASKED,
    IO_CHUNK,
    LOCAL_HEADER_SIZE,
    SIG_CENTRAL,
    U32_MAX,
    ZipFormatError,
    ZipMember,
    decode_name,
    extra_is_well_formed,
    parse_local,
    read_at,
    zip64_extra,
)

# zipfile raises NotImplementedError above this "version needed to extract" (miniz ignores the field).
_PY_MAX_EXTRACT_VERSION: Final = 63


def read_central_directory(f: BinaryIO, size: int, end: EndRecords, log: AnomalyLog) -> tuple[ZipMember, ...]:
    """Every central-directory entry miniz reads (``end.total`` of them), joined with its local header.

    Checks that make miniz refuse the archive go to ``log.torch_fatal``; disagreements with zipfile are
    logged as anomalies. The directory is read in chunks, never the whole file.
    """
    cd_offset, cd_size, total, num_this_disk, bias = end.cd_offset, end.cd_size, end.total, end.num_this_disk, end.bias
    members: list[ZipMember] = []
    pos = 0
    # Read the directory in chunks; never the whole file (the directory itself is bounded by size).
    buf = b""
    buf_start = 0

    def need(start: int, length: int) -> bytes:
        nonlocal buf, buf_start
        if start < buf_start or start + length > buf_start + len(buf):
            chunk = max(length, IO_CHUNK * 4)
            buf = read_at(f, cd_offset + start, min(chunk, cd_size - start))
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
        ) = CENTRAL_STRUCT.unpack(head)
        total_len = CENTRAL_HEADER_SIZE + nlen + elen + clen
        if total_len > remaining:
            raise ZipFormatError(f"central directory entry {index} overruns the directory")
        var = need(pos + CENTRAL_HEADER_SIZE, nlen + elen)
        if len(var) != nlen + elen:
            raise ZipFormatError(f"central directory entry {index} is truncated")
        raw_name, extra = var[:nlen], var[nlen:]
        name = decode_name(raw_name)
        if (needed & 0xFF) > _PY_MAX_EXTRACT_VERSION:
            log.add(
                "version_needed",
                name,
                f"'version needed to extract' is {needed & 0xFF}: {PYTHON_VIEW} raises "
                "NotImplementedError when opening the archive, miniz ignores the field",
            )
        if not extra_is_well_formed(extra):
            log.add(
                "bad_extra_field",
                name,
                f"malformed extra field: {PYTHON_VIEW} raises BadZipFile when opening the "
                "archive, miniz only parses it for zip64 sizes",
            )
        if max(csize, usize, lho) == U32_MAX and elen:
            z64 = zip64_extra(extra, usize == U32_MAX, csize == U32_MAX, lho == U32_MAX)
            if z64 is not None:
                usize = z64[0] if z64[0] is not None else usize
                csize = z64[1] if z64[1] is not None else csize
                lho = z64[2] if z64[2] is not None else lho
        # miniz reads 32 bits at the method offset (method + DOS time), so this check only fires when
        # both are zero, which is what torch.save writes.
        if U32_MAX not in (csize, usize) and (
            (method == 0 and mtime == 0 and usize != csize) or (usize and not csize)
        ):
            log.torch_fatal(f"entry {name!r} has inconsistent sizes")
        if disk_start == 0xFFFF or (disk_start not in (num_this_disk, 1)):
            log.torch_fatal(f"entry {name!r} lives on another disk")
        if csize != U32_MAX and lho + bias + LOCAL_HEADER_SIZE + csize > size:
            log.torch_fatal(f"entry {name!r} extends past the end of the file")
        if flags & FLAG_LOCAL_DIR_MASKED:
            log.add(
                "masked_directory_flag",
                name,
                "flag bit 13 (masked local headers) is set: miniz refuses the whole archive",
            )
            log.torch_fatal(f"entry {name!r} has flag bit 13 set")
        members.append(
            _member_from_local(
                f,
                size,
                bias,
                log,
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
        log.add(
            "cd_entry_count_mismatch",
            None,
            f"the central directory holds more entries than the {total} the end record declares: "
            f"torch.load (miniz) reads only {total}, {PYTHON_VIEW} reads all of them",
        )
    return tuple(members)

def _member_from_local(
    f: BinaryIO,
    size: int,
    bias: int,
    log: AnomalyLog,
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
    """The member a central entry describes, with its data offset taken from the local header."""
    local = parse_local(f, size, lho + bias)
    if local is None:
        log.add(
            "bad_local_header",
            name,
            f"no valid local header at offset {lho + bias}: torch.load fails if it reads this "
            "record, zipfile raises 'Bad magic number for file header'",
        )
        return ZipMember(
            name, None, method, flags, crc, csize, usize, lho, -1, index, raw_name, None, ext_attr
        )
    member = ZipMember(
        name,
        decode_name(local.raw_name),
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
    check_entry(log, member, local, size)
    return member

def sort_like_miniz(keys: list[bytes]) -> list[int]:
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
