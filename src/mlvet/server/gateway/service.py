"""The gateway's core: pin a file to a commit, fetch it once into the cache, scan it once, decide.

Why the order fetch → verify → scan → decide → serve, all before the first byte leaves: a client must never
hold bytes that were not scanned, and what was scanned must be exactly what is served. The bytes are therefore
fetched completely into a temporary file, published under their verified digest, scanned there (statically,
nothing is loaded), and only a ``pass`` verdict lets :mod:`mlvet.server.gateway.routes` serve that same file.

Concurrency: one lock per object key (the LFS sha256, or the git blob id of a small file), so fifty clients
asking for the same file at once cause one upstream fetch and one scan; scans of different objects run in
worker threads, at most one per CPU at a time. File metadata at a commit is immutable and kept in memory; a
branch or tag name is resolved on the upstream every time, so a moved branch is noticed at once and its new
object (another digest) is fetched and scanned again.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import anyio

from mlvet.model import Severity
from mlvet.policy import Policy
from mlvet.server.gateway.objects import ObjectStore
from mlvet.server.gateway.paths import FileRef
from mlvet.server.gateway.upstream import Upstream, UpstreamFile
from mlvet.server.gateway.verdict import Verdict, decide, scan_object, verdict_digest

__all__ = ["Gateway", "Obtained", "display_path"]

_META_CACHE = 100_000
#: Largest object fetched when the upstream does not announce a size (LFS files always do).
_MAX_UNSIZED = 64 << 30


@dataclass(frozen=True)
class Obtained:
    """A cached, scanned object ready for a decision: where its bytes are and what the verdict is."""

    sha256: str
    blob: Path
    size: int
    verdict: Verdict
    #: True when this request ran the scan (False: the verdict was already known).
    scanned: bool


def display_path(ref: FileRef, commit: str) -> str:
    """How a file is named in verdicts, refusals and logs: ``hf://[datasets/]org/name@<commit>/<path>``."""
    return f"hf://{ref.repo.url_prefix}@{commit}/{ref.path}"


class Gateway:
    """Upstream client, object cache and policy of one gateway (one per server process)."""

    def __init__(self, upstream_url: str, cache_dir: str | os.PathLike[str], *, policy: Policy,
                 fail_on: Severity = Severity.HIGH, timeout_s: float = 60.0,
                 upstream_token: str | None = None) -> None:
        self.upstream = Upstream(upstream_url, timeout_s=timeout_s, token=upstream_token)
        self.objects = ObjectStore(cache_dir)
        self.policy = policy
        self.fail_on = fail_on
        self._meta: OrderedDict[tuple[str, str, str, str], UpstreamFile] = OrderedDict()
        self._scan_slots = asyncio.Semaphore(max(1, os.cpu_count() or 1))
        #: (object key, verdict digest) → a decided object: verdicts are immutable, so a hit skips two file reads.
        self._decided: OrderedDict[tuple[str, str], Obtained] = OrderedDict()
        #: Counters for tests and benchmarks: upstream fetches and scans this process performed.
        self.fetches = 0
        self.scans = 0

    async def aclose(self) -> None:
        """Release the upstream connection pool."""
        await self.upstream.aclose()

    async def file_meta(self, ref: FileRef) -> UpstreamFile:
        """The file's metadata at the commit its revision names (a commit's answer is cached; names are not)."""
        key = (ref.repo.repo_type, ref.repo.repo_id, ref.revision, ref.path)
        if ref.pinned:
            cached = self._meta.get(key)
            if cached is not None:
                self._meta.move_to_end(key)
                return cached
        meta = await self.upstream.file_meta(ref)
        pinned_key = (ref.repo.repo_type, ref.repo.repo_id, meta.commit, ref.path)
        self._meta[pinned_key] = meta
        self._meta.move_to_end(pinned_key)
        while len(self._meta) > _META_CACHE:
            self._meta.popitem(last=False)
        return meta

    async def obtain(self, ref: FileRef, meta: UpstreamFile) -> Obtained:
        """Fetch (once), verify, scan (once) and return the object ``meta`` names, with its verdict."""
        display = display_path(ref, meta.commit)
        digest = verdict_digest(self.policy, self.fail_on, display)
        key = meta.object_key
        ready = self._ready(key, digest)
        if ready is not None:
            return ready
        async with self.objects.lock(key):
            ready = self._ready(key, digest)
            if ready is not None:
                return ready
            sha = self.objects.sha_for(key)
            if sha is None:
                sha = await self._fetch(ref, meta)
            blob = self.objects.blob_path(sha)
            verdict = self.objects.read_verdict(sha, digest)
            scanned = False
            if verdict is None:
                async with self._scan_slots:
                    self.scans += 1
                    result = await anyio.to_thread.run_sync(scan_object, str(blob), display, self.policy)
                verdict = decide(result, self.fail_on, digest)
                self.objects.write_verdict(sha, verdict)
                scanned = True
            obtained = Obtained(sha, blob, blob.stat().st_size, verdict, scanned)
            self._remember(key, digest, Obtained(sha, blob, obtained.size, verdict, False))
            return obtained

    def _ready(self, key: str, digest: str) -> Obtained | None:
        memo = self._decided.get((key, digest))
        if memo is not None:
            self._decided.move_to_end((key, digest))
            return memo
        sha = self.objects.sha_for(key)
        if sha is None:
            return None
        verdict = self.objects.read_verdict(sha, digest)
        if verdict is None:
            return None
        blob = self.objects.blob_path(sha)
        try:
            size = blob.stat().st_size
        except OSError:
            return None
        return self._remember(key, digest, Obtained(sha, blob, size, verdict, False))

    def _remember(self, key: str, digest: str, obtained: Obtained) -> Obtained:
        self._decided[(key, digest)] = obtained
        while len(self._decided) > _META_CACHE:
            self._decided.popitem(last=False)
        return obtained

    async def _fetch(self, ref: FileRef, meta: UpstreamFile) -> str:
        tmp = self.objects.new_tmp()
        try:
            with tmp:
                self.fetches += 1
                sha, _size = await self.upstream.fetch(ref, meta, tmp.file, max_bytes=_MAX_UNSIZED)
            self.objects.publish(tmp.name, sha)
        except BaseException:
            self.objects.discard(tmp.name)
            raise
        self.objects.remember(meta.object_key, sha)
        return sha
