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
