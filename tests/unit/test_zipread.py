"""Tests for mlvet.containers.zipread: a ZIP reader with torch.load (miniz) semantics.

Archives are built with ``zipfile`` and patched with ``struct``, or with the tiny raw writer below when a
test needs local and central headers to disagree. The ``live`` tests run the real ``torch.load`` in a
subprocess to prove each trick is real: torch loads what Python's zipfile rejects, and we read it too.
"""

from __future__ import annotations

import importlib.util
import io
import json
import pickle
import random
import re
import struct
import subprocess
import sys
import textwrap
import time
import tracemalloc
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlvet.containers.zipread import (
    ANOMALY_CODES,
    ZipArchive,
    ZipFormatError,
    ZipLimitError,
    find_eocd,
    has_zip_structure,
    looks_like_zip,
    scan_local_headers,
)

# --------------------------------------------------------------------------------------------------------
# helpers


def archive(data: bytes, **kw: object) -> ZipArchive:
    return ZipArchive(io.BytesIO(data), len(data), **kw)  # type: ignore[arg-type]


def codes(a: ZipArchive) -> set[str]:
    return {x.code for x in a.all_anomalies()}


def zip_bytes(entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_STORED, **kw: object) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method, **kw) as zf:  # type: ignore[arg-type]
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def central_entries(data: bytes) -> dict[str, int]:
    """Name -> offset of its central directory header (via zipfile's own parse)."""
    out = {}
    zf = zipfile.ZipFile(io.BytesIO(data))
    pos = zf.start_dir
    for info in zf.infolist():
        assert data[pos : pos + 4] == b"PK\x01\x02"
        out[info.filename] = pos
        n, e, c = struct.unpack_from("<HHH", data, pos + 28)
        pos += 46 + n + e + c
    return out


def local_offset(data: bytes, name: str) -> int:
    return zipfile.ZipFile(io.BytesIO(data)).getinfo(name).header_offset


@dataclass
class Raw:
    """One entry for the raw writer; fields left None take consistent values."""

    name: bytes
    data: bytes
    method: int = 0
    local_name: bytes | None = None
    local_extra: bytes = b""
    central_extra: bytes = b""
    flags: int = 0
    local_flags: int | None = None
    crc: int | None = None
    csize: int | None = None
    usize: int | None = None
    mtime: int = 0x6000
    orphan: bool = False


def raw_zip(entries: list[Raw], comment: bytes = b"") -> bytes:
    """A minimal ZIP writer that lets local and central headers disagree."""
    out = bytearray()
    central = bytearray()
    count = 0
    for e in entries:
        payload = e.data
        if e.method == 8:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            payload = c.compress(e.data) + c.flush()
        crc = zlib.crc32(e.data) if e.crc is None else e.crc
        csize = len(payload) if e.csize is None else e.csize
        usize = len(e.data) if e.usize is None else e.usize
        lname = e.name if e.local_name is None else e.local_name
        lflags = e.flags if e.local_flags is None else e.local_flags
        offset = len(out)
        out += struct.pack(
            "<4s5H3L2H",
            b"PK\x03\x04",
            20,
            lflags,
            e.method,
            e.mtime,
            0x5000,
            crc,
            csize,
            usize,
            len(lname),
            len(e.local_extra),
        )
        out += lname + e.local_extra + payload
        if e.orphan:
            continue
        count += 1
        central += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            20,
            20,
            e.flags,
            e.method,
            e.mtime,
            0x5000,
            crc,
            csize,
            usize,
            len(e.name),
            len(e.central_extra),
            0,
            0,
            0,
            0,
            offset,
        )
        central += e.name + e.central_extra
    cd_offset = len(out)
    out += central
    out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), cd_offset, len(comment))
    return bytes(out + comment)


PAYLOAD = pickle.dumps({"weights": [1.0, 2.0, 3.0]}, protocol=2)


