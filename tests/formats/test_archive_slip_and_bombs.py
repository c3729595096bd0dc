"""Archive slip and decompression bombs rank high (issue 9); fixtures from ``tests/assets/make_archives.py``.

Each escape fixture is a published proof of concept rebuilt with Python's own writers; the benign twins
(links that stay inside the archive) must stay below medium. Bombs must be a high finding *and* an error
result, in bounded time.
"""

from __future__ import annotations

import io
import tarfile
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

import mlvet
from mlvet.limits import Limits
from mlvet.model import FileResult, Severity
from mlvet.policy import default_policy

ARCHIVES = Path(__file__).resolve().parents[1] / "assets" / "archives"
MiB = 1 << 20


def _scan(name: str) -> FileResult:
    (result,) = mlvet.scan([ARCHIVES / name]).results
    return result


def _ids(result: FileResult, severity: Severity = Severity.HIGH) -> set[str]:
    return {f.rule_id for f in result.findings if f.severity >= severity}


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("zip_slip_dotdot.zip", "climbs out with '..'"),  # zip-slip (Snyk 2018)
        ("zip_slip_absolute.zip", "absolute path"),
        ("keras_slip.keras", "climbs out with '..'"),  # a .keras archive unpacked by get_file-style tools
        ("zip_symlink_out.zip", "symbolic link (Unix mode S_IFLNK) to an absolute target '/etc/passwd'"),
        ("tar_dotdot.tar", "climbs out with '..'"),  # CVE-2007-4559
        ("tar_absolute.tar", "absolute path"),
        ("tar_symlink_escape.tar", "symbolic link 'model' points to the target '../../../../tmp'"),  # CVE-2025-12060
        ("tar_hardlink_out.tar", "hardlink 'passwd' points to an absolute target '/etc/passwd'"),  # CVE-2025-4517
    ],
)
def test_escaping_members_rank_high_and_say_what_extraction_does(name: str, says: str) -> None:
    result = _scan(name)
    slips = [f for f in result.findings if f.rule_id == "ARC302"]
    assert slips, result.findings
    assert all(f.severity is Severity.HIGH for f in slips)
    message = " ".join(f.message for f in slips)
    assert says in message
    extractors = ("tarfile.extractall", "filter='data'") if ".tar" in name else ("zipfile.extractall",)
    assert all(e in message for e in extractors), message


def test_links_that_stay_inside_are_not_findings() -> None:
    tar = _scan("tar_links_inside.tar")
    assert tar.status.value == "scanned" and not _ids(tar, Severity.LOW), tar.findings
    zipped = _scan("zip_symlink_inside.zip")
    assert not _ids(zipped, Severity.MEDIUM), zipped.findings
    (note,) = [f for f in zipped.findings if f.rule_id == "ARC300"]
    assert note.severity is Severity.LOW and "'v1/vocab.txt' inside the archive" in note.message


def test_a_slipped_payload_is_still_analysed() -> None:
    result = _scan("zip_slip_dotdot.zip")
    assert {"ARC302", "PKL100"} <= _ids(result)  # the slip and what the slipped pickle would run


def test_tar_slip_lands_outside_with_the_default_extractor_and_is_refused_by_the_data_filter(tmp_path: Path) -> None:
    """What the message claims, shown with the real extractor (into a private temporary tree)."""
    dest = tmp_path / "a" / "b" / "dest"
    dest.mkdir(parents=True)
    with tarfile.open(ARCHIVES / "tar_dotdot.tar") as tf:
        tf.extractall(dest, filter="fully_trusted")  # what extractall did by default before Python 3.14
    assert (tmp_path / "a" / "tmp" / "mlvet_slip.sh").read_bytes() == b"id\n"  # outside dest
    with tarfile.open(ARCHIVES / "tar_dotdot.tar") as tf, pytest.raises(tarfile.OutsideDestinationError):
        tf.extractall(tmp_path / "other", filter="data")


