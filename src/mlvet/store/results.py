"""The result cache and the exactly-once record of batch scans, on the inventory database.

* :class:`ResultCache` — ``(sha256, mlvet version, policy digest, file name) -> result``: every command and
  every worker's results land in one table, so the same blob is scanned once per policy. Lookups are batched
  (one query per few hundred keys); inserts are ``ON CONFLICT DO NOTHING`` (two workers that scanned the same
  blob store one row, and either row is the same result).
* :class:`ScanRuns` — resumable runs: a run row (inputs, policy digest, engine) and one result row per file,
  keyed by (run id, sha256 of the file's path) and inserted ``ON CONFLICT DO NOTHING``, so a retried task, a
  rescheduled batch or a restarted client can deliver a result twice and it is written once. Resuming reads
  the keys already written and submits only the rest.

Both use :meth:`Store._write` (short transactions, retried on lock or deadlock).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mlvet._version import __version__
from mlvet.engine.codec import cacheable, result_from_doc, result_to_doc
from mlvet.model import FileResult
from mlvet.store.schema import ResultCacheRow, RunPolicyRow, ScanRunResultRow, ScanRunRow
from mlvet.store.store import Store, _insert

__all__ = ["RecordedResult", "ResultCache", "ScanRuns", "item_key", "name_key", "run_policy_digest",
           "set_run_policy_digest"]

#: Keys per lookup query (bounded statement size on both databases).
_LOOKUP_CHUNK = 400
#: Rows per insert transaction.
_WRITE_CHUNK = 1000


def name_key(name: str) -> str:
    """The fixed-width key of a file name (the scanner reads the name, so it is part of the cache key)."""
    return hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()


def item_key(path: str) -> str:
    """The fixed-width key of a result's path (a local path or a remote URL) within a run."""
    return hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


