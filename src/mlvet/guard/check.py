"""The guard's decisions: scan what a loader is about to read (or reuse a cached verdict) and refuse it.

Everything here reads bytes and hands them to mlvet's static scanner; nothing is loaded. A refusal is an
:class:`~mlvet.guard.errors.UnsafeModelError` naming the file and the findings at or above the threshold.
Content that cannot be fully analysed (an ``error`` result) is refused too: the guard fails closed.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickletools
import stat
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO

from mlvet.catalogue import FormatId
from mlvet.guard.cache import CachedVerdict, VerdictCache, default_cache_dir, hash_stream, stat_key
from mlvet.guard.errors import UnsafeModelError
from mlvet.model import FileResult, Finding, Severity, Status
from mlvet.policy import Policy, default_policy
from mlvet.streams import Window

__all__ = ["Checker", "Stats", "policy_digest"]


@dataclass
class Stats:
    """Counters of what the guard did (for tests and benchmarks): a cache hit is not a scan."""

    scans: int = 0
    cache_hits: int = 0
    refused: int = 0
    scanned_paths: list[str] = field(default_factory=list)


def policy_digest(policy: Policy) -> str:
    """A digest of everything in a policy that can change a verdict (part of every cache key)."""
    parts = [
        repr(policy.safe), repr(policy.dangerous), repr(sorted(policy.aliases.items())),
        repr(sorted((k, int(v)) for k, v in policy.severity_overrides.items())), repr(sorted(policy.suppress)),
        repr(policy.limits), repr(sorted(policy.extensions.items())),
    ]
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


class Checker:
    """Scans content for the guard's wrappers, caches verdicts, and raises on what fails the policy."""

    def __init__(self, policy: Policy | None, fail_on: Severity, cache_dir: str | None = None,
                 *, use_disk_cache: bool = True) -> None:
        self.policy = policy or default_policy()
        self.fail_on = fail_on
        self.digest = policy_digest(self.policy) + f":{int(fail_on)}"
        directory = (cache_dir or default_cache_dir()) if use_disk_cache else None
        self.cache = VerdictCache(self.digest, directory)
        self.stats = Stats()
        self._lock = threading.Lock()

    # ---- entry points used by the wrappers ----------------------------------------------------------------

    def check_path(self, path: str | os.PathLike[str], loader: str) -> None:
        """Vet a file or folder a loader is about to read; missing paths are left to the loader's own error."""
        p = os.fspath(path)
        try:
            st = os.stat(p)
        except (OSError, ValueError):
            return  # the loader raises its own FileNotFoundError; nothing was read
        if stat.S_ISDIR(st.st_mode):
            self._check_dir(p, loader)
        elif stat.S_ISREG(st.st_mode):
            self._check_file(p, loader)
        else:  # a FIFO or device cannot be scanned without consuming it: fail closed
            with self._lock:
                self.stats.refused += 1
            raise UnsafeModelError(p, (), ("not a regular file: it cannot be scanned before it is read",), loader)

    def check_bytes(self, data: bytes | bytearray | memoryview, loader: str, name: str = "<bytes>") -> None:
        """Vet in-memory pickle data (``pickle.loads``)."""
        raw = bytes(data)
        sha = hashlib.sha256(raw).hexdigest()
        verdict = self.cache.get(sha)
        if verdict is None:
            verdict = self._scan_stream(io.BytesIO(raw), len(raw), name)
            self.cache.put(sha, verdict)
        else:
            self._hit()
        self._enforce(verdict, name, loader)

    def check_file_object(self, f: IO[bytes], loader: str) -> bytes | None:
        """Vet what ``pickle.load(f)`` would read from ``f``.

        A seekable stream is scanned from its current position to its end (every pickle that follows, not
        only the next one) and put back where it was; None is returned and the loader reads ``f`` itself.
        A stream that cannot seek (pipe, socket) is read exactly up to the end of one pickle with the
        standard library's opcode *parser* (``pickletools.genops``, which never executes anything); those
        bytes are scanned and returned, and the caller unpickles them instead of the stream.
        """
        name = _stream_name(f)
        seekable = False
        try:
            seekable = bool(f.seekable())
        except (AttributeError, OSError, ValueError):
            seekable = False
        if not seekable:
            return self._check_unseekable(f, loader, name)
        start = f.tell()
        try:
            self._check_seekable(f, start, loader, name)
        finally:
            f.seek(start)
        return None

    # ---- internals ----------------------------------------------------------------------------------------

    def _check_file(self, path: str, loader: str) -> None:
        with open(path, "rb") as f:
            verdict = self._vet_open_file(f, path, 0)
        self._enforce(verdict, path, loader)

    def _vet_open_file(self, f: BinaryIO, path: str, start: int) -> CachedVerdict:
        """Hash (unless the stat index knows the file) and scan the bytes of ``f`` from ``start``."""
        st = os.fstat(f.fileno())
        skey = stat_key(st, f"{os.path.realpath(path)}\0{start}")
        sha = self.cache.known_hash(skey)
        if sha is None:
            f.seek(start)
            sha = hash_stream(f)
            unchanged = _same_file(os.fstat(f.fileno()), st)
            if unchanged:
                self.cache.remember_hash(skey, sha)
        else:
            unchanged = True
        verdict = self.cache.get(sha)
        if verdict is not None:
            self._hit()
            return verdict
        size = st.st_size - start
        f.seek(start)
        stream: BinaryIO = Window(f, start, size) if start else f  # type: ignore[assignment]
        verdict = self._scan_stream(stream, size, path)
        # A file modified while it was hashed or scanned gets its verdict, but it is not cached: the bytes
        # scanned may not be the bytes hashed.
        if unchanged and _same_file(os.fstat(f.fileno()), st):
            self.cache.put(sha, verdict)
        return verdict

    def _check_seekable(self, f: IO[bytes], start: int, loader: str, name: str) -> None:
        fileno = _fileno(f)
        plain_file = isinstance(f, (io.BufferedReader, io.FileIO))  # not gzip & co, whose fileno is the raw file
        if fileno is not None and plain_file and stat.S_ISREG(os.fstat(fileno).st_mode):
            with open(fileno, "rb", closefd=False) as raw:  # same open file, own position
                verdict = self._vet_open_file(raw, name, start)
            self._enforce(verdict, name, loader)
            return
        end = f.seek(0, io.SEEK_END)
        f.seek(start)
        sha = hash_stream(f, end - start)  # type: ignore[arg-type]
        cached = self.cache.get(sha)
        if cached is None:
            window: BinaryIO = Window(f, start, end - start)  # type: ignore[arg-type,assignment]
            cached = self._scan_stream(window, end - start, name)
            self.cache.put(sha, cached)
        else:
            self._hit()
        self._enforce(cached, name, loader)

    def _check_unseekable(self, f: IO[bytes], loader: str, name: str) -> bytes:
        tee = _Tee(f)
        try:
            for _ in pickletools.genops(tee):  # type: ignore[arg-type]  # parses opcodes up to STOP; executes nothing
                pass
        except Exception:  # noqa: S110 - a malformed pickle is scanned as read so far, and fails closed there
            pass
        data = bytes(tee.buf)
        self.check_bytes(data, loader, name)
        return data

    def _check_dir(self, path: str, loader: str) -> None:
        from mlvet.walk import iter_files, open_regular

        listing = hashlib.sha256()
        files = sorted(iter_files([path], self.policy.limits.max_files))
        for file_path in files:
            try:
                opened = open_regular(file_path)
                if opened is None:
                    sha = "not-regular"
                    rel = os.path.relpath(file_path, path)
                    listing.update(f"{rel}\0{sha}\n".encode("utf-8", "surrogateescape"))
                    continue
                with opened as f:
                    st = os.fstat(f.fileno())
                    skey = stat_key(st, f"{os.path.realpath(file_path)}\0{0}")
                    known = self.cache.known_hash(skey)
                    if known is None:
                        known = hash_stream(f)
                        if _same_file(os.fstat(f.fileno()), st):
                            self.cache.remember_hash(skey, known)
                    sha = known
            except OSError:
                sha = "unreadable"
            listing.update(f"{os.path.relpath(file_path, path)}\0{sha}\n".encode("utf-8", "surrogateescape"))
        folder_sha = "dir:" + listing.hexdigest()
        verdict = self.cache.get(folder_sha)
        if verdict is None:
            verdict = self._scan_folder(path)
            self.cache.put(folder_sha, verdict)
        else:
            self._hit()
        self._enforce(verdict, path, loader)

    def _scan_folder(self, path: str) -> CachedVerdict:
        from mlvet.scanner import scan

        with self._lock:
            self.stats.scans += 1
            self.stats.scanned_paths.append(path)
        report = scan([path], policy=self.policy)
        return _merge(report.results, tolerate_unrecognised=True)

    def _scan_stream(self, stream: BinaryIO, size: int, name: str) -> CachedVerdict:
        from mlvet.scanner import scan_stream

        with self._lock:
            self.stats.scans += 1
            self.stats.scanned_paths.append(name)
        result = scan_stream(stream, size, os.path.basename(name) or name, self.policy, path=name)
        return _merge([result])

    def _hit(self) -> None:
        with self._lock:
            self.stats.cache_hits += 1

    def _enforce(self, verdict: CachedVerdict, path: str, loader: str) -> None:
        bad = tuple(f for f in verdict.findings if f.severity >= self.fail_on)
        if bad or verdict.status == Status.ERROR.value:
            with self._lock:
                self.stats.refused += 1
            raise UnsafeModelError(path, bad, verdict.errors, loader)