def test_zip_symlink_entry_is_what_unzip_recreates() -> None:
    with zipfile.ZipFile(ARCHIVES / "zip_symlink_out.zip") as zf:
        info = zf.getinfo("model/vocab.txt")
        assert (info.external_attr >> 16) & 0o170000 == 0o120000  # S_IFLNK
        assert zf.read(info) == b"/etc/passwd"


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("bomb.bz2", "ARC301"),
        ("bomb.tar.xz", "ARC301"),
        ("bomb_ratio.zip", "ARC301"),
        ("bomb.7z", "ARC301"),
        ("bomb_overlap.zip", "ARC303"),  # Fifield's overlapping entries
    ],
)
def test_bombs_are_high_findings_and_errors(name: str, rule: str) -> None:
    if name.endswith(".7z"):
        pytest.importorskip("py7zr")
    started = time.monotonic()
    result = _scan(name)
    assert time.monotonic() - started < 60
    assert result.status.value == "error", result
    assert rule in _ids(result), result.findings


def test_overlapping_entries_are_not_all_inflated() -> None:
    result = _scan("bomb_overlap.zip")
    # 64 entries share one kernel: a few are analysed, the rest are an error, not 64 inflations.
    assert any("not analysed" in e or "decompression bomb" in e or "unrecognised" in e for e in result.errors)
    assert sum(f.rule_id == "ARC300" for f in result.findings) <= 10  # anomaly floods are summarised


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def test_nested_zip_bomb_stops_at_the_first_bomb(tmp_path: Path) -> None:
    """42.zip shape: 16 copies per level; without stopping, every leaf is inflated to the ratio limit."""
    level = _zip([("leaf.bin", b"\x00" * (2 * MiB))])
    for depth in range(3):
        level = _zip([(f"l{depth}_{i}.zip", level) for i in range(16)])
    path = tmp_path / "nested.zip"
    path.write_bytes(level)
    policy = replace(default_policy(), limits=Limits(ratio_floor_bytes=1 * MiB))
    started = time.monotonic()
    (result,) = mlvet.scan([path], policy=policy).results
    assert time.monotonic() - started < 30
    assert result.status.value == "error"
    assert [f.rule_id for f in result.findings if f.rule_id == "ARC301"] == ["ARC301"]
    assert any("analysis stopped after a decompression bomb" in e for e in result.errors)


def test_ordinary_compressible_archives_are_not_bombs(tmp_path: Path) -> None:
    """Zeros compress ~1000:1; below the size floor that is data, not a bomb (np.savez_compressed writes this)."""
    path = tmp_path / "zeros.zip"
    path.write_bytes(_zip([("a.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': "
                            b"(262144,), }" + b" " * 57 + b"\n" + b"\x00" * (2 * MiB))]))
    (result,) = mlvet.scan([path]).results
    assert not _ids(result, Severity.MEDIUM), result.findings


def test_deflated_tensor_storage_declaring_a_bomb_is_found(tmp_path: Path) -> None:
    """Storages are never inflated by mlvet, but torch.load allocates their declared size: checked on the header."""
    path = tmp_path / "bomb.pt"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        zf.writestr("archive/byteorder", b"little")
        zf.writestr(zipfile.ZipInfo("archive/data/0"), b"\x00" * (80 * MiB), compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("archive/version", b"3\n")
    path.write_bytes(buf.getvalue())
    (result,) = mlvet.scan([path]).results
    assert result.status.value == "error"
    (bomb,) = [f for f in result.findings if f.rule_id == "ARC301"]
    assert bomb.severity is Severity.HIGH and "allocates the declared size" in bomb.message


def test_every_gzip_member_is_analysed(tmp_path: Path) -> None:
    """nullifAI-style split: gzip.open (joblib, pandas) reads all members; the call sits in the second one."""
    import gzip

    payload = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."
    path = tmp_path / "model.joblib.gz"
    path.write_bytes(gzip.compress(payload[:9]) + b"\x00" * 4 + gzip.compress(payload[9:]))
    assert gzip.decompress(path.read_bytes().replace(b"\x00" * 4 + b"\x1f\x8b", b"\x1f\x8b", 1)) == payload
    (result,) = mlvet.scan([path]).results
    assert result.status.value == "scanned", result.errors
    assert "PKL100" in _ids(result, Severity.CRITICAL)
