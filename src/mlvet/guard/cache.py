"""Verdicts cached by content hash, so a file already vetted costs a hash lookup (or a ``stat``).

Two levels, both keyed so that a cached verdict can never be applied to different bytes:

* **verdicts**: ``sha256(content) + mlvet version + policy digest`` → the scan's findings and errors. An
  entry records the content hash it was made for and is ignored unless it matches the key's hash.
* **stat index**: ``(device, inode, size, mtime_ns, ctime_ns, path)`` → the content hash computed last time.
  It spares re-hashing an unchanged file. ``ctime`` cannot be set by a user process (any write, rename or
  ``utime`` updates it), so a file rewritten in place gets a new key and is hashed and scanned again.

Both live in memory for the process and in a small on-disk cache (``$MLVET_GUARD_CACHE``, else
``$XDG_CACHE_HOME/mlvet/guard``, else ``~/.cache/mlvet/guard``; ``MLVET_GUARD_CACHE=off`` disables it). The
folder is created private (0700) and is not used at all when it is not owned by the current user or is
writable by group or others: whoever can write there could plant a "clean" verdict for a malicious hash.
Entries are written atomically (temporary file + rename); unreadable or malformed entries are misses.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from mlvet._version import __version__
from mlvet.model import Finding, Location, Severity

__all__ = ["CachedVerdict", "VerdictCache", "default_cache_dir", "hash_stream", "stat_key"]

#: Bump when the shape of a cached entry changes (old entries are then misses).
_FORMAT = 1
_CHUNK = 1 << 20


@dataclass(frozen=True)
class CachedVerdict:
    """What a scan concluded about some content: its findings (unsuppressed) and analysis errors."""

    status: str
    findings: tuple[Finding, ...]
    errors: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """Plain data for the on-disk cache."""
        return {"status": self.status, "errors": list(self.errors),
                "findings": [{"rule_id": f.rule_id, "severity": int(f.severity), "message": f.message,
                              "path": f.location.path, "members": list(f.location.members),
                              "evidence": f.evidence} for f in self.findings]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CachedVerdict:
        """Rebuild a verdict from :meth:`to_json` data (raises on malformed data: callers treat it as a miss)."""
        findings = tuple(
            Finding(rule_id=str(f["rule_id"]), severity=Severity(int(f["severity"])), message=str(f["message"]),
                    location=Location(str(f["path"]), tuple(str(m) for m in f["members"])),
                    evidence=str(f["evidence"]))
            for f in data["findings"])
        return cls(str(data["status"]), findings, tuple(str(e) for e in data["errors"]))


def default_cache_dir() -> str | None:
    """Where the on-disk cache lives, or None when disabled (``MLVET_GUARD_CACHE=off``)."""
    configured = os.environ.get("MLVET_GUARD_CACHE")
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "0", "none") else configured
    base = os.environ.get("XDG_CACHE_HOME")
    if not base or not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mlvet", "guard")


def stat_key(st: os.stat_result, path: str) -> str:
    """The stat-index key of a file: same key means same inode, size and timestamps at the same path."""
    material = f"{st.st_dev}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{path}"
    return hashlib.sha256(material.encode("utf-8", "surrogateescape")).hexdigest()


def hash_stream(stream: BinaryIO, length: int | None = None) -> str:
    """SHA-256 of ``length`` bytes (or the rest) of ``stream`` from its current position, read in chunks."""
    h = hashlib.sha256()
    remaining = length
    while remaining is None or remaining > 0:
        chunk = stream.read(_CHUNK if remaining is None else min(_CHUNK, remaining))
        if not chunk:
            break
        h.update(chunk)
        if remaining is not None:
            remaining -= len(chunk)
    return h.hexdigest()


class VerdictCache:
    """Memory + optional disk cache of verdicts (by content) and content hashes (by stat key)."""

    def __init__(self, policy_digest: str, directory: str | None = None) -> None:
        self._policy_digest = policy_digest
        self._verdicts: dict[str, CachedVerdict] = {}
        self._hashes: dict[str, str] = {}
        self._lock = threading.Lock()
        self._dir = _private_dir(directory) if directory else None

    @property
    def directory(self) -> str | None:
        """The on-disk cache folder in use (None: memory only)."""
        return self._dir

    def _verdict_key(self, sha256: str) -> str:
        return hashlib.sha256(f"{_FORMAT}\0{sha256}\0{__version__}\0{self._policy_digest}".encode()).hexdigest()

    def get(self, sha256: str) -> CachedVerdict | None:
        """The verdict for content with this hash under this mlvet version and policy, if known."""
        key = self._verdict_key(sha256)
        with self._lock:
            hit = self._verdicts.get(key)
        if hit is not None or self._dir is None:
            return hit
        data = self._read(os.path.join("v", key[:2], key + ".json"))
        if data is None or data.get("sha256") != sha256 or data.get("key") != key:
            return None  # never trust an entry made for other content
        try:
            verdict = CachedVerdict.from_json(data["verdict"])
        except (KeyError, TypeError, ValueError):
            return None
        with self._lock:
            self._verdicts[key] = verdict
        return verdict

    def put(self, sha256: str, verdict: CachedVerdict) -> None:
        """Remember a verdict for content with this hash."""
        key = self._verdict_key(sha256)
        with self._lock:
            self._verdicts[key] = verdict
        self._write(os.path.join("v", key[:2], key + ".json"),
                    {"key": key, "sha256": sha256, "verdict": verdict.to_json()})

    def known_hash(self, skey: str) -> str | None:
        """The content hash last computed for a file with this stat key."""
        with self._lock:
            hit = self._hashes.get(skey)
        if hit is not None or self._dir is None:
            return hit
        data = self._read(os.path.join("s", skey[:2], skey + ".json"))
        if data is None or data.get("key") != skey:
            return None
        value = data.get("sha256")
        if not isinstance(value, str) or len(value) != 64:
            return None
        with self._lock:
            self._hashes[skey] = value
        return value

    def remember_hash(self, skey: str, sha256: str) -> None:
        """Record the content hash of a file with this stat key."""
        with self._lock:
            self._hashes[skey] = sha256
        self._write(os.path.join("s", skey[:2], skey + ".json"), {"key": skey, "sha256": sha256})

    def clear_memory(self) -> None:
        """Forget the in-memory level (the disk level stays)."""
        with self._lock:
            self._verdicts.clear()
            self._hashes.clear()

    def _read(self, rel: str) -> dict[str, Any] | None:
        assert self._dir is not None
        try:
            with open(os.path.join(self._dir, rel), "rb") as f:
                raw = f.read(1 << 20)
            data = json.loads(raw)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write(self, rel: str, data: Mapping[str, Any]) -> None:
        if self._dir is None:
            return
        target = os.path.join(self._dir, rel)
        try:
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".tmp-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(data, f)
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError:
            return  # a cache that cannot be written only costs a rescan


def _private_dir(directory: str) -> str | None:
    """Create ``directory`` private, and refuse it (None) if someone else could write into it."""
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        st = os.stat(directory)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
        return None
    return directory
