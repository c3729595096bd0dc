"""The dataset lock file: a versioned, canonical JSON document with a root digest over its entries.

Format (``"format": "mlvet-data-lock"``, ``"version": 1``)::

    {"format": "mlvet-data-lock", "version": 1, "algorithm": "sha256", "layout": "img2dataset",
     "files": [{"path": "00000.parquet", "size": 5123, "sha256": "…"}, …],          sorted by path
     "members": {"00000.tar": [{"name": "000000000.jpg", "size": 812, "sha256": "…"}, …]},
     "tables": {"00000.parquet": {"url_column": "url", "hash_column": "sha256", "key_column": "key",
                                  "rows": [{"row": 0, "digest": "…", "content": "00000/000000000.jpg",
                                            "sha256": "…"}, …]}},
     "root": "…"}

* ``files``: every regular file of the dataset, its path relative to the dataset root (``/`` separators),
  size in bytes and SHA-256.
* ``members``: for each tar shard (WebDataset), its members in archive order, hashed without extraction.
* ``tables``: for each URL-list table, one entry per row: ``digest`` is the SHA-256 of the row's canonical
  JSON (so an edited row is found, not just an edited file), ``content`` the local file or tar member that
  holds what the URL served (img2dataset layout) and ``sha256`` its hash, or ``null`` when the content is
  not available locally.
* ``root``: SHA-256 of the canonical serialisation of the document without ``root``. Two locks of the same
  data are byte-identical (no timestamps, no host names), so the root digest names a dataset version.

Canonical serialisation: ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=True)`` plus a
final newline. The file is plain data: sign it with ``mlvet sign key data.lock`` like any other file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from mlvet.errors import UsageError

__all__ = ["FORMAT", "VERSION", "FileEntry", "Lock", "RowEntry", "TableEntry", "canonical", "load_lock"]

FORMAT = "mlvet-data-lock"
VERSION = 1
#: A lock file larger than this is refused (a lock is metadata: ~200 bytes per file or row).
MAX_LOCK_BYTES = 4 << 30


def canonical(doc: Any) -> bytes:
    """The canonical bytes of a JSON document (sorted keys, no spaces, ASCII, final newline)."""
    return (json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n").encode("ascii")


@dataclass(frozen=True)
class FileEntry:
    """One file (or tar member): path relative to the dataset root, size, SHA-256."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class RowEntry:
    """One row of a URL-list table: its index, row digest, local content path and content hash."""

    row: int
    digest: str
    content: str | None = None
    sha256: str | None = None


@dataclass
class TableEntry:
    """A URL-list table: the columns it was read with and its rows."""

    url_column: str
    hash_column: str | None
    key_column: str | None
    rows: list[RowEntry] = field(default_factory=list)


@dataclass
class Lock:
    """A dataset lock in memory (see the module docstring for the file format)."""

    layout: str
    files: dict[str, FileEntry] = field(default_factory=dict)
    members: dict[str, list[FileEntry]] = field(default_factory=dict)
    tables: dict[str, TableEntry] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The document without its root digest."""
        return {
            "format": FORMAT, "version": VERSION, "algorithm": "sha256", "layout": self.layout,
            "files": [{"path": e.path, "size": e.size, "sha256": e.sha256}
                      for _, e in sorted(self.files.items())],
            "members": {tar: [{"name": m.path, "size": m.size, "sha256": m.sha256} for m in members]
                        for tar, members in sorted(self.members.items())},
            "tables": {path: {"url_column": t.url_column, "hash_column": t.hash_column, "key_column": t.key_column,
                              "rows": [{"row": r.row, "digest": r.digest, "content": r.content, "sha256": r.sha256}
                                       for r in t.rows]}
                       for path, t in sorted(self.tables.items())},
        }

    @property
    def root(self) -> str:
        """SHA-256 over the canonical document without ``root``."""
        return hashlib.sha256(canonical(self.body())).hexdigest()

    def to_bytes(self) -> bytes:
        """The lock file's bytes (canonical JSON with ``root``)."""
        doc = self.body()
        doc["root"] = self.root
        return canonical(doc)

    @property
    def units(self) -> int:
        """Files, tar members and table rows: what the affected share is a share of."""
        return len(self.files) + sum(map(len, self.members.values())) + sum(len(t.rows) for t in self.tables.values())


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise UsageError(f"not a valid lock file: {what} is not a string")
    return value


def _hex(value: Any, what: str) -> str:
    text = _str(value, what)
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise UsageError(f"not a valid lock file: {what} is not a SHA-256 digest")
    return text


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UsageError(f"not a valid lock file: {what} is not a size")
    return value


def _opt(value: Any, what: str, check: Any) -> Any:
    return None if value is None else check(value, what)


def from_document(doc: Any) -> Lock:
    """Validate a parsed lock document (strictly: a lock is a trust anchor) and check its root digest."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UsageError("not a mlvet data lock (no \"format\": \"mlvet-data-lock\")")
    if doc.get("version") != VERSION:
        raise UsageError(f"unsupported lock version {doc.get('version')!r} (this mlvet reads version {VERSION})")
    if doc.get("algorithm") != "sha256":
        raise UsageError(f"unsupported lock algorithm {doc.get('algorithm')!r}")
    lock = Lock(layout=_str(doc.get("layout"), "layout"))
    for item in _list(doc.get("files"), "files"):
        path = _str(_dict(item, "a file").get("path"), "a file path")
        lock.files[path] = FileEntry(path, _int(item.get("size"), path), _hex(item.get("sha256"), path))
    for tar, members in _dict(doc.get("members", {}), "members").items():
        lock.members[tar] = [FileEntry(_str(_dict(m, tar).get("name"), tar), _int(m.get("size"), tar),
                                       _hex(m.get("sha256"), tar)) for m in _list(members, tar)]
    for path, table in _dict(doc.get("tables", {}), "tables").items():
        t = _dict(table, path)
        entry = TableEntry(_str(t.get("url_column"), path), _opt(t.get("hash_column"), path, _str),
                           _opt(t.get("key_column"), path, _str))
        for item in _list(t.get("rows"), path):
            r = _dict(item, path)
            entry.rows.append(RowEntry(_int(r.get("row"), path), _hex(r.get("digest"), path),
                                       _opt(r.get("content"), path, _str), _opt(r.get("sha256"), path, _hex)))
        lock.tables[path] = entry
    if doc.get("root") != lock.root:
        raise UsageError("the lock file's root digest does not match its entries: it was edited or is corrupt")
    return lock


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UsageError(f"not a valid lock file: {what} is not an object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise UsageError(f"not a valid lock file: {what} is not a list")
    return value


def load_lock(path: str | os.PathLike[str]) -> Lock:
    """Read and validate a lock file (or raise :class:`~mlvet.errors.UsageError`, exit 4)."""
    try:
        size = os.path.getsize(path)
        if size > MAX_LOCK_BYTES:
            raise UsageError(f"{os.fspath(path)}: {size} bytes is too large for a lock file")
        with open(path, "rb") as fh:
            doc = json.loads(fh.read())
    except OSError as exc:
        raise UsageError(f"cannot read the lock file {os.fspath(path)}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{os.fspath(path)} is not JSON: {exc}") from None
    return from_document(doc)