# --------------------------------------------------------------------------------------------------------
# normal archives


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_normal_archive_matches_zipfile(method: int) -> None:
    entries = [("arch/data.pkl", PAYLOAD), ("arch/version", b"3\n"), ("arch/data/0", bytes(range(256)) * 50)]
    data = zip_bytes(entries, method)
    a = archive(data)
    assert a.anomalies == ()
    assert [m.name for m in a.members] == [n for n, _ in entries]
    for m, (name, content) in zip(a.members, entries, strict=True):
        assert m.local_name == name
        assert m.method == method
        assert a.read(m, 1 << 20) == content
        assert data[m.data_offset - len(m.raw_name) - 30 : m.data_offset].startswith(b"PK\x03\x04")
    assert a.checked_anomalies() == ()
    assert a.torch_prefix == "arch"
    assert a.torch_record("data.pkl") is a.members[0]
    assert a.torch_record("missing") is None
    assert a.gaps == ()
    assert a.orphans == ()


def test_stream_reads_in_small_pieces() -> None:
    content = random.Random(3).randbytes(300_000)
    data = zip_bytes([("a/x", content)], zipfile.ZIP_DEFLATED)
    a = archive(data)
    with a.open(a.members[0], 1 << 20) as s:
        parts = []
        while chunk := s.read(777):
            parts.append(chunk)
    assert b"".join(parts) == content
    assert a.checked_anomalies() == ()


def test_empty_archive_and_sniffing() -> None:
    data = zip_bytes([])
    assert looks_like_zip(data)
    assert archive(data).members == ()
    assert not looks_like_zip(b"\x80\x02}q\x00.")
    prefixed = b"#!/bin/sh\n" + zip_bytes([("a/b", b"c")])
    assert not looks_like_zip(prefixed)
    assert has_zip_structure(io.BytesIO(prefixed), len(prefixed))
    assert not has_zip_structure(io.BytesIO(b"x" * 100), 100)


# --------------------------------------------------------------------------------------------------------
# tricks that blind zipfile but not torch.load


def test_bad_crc_is_read_and_flagged() -> None:
    data = bytearray(zip_bytes([("a/data.pkl", PAYLOAD)]))
    cd = central_entries(bytes(data))["a/data.pkl"]
    struct.pack_into("<L", data, cd + 16, 0xDEADBEEF)
    struct.pack_into("<L", data, 14, 0xDEADBEEF)  # the local copy too
    data_b = bytes(data)
    with pytest.raises(zipfile.BadZipFile, match="CRC"):
        zipfile.ZipFile(io.BytesIO(data_b)).read("a/data.pkl")
    a = archive(data_b)
    assert "crc_mismatch" not in codes(a)  # only known once the data is read
    assert a.read(a.members[0], 1 << 20) == PAYLOAD
    found = [x for x in a.checked_anomalies() if x.code == "crc_mismatch"]
    assert len(found) == 1 and found[0].member == "a/data.pkl"
    assert "torch.load never checks" in found[0].message
    a.read(a.members[0], 1 << 20)
    assert len(a.checked_anomalies()) == 1  # not duplicated


def test_zero_crc_is_reported_separately() -> None:
    data = bytearray(zip_bytes([("a/data.pkl", PAYLOAD)]))
    struct.pack_into("<L", data, central_entries(bytes(data))["a/data.pkl"] + 16, 0)
    a = archive(bytes(data))
    assert a.read(a.members[0], 1 << 20) == PAYLOAD
    assert [x.code for x in a.checked_anomalies()] == ["crc_not_recorded"]


def test_encrypted_flag_on_stored_member_is_read() -> None:
    data = bytearray(zip_bytes([("a/data.pkl", PAYLOAD), ("a/version", b"3")]))
    cd = central_entries(bytes(data))["a/data.pkl"]
    struct.pack_into("<H", data, cd + 8, struct.unpack_from("<H", data, cd + 8)[0] | 1)
    struct.pack_into("<H", data, 6, struct.unpack_from("<H", data, 6)[0] | 1)
    data_b = bytes(data)
    with pytest.raises(RuntimeError, match="encrypted"):
        zipfile.ZipFile(io.BytesIO(data_b)).read("a/data.pkl")
    a = archive(data_b)
    assert a.read(a.members[0], 1 << 20) == PAYLOAD
    enc = [x for x in a.anomalies if x.code == "encrypted_flag"]
    assert enc and enc[0].member == "a/data.pkl" and "central directory" in enc[0].message


def test_local_only_encrypted_flag() -> None:
    data = bytearray(zip_bytes([("a/data.pkl", PAYLOAD)]))
    struct.pack_into("<H", data, 6, 1)
    a = archive(bytes(data))
    assert a.read(a.members[0], 1 << 20) == PAYLOAD
    assert next(x.message for x in a.anomalies if x.code == "encrypted_flag").startswith(
        "marked encrypted in the local header only"
    )


