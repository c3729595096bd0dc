"""``split_concatenated`` splits only files made of complete archives back to back (DCP shards), and the
archive path helpers resolve names and links the way extractors do."""

from __future__ import annotations

import io
import zipfile

import pytest

from mlvet.containers.zipread import split_concatenated
from mlvet.formats.archive_paths import is_zip_symlink, link_escape, name_escape


def _zip(name: str, data: bytes, comment: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, data)
        zf.comment = comment
    return buf.getvalue()


def _split(data: bytes) -> list[tuple[int, int, bool]] | None:
    return split_concatenated(io.BytesIO(data), len(data), 1000)  # type: ignore[arg-type]


def test_one_archive_is_not_split() -> None:
    assert _split(_zip("a", b"1")) is None


def test_archives_back_to_back_are_split_exactly() -> None:
    a, b, c = _zip("a", b"1"), _zip("b", b"22"), _zip("c", b"333")
    assert _split(a + b + c) == [(0, len(a), True), (len(a), len(a + b), True), (len(a + b), len(a + b + c), True)]


def test_raw_bytes_between_archives_are_a_raw_span() -> None:
    a, b = _zip("a", b"1"), _zip("b", b"22")
    raw = b"\x00\x01" * 50
    assert _split(a + raw + b) == [(0, len(a), True), (len(a), len(a) + len(raw), False),
                                   (len(a) + len(raw), len(a + raw + b), True)]


@pytest.mark.parametrize("tail", [b"", b"appended bytes"])
def test_ordinary_zips_with_comments_or_appended_bytes_are_not_split(tail: bytes) -> None:
    assert _split(_zip("a", b"1", comment=b"hello") + tail) is None
    assert _split(_zip("a", b"1") + tail) is None


def test_prefixed_single_archive_is_not_split() -> None:
    assert _split(b"\x80\x02K\x01." + _zip("a", b"1")) is None


@pytest.mark.parametrize(
    ("name", "escapes"),
    [("a/b.pkl", False), ("../x", True), ("a/../../x", True), ("a/../b", True), ("/etc/passwd", True),
     ("C:/x", True), ("..\\x", True), ("a..b/c", False)],
)
def test_name_escape(name: str, escapes: bool) -> None:
    assert (name_escape(name) is not None) is escapes


@pytest.mark.parametrize(
    ("name", "target", "hard", "escapes"),
    [("d/link", "../f", False, False), ("d/link", "../../f", False, True), ("link", "/etc/passwd", False, True),
     ("d/e/link", "../../x", False, False), ("copy", "d/f", True, False), ("d/copy", "../f", True, True),
     ("model", "../../../../tmp", False, True)],
)
def test_link_escape_resolves_against_the_links_folder(name: str, target: str, hard: bool, escapes: bool) -> None:
    assert (link_escape(name, target, hard=hard) is not None) is escapes


def test_zip_symlink_mode() -> None:
    assert is_zip_symlink(0o120777 << 16)
    assert not is_zip_symlink(0o100644 << 16) and not is_zip_symlink(0x10)
