"""Compare a dataset with its lock: missing, extra and changed files, tar members and table rows.

Every file is hashed again (a lock is only as good as the check against it); a file that differs is
narrowed down where the lock allows: a tar shard to its members (``shard.tar!/member``), a URL-list table to
its rows (``table.parquet#17``). A file that differs but whose members or rows all match (re-compressed,
new metadata) is reported itself. For URL-list tables with a hash column (img2dataset ``--compute_hash``),
each row's local content is checked against the hash the index carries — what the URL served when the index
was made — which is what catches split-view poisoning even when the lock was made after it; rows with
content but no hash are *unverifiable*.

Resuming: hashes are appended to a journal as they are computed, keyed by the lock's root digest and each
file's path, size and mtime. An interrupted run (Ctrl-C, SIGTERM, a crash) starts again where it stopped;
a run that finishes deletes its journal, so mtimes are trusted only across an interruption, never as a
cache between verifications.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from mlvet.data import urllist
from mlvet.data.hashing import HashResult, default_workers, hash_file, is_tar_shard, parallel_map
from mlvet.data.lock import content_hashes
from mlvet.data.lockfile import FileEntry, Lock, TableEntry
from mlvet.data.walk import Dataset, DatasetFile

__all__ = ["Journal", "VerifyReport", "default_journal_path", "verify_dataset"]


@dataclass
class VerifyReport:
    """The differences between a dataset and its lock (paths relative to the dataset, rows as ``path#row``)."""

    units: int
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unverifiable: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    resumed: int = 0

    @property
    def affected_fraction(self) -> float:
        """Missing + extra + changed entries over the lock's files, tar members and rows."""
        return (len(self.missing) + len(self.extra) + len(self.changed)) / max(1, self.units)

    @property
    def matches(self) -> bool:
        """Nothing missing, extra or changed."""
        return not (self.missing or self.extra or self.changed)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON: exactly the five keys."""
        return {"missing": sorted(self.missing), "extra": sorted(self.extra), "changed": sorted(self.changed),
                "unverifiable": sorted(self.unverifiable), "affected_fraction": round(self.affected_fraction, 9)}


def default_journal_path(lock_path: str, root: str) -> str:
    """Beside the lock when its folder is writable, else in the user's cache folder (named by the root digest)."""
    folder = os.path.dirname(os.path.abspath(lock_path))
    if os.access(folder, os.W_OK):
        return os.path.abspath(lock_path) + ".mlvet-journal"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "mlvet", "data-verify", f"{root}.mlvet-journal")


class Journal:
    """Hashes of an unfinished verification, keyed by path, size and mtime under one lock root digest."""

    def __init__(self, path: str | None, root: str) -> None:
        self.path = path
        self.root = root
        self.done: dict[tuple[str, int, int], HashResult] = {}
        self._fh: IO[str] | None = None
        if path is not None:
            self._load(path)

    def _load(self, path: str) -> None:
        with contextlib.suppress(OSError, ValueError, UnicodeDecodeError), open(path, encoding="utf-8") as fh:
            if json.loads(fh.readline()).get("lock") != self.root:
                return  # another lock's journal: ignored, then replaced
            for line in fh:
                rec = json.loads(line)
                members = None if rec["members"] is None else [FileEntry(*m) for m in rec["members"]]
                self.done[(rec["path"], rec["size"], rec["mtime_ns"])] = HashResult(
                    rec["path"], rec["size"], rec["sha256"], members)

    def lookup(self, item: DatasetFile) -> HashResult | None:
        """A hash recorded for this exact path, size and mtime under this lock, if any."""
        return self.done.get((item.rel, item.size, item.mtime_ns))

    def record(self, item: DatasetFile, res: HashResult) -> None:
        """Append a finished hash (flushed, so an interruption keeps it)."""
        if self.path is None or res.error is not None or res.size != item.size:
            return
        if self._fh is None:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            keep = bool(self.done)
            self._fh = open(self.path, "a" if keep else "w", encoding="utf-8")  # noqa: SIM115 (closed in close())
            if not keep:
                self._fh.write(json.dumps({"lock": self.root}) + "\n")
        members = None if res.members is None else [[m.path, m.size, m.sha256] for m in res.members]
        self._fh.write(json.dumps({"path": item.rel, "size": item.size, "mtime_ns": item.mtime_ns,
                                   "sha256": res.sha256, "members": members}) + "\n")
        self._fh.flush()

    def close(self, *, finished: bool) -> None:
        """Close; a finished verification removes the journal (see the module docstring)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if finished and self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def _compare_members(tar: str, locked: list[FileEntry], now: list[FileEntry], report: VerifyReport) -> bool:
    old = {m.path: m for m in locked}
    new = {m.path: m for m in now}
    before = len(report.missing) + len(report.extra) + len(report.changed)
    report.missing.extend(f"{tar}!/{n}" for n in old if n not in new)
    report.extra.extend(f"{tar}!/{n}" for n in new if n not in old)
    report.changed.extend(f"{tar}!/{n}" for n in old if n in new and old[n] != new[n])
    return len(report.missing) + len(report.extra) + len(report.changed) > before


def _index_hash(item_hash: str, algorithm: str, content: str, dataset: Dataset) -> str | None:
    if algorithm == "sha256":
        return item_hash
    if "!/" in content:
        return None  # md5/sha512 of a tar member would need a second pass over the shard
    digest = hashlib.new(algorithm)
    with open(os.path.join(dataset.root, content), "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_table(rel: str, path: str, table: TableEntry, file_changed: bool, dataset: Dataset,
                 index: dict[tuple[str, str], str], hashes: dict[str, str], report: VerifyReport) -> bool:
    """Rows that were edited, added or removed, and content that does not match the index's hash column."""
    columns = urllist.read_columns(path)
    hash_column = urllist.detect_column(columns, urllist.HASH_COLUMNS)
    key_column = urllist.detect_column(columns, urllist.KEY_COLUMNS)
    if not file_changed and hash_column is None:
        return False
    row_level = False
    shard = urllist.shard_of(rel)
    count = 0
    for number, row in enumerate(urllist.iter_rows(path)):
        count = number + 1
        name = f"{rel}#{number}"
        if file_changed:
            if number >= len(table.rows):
                report.extra.append(name)
                row_level = True
                continue
            if urllist.row_digest(row) != table.rows[number].digest:
                report.changed.append(name)
                row_level = True
                continue
        if hash_column is None or key_column is None or row.get(key_column) is None:
            continue
        content = index.get((shard, str(row[key_column])))
        if content is None or content not in hashes:
            continue  # no local content: nothing downloaded (or missing, which the file check reports)
        expected = urllist.hash_text(row.get(hash_column))
        actual = _index_hash(hashes[content], hash_column, content, dataset) if expected else None
        if expected is None or actual is None:
            report.unverifiable.append(name)
        elif actual != expected:
            report.changed.append(name)
    if file_changed and count < len(table.rows):
        report.missing.extend(f"{rel}#{n}" for n in range(count, len(table.rows)))
        row_level = True
    return row_level