def test_name_mismatch_uses_central_name_and_local_lengths() -> None:
    # Local name is longer than the central one and the local header carries an extra field: the data
    # starts where the LOCAL lengths say (miniz), so reading must still produce the payload.
    entries = [
        Raw(
            b"arch/data.pkl",
            PAYLOAD,
            local_name=b"arch/something_else_entirely.bin",
            local_extra=b"FB\x05\x00ZZZZZ",
        ),
        Raw(b"arch/version", b"3\n"),
    ]
    data = raw_zip(entries)
    with pytest.raises(zipfile.BadZipFile, match="differ"):
        zipfile.ZipFile(io.BytesIO(data)).read("arch/data.pkl")
    a = archive(data)
    m = a.torch_record("data.pkl")
    assert m is not None and m.name == "arch/data.pkl"
    assert m.local_name == "arch/something_else_entirely.bin"
    assert m.data_offset == 30 + len(b"arch/something_else_entirely.bin") + 9
    assert a.read(m, 1 << 20) == PAYLOAD
    assert [x.member for x in a.anomalies if x.code == "name_mismatch"] == ["arch/data.pkl"]
    assert a.checked_anomalies() == ()


def test_junk_prefix_without_adjusted_offsets() -> None:
    inner = zip_bytes([("a/data.pkl", PAYLOAD), ("a/version", b"3")])
    data = b"JUNK" * 50 + inner
    assert zipfile.ZipFile(io.BytesIO(data)).read("a/data.pkl") == PAYLOAD  # zipfile rebases
    a = archive(data)  # miniz would not: recorded, then parsed the way zipfile does
    assert {"torch_unreadable", "prefix_bytes"} <= codes(a)
    assert a.bias == 200
    assert a.read(a.members[0], 1 << 20) == PAYLOAD
    with pytest.raises(ZipFormatError, match=r"torch\.load cannot open"):
        archive(data, strict=True)


def test_junk_prefix_with_adjusted_offsets() -> None:
    buf = io.BytesIO(b"#!/usr/bin/env python\n")
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr("a/data.pkl", PAYLOAD)
    data = buf.getvalue()
    a = archive(data, strict=True)
    assert "prefix_bytes" in codes(a)
    assert a.gaps[0] == (0, 22)
    assert a.read(a.members[0], 1 << 20) == PAYLOAD


def test_zip64_forced_by_zipfile() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        with zf.open("a/data.pkl", "w", force_zip64=True) as w:
            w.write(PAYLOAD)
        zf.writestr("a/version", b"3")
    data = buf.getvalue()
    a = archive(data)
    assert a.anomalies == ()
    assert a.read(a.members[0], 1 << 20) == PAYLOAD
    # The local header carries a zip64 extra field, so the data starts after it.
    assert a.members[0].data_offset == 30 + len("a/data.pkl") + 20


def test_zip64_central_sizes_and_zip64_end_records() -> None:
    z64 = struct.pack("<HHQQ", 1, 16, len(PAYLOAD), len(PAYLOAD))
    data = bytearray(raw_zip([Raw(b"a/data.pkl", PAYLOAD, csize=U32, usize=U32, central_extra=z64)]))
    # Convert the end record into zip64 form the way torch.save writes it (zip64 EOCD + locator).
    eocd = data.rfind(b"PK\x05\x06")
    _sig, _d, _cd, n1, n2, cd_size, cd_offset, _c = struct.unpack_from("<4s4H2LH", data, eocd)
    z64_eocd = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, n1, n2, cd_size, cd_offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, eocd, 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, U32, U32, 0)
    out = bytes(data[:eocd]) + z64_eocd + locator + end
    a = archive(out, strict=True)
    assert a.zip64
    m = a.members[0]
    assert (m.compressed_size, m.uncompressed_size) == (len(PAYLOAD), len(PAYLOAD))
    assert a.read(m, 1 << 20) == PAYLOAD
    assert a.anomalies == ()
    assert zipfile.ZipFile(io.BytesIO(out)).read("a/data.pkl") == PAYLOAD


U32 = 0xFFFFFFFF


