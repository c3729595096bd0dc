"""Streaming, parallel hashing of dataset files; WebDataset tar members hashed in the same single pass.

Files are read in 1 MiB blocks into one reused buffer, so memory does not grow with file size. Work is
spread over a thread pool: ``hashlib`` releases the GIL while it digests a block (and the kernel read does
too), so threads reach the disk's speed on big files and overlap I/O latency on many small ones without the
cost of processes. At most ``4 × workers`` tasks are in flight, so memory stays flat in the number of files.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, TypeVar

from mlvet.data.lockfile import FileEntry

__all__ = ["BLOCK", "HashResult", "default_workers", "hash_file", "parallel_map"]

BLOCK = 1 << 20
#: Tar shards with more members than this are hashed as plain files (members are not listed).
MAX_MEMBERS = 1_000_000

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """Threads for hashing: two per core (reads overlap digests), at least 2, at most 32."""
    return max(2, min(32, 2 * (os.cpu_count() or 1)))


@dataclass(frozen=True)
class HashResult:
    """A file's hash (and, for a tar shard, its members), or the error that stopped reading it."""

    path: str
    size: int
    sha256: str
    members: list[FileEntry] | None = None
    error: str | None = None


class _HashingReader:
    """A read-only stream that hashes everything read through it (tarfile reads the shard through it)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(BLOCK):
            pass


def _stream_file(fh: IO[bytes]) -> tuple[int, str]:
    digest = hashlib.sha256()
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    size = 0
    readinto = getattr(fh, "readinto", None)
    while True:
        if readinto is not None:
            n = readinto(buf)
            if not n:
                break
            digest.update(view[:n])
        else:
            chunk = fh.read(BLOCK)
            if not chunk:
                break
            n = len(chunk)
            digest.update(chunk)
        size += n
    return size, digest.hexdigest()


def is_tar_shard(rel: str) -> bool:
    """WebDataset shards: ``.tar`` (and compressed ``.tar.gz``/``.tgz``) files."""
    name = rel.lower()
    return name.endswith((".tar", ".tar.gz", ".tgz"))


def _tar_members(reader: _HashingReader) -> list[FileEntry]:
    members: list[FileEntry] = []
    with tarfile.open(fileobj=reader, mode="r|*") as tar:  # type: ignore[call-overload]
        for info in tar:
            if len(members) >= MAX_MEMBERS:
                raise ValueError(f"more than {MAX_MEMBERS} members")
            if info.isreg():
                member = tar.extractfile(info)
                size, sha = _stream_file(member) if member is not None else (0, hashlib.sha256().hexdigest())
                members.append(FileEntry(info.name, size, sha))
            elif info.issym() or info.islnk():  # a link is recorded by its target, never followed
                target = info.linkname.encode("utf-8", "surrogateescape")
                members.append(FileEntry(info.name + " -> " + info.linkname, 0, hashlib.sha256(target).hexdigest()))
    return members


def hash_file(path: str, rel: str, *, members: bool = True) -> HashResult:
    """SHA-256 and size of ``path``; for a tar shard also its members (one pass, nothing extracted)."""
    try:
        with open(path, "rb", buffering=0) as fh:
            if members and is_tar_shard(rel):
                reader = _HashingReader(fh)
                try:
                    listed: list[FileEntry] | None = _tar_members(reader)
                except (tarfile.TarError, EOFError, ValueError, OSError) as exc:
                    if isinstance(exc, OSError) and not isinstance(exc, EOFError) and exc.errno is not None:
                        raise
                    listed = None  # not a readable tar: hashed as a plain file, members not listed
                reader.drain()
                return HashResult(rel, reader.size, reader.digest.hexdigest(), listed)
            size, sha = _stream_file(fh)
            return HashResult(rel, size, sha)
    except OSError as exc:
        return HashResult(rel, -1, "", error=exc.strerror or str(exc))


def parallel_map(func: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``map(func, items)`` over a thread pool, in order, with a bounded number of tasks in flight."""
    if workers <= 1:
        yield from map(func, items)
        return
    window: deque[Future[R]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlvet-hash") as pool:
        try:
            for item in items:
                window.append(pool.submit(func, item))
                if len(window) >= 4 * workers:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        finally:
            for future in window:
                future.cancel()