class ResultCache:
    """The content-hash result cache of one mlvet version and one policy digest."""

    def __init__(self, store: Store, policy_digest: str, tool_version: str = __version__) -> None:
        self.store = store
        self.policy_digest = policy_digest
        self.tool_version = tool_version
        self.hits = 0
        self.misses = 0

    def get(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """``(sha256, file name) -> encoded result`` for the keys that are cached (see :mod:`mlvet.engine.codec`)."""
        wanted = {(sha, name_key(name)): (sha, name) for sha, name in keys if sha}
        if not wanted:
            return {}
        t = cast(sa.Table, ResultCacheRow.__table__)
        out: dict[tuple[str, str], dict[str, Any]] = {}
        shas = sorted({sha for sha, _n in wanted})

        def read() -> None:
            with self.store.engine.connect() as conn:
                for i in range(0, len(shas), _LOOKUP_CHUNK):
                    stmt = sa.select(t.c.sha256, t.c.name_key, t.c.result).where(
                        t.c.tool_version == self.tool_version, t.c.policy_digest == self.policy_digest,
                        t.c.sha256.in_(shas[i:i + _LOOKUP_CHUNK]))
                    for sha, nkey, result in conn.execute(stmt):
                        key = wanted.get((sha, nkey))
                        if key is not None:
                            out[key] = result

        self.store._guard("reading the result cache", read)
        self.hits += len(out)
        self.misses += len(wanted) - len(out)
        return out

    def lookup(self, sha256: str | None, name: str, path: str) -> FileResult | None:
        """One cached result, restored for ``path`` (None on a miss)."""
        if not sha256:
            return None
        doc = self.get([(sha256, name)]).get((sha256, name))
        return None if doc is None else result_from_doc(doc, path)

    def put(self, entries: Iterable[tuple[str | None, str, FileResult]]) -> int:
        """Store ``(sha256, file name, result)`` entries that may be reused; returns how many were offered.

        Results that depend on more than the file's content (:func:`mlvet.engine.codec.cacheable`), errors,
        and files whose content hash is unknown are not stored.
        """
        now = _now()
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for sha, name, res in entries:
            if sha and cacheable(res):
                nk = name_key(name)
                rows[(sha, nk)] = {"sha256": sha, "tool_version": self.tool_version,
                                   "policy_digest": self.policy_digest, "name_key": nk, "name": name,
                                   "result": result_to_doc(res), "created_at": now}
        ordered = [rows[k] for k in sorted(rows)]  # one lock order for concurrent writers
        for i in range(0, len(ordered), _WRITE_CHUNK):
            chunk = ordered[i:i + _WRITE_CHUNK]

            self.store._guard("updating the result cache", partial(self.store._write, partial(self._insert, chunk)))
        return len(ordered)

    def _insert(self, chunk: list[dict[str, Any]], conn: Connection) -> None:
        table = cast(sa.Table, ResultCacheRow.__table__)
        conn.execute(_insert(self.store.dialect, table).on_conflict_do_nothing(), chunk)


def run_policy_digest(store: Store, run_id: int) -> str | None:
    """The policy digest inventory run ``run_id`` scanned with (None: unknown, e.g. recorded before 0002)."""
    stmt = sa.select(RunPolicyRow.policy_digest).where(RunPolicyRow.run_id == run_id)

    def read() -> str | None:
        with store.engine.connect() as conn:
            return conn.execute(stmt).scalar_one_or_none()

    return store._guard("reading the run's policy", read)


def set_run_policy_digest(store: Store, run_id: int, digest: str) -> None:
    """Record the policy digest of inventory run ``run_id``."""
    table = cast(sa.Table, RunPolicyRow.__table__)

    def work(conn: Connection) -> None:
        conn.execute(_insert(store.dialect, table).on_conflict_do_nothing(),
                     [{"run_id": run_id, "policy_digest": digest}])

    store._guard("recording the run's policy", lambda: store._write(work))


@dataclass(frozen=True)
class RecordedResult:
    """One row of a batch scan: the file's result and how it was obtained."""

    result: FileResult
    source: str | None
    cache_hit: bool
    bytes_read: int | None


@dataclass(frozen=True)
class ScanRunInfo:
    """A batch scan run as recorded."""

    id: str
    command: str
    inputs_key: str
    policy_digest: str
    tool_version: str
    engine: str
    started_at: datetime
    finished_at: datetime | None
    items_total: int | None


class ScanRuns:
    """Resumable batch-scan runs and their exactly-once result rows."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, command: str, inputs_key: str, policy_digest: str, engine: str,
               run_id: str | None = None) -> ScanRunInfo:
        """Start a new run (``run_id`` or a fresh one) and return it; an existing id is a StoreError."""
        info = ScanRunInfo(run_id or uuid.uuid4().hex, command, inputs_key, policy_digest, __version__, engine,
                           _now(), None, None)
        table = cast(sa.Table, ScanRunRow.__table__)

        def work(conn: Connection) -> None:
            conn.execute(sa.insert(table), [{
                "id": info.id, "command": command, "inputs_key": inputs_key, "policy_digest": policy_digest,
                "tool_version": info.tool_version, "engine": engine, "started_at": info.started_at,
                "finished_at": None, "items_total": None}])

        self.store._guard("starting the scan run", lambda: self.store._write(work))
        return info

    def get(self, run_id: str) -> ScanRunInfo | None:
        """The run with this id, or None."""
        return next(iter(self._select(sa.select(ScanRunRow).where(ScanRunRow.id == run_id))), None)

    def latest(self, command: str, inputs_key: str) -> ScanRunInfo | None:
        """The newest run of ``command`` over the same inputs (what ``--resume`` continues)."""
        stmt = (sa.select(ScanRunRow).where(ScanRunRow.command == command, ScanRunRow.inputs_key == inputs_key)
                .order_by(ScanRunRow.started_at.desc()).limit(1))
        return next(iter(self._select(stmt)), None)

    def _select(self, stmt: Any) -> list[ScanRunInfo]:
        return self.store._read(lambda s: [
            ScanRunInfo(r.id, r.command, r.inputs_key, r.policy_digest, r.tool_version, r.engine, r.started_at,
                        r.finished_at, r.items_total) for r in s.scalars(stmt)])

    def done_keys(self, run_id: str) -> set[str]:
        """Item keys (see :func:`item_key`) that have a final result in run ``run_id``.

        ``error`` rows are not final: the error may have been transient (a worker lost for good, the scheduler
        gone, the hub unreachable), so a resumed run scans those files again and replaces their rows.
        """
        t = cast(sa.Table, ScanRunResultRow.__table__)

        def read() -> set[str]:
            with self.store.engine.connect() as conn:
                stmt = sa.select(t.c.item_key).where(t.c.run_id == run_id, t.c.status != "error")
                return set(conn.execute(stmt).scalars())

        return self.store._guard("reading the run's results", read)

    def record(self, run_id: str, rows: Sequence[RecordedResult]) -> int:
        """Insert result rows; a path already recorded in this run is left as it is (an ``error`` row is
        replaced). Returns the rows offered."""
        now = _now()
        data: dict[str, dict[str, Any]] = {}
        for r in rows:
            res = r.result
            key = item_key(res.path)
            data[key] = {"run_id": run_id, "item_key": key, "path": res.path, "source": r.source,
                         "sha256": res.sha256, "format": res.format[:64], "status": res.status.value,
                         "severity": int(res.severity), "bytes_read": r.bytes_read, "cache_hit": r.cache_hit,
                         "result": {"path": res.path, **result_to_doc(res)}, "recorded_at": now}
        ordered = [data[k] for k in sorted(data)]
        for i in range(0, len(ordered), _WRITE_CHUNK):
            chunk = ordered[i:i + _WRITE_CHUNK]

            self.store._guard("recording results", partial(self.store._write, partial(self._insert, chunk)))
        return len(ordered)

    def _insert(self, chunk: list[dict[str, Any]], conn: Connection) -> None:
        """Insert; a row already there is kept, unless it is an ``error`` row (then the new result replaces it)."""
        table = cast(sa.Table, ScanRunResultRow.__table__)
        ins = _insert(self.store.dialect, table)
        cols = ("source", "sha256", "format", "status", "severity", "bytes_read", "cache_hit", "result",
                "recorded_at")
        conn.execute(ins.on_conflict_do_update(index_elements=["run_id", "item_key"],
                                               set_={c: ins.excluded[c] for c in cols},
                                               where=table.c.status == "error"), chunk)

    def finish(self, run_id: str, items_total: int) -> None:
        """Mark the run finished with ``items_total`` results."""
        t = cast(sa.Table, ScanRunRow.__table__)

        def work(conn: Connection) -> None:
            conn.execute(sa.update(t).where(t.c.id == run_id).values(finished_at=_now(), items_total=items_total))

        self.store._guard("finishing the scan run", lambda: self.store._write(work))

    def results(self, run_id: str) -> list[tuple[str, FileResult, bool, int | None]]:
        """``(source, result, cache_hit, bytes_read)`` of every file recorded in the run, by path."""
        t = cast(sa.Table, ScanRunResultRow.__table__)
        stmt = (sa.select(t.c.source, t.c.path, t.c.result, t.c.cache_hit, t.c.bytes_read)
                .where(t.c.run_id == run_id).order_by(t.c.path))

        def read() -> list[tuple[str, FileResult, bool, int | None]]:
            with self.store.engine.connect() as conn:
                return [(src or "", result_from_doc(doc, path), bool(hit), nbytes)
                        for src, path, doc, hit, nbytes in conn.execute(stmt)]

        return self.store._guard("reading the run's results", read)