def test_truncated_archives_raise_format_error() -> None:
    data = zip_bytes([("a/data.pkl", PAYLOAD), ("a/version", b"3")])
    cd = zipfile.ZipFile(io.BytesIO(data)).start_dir
    for cut in (0, 10, 21, 40, cd + 10, len(data) - 1):
        with pytest.raises(ZipFormatError):
            archive(data[:cut])


def test_truncated_member_data() -> None:
    data = bytearray(zip_bytes([("a/x", b"A" * 1000)], zipfile.ZIP_DEFLATED))
    cd = central_entries(bytes(data))["a/x"]
    csize = struct.unpack_from("<L", data, cd + 20)[0]
    struct.pack_into("<L", data, cd + 20, csize - 3)  # cut the stream before its end marker
    a = archive(bytes(data))
    with pytest.raises(ZipFormatError, match="deflate"):
        a.read(a.members[0], 1 << 20)


def test_corrupt_deflate_data() -> None:
    data = bytearray(zip_bytes([("a/x", b"hello world" * 100)], zipfile.ZIP_DEFLATED))
    m = archive(bytes(data)).members[0]
    data[m.data_offset] = 0xFF  # invalid block type
    a = archive(bytes(data))
    with pytest.raises(ZipFormatError, match="deflate"):
        a.read(a.members[0], 1 << 20)


def test_mutations_only_raise_our_errors() -> None:
    """Random corruption must never leak IndexError/struct.error/zlib.error."""
    base = zip_bytes(
        [("a/data.pkl", PAYLOAD), ("a/version", b"3"), ("a/data/0", b"\x00" * 3000)], zipfile.ZIP_DEFLATED
    )
    rng = random.Random(1234)
    for _ in range(600):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(data))
            data[pos] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data))]
        scan_local_headers(io.BytesIO(bytes(data)), len(data))
        try:
            a = archive(bytes(data))
        except (ZipFormatError, ZipLimitError):
            continue
        for m in a.members + a.orphans:
            try:
                a.read(m, 1 << 16)
            except (ZipFormatError, ZipLimitError):
                pass
        assert all(x.code in ANOMALY_CODES for x in a.all_anomalies())


def _bomb_stream(total: int) -> tuple[bytes, int]:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(1 << 20)
    parts = [c.compress(block) for _ in range(total >> 20)]
    parts.append(c.flush())
    crc = 0
    for _ in range(total >> 20):
        crc = zlib.crc32(block, crc)
    return b"".join(parts), crc


def _bomb_zip(declared: int) -> bytes:
    stream, crc = _bomb_stream(100 << 20)
    name = b"a/bomb"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 1, 1, crc, len(stream), declared, len(name), 0)
    cdh = struct.pack(
        "<4s6H3L5H2L",
        b"PK\x01\x02",
        20,
        20,
        0,
        8,
        1,
        1,
        crc,
        len(stream),
        declared,
        len(name),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    body = local + name + stream
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, 46 + len(name), len(body), 0)
    return body + cdh + name + eocd


def test_deflate_bomb_stops_quickly_with_low_memory() -> None:
    data = _bomb_zip(100 << 20)
    a = archive(data)
    tracemalloc.start()
    t0 = time.monotonic()
    with pytest.raises(ZipLimitError) as info, a.open(a.members[0], max_size=1 << 20) as s:
        while s.read(1 << 16):
            pass
    elapsed = time.monotonic() - t0
    _cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert info.value.limit == 1 << 20
    assert elapsed < 2.0
    assert peak < 8 << 20


def test_declared_size_far_exceeded_is_a_limit_error() -> None:
    a = archive(_bomb_zip(1000))
    with pytest.raises(ZipLimitError, match="declared"), a.open(a.members[0], max_size=1 << 30) as s:
        while s.read(1 << 16):
            pass
    assert "size_mismatch" in codes(a)


def test_ratio_limit() -> None:
    a = archive(_bomb_zip(100 << 20))
    with (
        pytest.raises(ZipLimitError, match="ratio"),
        a.open(a.members[0], max_size=1 << 30, max_ratio=200, ratio_floor_bytes=1 << 20) as s,
    ):
        while s.read(1 << 16):
            pass


def test_stored_member_limit_allows_prefix_reads() -> None:
    data = zip_bytes([("a/big", b"x" * 100_000)])
    a = archive(data)
    with a.open(a.members[0], max_size=50_000) as s:
        assert s.read(1000) == b"x" * 1000
        with pytest.raises(ZipLimitError):
            s.read()