def _merge(results: Iterable[FileResult], *, tolerate_unrecognised: bool = False) -> CachedVerdict:
    """One verdict for the results of a file or folder scan.

    ``tolerate_unrecognised`` (folder scans): a file in content mlvet does not recognise at all (format
    ``other``, no finding: a binary tokenizer or weights format mlvet does not know yet) does not make the folder
    incomplete. No wrapped loader executes such content (it is neither a pickle nor any format mlvet parses,
    and each is identified by content), while refusing would break every model repository that ships one.
    Files mlvet recognises but cannot finish (truncated, malformed, a limit hit) still refuse.
    """
    findings: list[Finding] = []
    errors: list[str] = []
    status = Status.SCANNED.value
    for r in results:
        findings.extend(r.findings)
        if tolerate_unrecognised and r.status is Status.ERROR and r.format == FormatId.OTHER.value and not r.findings:
            continue
        if r.status is Status.ERROR:
            status = Status.ERROR.value
            errors.extend(f"{r.path}: {e}" for e in r.errors)
    findings.sort(key=lambda f: -int(f.severity))
    return CachedVerdict(status, tuple(findings), tuple(errors))


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_size, a.st_mtime_ns, a.st_ctime_ns, a.st_ino) == (b.st_size, b.st_mtime_ns, b.st_ctime_ns, b.st_ino)


def _fileno(f: Any) -> int | None:
    try:
        n = f.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return n if isinstance(n, int) else None


def _stream_name(f: Any) -> str:
    name = getattr(f, "name", None)
    return name if isinstance(name, str) and name else "<stream>"


class _Tee:
    """Records what is read through it (for a stream that cannot be rewound)."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self.buf = bytearray()

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.buf += data
        return data

    def readline(self) -> bytes:
        data = self._f.readline()
        self.buf += data
        return data
