"""Finding the end of central directory: where ``torch.load`` (miniz) and Python's zipfile each look.

The end record decides which central directory, and so which members, a reader sees. miniz and zipfile
search for it differently (window size, step, what they accept), and zip64 and prepended bytes move the
directory in ways they also treat differently; each difference is a scanner bypass, so both views are
computed and every disagreement becomes an anomaly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Final

from mlvet.containers.zipread.anomaly import PYTHON_VIEW, AnomalyLog
from mlvet.containers.zipread.records import (
    CENTRAL_HEADER_SIZE,
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
    ZIP64_LOCATOR_STRUCT,
    ZipFormatError,
    ZipLimitError,
    read_at,
)

# miniz's mz_zip_reader_locate_header_sig: 4096-byte buffer, steps back by 4096 - 3 bytes, gives up once
# it has looked 0xFFFF + 22 bytes back from the end.
_MINIZ_SCAN_BUF: Final = 4096
_MINIZ_SCAN_STEP: Final = _MINIZ_SCAN_BUF - 3
_MINIZ_SCAN_GIVE_UP: Final = 0xFFFF + EOCD_SIZE
# Python's zipfile._EndRecData looks at most this far back from the end.
_PY_EOCD_WINDOW: Final = (1 << 16) + EOCD_SIZE
# Wide fallback window: covers both readers (miniz can reach ~69.6 KB back).
_WIDE_EOCD_WINDOW: Final = _MINIZ_SCAN_GIVE_UP + 2 * _MINIZ_SCAN_BUF


@dataclass(frozen=True)
class EndRecords:
    """Where the central directory is, as torch.load reads it (after any zipfile-style rebasing)."""

    cd_offset: int
    cd_size: int
    total: int
    num_this_disk: int
    #: Extent of the zip64 end record, when one is used (excluded from the gap scan).
    z64_extent: tuple[int, int] | None
    comment: bytes
    zip64: bool
    #: Bytes added to every stored offset (non-zero only for a rebased, prefixed archive).
    bias: int


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
        buf = read_at(fileobj, cur, n)
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
    buf = read_at(fileobj, start, size - start)
    end = len(buf)
    while True:
        i = buf.rfind(SIG_EOCD, 0, end)
        if i < 0:
            return None
        if len(buf) - i >= EOCD_SIZE:
            return start + i
        end = i + 3


def python_find_eocd(fileobj: BinaryIO, size: int) -> int | None:
    """Where CPython's ``zipfile._EndRecData`` finds the EOCD (None: it raises "not a zip file")."""
    if size < EOCD_SIZE:
        return None
    tail = read_at(fileobj, size - EOCD_SIZE, EOCD_SIZE)
    if tail[:4] == SIG_EOCD and tail[-2:] == b"\x00\x00":
        return size - EOCD_SIZE
    start = max(size - _PY_EOCD_WINDOW, 0)
    buf = read_at(fileobj, start, size - start)
    i = buf.rfind(SIG_EOCD)
    if i < 0 or len(buf) - i < EOCD_SIZE:
        return None
    return start + i


def has_zip_structure(fileobj: BinaryIO, size: int) -> bool:
    """True if the file has a ZIP end record anywhere a reader could find it (prefixed archives too)."""
    return find_eocd_any(fileobj, size) is not None



def locate_eocd(fileobj: BinaryIO, size: int, log: AnomalyLog) -> int:
    """The EOCD offset torch.load uses (or, where miniz finds none, the lenient fallback, flagged).

    Also records where Python's zipfile would look instead: a scanner built on it sees another archive.
    """
    eocd = find_eocd(fileobj, size)
    py_eocd = python_find_eocd(fileobj, size)
    if eocd is None:
        wide = find_eocd_any(fileobj, size)
        if wide is None:
            raise ZipFormatError("not a ZIP archive: no end-of-central-directory record found")
        log.torch_fatal("miniz's backwards scan does not reach the end-of-central-directory record")
        eocd = wide
    if py_eocd != eocd:
        where = (
            "finds none and raises 'File is not a zip file'"
            if py_eocd is None
            else (f"uses the one at offset {py_eocd} instead of {eocd}")
        )
        log.add(
            "eocd_divergence",
            None,
            f"{PYTHON_VIEW} {where}; such scanners see a different archive than torch.load "
            "(e.g. a stray 'PK\\x05\\x06' in the last 21 bytes, or an EOCD more than 65557 bytes "
            "from the end)",
        )
    return eocd