def test_orphan_local_header_is_found_and_readable() -> None:
    hidden = pickle.dumps("hidden payload", protocol=2)
    entries = [
        Raw(b"arch/data.pkl", PAYLOAD),
        Raw(b"arch/evil.pkl", hidden, method=8, orphan=True),
        Raw(b"arch/version", b"3\n"),
    ]
    data = raw_zip(entries)
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["arch/data.pkl", "arch/version"]
    a = archive(data)
    assert [m.name for m in a.members] == ["arch/data.pkl", "arch/version"]
    assert [m.name for m in a.orphans] == ["arch/evil.pkl"]
    assert a.orphans[0].origin == "orphan"
    assert a.read(a.orphans[0], 1 << 20) == hidden
    assert [x.member for x in a.anomalies if x.code == "orphan_local_header"] == ["arch/evil.pkl"]
    walked = scan_local_headers(io.BytesIO(data), len(data))
    assert [m.name for m in walked] == ["arch/data.pkl", "arch/evil.pkl", "arch/version"]


def test_orphan_with_data_descriptor_before_first_member() -> None:
    hidden = b"stored secret " * 20
    orphan = Raw(b"x/hidden", hidden, orphan=True, flags=0x8, crc=0, csize=0, usize=0)
    entries = [orphan, Raw(b"arch/data.pkl", PAYLOAD)]
    data = bytearray(raw_zip(entries))
    # append a data descriptor after the orphan's data, shifting nothing else: rebuild properly.
    first_end = 30 + len(b"x/hidden") + len(hidden)
    desc = struct.pack("<4s3L", b"PK\x07\x08", zlib.crc32(hidden), len(hidden), len(hidden))
    rest = bytes(data[first_end:])
    shifted = bytearray(bytes(data[:first_end]) + desc + rest)
    # fix the central offset of arch/data.pkl and the EOCD's directory offset
    cd = shifted.find(b"PK\x01\x02")
    struct.pack_into("<L", shifted, cd + 42, first_end + len(desc))
    eocd = shifted.rfind(b"PK\x05\x06")
    struct.pack_into("<L", shifted, eocd + 16, cd)
    out = bytes(shifted)
    a = archive(out)
    assert a.read(a.members[0], 1 << 20) == PAYLOAD
    assert len(a.orphans) == 1
    orphan_m = a.orphans[0]
    assert not orphan_m.sizes_known and orphan_m.compressed_size == len(hidden)
    assert a.read(orphan_m, 1 << 20) == hidden
    assert {"orphan_local_header", "data_descriptor_flag"} <= codes(a)


def test_duplicate_names() -> None:
    entries = [("arch/data.pkl", b"first"), ("arch/version", b"3"), ("arch/data.pkl", b"second")]
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = zip_bytes(entries)
    assert zipfile.ZipFile(io.BytesIO(data)).read("arch/data.pkl") == b"second"
    a = archive(data)
    dup = [x for x in a.anomalies if x.code == "duplicate_name"]
    assert len(dup) == 1 and dup[0].member == "arch/data.pkl"
    chosen = a.torch_record("data.pkl")
    assert chosen is not None and chosen.index in (0, 2)
    assert f"index {chosen.index}" in dup[0].message
    assert {a.read(m, 100) for m in a.members if m.name == "arch/data.pkl"} == {b"first", b"second"}


def test_case_insensitive_lookup_like_miniz() -> None:
    data = zip_bytes([("arch/version", b"3"), ("arch/DATA.PKL", PAYLOAD)])
    with pytest.raises(KeyError):
        zipfile.ZipFile(io.BytesIO(data)).getinfo("arch/data.pkl")
    a = archive(data)
    m = a.torch_record("data.pkl")
    assert m is not None and m.name == "arch/DATA.PKL"
    data2 = zip_bytes([("arch/version", b"3"), ("arch/Data.pkl", b"A"), ("arch/data.PKL", b"B")])
    assert "case_collision" in codes(archive(data2))


