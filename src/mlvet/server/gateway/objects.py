"""The gateway's content-addressed object cache: verified blobs, their verdicts, and one lock per object.

Layout under ``<cache_dir>/gateway``::

    objects/ab/<sha256>                 the bytes, published only after their digest was verified
    verdicts/ab/<sha256>.<vkey>.json    the verdict for those bytes under one policy digest (see verdict.py)
    index/<key digest>                  sha256 of an object known before fetching only by its git id/ETag
    tmp/                                downloads in progress (emptied at start-up: a killed fetch leaves none)

Why this shape: the key is the content (the hub's LFS sha256, or the sha256 computed while fetching), so a
file is fetched and scanned once for every repo, revision and user that names the same bytes, and a changed
object under the same revision name has another key and is fetched and scanned again. Every file is written
to ``tmp`` and renamed into place after ``fsync``, so a crash (SIGKILL mid-fetch or mid-scan) leaves either
no object/verdict or a complete one, never a half-written one; a missing verdict simply means "scan on
demand".
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import tempfile
import weakref
from pathlib import Path

from mlvet.server.gateway.verdict import Verdict

__all__ = ["ObjectStore"]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class ObjectStore:
    """Blobs, verdicts and per-key locks under one cache folder (one gateway process owns it)."""

    def __init__(self, cache_dir: str | os.PathLike[str]) -> None:
        self.root = Path(cache_dir) / "gateway"
        self.objects = self.root / "objects"
        self.verdicts = self.root / "verdicts"
        self.index = self.root / "index"
        self.tmp = self.root / "tmp"
        for d in (self.objects, self.verdicts, self.index):
            d.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)  # leftovers of a killed fetch are never trusted
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # -- locks ---------------------------------------------------------------------------------------------
    def lock(self, key: str) -> asyncio.Lock:
        """The lock for one object key: concurrent requests for the same object fetch and scan it once."""
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    # -- blobs ---------------------------------------------------------------------------------------------
    def blob_path(self, sha256: str) -> Path:
        """Where the object with this digest lives (whether or not it is there yet)."""
        return self.objects / sha256[:2] / sha256

    def has_blob(self, sha256: str) -> bool:
        """True when the verified bytes are in the cache."""
        return self.blob_path(sha256).is_file()

    def new_tmp(self) -> tempfile._TemporaryFileWrapper[bytes]:
        """An open temporary file in the cache's own filesystem (renamed into place by :meth:`publish`)."""
        return tempfile.NamedTemporaryFile(dir=self.tmp, prefix="fetch-", delete=False)

    def publish(self, tmp_path: str, sha256: str) -> Path:
        """Make a verified download the object for ``sha256`` (fsync, then atomic rename)."""
        target = self.blob_path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
        _fsync_dir(target.parent)
        return target

    def discard(self, tmp_path: str) -> None:
        """Remove a download that failed verification or was interrupted."""
        with contextlib.suppress(OSError):
            os.unlink(tmp_path)

    # -- key index (objects known by git id before they are fetched) ----------------------------------------
    def _index_path(self, key: str) -> Path:
        return self.index / hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()

    def sha_for(self, key: str) -> str | None:
        """The content digest of an object key, if its bytes are already cached."""
        if key.startswith("sha256:"):
            sha = key[7:]
            return sha if self.has_blob(sha) else None
        try:
            sha = self._index_path(key).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return sha if len(sha) == 64 and self.has_blob(sha) else None

    def remember(self, key: str, sha256: str) -> None:
        """Record that ``key`` names the object ``sha256`` (atomic write)."""
        if key.startswith("sha256:"):
            return
        self._atomic_write(self._index_path(key), sha256)

    # -- verdicts -------------------------------------------------------------------------------------------
    def _verdict_path(self, sha256: str, digest: str) -> Path:
        vkey = hashlib.sha256(digest.encode("utf-8", "surrogateescape")).hexdigest()[:24]
        return self.verdicts / sha256[:2] / f"{sha256}.{vkey}.json"

    def read_verdict(self, sha256: str, digest: str) -> Verdict | None:
        """The stored verdict for these bytes under this policy digest; None means "scan it"."""
        try:
            verdict = Verdict.from_json(self._verdict_path(sha256, digest).read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return verdict if verdict.policy == digest else None

    def write_verdict(self, sha256: str, verdict: Verdict) -> None:
        """Store a verdict atomically (a crash leaves the old state: no verdict, so a re-scan on demand)."""
        self._atomic_write(self._verdict_path(sha256, verdict.policy), verdict.to_json())

    def _atomic_write(self, target: Path, text: str) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.tmp, prefix="meta-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            self.discard(tmp)
            raise
        _fsync_dir(target.parent)
