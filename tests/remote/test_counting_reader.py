"""CountingReader: ranged reads through a fetch function, block cache, exact byte counts, short reads fail."""

from __future__ import annotations

import io
import itertools
import os

import pytest

from mlvet.errors import UsageError
from mlvet.remote.base import BLOCK, CountingReader, RemoteReadError, is_remote, open_source


def _reader(data: bytes) -> tuple[CountingReader, list[tuple[int, int]]]:
    calls: list[tuple[int, int]] = []

    def fetch(start: int, stop: int) -> bytes:
        calls.append((start, stop))
        return data[start:stop]

    return CountingReader(fetch, len(data)), calls


def test_reads_match_the_bytes_and_are_counted() -> None:
    data = os.urandom(5 * BLOCK + 123)
    r, calls = _reader(data)
    assert r.read(10) == data[:10]
    r.seek(3 * BLOCK + 7)
    assert r.read(20) == data[3 * BLOCK + 7: 3 * BLOCK + 27]
    r.seek(2)
    assert r.read(5) == data[2:7]  # cached: no new fetch
    assert len(calls) == 2 and r.bytes_read == sum(b - a for a, b in calls)
    r.seek(0)
    assert r.read() == data  # the rest, in growing sequential blocks, never refetching what is cached
    spans = sorted(calls)
    assert all(a2 >= b1 for (_, b1), (a2, _) in itertools.pairwise(spans))
    assert r.bytes_read == len(data)
    assert io.BufferedReader(_reader(data)[0]).read() == data


def test_a_short_answer_is_an_error_not_eof() -> None:
    r = CountingReader(lambda a, b: b"x" * max(0, b - a - 1), 100)
    with pytest.raises(RemoteReadError):
        r.read(10)
    assert isinstance(RemoteReadError("x"), OSError)


def test_scheme_table() -> None:
    assert is_remote("hf://org/name") and not is_remote("model.pt") and not is_remote("./hf:/x")
    with pytest.raises(UsageError):
        open_source("nope://x")


class _MemorySource:
    """A RemoteSource over bytes in memory whose URLs do not end with the file name (like a versioned key)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.url = "mem://bucket/"
        self.data = files
        self.resolved = False

    def resolve(self) -> None:
        self.resolved = True

    def files(self):  # type: ignore[no-untyped-def]
        from mlvet.model import Origin
        from mlvet.remote.base import RemoteFile

        for name, blob in sorted(self.data.items()):
            yield RemoteFile(url=f"mem://bucket/{name}?versionId=7", name=name, size=len(blob), sha256=None,
                             origin=Origin("mem", "bucket", "7", name))

    def open(self, f):  # type: ignore[no-untyped-def]
        blob = self.data[f.name]
        return CountingReader(lambda a, b: blob[a:b], len(blob), name=f.url)

    def close(self) -> None:
        pass


def test_scan_source_labels_results_with_the_sources_urls(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import hashlib
    import pickle

    from mlvet.policy import default_policy
    from mlvet.remote.scan import scan_source

    # GLOBAL posix.system, one string argument, REDUCE: built from opcodes, never loaded
    evil = b"\x80\x02cposix\nsystem\nX\x02\x00\x00\x00id\x85R."
    benign = pickle.dumps({"w": [1.0, 2.0]})
    big = b"\x00" * (5 * 1024 * 1024)
    src = _MemorySource({"sub/evil.pkl": evil, "ok.pkl": benign, "zeros.bin": big})
    results = {r.origin.path: r for r in scan_source(src, default_policy(), jobs=2) if r.origin}
    assert results["sub/evil.pkl"].path == "mem://bucket/sub/evil.pkl?versionId=7"
    assert [f.rule_id for f in results["sub/evil.pkl"].findings][:1] == ["PKL100"]
    assert all(f.location.path == "mem://bucket/sub/evil.pkl?versionId=7" for f in results["sub/evil.pkl"].findings)
    assert results["ok.pkl"].sha256 == hashlib.sha256(benign).hexdigest()  # small files: digest of the whole
    assert results["zeros.bin"].sha256 is None and (results["zeros.bin"].bytes_read or 0) < len(big) // 8
    assert not any("mlvet-remote-" in r.path or "<remote source>" in r.path for r in results.values())