def test_stored_size_mismatch_reads_uncompressed_size_like_miniz() -> None:
    short = Raw(b"a/x", b"ABCDEFGH", csize=4, usize=8, crc=zlib.crc32(b"ABCD"))
    data = raw_zip([short, Raw(b"a/y", b"tail")])
    assert zipfile.ZipFile(io.BytesIO(data)).open("a/x").read(4) == b"ABCD"
    a = archive(data)
    assert a.read(a.members[0], 100) == b"ABCDEFGH"
    assert "size_mismatch" in codes(a)
    assert "torch_unreadable" not in codes(a)  # non-zero DOS time: miniz's check does not fire
    zero_time = raw_zip([Raw(b"a/x", b"ABCDEFGH", csize=4, usize=8, mtime=0), Raw(b"a/y", b"tail")])
    assert "torch_unreadable" in codes(archive(zero_time))


def test_eocd_search_window_and_stray_signature() -> None:
    data = zip_bytes([("a/data.pkl", PAYLOAD)])
    # A stray EOCD signature in the last 21 bytes: zipfile gives up, miniz skips it.
    stray = data + b"PK\x05\x06" + b"\x00" * 10
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(stray))
    a = archive(stray)
    assert {"eocd_divergence", "eocd_not_at_end"} <= codes(a)
    assert a.read(a.members[0], 1 << 20) == PAYLOAD
    # 66 KB of trailing bytes: beyond zipfile's window, within miniz's for a large enough file.
    big = zip_bytes([("a/data.pkl", PAYLOAD), ("a/data/0", bytes(100_000))])
    far = big + b"\x00" * 67_000
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(far))
    assert find_eocd(io.BytesIO(far), len(far)) == len(big) - 22
    assert "eocd_divergence" in codes(archive(far))
    # Too far for miniz: lenient parse still works, strict refuses.
    too_far = big + b"\x00" * 72_000
    assert find_eocd(io.BytesIO(too_far), len(too_far)) is None
    assert "torch_unreadable" in codes(archive(too_far))
    with pytest.raises(ZipFormatError):
        archive(too_far, strict=True)


def test_comment_and_trailing_data() -> None:
    data = zip_bytes([("a/x", b"1")])
    eocd = data.rfind(b"PK\x05\x06")
    commented = bytearray(data + b"hello")
    struct.pack_into("<H", commented, eocd + 20, 5)
    a = archive(bytes(commented))
    assert a.comment == b"hello" and codes(a) == {"comment"}
    assert "eocd_not_at_end" in codes(archive(data + b"appended"))


def test_local_header_hidden_in_comment() -> None:
    hidden = raw_zip([Raw(b"evil.pkl", PAYLOAD)])
    hidden_entry = hidden[: hidden.find(b"PK\x01\x02")]
    data = raw_zip([Raw(b"a/data.pkl", b"benign")], comment=b"note:" + hidden_entry)
    a = archive(data)
    assert "comment" in codes(a)
    assert [m.name for m in a.orphans] == ["evil.pkl"]
    assert a.read(a.orphans[0], 1 << 20) == PAYLOAD


def test_entry_count_hides_entries_from_torch() -> None:
    data = bytearray(zip_bytes([("a/version", b"3"), ("a/data.pkl", PAYLOAD), ("a/extra.pkl", PAYLOAD)]))
    eocd = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, eocd + 8, 2, 2)
    assert len(zipfile.ZipFile(io.BytesIO(bytes(data))).namelist()) == 3
    a = archive(bytes(data))
    assert len(a.members) == 2
    assert "cd_entry_count_mismatch" in codes(a)
    assert "gap_bytes" in codes(a)  # the hidden entry's local header and data belong to no member
    assert [m.name for m in a.orphans] == ["a/extra.pkl"]


def test_python_only_failures_are_flagged() -> None:
    data = bytearray(zip_bytes([("a/version", b"3"), ("a/data.pkl", PAYLOAD)]))
    cd = central_entries(bytes(data))["a/version"]
    struct.pack_into("<H", data, cd + 6, 0xFF)  # version needed to extract
    with pytest.raises(NotImplementedError):
        zipfile.ZipFile(io.BytesIO(bytes(data)))
    assert "version_needed" in codes(archive(bytes(data)))
    bad_extra = raw_zip([Raw(b"a/x", b"1", central_extra=b"\x99\x99\x10\x00ab")])
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(bad_extra))
    assert "bad_extra_field" in codes(archive(bad_extra))


def test_overlapping_members() -> None:
    data = bytearray(zip_bytes([("a/x", b"shared" * 10), ("a/y", b"other")]))
    cds = central_entries(bytes(data))
    struct.pack_into("<L", data, cds["a/y"] + 42, 0)  # a/y now points at a/x's local header
    a = archive(bytes(data))
    assert "overlapping_members" in codes(a)
    assert "name_mismatch" in codes(a)


