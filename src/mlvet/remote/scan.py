"""Scanning remote sources: the same scanner, on ranged readers, with the origin pinned in every result.

Why the same scanner: findings of ``mlvet scan hf://org/name`` must equal those of a local scan of the same
files, so each remote file goes through :func:`mlvet.scanner.scan_stream` exactly as a local file goes through
``scan_file``; only the stream differs (a :class:`~mlvet.remote.base.CountingReader`), which is what makes a
safetensors or GGUF file cost its header. Each result gets ``path`` = the pinned display URL, ``origin``,
``bytes_read`` and ``sha256`` (the source's content key, or the digest of a small file read whole).

Some analyses look beside a file (ONNX external data, ``auto_map`` code next to config.json): the scan runs
against a :class:`Shadow` folder with the source's names and sizes, and results are relabelled to the URLs.

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
from mlvet.model import FileResult, Finding, HubOrigin, Origin, ScanReport, Status
from mlvet.policy import Policy, default_policy
from mlvet.remote.base import CountingReader, RemoteError, RemoteFile, RemoteSource, is_remote, open_source

__all__ = ["Shadow", "remote_result", "scan_paths", "scan_remote", "scan_source"]

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


class Shadow:
    """A local folder mirroring a remote source's names and sizes, for the checks that look at sibling files.

    Why: some analyses resolve what a file names next to it the way its loader would (ONNX external data, an
    ``auto_map`` module beside config.json, TensorFlow shard indexes, MLflow folders); on a remote source there
    is no folder. The shadow has every listed file: small and text-like files whole (:meth:`prefetch`; the
    scanner reads them whole anyway, so they cost nothing extra), large ones as sparse files of their true size
    into which the blocks a scan fetched are written afterwards. Nothing in it is ever loaded; it is deleted
    with the scan. Results never show it: :meth:`relabel` turns its paths back into the source's URLs.
    """

    #: Read whole up front: files this small, and text-like or graph files up to :data:`WHOLE_TEXT_BYTES`.
    WHOLE_BYTES = 2 * 1024 * 1024
    WHOLE_TEXT_BYTES = 64 * 1024 * 1024
    TEXT_SUFFIXES = (".onnx", ".json", ".py", ".index", ".pbtxt", ".txt", ".yaml", ".yml", ".md", ".jinja",
                     ".cfg", ".toml", ".xml", ".model", ".tiktoken", ".vocab", ".mlmodel")

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.path.abspath(os.fspath(root))
        #: name -> (bytes fetched, sha256 of the whole file) for prefetched files; name -> error for failures.
        self.whole: dict[str, tuple[int, str]] = {}
        self.failed: dict[str, str] = {}
        self._bases: dict[str, str] = {}

    def path(self, name: str) -> str:
        """The shadow path of ``name`` (OSError for a name that cannot be a relative path on this machine)."""
        parts = name.split("/")
        if any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts):
            raise OSError(f"refusing a remote file name that is not a plain relative path: {name!r}")
        return os.path.join(self.root, *parts)

    def wants_whole(self, f: RemoteFile) -> bool:
        """Whether ``f`` is read whole before any scan (small, or text-like and not huge)."""
        size = f.size or 0
        return size <= self.WHOLE_BYTES or (size <= self.WHOLE_TEXT_BYTES and f.name.lower().endswith(
            self.TEXT_SUFFIXES))

    def prefetch(self, source: RemoteSource, f: RemoteFile) -> None:
        """Create ``f``'s shadow: the whole content for small files, a sparse file of its size otherwise."""
        if f.url.endswith(f.name):
            self._bases[f.url[: len(f.url) - len(f.name)]] = ""
        try:
            dest = self.path(f.name)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as out:
                if f.size is not None and not self.wants_whole(f):
                    out.truncate(f.size)
                    return
                if f.size is None:
                    return
                reader = source.open(f)
                h = hashlib.sha256()
                with reader:
                    while chunk := reader.read(1 << 20):
                        h.update(chunk)
                        out.write(chunk)
                    fetched = reader.bytes_read if isinstance(reader, CountingReader) else f.size
                self.whole[f.name] = (fetched, h.hexdigest())
        except (OSError, RemoteError) as exc:
            self.failed[f.name] = str(exc)

    def keep(self, f: RemoteFile, reader: CountingReader) -> None:
        """Write the blocks a scan fetched of a large file into its sparse shadow (for later readers)."""
        with open(self.path(f.name), "r+b") as out:
            for offset, data in reader.blocks():
                out.seek(offset)
                out.write(data)

    def relabel_text(self, text: str, local: str = "", url: str = "") -> str:
        """``text`` with shadow paths replaced by the source's URLs (``local`` by ``url`` first)."""
        if self.root not in text:
            return text
        if local:
            text = text.replace(local, url)
        for base in self._bases:
            text = text.replace(self.root + os.sep, base)
        return text.replace(self.root, "<remote source>")

    def relabel(self, res: FileResult, f: RemoteFile) -> FileResult:
        """The result with every shadow path (in paths, messages, evidence, errors) turned into its URL."""
        local = self.path(f.name)

        def t(text: str) -> str:
            return self.relabel_text(text, local, f.url)

        def fix(x: Finding) -> Finding:
            return dataclasses.replace(x, message=t(x.message), evidence=t(x.evidence),
                                       location=dataclasses.replace(x.location, path=t(x.location.path)))

        return dataclasses.replace(res, path=t(res.path), findings=tuple(fix(x) for x in res.findings),
                                   suppressed=tuple(fix(x) for x in res.suppressed),
                                   errors=tuple(t(e) for e in res.errors),
                                   skip_reason=None if res.skip_reason is None else t(res.skip_reason))


