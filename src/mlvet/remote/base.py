"""What every remote source shares: the file record, the source protocol, the ranged reader, the scheme table.

Why a ranged reader: a remote scan must cost what the scanner reads, not what the file weighs. The scanner
reads a seekable stream; :class:`CountingReader` turns its reads into range requests (through a fetch function
each source supplies), caches the blocks it fetched, and counts the bytes that really crossed the network, so a
1 GB safetensors file costs its header and the count proves it.

Why a static scheme table: mlvet never imports a name computed from input (``tests/integration``), so
:func:`open_source` picks the implementation from :data:`SCHEMES`, a literal table of importers that other
sources (s3/fsspec, MLflow) append to.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Protocol

from mlvet.errors import EXIT_INCOMPLETE, MlvetError, UsageError
from mlvet.model import Origin

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["SCHEMES", "CountingReader", "Origin", "RemoteError", "RemoteFile", "RemoteSource", "is_remote",
           "open_source"]

#: Fetch size after a seek (a sniffer probing offsets costs this per probe); sequential reads double it up to
#: :data:`MAX_BLOCK`, so a whole pickle takes a handful of requests.
BLOCK = 16 * 1024
MAX_BLOCK = 8 * 1024 * 1024
#: Fetched blocks kept per open file (a scanner seeks back to headers and tables it has read before).
CACHE_BYTES = 64 * 1024 * 1024


class RemoteError(MlvetError):
    """A remote source could not be resolved, listed or read: the scan is incomplete (exit 2), never clean."""

    exit_code = EXIT_INCOMPLETE


class RemoteReadError(OSError):
    """A range could not be fetched (network, HTTP status, short body). An OSError, so the scanner's error
    boundary turns it into an ``error`` result for that file (fail closed)."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a remote source, as listed (before any byte of it is read).

    ``url`` is the display URL with the revision pinned (``hf://org/name@<commit>/<file>``), ``name`` the path
    inside the source, ``sha256`` the content key when the source knows it without reading (hub LFS oid, S3
    checksum), ``origin`` what goes into every result.
    """

    url: str
    name: str
    size: int | None
    sha256: str | None
    origin: Origin


class RemoteSource(Protocol):
    """A pinned, listable, range-readable remote location (one ``hf://`` repo, one bucket prefix ...)."""

    url: str

    def resolve(self) -> None:
        """Pin the revision (commit sha, version id) so every later call reads the same objects."""

    def files(self) -> Iterator[RemoteFile]:
        """The files to scan, after :meth:`resolve`."""

    def open(self, f: RemoteFile) -> BinaryIO:
        """A seekable reader of ``f`` that fetches ranges on demand and counts them (a :class:`CountingReader`)."""

    def close(self) -> None:
        """Release connections and temporary state."""


Fetch = Callable[[int, int], bytes]


class CountingReader(io.RawIOBase):
    """A seekable read-only stream over ``fetch(start, stop) -> bytes`` (``stop`` exclusive) of ``size`` bytes.

    Reads are served from fetched blocks; a miss fetches at least :data:`BLOCK` bytes, doubling while reads are
    sequential (a whole pickle takes a handful of requests, a header one). :attr:`bytes_read` counts the bytes
    fetched; :attr:`requests` the fetches. A fetch that returns fewer bytes than asked is an error, never EOF.
    """

    def __init__(self, fetch: Fetch, size: int, *, name: str = "", block: int = BLOCK) -> None:
        super().__init__()
        self._fetch = fetch
        self.size = size
        self.name = name
        self._block = block
        self._next_block = block
        self._pos = 0
        self._last_end = -1
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cached_bytes = 0
        self.bytes_read = 0
        self.requests = 0

    def readable(self) -> bool:
        """Always readable."""
        return True

    def seekable(self) -> bool:
        """Always seekable."""
        return True

    def tell(self) -> int:
        """Current position."""
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        """Move without fetching anything."""
        base = {0: 0, 1: self._pos, 2: self.size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        """Copy from cached blocks, fetching the missing range first."""
        want = min(len(b), self.size - self._pos)
        if want <= 0:
            return 0
        done = 0
        view = memoryview(b)
        while done < want:
            pos = self._pos + done
            start, data = self._block_at(pos)
            chunk = data[pos - start: pos - start + (want - done)]
            view[done: done + len(chunk)] = chunk
            done += len(chunk)
        self._pos += done
        return done

    def blocks(self) -> list[tuple[int, bytes]]:
        """The fetched blocks still cached, as (offset, bytes): what a scan actually saw of the file."""
        return sorted(self._cache.items())

    def _block_at(self, pos: int) -> tuple[int, bytes]:
        for start, data in reversed(self._cache.items()):
            if start <= pos < start + len(data):
                self._cache.move_to_end(start)
                return start, data
        if pos == self._last_end:
            self._next_block = min(MAX_BLOCK, self._next_block * 2)
        else:
            self._next_block = self._block
        stop = min(self.size, pos + self._next_block, *(s for s in self._cache if s > pos))  # no refetching
        data = self._fetch(pos, stop)
        self.requests += 1
        self.bytes_read += len(data)
        if len(data) != stop - pos:
            raise RemoteReadError(f"{self.name or 'remote file'}: asked bytes {pos}-{stop - 1}, got {len(data)} bytes")
        self._last_end = stop
        self._cache[pos] = data
        self._cached_bytes += len(data)
        while self._cached_bytes > CACHE_BYTES and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= len(old)
        return pos, data


def _hf() -> ModuleType:
    from mlvet.remote import hf

    return hf


def _fsspec() -> ModuleType:
    from mlvet.remote import fsspec_source

    return fsspec_source


def _mlflow() -> ModuleType:
    from mlvet.remote import mlflow_source

    return mlflow_source


#: URL prefix -> importer of the module whose ``source(url)`` builds the RemoteSource (append-only: s3/fsspec,
#: models:/ and runs:/ add their lines). Longest prefix wins.
SCHEMES: dict[str, Callable[[], ModuleType]] = {
    "hf://": _hf,
    "s3://": _fsspec, "gs://": _fsspec, "gcs://": _fsspec, "az://": _fsspec, "abfs://": _fsspec,
    "https://": _fsspec, "http://": _fsspec,
    "models:/": _mlflow, "runs:/": _mlflow,
}


def is_remote(path: str) -> bool:
    """Whether ``path`` names a remote source (a known scheme) rather than a local file."""
    return any(path.startswith(prefix) for prefix in SCHEMES)


def open_source(url: str) -> RemoteSource:
    """The source for ``url``, chosen by scheme from :data:`SCHEMES` (UsageError for an unknown scheme)."""
    for prefix in sorted(SCHEMES, key=len, reverse=True):
        if url.startswith(prefix):
            source: RemoteSource = SCHEMES[prefix]().source(url)
            return source
    known = ", ".join(sorted(SCHEMES))
    raise UsageError(f"{url}: not a remote source mlvet knows (schemes: {known})")
