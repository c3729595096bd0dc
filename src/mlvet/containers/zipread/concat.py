"""Files that are several complete ZIP archives back to back, as ``torch.distributed.checkpoint`` writes them.

A DCP shard (``__0_0.distcp``) is the concatenation of one ``torch.save`` archive per tensor and per
non-tensor item (ints, strings, ``BytesIO`` values are ``torch.save``'d too), at offsets recorded in the
``.metadata`` file; DCP's default load planner ``torch.load``s each byte-IO item with
``weights_only=False``, so every archive in the shard is a checkpoint that unpickles. Read as one zip,
such a file looks like a single archive with thousands of prefix bytes, orphan headers and a central
directory torch cannot find; split along its archives, each is an ordinary ``torch.save`` file.

The split peels archives off the end: each ``torch.save`` archive ends with an end record (no comment)
whose directory size and offset, relative to the archive's own start, say where that archive begins.
With ``SerializationFormat.SAFETENSORS`` tensors are written as raw bytes between the archives; such
regions are found by searching backwards for the previous archive's end record. Only a file holding at
least two complete archives is split (the raw regions are still identified by content); anything else is
left to the ordinary single-archive reading, with all its anomaly checks.
"""

from __future__ import annotations

from typing import BinaryIO, Final

from mlvet.containers.zipread.records import (
    EOCD_SIZE,
    EOCD_STRUCT,
    SIG_CENTRAL,
    SIG_EOCD,
    SIG_LOCAL,
    SIG_ZIP64_EOCD,
    SIG_ZIP64_LOCATOR,
    U32_MAX,
    ZIP64_EOCD_SIZE,
    ZIP64_EOCD_STRUCT,
    ZIP64_LOCATOR_SIZE,
    read_at,
)

#: Bytes read per step when searching raw regions backwards for the previous archive's end record.
_SEARCH_CHUNK: Final = 1 << 20
#: Raw bytes searched at the end of a file before any archive is found (a DCP shard ending with a tensor).
_FIRST_SEARCH_BUDGET: Final = 64 << 20


def _archive_start(fileobj: BinaryIO, end: int) -> int | None:
    """Start of the archive whose end record finishes exactly at ``end`` (None if there is none)."""
    eocd = end - EOCD_SIZE
    if eocd < 0:
        return None
    rec = read_at(fileobj, eocd, EOCD_SIZE)
    if len(rec) != EOCD_SIZE or rec[:4] != SIG_EOCD:
        return None
    _sig, _disk, _cd_disk, _n_disk, _n_total, cd_size, cd_offset, comment_len = EOCD_STRUCT.unpack(rec)
    if comment_len:
        return None
    cd_end = eocd
    loc_at = eocd - ZIP64_LOCATOR_SIZE
    if loc_at >= ZIP64_EOCD_SIZE and read_at(fileobj, loc_at, 4) == SIG_ZIP64_LOCATOR:
        z64_at = loc_at - ZIP64_EOCD_SIZE
        z64 = read_at(fileobj, z64_at, ZIP64_EOCD_SIZE)
        if len(z64) != ZIP64_EOCD_SIZE or z64[:4] != SIG_ZIP64_EOCD:
            return None
        fields = ZIP64_EOCD_STRUCT.unpack(z64)
        cd_size, cd_offset, cd_end = int(fields[8]), int(fields[9]), z64_at
    elif U32_MAX in (cd_size, cd_offset):
        return None
    start = int(cd_end - cd_size - cd_offset)
    if start < 0 or start >= end:
        return None
    if read_at(fileobj, start, 4) != SIG_LOCAL:
        return None
    if cd_size and read_at(fileobj, cd_end - cd_size, 4) != SIG_CENTRAL:
        return None
    return start


def _previous_archive_end(fileobj: BinaryIO, end: int, budget: int | None) -> int | None:
    """The end of the last complete archive that finishes before ``end`` (raw bytes may follow it)."""
    pos = end
    while pos > 0 and (budget is None or end - pos < budget):
        start = max(0, pos - _SEARCH_CHUNK)
        buf = read_at(fileobj, start, pos - start + 3)
        cut = len(buf)
        while (i := buf.rfind(SIG_EOCD, 0, cut)) >= 0:
            candidate = start + i + EOCD_SIZE
            if candidate <= end and _archive_start(fileobj, candidate) is not None:
                return candidate
            cut = i + 3
        pos = start
    return None


def split_concatenated(
    fileobj: BinaryIO, size: int, max_archives: int
) -> list[tuple[int, int, bool]] | None:
    """``(start, end, is_archive)`` spans covering the file when it holds two or more complete zips back to
    back (raw bytes allowed between them, as DCP's raw tensor serialisation writes them), else None.

    Reads two small records per archive from the end; raw regions are searched backwards for the previous
    archive's end record, so their bytes are read once; before the first archive is found only the last
    64 MiB are searched (an ordinary zip with a comment is never read whole). Gives up (None) beyond
    ``max_archives`` spans.
    """
    spans: list[tuple[int, int, bool]] = []
    end = size
    archives = 0
    while end > 0:
        if len(spans) >= max_archives:
            return None
        start = _archive_start(fileobj, end)
        if start is not None:
            spans.append((start, end, True))
            archives += 1
            end = start
            continue
        # Before any archive is found, search a bounded tail only: an ordinary zip with a comment or appended
        # bytes must not cost a read of the whole file.
        previous = _previous_archive_end(fileobj, end, _FIRST_SEARCH_BUDGET if archives == 0 else None)
        if previous is None and archives == 0:
            return None
        raw_start = previous if previous is not None else 0
        spans.append((raw_start, end, False))
        end = raw_start
    if archives < 2:
        return None
    spans.reverse()
    return spans