def _error(f: RemoteFile, message: str, hub: HubOrigin | None) -> FileResult:
    return FileResult(path=f.url, format="other", status=Status.ERROR, size=f.size, sha256=f.sha256, bytes_read=0,
                      errors=(message,), origin=f.origin, hub=hub)


def remote_result(source: RemoteSource, f: RemoteFile, policy: Policy, *, shadow: Shadow | None = None) -> FileResult:
    """Scan one listed file of a resolved source; never raises for bad content or a failed read.

    With the ``shadow`` of the whole source (as :func:`scan_source` builds), analyses that look at sibling files
    see them; without one the file is scanned alone in a shadow of its own.
    """
    from mlvet.scanner import scan_stream

    hub = _hub_origin(f.origin)
    if f.size is None:
        return _error(f, "the source does not say how large this file is; not read", hub)
    if shadow is None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="mlvet-remote-") as tmp:
            alone = Shadow(tmp)
            alone.prefetch(source, f)
            return remote_result(source, f, policy, shadow=alone)
    if f.name in shadow.failed:
        return _error(f, f"cannot read remote file: {shadow.failed[f.name]}", hub)
    local = shadow.path(f.name)
    if f.name in shadow.whole:
        fetched, digest = shadow.whole[f.name]
        with open(local, "rb") as fh:
            res = scan_stream(fh, f.size, posixpath.basename(f.name), policy, path=local)
        return dataclasses.replace(shadow.relabel(res, f), sha256=f.sha256 or digest, bytes_read=fetched,
                                   origin=f.origin, hub=hub)
    try:
        reader = source.open(f)
    except (OSError, RemoteError) as exc:
        return _error(f, f"cannot open remote file: {exc}", hub)
    if isinstance(reader, CountingReader):
        reader.name = local  # analyses that find siblings by the stream's file name look in the shadow
    with reader:
        res = scan_stream(reader, f.size, posixpath.basename(f.name), policy, path=local)
        bytes_read: int | None = None
        if isinstance(reader, CountingReader):
            try:
                shadow.keep(f, reader)
            except OSError as exc:
                res = dataclasses.replace(res, status=Status.ERROR, errors=(*res.errors, str(exc)))
            bytes_read = reader.bytes_read
    return dataclasses.replace(shadow.relabel(res, f), sha256=f.sha256, bytes_read=bytes_read, origin=f.origin,
                               hub=hub)


def _failed_source(url: str, message: str) -> FileResult:
    return FileResult(path=url, format="other", status=Status.ERROR, errors=(message,), bytes_read=0)


def scan_source(source: RemoteSource, policy: Policy, *, jobs: int | None = 1,
                progress: Progress | None = None, shadow_root: str | None = None) -> list[FileResult]:
    """Resolve, list and scan one source; results in listing order (one ``error`` result if it cannot resolve).

    The source's :class:`Shadow` lives in ``shadow_root`` when given (the caller keeps it, as the report card
    does), else in a temporary folder removed before returning.
    """
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
    if shadow_root is None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="mlvet-remote-") as tmp:
            return _scan_files(source, files, policy, jobs, progress, Shadow(tmp))
    return _scan_files(source, files, policy, jobs, progress, Shadow(shadow_root))


def _scan_files(source: RemoteSource, files: list[RemoteFile], policy: Policy, jobs: int | None,
                progress: Progress | None, shadow: Shadow) -> list[FileResult]:
    threads = max(1, min(jobs if jobs else AUTO_THREADS, len(files)))
    if threads > 1:
        from mlvet.formats import import_all

        import_all()  # no handler registers while threads scan (a registry being sorted looks empty)

    def one(f: RemoteFile) -> FileResult:
        res = remote_result(source, f, policy, shadow=shadow)
        if progress:
            progress(res)
        return res

    if threads == 1:
        for f in files:
            shadow.prefetch(source, f)
        return [one(f) for f in files]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mlvet-remote") as pool:
        list(pool.map(lambda f: shadow.prefetch(source, f), files))
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