def test_bad_local_header() -> None:
    data = bytearray(zip_bytes([("a/x", b"1"), ("a/y", b"2")]))
    data[0:4] = b"PK\x03\x05"
    a = archive(bytes(data))
    assert a.members[0].data_offset == -1 and a.members[0].local_name is None
    assert "bad_local_header" in codes(a)
    with pytest.raises(ZipFormatError, match="local header"):
        a.read(a.members[0], 10)
    assert a.read(a.members[1], 10) == b"2"


def test_unsupported_method() -> None:
    data = bytearray(zip_bytes([("a/x", b"1234")]))
    cd = central_entries(bytes(data))["a/x"]
    struct.pack_into("<H", data, cd + 10, 12)  # bzip2
    a = archive(bytes(data))
    assert "unsupported_method" in codes(a)
    with pytest.raises(ZipFormatError, match="method 12"):
        a.open(a.members[0], 100)


def test_outside_prefix_for_torch_layout() -> None:
    data = zip_bytes([("arch/data.pkl", PAYLOAD), ("arch/version", b"3"), ("other.txt", b"x")])
    a = archive(data)
    assert [x.member for x in a.anomalies if x.code == "outside_prefix"] == ["other.txt"]
    assert "outside_prefix" not in codes(archive(zip_bytes([("x.npy", b"1"), ("y.npy", b"2")])))


def test_all_codes_documented() -> None:
    source = Path(sys.modules[ZipArchive.__module__].__file__ or "").read_text()
    emitted = set(re.findall(r'_add\(\s*"([a-z0-9_]+)"', source)) | set(
        re.findall(r'ZipAnomaly\(\s*"([a-z0-9_]+)"', source)
    )
    assert emitted <= set(ANOMALY_CODES)


# --------------------------------------------------------------------------------------------------------
# live: the real torch.load (subprocess) proves the tricks work against torch


HAS_TORCH = importlib.util.find_spec("torch") is not None

_TORCH_SCRIPT = textwrap.dedent(
    """
    import json, sys, warnings, torch
    warnings.filterwarnings("ignore")
    cmd, paths = sys.argv[1], sys.argv[2:]
    if cmd == "save":
        torch.save({"w": torch.arange(6, dtype=torch.float32), "tag": "benign"}, paths[0])
        sys.exit(0)
    out = {}
    for p in paths:
        try:
            r = torch.load(p, weights_only=True)
            out[p] = "OK " + repr(r.get("tag") if isinstance(r, dict) else r)
        except Exception as e:
            out[p] = "FAIL " + type(e).__name__
    print(json.dumps(out))
    """
)