def verify_dataset(dataset: Dataset, lock: Lock, *, workers: int | None = None, journal: Journal | None = None,
                   progress: Callable[[HashResult], None] | None = None) -> VerifyReport:
    """Hash ``dataset`` again and compare it with ``lock`` (see the module docstring)."""
    report = VerifyReport(units=lock.units)
    journal = journal or Journal(None, lock.root)
    current = list(dataset.files(report.errors))
    present = {f.rel for f in current}
    report.missing.extend(rel for rel in lock.files if rel not in present)
    report.extra.extend(f.rel for f in current if f.rel not in lock.files)

    def work(item: DatasetFile) -> tuple[DatasetFile, HashResult]:
        done = journal.lookup(item)
        if done is not None and (done.members is not None or not is_tar_shard(item.rel)):
            report.resumed += 1
            return item, done
        return item, hash_file(item.path, item.rel)

    files: dict[str, FileEntry] = {}
    members: dict[str, list[FileEntry]] = {}
    changed_files: set[str] = set()
    finished = False
    try:
        for item, res in parallel_map(work, current, workers or default_workers()):
            if progress is not None:
                progress(res)
            if res.error is not None:
                report.errors.append(f"{item.rel}: {res.error}")
                report.unverifiable.append(item.rel)
                continue
            journal.record(item, res)
            files[item.rel] = FileEntry(item.rel, res.size, res.sha256)
            if res.members is not None:
                members[item.rel] = res.members
            locked = lock.files.get(item.rel)
            if locked is not None and (locked.sha256 != res.sha256 or 0 <= locked.size != res.size):
                changed_files.add(item.rel)
        finished = True
    finally:
        journal.close(finished=finished)
    index = urllist.content_index(sorted(files), {t: [m.path for m in ms] for t, ms in members.items()})
    hashes = content_hashes(files, members)
    narrowed: set[str] = set()
    for rel in sorted(changed_files):
        if rel in lock.members and rel in members and _compare_members(rel, lock.members[rel], members[rel], report):
            narrowed.add(rel)
    for rel, table in sorted(lock.tables.items()):
        if rel not in files:
            continue
        try:
            if _check_table(rel, os.path.join(dataset.root, rel) if not dataset.single_file else dataset.root,
                            table, rel in changed_files, dataset, index, hashes, report):
                narrowed.add(rel)
        except Exception as exc:  # a malformed table (pyarrow, csv, json errors): incomplete, never clean
            report.errors.append(f"{rel}: cannot read the table: {exc}")
            report.unverifiable.append(rel)
    report.changed.extend(rel for rel in sorted(changed_files - narrowed))
    report.changed = list(dict.fromkeys(report.changed))
    return report
