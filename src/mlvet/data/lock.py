"""Build a dataset lock: every file hashed (tar shards with their members), URL-list tables row by row.

The walk is streamed into a bounded thread pool (:func:`mlvet.data.hashing.parallel_map`); only the entries
themselves stay in memory (about 200 bytes a file or row, never file contents). Anything that cannot be read
is collected in ``errors`` and the command exits 2: a lock that silently skipped a file would vouch for data
nobody hashed.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field

from mlvet.data import urllist
from mlvet.data.hashing import HashResult, default_workers, hash_file, parallel_map
from mlvet.data.lockfile import FileEntry, Lock, RowEntry, TableEntry
from mlvet.data.walk import Dataset, DatasetFile

__all__ = ["LockResult", "build_lock", "content_hashes", "read_table"]


@dataclass
class LockResult:
    """The lock and everything that kept it from being complete."""

    lock: Lock
    errors: list[str] = field(default_factory=list)


def content_hashes(files: dict[str, FileEntry], members: dict[str, list[FileEntry]]) -> dict[str, str]:
    """``content path -> sha256`` for files and tar members (``shard.tar!/member``)."""
    hashes = {rel: e.sha256 for rel, e in files.items()}
    for tar, listed in members.items():
        hashes.update((f"{tar}!/{m.path}", m.sha256) for m in listed)
    return hashes


def read_table(path: str, rel: str, url_column: str | None, index: dict[tuple[str, str], str],
               hashes: dict[str, str]) -> TableEntry | None:
    """The rows of a URL-list table with their local content, or None when ``rel`` is not a URL list."""
    columns = urllist.read_columns(path)
    if url_column is not None:
        column = url_column if url_column in columns else None
    else:
        column = urllist.detect_column(columns, urllist.URL_COLUMNS)
    if column is None:
        return None
    table = TableEntry(column, urllist.detect_column(columns, urllist.HASH_COLUMNS),
                       urllist.detect_column(columns, urllist.KEY_COLUMNS))
    shard = urllist.shard_of(rel)
    for number, row in enumerate(urllist.iter_rows(path)):
        content = None
        if table.key_column is not None and row.get(table.key_column) is not None:
            content = index.get((shard, str(row[table.key_column])))
        table.rows.append(RowEntry(number, urllist.row_digest(row), content,
                                   hashes.get(content) if content else None))
    return table


def build_lock(dataset: Dataset, *, workers: int | None = None, url_column: str | None = None,
               progress: Callable[[HashResult], None] | None = None) -> LockResult:
    """Hash every file of ``dataset`` and read its URL-list tables into a :class:`Lock`."""
    result = LockResult(Lock(layout=dataset.layout))
    lock = result.lock
    listed: list[DatasetFile] = list(dataset.files(result.errors))
    for res in parallel_map(lambda f: hash_file(f.path, f.rel), listed, workers or default_workers()):
        if progress is not None:
            progress(res)
        if res.error is not None:
            result.errors.append(f"{res.path}: {res.error}")
            continue
        lock.files[res.path] = FileEntry(res.path, res.size, res.sha256)
        if res.members is not None:
            lock.members[res.path] = res.members
    index = urllist.content_index(sorted(lock.files), {t: [m.path for m in ms] for t, ms in lock.members.items()})
    hashes = content_hashes(lock.files, lock.members)
    for item in listed:
        if item.rel in lock.files and urllist.is_table(item.rel):
            try:
                table = read_table(item.path, item.rel, url_column, index, hashes)
            except (OSError, ValueError, UnicodeDecodeError, csv.Error, RecursionError) as exc:
                result.errors.append(f"{item.rel}: cannot read the table: {exc}")
                continue
            except Exception as exc:  # pyarrow's own errors (ArrowInvalid is a ValueError; others are not)
                if type(exc).__module__.startswith("pyarrow"):
                    result.errors.append(f"{item.rel}: cannot read the table: {exc}")
                    continue
                raise
            if table is not None:
                lock.tables[item.rel] = table
    return result
