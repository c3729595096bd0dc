"""Scanning remote sources: the same scanner, on ranged readers, with the origin pinned in every result.

Why the same scanner: findings of ``mlvet scan hf://org/name`` must equal those of a local scan of the same
files, so each remote file goes through :func:`mlvet.scanner.scan_stream` exactly as a local file goes through
``scan_file``; only the stream differs (a :class:`~mlvet.remote.base.CountingReader`), which is what makes a
safetensors or GGUF file cost its header. Each result gets ``path`` = the pinned display URL, ``origin``,
``bytes_read`` and ``sha256`` (the source's content key, or the digest of a small file read whole).

Failures fail closed: a source that cannot be resolved or listed is one ``error`` result for its URL; a file
that cannot be read is an ``error`` result for that file (exit 2 either way).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from mlvet.errors import UsageError
from mlvet.model import FileResult, HubOrigin, Origin, ScanReport, Status
from mlvet.policy import Policy, default_policy
from mlvet.remote.base import CountingReader, RemoteError, RemoteFile, RemoteSource, is_remote, open_source

__all__ = ["remote_result", "scan_paths", "scan_remote", "scan_source"]

#: Files up to this size whose source gives no content key are read whole to compute one (configs, code).
DIGEST_WHOLE_BYTES = 16 * 1024 * 1024
#: Threads per remote scan when ``jobs`` is 0 (auto): the work is mostly waiting for the network.
AUTO_THREADS = 4

Progress = Callable[[FileResult], None]


def _hub_origin(origin: Origin) -> HubOrigin | None:
    if origin.kind != "hf":
        return None
    asked = origin.get("requested_revision")
    refs = (asked,) if asked and asked != origin.revision else ()
    return HubOrigin(origin.get("repo_type") or "model", origin.get("repo_id") or origin.locator, origin.revision,
                     refs, origin.path)


def _digest(reader: CountingReader) -> str:
    reader.seek(0)
    h = hashlib.sha256()
    while chunk := reader.read(1 << 20):
        h.update(chunk)
    return h.hexdigest()


def remote_result(source: RemoteSource, f: RemoteFile, policy: Policy) -> FileResult:
    """Scan one listed file of a resolved source; never raises for bad content or a failed read."""
    from mlvet.scanner import scan_stream

    hub = _hub_origin(f.origin)
    if f.size is None:
        return FileResult(path=f.url, format="other", status=Status.ERROR, sha256=f.sha256, bytes_read=0,
                          errors=("the source does not say how large this file is; not read",), origin=f.origin,
                          hub=hub)
    try:
        reader = source.open(f)
    except (OSError, RemoteError) as exc:
        return FileResult(path=f.url, format="other", status=Status.ERROR, size=f.size, sha256=f.sha256,
                          bytes_read=0, errors=(f"cannot open remote file: {exc}",), origin=f.origin, hub=hub)
    with reader:
        res = scan_stream(reader, f.size, posixpath.basename(f.name), policy, path=f.url)
        sha256 = f.sha256
        bytes_read: int | None = None
        if isinstance(reader, CountingReader):
            if sha256 is None and f.size <= DIGEST_WHOLE_BYTES and res.status is not Status.ERROR:
                try:
                    sha256 = _digest(reader)
                except OSError as exc:
                    res = dataclasses.replace(res, status=Status.ERROR, errors=(
                        *res.errors, f"cannot read the file whole to hash it: {exc}"))
            bytes_read = reader.bytes_read
    return dataclasses.replace(res, sha256=sha256, bytes_read=bytes_read, origin=f.origin, hub=hub)


def _failed_source(url: str, message: str) -> FileResult:
    return FileResult(path=url, format="other", status=Status.ERROR, errors=(message,), bytes_read=0)


def scan_source(source: RemoteSource, policy: Policy, *, jobs: int | None = 1,
                progress: Progress | None = None) -> list[FileResult]:
    """Resolve, list and scan one source; results in listing order (one ``error`` result if it cannot resolve)."""
    try:
        source.resolve()
        files = list(source.files())
    except RemoteError as exc:
        res = _failed_source(source.url, str(exc))
        if progress:
            progress(res)
        return [res]
    if len(files) > policy.limits.max_files:
        raise UsageError(f"{source.url}: more than {policy.limits.max_files} files; raise limits.max_files "
                         "to scan them")
    threads = jobs if jobs else AUTO_THREADS
    threads = max(1, min(threads, len(files)))

    def one(f: RemoteFile) -> FileResult:
        res = remote_result(source, f, policy)
        if progress:
            progress(res)
        return res

    if threads == 1:
        return [one(f) for f in files]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mlvet-remote") as pool:
        return list(pool.map(one, files))


def scan_remote(url: str, policy: Policy | None = None, *, jobs: int | None = 1,
                progress: Progress | None = None) -> ScanReport:
    """Scan one remote URL (``hf://…`` or any scheme of :data:`~mlvet.remote.base.SCHEMES`) into a report."""
    return scan_paths([url], policy=policy, jobs=jobs, progress=progress)


def scan_paths(paths: Iterable[str | os.PathLike[str]], *, policy: Policy | None = None, jobs: int | None = 1,
               progress: Progress | None = None) -> ScanReport:
    """Scan a mix of local paths and remote URLs: local ones through :func:`mlvet.scanner.scan`, remote ones
    through their source; results in argument order (local paths grouped as the local scan returns them)."""
    from mlvet.scanner import scan as scan_local

    pol = policy or default_policy()
    started = datetime.now(timezone.utc)
    results: list[FileResult] = []
    local: list[str | os.PathLike[str]] = []

    def flush_local() -> None:
        if local:
            results.extend(scan_local(list(local), policy=pol, jobs=jobs, progress=progress).results)
            local.clear()

    for p in paths:
        if isinstance(p, str) and is_remote(p):
            flush_local()
            src = open_source(p)
            try:
                results.extend(scan_source(src, pol, jobs=jobs, progress=progress))
            finally:
                src.close()
        else:
            local.append(p)
    flush_local()
    return ScanReport(results=tuple(results), started_at=started, finished_at=datetime.now(timezone.utc),
                      policy_sources=pol.sources, policy_warnings=pol.warnings)