def read_end_records(f: BinaryIO, size: int, eocd: int, log: AnomalyLog, max_members: int) -> EndRecords:
    """Read the end record (and zip64 records) at ``eocd`` the way miniz does, noting where zipfile differs.

    Where miniz cannot find the central directory at the absolute offset but Python's zipfile finds it by
    rebasing (bytes prepended to the archive), the rebased directory is used and flagged: other loaders
    open such files.
    """
    zip64 = False
    bias = 0
    raw = read_at(f, eocd, EOCD_SIZE)
    if len(raw) != EOCD_SIZE:
        raise ZipFormatError("truncated end-of-central-directory record")
    _sig, disk, cd_disk, n_disk, n_total, cd_size, cd_offset, comment_len = EOCD_STRUCT.unpack(raw)
    comment_end = eocd + EOCD_SIZE + comment_len
    comment = read_at(f, eocd + EOCD_SIZE, min(comment_len, size - eocd - EOCD_SIZE))
    if comment_len:
        log.add(
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
        log.add(
            "eocd_not_at_end",
            None,
            f"{what}: miniz does not check this (torch.load still opens the file), "
            "appended data is a common place to hide a second payload",
        )

    # Python's view: zip64 record assumed right before the locator, offsets rebased by "concat".
    python_z64 = eocd - ZIP64_LOCATOR_SIZE - ZIP64_EOCD_SIZE
    py_total, py_cd_size, py_cd_end = n_total, cd_size, eocd
    loc = read_at(f, eocd - ZIP64_LOCATOR_SIZE, ZIP64_LOCATOR_SIZE) if python_z64 >= 0 else b""
    has_locator = len(loc) == ZIP64_LOCATOR_SIZE and loc[:4] == SIG_ZIP64_LOCATOR
    if has_locator:
        py_rec = read_at(f, python_z64, ZIP64_EOCD_SIZE)
        if len(py_rec) == ZIP64_EOCD_SIZE and py_rec[:4] == SIG_ZIP64_EOCD:
            fields = ZIP64_EOCD_STRUCT.unpack(py_rec)
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
        _s, _z64_disk, z64_offset, n_disks = ZIP64_LOCATOR_STRUCT.unpack(loc)
        rec = b""
        if z64_offset > size - ZIP64_EOCD_SIZE:
            log.torch_fatal(f"the zip64 locator points past the end of the file ({z64_offset})")
        else:
            rec = read_at(f, z64_offset, ZIP64_EOCD_SIZE)
        if len(rec) == ZIP64_EOCD_SIZE and rec[:4] == SIG_ZIP64_EOCD:
            (_s, rec_size, _mb, _nd, z_disk, z_cd_disk, z_n_disk, z_total, z_cd_size, z_cd_offset) = (
                ZIP64_EOCD_STRUCT.unpack(rec)
            )
            zip64 = True
            z64_extent = (z64_offset, z64_offset + ZIP64_EOCD_SIZE)
            if z64_offset != python_z64:
                log.add(
                    "zip64",
                    None,
                    f"zip64 end record is at offset {z64_offset} (from the locator) but "
                    f"{PYTHON_VIEW} assumes it sits right before the locator at {python_z64}: "
                    "the two readers can use different central directories",
                )
            if rec_size < ZIP64_EOCD_SIZE - 12:
                log.torch_fatal("the zip64 end record declares an impossible size")
            if n_disks != 1:
                log.torch_fatal("the zip64 locator declares a multi-disk archive")
            if z_total > U32_MAX or z_n_disk > U32_MAX or z_cd_size > U32_MAX:
                log.torch_fatal("zip64 entry count or directory size beyond miniz's limits")
            total, entries_here, cd_size, cd_offset = z_total, z_n_disk, z_cd_size, z_cd_offset
            num_this_disk, cd_disk = z_disk, z_cd_disk
    if total != entries_here or ((num_this_disk | cd_disk) != 0 and (num_this_disk != 1 or cd_disk != 1)):
        log.torch_fatal("the end record describes a multi-disk archive")

    fits = cd_size >= total * CENTRAL_HEADER_SIZE and cd_offset + cd_size <= size
    sig_ok = total == 0 or read_at(f, cd_offset, 4) == SIG_CENTRAL
    if not (fits and sig_ok):
        # miniz reads the directory at the absolute offset and fails; Python's zipfile rebases.
        py_fits = (
            py_total > 0
            and python_cd_start >= 0
            and py_cd_size >= py_total * CENTRAL_HEADER_SIZE
            and python_cd_start + py_cd_size <= size
        )
        if python_concat != 0 and py_fits and read_at(f, python_cd_start, 4) == SIG_CENTRAL:
            log.torch_fatal(f"the central directory is not at offset {cd_offset}")
            bias = python_concat
            if python_concat > 0:
                log.add(
                    "prefix_bytes",
                    None,
                    f"{python_concat} bytes precede the archive and offsets are not adjusted: "
                    f"{PYTHON_VIEW} rebases them, torch.load (miniz) does not and fails",
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
        log.add(
            "cd_offset_mismatch",
            None,
            f"torch.load reads the central directory at offset {cd_offset}, {PYTHON_VIEW} at "
            f"{python_cd_start} (it shifts every member by {python_concat:+d} bytes): the two "
            "can see different members",
        )
    if total > max_members:
        raise ZipLimitError(
            "zip_members",
            max_members,
            f"archive declares {total} members, above the limit of {max_members}",
        )
    return EndRecords(cd_offset, cd_size, total, num_this_disk, z64_extent, comment, zip64, bias)