def _torch(cmd: str, *paths: Path) -> dict[str, str]:
    proc = subprocess.run(
        [sys.executable, "-c", _TORCH_SCRIPT, cmd, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(proc.stdout) if cmd == "load" else {}


@pytest.mark.live
@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_live_torch_loads_what_zipfile_rejects(tmp_path: Path) -> None:
    base_path = tmp_path / "base.pt"
    _torch("save", base_path)
    base = base_path.read_bytes()
    prefix = zipfile.ZipFile(base_path).namelist()[0].split("/")[0]
    pkl = f"{prefix}/data.pkl"
    cds = central_entries(base)
    lho = local_offset(base, pkl)
    variants: dict[str, bytes] = {}

    # 1. data.pkl CRC corrupted (central; torch writes the local CRC in a data descriptor) and the
    #    encrypted flag set in its local header.
    b = bytearray(base)
    struct.pack_into("<L", b, cds[pkl] + 16, 0x12345678)
    struct.pack_into("<H", b, lho + 6, struct.unpack_from("<H", b, lho + 6)[0] | 1)
    variants["crc_localenc"] = bytes(b)
    # 2. local name differs from the central one.
    b = bytearray(base)
    b[lho + 30 : lho + 34] = b"EVIL"
    variants["name_mismatch"] = bytes(b)
    # 3. stray EOCD signature in the last bytes.
    variants["stray_eocd"] = base + b"PK\x05\x06" + b"\x00" * 8
    # 4. central encrypted flag on data.pkl: torch refuses it too (so the flag is NOT a torch bypass).
    b = bytearray(base)
    struct.pack_into("<H", b, cds[pkl] + 8, struct.unpack_from("<H", b, cds[pkl] + 8)[0] | 1)
    variants["central_enc"] = bytes(b)

    # 5. an extra member torch never reads, marked encrypted in the central directory: zipfile raises on
    #    it (a scanner that aborts there is blind), torch loads the checkpoint (CVE-2025-1945 variant).
    zf = zipfile.ZipFile(io.BytesIO(base))
    rebuilt = zip_bytes([(n, zf.read(n)) for n in zf.namelist()] + [(f"{prefix}/extra.bin", b"x" * 64)])
    b = bytearray(rebuilt)
    extra_cd = central_entries(rebuilt)[f"{prefix}/extra.bin"]
    struct.pack_into("<H", b, extra_cd + 8, struct.unpack_from("<H", b, extra_cd + 8)[0] | 1)
    variants["unread_member_enc"] = bytes(b)

    paths = []
    for name, content in variants.items():
        p = tmp_path / f"{name}.pt"
        p.write_bytes(content)
        paths.append(p)
    results = _torch("load", base_path, *paths)
    assert results[str(base_path)] == "OK 'benign'"
    assert results[str(tmp_path / "crc_localenc.pt")] == "OK 'benign'"
    assert results[str(tmp_path / "name_mismatch.pt")] == "OK 'benign'"
    assert results[str(tmp_path / "stray_eocd.pt")] == "OK 'benign'"
    assert results[str(tmp_path / "central_enc.pt")].startswith("FAIL")
    assert results[str(tmp_path / "unread_member_enc.pt")] == "OK 'benign'"
    with pytest.raises(RuntimeError, match="encrypted"):
        zipfile.ZipFile(io.BytesIO(variants["unread_member_enc"])).read(f"{prefix}/extra.bin")
    a = archive(variants["unread_member_enc"])
    assert [x.member for x in a.anomalies if x.code == "encrypted_flag"] == [f"{prefix}/extra.bin"]
    record = a.torch_record("data.pkl")
    assert record is not None and a.read(record, 1 << 20) == zipfile.ZipFile(base_path).read(pkl)

    expected = zipfile.ZipFile(base_path).read(pkl)
    for name, expect_code, zf_error in (
        ("crc_localenc", "crc_mismatch", zipfile.BadZipFile),
        ("name_mismatch", "name_mismatch", zipfile.BadZipFile),
        ("stray_eocd", "eocd_divergence", zipfile.BadZipFile),
    ):
        content = variants[name]
        with pytest.raises(zf_error):
            zipfile.ZipFile(io.BytesIO(content)).read(pkl)
        a = archive(content)
        m = a.torch_record("data.pkl")
        assert m is not None
        assert a.read(m, 1 << 20) == expected, name
        assert expect_code in codes(a), name
    assert "encrypted_flag" in codes(archive(variants["crc_localenc"]))


@pytest.mark.live
@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_live_duplicate_selection_matches_torch(tmp_path: Path) -> None:
    base_path = tmp_path / "base.pt"
    _torch("save", base_path)
    zf = zipfile.ZipFile(base_path)
    prefix = zf.namelist()[0].split("/")[0]
    entries = [(n, zf.read(n)) for n in zf.namelist() if n != f"{prefix}/data.pkl"]
    good = zf.read(f"{prefix}/data.pkl")
    rng = random.Random(7)
    variants = [f"{prefix}/data.pkl", f"{prefix}/DATA.pkl", f"{prefix}/Data.PKL"]
    paths, expected = [], {}
    for i in range(12):
        tagged = good.replace(b"benign", f"tag{i:03d}".encode())
        dups = [(rng.choice(variants), good if k else tagged) for k in range(rng.randint(2, 4))]
        body = entries[1:] + dups
        rng.shuffle(body)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns about exact duplicates
            data = zip_bytes([entries[0], *body])
        p = tmp_path / f"dup{i}.pt"
        p.write_bytes(data)
        paths.append(p)
        a = archive(data)
        m = a.torch_record("data.pkl")
        assert m is not None
        expected[str(p)] = a.read(m, 1 << 20)
    results = _torch("load", *paths)
    for p in paths:
        found = re.search(rb"benign|tag\d{3}", expected[str(p)])
        assert found is not None
        assert results[str(p)] == f"OK {found.group().decode()!r}", p
