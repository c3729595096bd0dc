"""The inventory database: record runs and assets, read them back, query them, and cache file hashes.

Any SQLAlchemy URL works; SQLite (a file, no setup) is the default and PostgreSQL (psycopg 3) is tested.

Concurrency, and why it is safe:

* SQLite runs in WAL mode (readers never block the writer) with a busy timeout. Every write is one short
  transaction opened with ``BEGIN IMMEDIATE``: the write lock is taken up front, so two writers queue on the
  busy timeout instead of failing with an un-retryable lock upgrade half way through. Should the timeout
  still expire ("database is locked"), the whole transaction is retried with back-off.
* PostgreSQL uses plain transactions; the hash cache is an ``INSERT ... ON CONFLICT DO UPDATE`` with rows
  sorted by path, so concurrent upserts lock rows in the same order and cannot deadlock each other; a
  deadlock or serialisation failure from elsewhere is retried like a SQLite lock.
* Recorded runs never update existing rows (see :mod:`mlvet.store.schema`), so writers only ever append.
* Schema migration on open is serialised by the same write lock (SQLite) or an advisory transaction lock
  (PostgreSQL), and re-checks the version after taking it: concurrent first opens migrate exactly once.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, selectinload

from mlvet.inventory.model import Asset, Changes, InventoryRun
from mlvet.model import Severity
from mlvet.store.rows import _asset, _run, _version_row
from mlvet.store.schema import (
    AssetRow,
    AssetVersionRow,
    FileRow,
    RunChangeRow,
    RunRow,
)
from mlvet.store.types import escape_text, from_signed64, to_signed64, unescape_text
from mlvet.store.urls import (
    StoreError,
    default_url,
    glob_to_like,
    normalize_url,
    roots_key,
    sqlite_file,
    sqlite_memory,
    sqlite_read_only_reason,
    sqlite_read_only_url,
)

__all__ = ["MIGRATIONS_DIR", "HashCacheEntry", "Store", "StoreError", "default_url", "glob_to_like", "normalize_url",
           "roots_key"]

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Key of the PostgreSQL advisory lock that serialises schema migrations ("mlvet" in ASCII).
_PG_MIGRATION_LOCK = 0x6D6C766574
#: How long a SQLite writer waits for the lock before "database is locked" (then the transaction is retried).
_SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITE_ATTEMPTS = 8
#: Rows per hash-cache upsert transaction: short enough that concurrent writers interleave.
_HASH_CACHE_CHUNK = 10_000
#: Parameters per ``IN (...)`` lookup on SQLite: below the 999 host parameters of older SQLite builds.
_SQLITE_IN_CHUNK = 900
#: Paths per ``= ANY(array)`` lookup on PostgreSQL (one parameter; bounded to bound the statement size).
_PG_ANY_CHUNK = 50_000

HashCacheEntry = tuple[int, int, int, str]

# Hash-cache upserts in plain SQL (see Store.update_hash_cache for why not the ORM).
_SQLITE_HASH_UPSERT = (
    "INSERT INTO hash_cache (path, size, mtime_ns, inode, sha256, hashed_at) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, "
    "inode = excluded.inode, sha256 = excluded.sha256, hashed_at = excluded.hashed_at"
)
_PG_HASH_STAGE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS mlvet_hash_cache_in (LIKE hash_cache INCLUDING DEFAULTS) "
    "ON COMMIT DELETE ROWS"
)
_PG_HASH_COPY = "COPY mlvet_hash_cache_in (path, size, mtime_ns, inode, sha256, hashed_at) FROM STDIN"
_PG_HASH_UPSERT = (
    "INSERT INTO hash_cache (path, size, mtime_ns, inode, sha256, hashed_at) "
    "SELECT path, size, mtime_ns, inode, sha256, hashed_at FROM mlvet_hash_cache_in ORDER BY path "
    "ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, "
    "inode = excluded.inode, sha256 = excluded.sha256, hashed_at = excluded.hashed_at"
)


def _is_retryable(exc: sa.exc.DBAPIError) -> bool:
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        text = str(orig).lower()
        return "locked" in text or "busy" in text
    sqlstate = getattr(orig, "sqlstate", None)
    return sqlstate in ("40001", "40P01")  # serialization_failure, deadlock_detected


def _install_sqlite_hooks(engine: Engine, *, memory: bool, read_only: bool = False) -> None:
    """WAL, busy timeout and foreign keys on every connection; ``BEGIN IMMEDIATE`` for write transactions.

    pysqlite's own implicit transactions are switched off (``isolation_level = None``) so that SQLAlchemy
    emits ``BEGIN`` itself, the documented recipe for controlling SQLite locking.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys = ON")
            if read_only:
                cur.execute("PRAGMA query_only = ON")
            elif not memory:
                cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = NORMAL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("mlvet_write") else "BEGIN")


def _insert(dialect: str, table: sa.TableClause) -> Any:
    """The dialect's INSERT that supports ``ON CONFLICT`` (SQLite ≥ 3.24 and PostgreSQL share the syntax)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    raise StoreError(f"database dialect {dialect!r} is not supported (use SQLite or PostgreSQL)")


class Store:
    """The inventory database. Opening it for writing migrates the schema to the current version.

    ``read_only=True`` is for the commands that only read (``assets``, ``bom --from-db``): a SQLite file is
    opened through SQLite's ``mode=ro`` URI (and ``immutable`` when its folder cannot be written, where
    no writer can be at work), nothing is migrated and nothing is written, so an inventory on read-only
    media or owned by another user can be listed. ``read_only=False`` (the default) refuses an existing
    SQLite file that cannot be written with a :class:`StoreError` (exit 4) before any work.
    An in-memory SQLite URL is refused unless ``memory_ok`` (tests, library use): from the command line
    it would record a run that vanishes when the process exits.
    """

    def __init__(self, url: str | None = None, *, read_only: bool = False, memory_ok: bool = False) -> None:
        self.url = normalize_url(url if url is not None else default_url())
        backend = self.url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise StoreError(f"database {backend!r} is not supported (use a sqlite:// or postgresql:// URL)")
        self.dialect = backend
        self.read_only = read_only
        self._display_url = self.url.render_as_string(hide_password=True)
        memory = backend == "sqlite" and sqlite_memory(self.url)
        if memory and not memory_ok:
            raise StoreError(f"{self._display_url} is an in-memory database: nothing recorded in it would "
                             "outlive the command; give a file (sqlite:///path/inventory.db) or a server URL")
        try:
            if backend == "sqlite":
                self.engine = sa.create_engine(self._sqlite_url(), connect_args={
                    "timeout": _SQLITE_BUSY_TIMEOUT_MS / 1000})
                _install_sqlite_hooks(self.engine, memory=memory, read_only=read_only)
            else:
                self.engine = sa.create_engine(self.url, pool_pre_ping=True)
        except ModuleNotFoundError as exc:  # the driver (psycopg): named, so the command line names the extra
            raise ModuleNotFoundError(f"{self._display_url} needs {exc.name}: {exc}", name=exc.name) from exc
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise StoreError(f"cannot open database {self._display_url}: {exc}") from exc
        try:
            self._check_schema() if read_only else self._migrate()
        except sa.exc.DBAPIError as exc:
            self.engine.dispose()
            raise StoreError(f"cannot open database {self._display_url}: {exc.orig}") from exc
        except BaseException:
            self.engine.dispose()
            raise

    def _sqlite_url(self) -> Any:
        path = sqlite_file(self.url)
        if path is None:
            return self.url
        if self.read_only:
            if not os.path.isfile(path):
                raise StoreError(f"no inventory database at {path}: run `mlvet inventory` first")
            folder = os.path.dirname(os.path.abspath(path))
            return sqlite_read_only_url(path, immutable=not os.access(folder, os.W_OK | os.X_OK))
        why = sqlite_read_only_reason(path)
        if why is not None:
            raise StoreError(f"cannot write the inventory database {path}: {why}; recording a run needs "
                             "write access (listing it does not: mlvet assets, mlvet bom --from-db)")
        return self.url

    def _check_schema(self) -> None:
        """Read-only open: the schema must already be the current one (it is not migrated here)."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(self._alembic_config())
        with self.engine.connect() as conn:
            rev = MigrationContext.configure(conn).get_current_revision()
        if rev is None:
            raise StoreError(f"{self._display_url} holds no inventory: run `mlvet inventory` first")
        if rev != script.get_current_head():
            raise StoreError(f"the database {self._display_url} has schema revision {rev}, not the one this "
                             "mlvet reads; open it once with write access (mlvet inventory) to migrate it")

    # -- lifecycle ---------------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _alembic_config(self) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        return cfg

    def _migrate(self) -> None:
        """Upgrade to head: a cheap version check first, then under the migration lock, re-checked."""
        from alembic import command
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        cfg = self._alembic_config()
        script = ScriptDirectory.from_config(cfg)
        head = script.get_current_head()
        known = {rev.revision for rev in script.walk_revisions()}

        def current(conn: Connection) -> str | None:
            rev = MigrationContext.configure(conn).get_current_revision()
            if rev is not None and rev not in known:
                raise StoreError(
                    f"the database {self._display_url} has schema revision {rev}, newer than this mlvet "
                    "knows: upgrade mlvet or use another database"
                )
            return rev

        with self.engine.connect() as conn:
            if current(conn) == head:
                return

        def upgrade(conn: Connection) -> None:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            if current(conn) == head:
                return
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

        self._write(upgrade)

    # -- transactions ------------------------------------------------------------------------------------

    @contextmanager
    def _write_connection(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(mlvet_write=True) as conn, conn.begin():
            yield conn

    def _write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction, retrying the whole transaction on lock/deadlock errors."""
        delay = 0.05
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                with self._write_connection() as conn:
                    return work(conn)
            except sa.exc.DBAPIError as exc:
                if attempt + 1 >= _WRITE_ATTEMPTS or not _is_retryable(exc):
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def _guard(self, what: str, work: Callable[[], T]) -> T:
        try:
            return work()
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"{what} failed on {self._display_url}: {exc.orig}") from exc

    # -- hash cache --------------------------------------------------------------------------------------

    def hash_cache(self, paths: Iterable[str] | None = None) -> dict[str, HashCacheEntry]:
        """``path -> (size, mtime_ns, inode, sha256)``: every entry when ``paths`` is None (one query), else
        the entries of those paths that are cached.

        Plain driver SQL: for 100,000 rows SQLAlchemy's per-row result processing would dominate. A path list
        is one ``= ANY(array)`` query per 50,000 paths on PostgreSQL and ``IN (...)`` batches on SQLite.
        """
        select = "SELECT path, size, mtime_ns, inode, sha256 FROM hash_cache"

        def read() -> dict[str, HashCacheEntry]:
            out: dict[str, HashCacheEntry] = {}
            with self.engine.connect() as conn:
                if paths is None:
                    batches: list[Any] = [(select, None)]
                else:
                    wanted = list(dict.fromkeys(escape_text(p) for p in paths))
                    if self.dialect == "postgresql":
                        batches = [
                            (select + " WHERE path = ANY(%(paths)s)", {"paths": wanted[i : i + _PG_ANY_CHUNK]})
                            for i in range(0, len(wanted), _PG_ANY_CHUNK)
                        ]
                    else:
                        batches = []
                        for i in range(0, len(wanted), _SQLITE_IN_CHUNK):
                            chunk = tuple(wanted[i : i + _SQLITE_IN_CHUNK])
                            batches.append((select + f" WHERE path IN ({','.join('?' * len(chunk))})", chunk))
                for sql, params in batches:
                    result = conn.exec_driver_sql(sql, params) if params is not None else conn.exec_driver_sql(sql)
                    for path, size, mtime_ns, inode, sha in result:
                        out[unescape_text(path)] = (size, mtime_ns, from_signed64(inode), sha)
            return out

        return self._guard("reading the hash cache", read)

    def update_hash_cache(self, rows: Iterable[tuple[str, int, int, int, str]]) -> None:
        """Insert or replace ``(path, size, mtime_ns, inode, sha256)`` rows (the last row per path wins).

        The hot path of a cold inventory (one row per file of a 100,000-file tree), so it bypasses the ORM:
        PostgreSQL gets the rows by ``COPY`` into a temporary table and one ``INSERT ... SELECT ... ON
        CONFLICT``; SQLite gets one compiled ``INSERT ... ON CONFLICT`` through the driver's executemany.
        Either way in transactions of at most ``_HASH_CACHE_CHUNK`` rows, so concurrent writers interleave.
        """
        now = datetime.now(timezone.utc)
        stamp: Any = now
        if self.dialect == "sqlite":
            # SQLAlchemy's SQLite DATETIME storage format, naive UTC (see UTCDateTime).
            stamp = now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        latest: dict[str, tuple[str, int, int, int, str, Any]] = {}
        for path, size, mtime_ns, inode, sha in rows:
            latest[path] = (escape_text(path), size, mtime_ns, to_signed64(inode), sha, stamp)
        if not latest:
            return
        # Sorted: concurrent PostgreSQL upserts then take row locks in the same order (no deadlocks).
        ordered = [latest[k] for k in sorted(latest)]

        def work_sqlite(chunk: list[tuple[str, int, int, int, str, Any]], conn: Connection) -> None:
            conn.exec_driver_sql(_SQLITE_HASH_UPSERT, chunk)

        def work_pg(chunk: list[tuple[str, int, int, int, str, Any]], conn: Connection) -> None:
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cur:
                cur.execute(_PG_HASH_STAGE)
                with cur.copy(_PG_HASH_COPY) as copy:
                    for row in chunk:
                        copy.write_row(row)
                cur.execute(_PG_HASH_UPSERT)

        work = work_pg if self.dialect == "postgresql" else work_sqlite
        for i in range(0, len(ordered), _HASH_CACHE_CHUNK):
            chunk = ordered[i : i + _HASH_CACHE_CHUNK]
            self._guard("updating the hash cache", partial(self._write, partial(work, chunk)))

    # -- runs --------------------------------------------------------------------------------------------

    def record_run(self, run: InventoryRun, assets: Sequence[Asset], changes: Changes | None = None) -> InventoryRun:
        """Record a run, its assets (files, findings, metadata) and its changes in one transaction."""
        for stamp in (run.started_at, run.finished_at):
            if stamp.tzinfo is None or stamp.utcoffset() is None:
                raise ValueError(f"naive datetime {stamp.isoformat()} cannot be stored: give it a time zone")
        seen: set[str] = set()
        for a in assets:
            if a.id in seen:
                raise ValueError(f"asset id {a.id} occurs twice in one run")
            seen.add(a.id)

        def work(conn: Connection) -> int:
            with Session(bind=conn, expire_on_commit=False, join_transaction_mode="rollback_only") as session:
                row = RunRow(
                    started_at=run.started_at,
                    finished_at=run.finished_at,
                    roots=list(run.roots),
                    roots_key=roots_key(run.roots),
                    tool_version=run.tool_version,
                    host=run.host,
                    files_seen=run.files_seen,
                    files_hashed=run.files_hashed,
                )
                session.add(row)
                session.flush()
                run_id = row.id
                if assets:
                    ins = _insert(self.dialect, cast(sa.Table, AssetRow.__table__)).on_conflict_do_nothing(
                        index_elements=["id"]
                    )
                    # Sorted by id: concurrent runs sharing assets take the key locks in one order (no deadlock).
                    identities = sorted(
                        ({"id": a.id, "kind": a.kind, "first_run_id": run_id} for a in assets),
                        key=lambda row: str(row["id"]),
                    )
                    session.execute(ins, identities)
                    session.add_all(_version_row(run_id, pos, a) for pos, a in enumerate(assets))
                if changes is not None:
                    session.add_all(
                        RunChangeRow(run_id=run_id, change=kind, position=pos, asset_id=asset)
                        for kind in ("new", "changed", "removed", "worse")
                        for pos, asset in enumerate(getattr(changes, kind))
                    )
                session.flush()
                return run_id

        run_id = self._guard("recording the run", lambda: self._write(work))
        return dataclasses.replace(run, id=run_id)

    def runs(self, limit: int = 20) -> list[InventoryRun]:
        """The most recent runs, newest first."""
        stmt = sa.select(RunRow).order_by(RunRow.id.desc()).limit(limit)
        return self._read(lambda s: [_run(r) for r in s.scalars(stmt)])

    def previous_run(self, roots: Sequence[str] | None = None, before: int | None = None) -> InventoryRun | None:
        """The latest run over exactly the same set of roots (any run when ``roots`` is None), before run ``before``."""
        stmt = sa.select(RunRow).order_by(RunRow.id.desc()).limit(1)
        if roots is not None:
            stmt = stmt.where(RunRow.roots_key == roots_key(roots))
        if before is not None:
            stmt = stmt.where(RunRow.id < before)
        return self._read(lambda s: next((_run(r) for r in s.scalars(stmt)), None))

    def run(self, run_id: int) -> InventoryRun | None:
        def read(s: Session) -> InventoryRun | None:
            row = s.get(RunRow, run_id)
            return None if row is None else _run(row)

        return self._read(read)

    def changes_of_run(self, run_id: int) -> Changes:
        """The change lists recorded with a run (empty when none were)."""
        stmt = (
            sa.select(RunChangeRow.change, RunChangeRow.asset_id)
            .where(RunChangeRow.run_id == run_id)
            .order_by(RunChangeRow.change, RunChangeRow.position)
        )

        def read(s: Session) -> Changes:
            lists: dict[str, list[str]] = {"new": [], "changed": [], "removed": [], "worse": []}
            for change, asset in s.execute(stmt):
                lists.setdefault(change, []).append(asset)
            return Changes(
                new=tuple(lists["new"]),
                changed=tuple(lists["changed"]),
                removed=tuple(lists["removed"]),
                worse=tuple(lists["worse"]),
            )

        return self._read(read)

    # -- assets ------------------------------------------------------------------------------------------

    def assets_of_run(self, run_id: int) -> list[Asset]:
        """The assets exactly as recorded with run ``run_id``, in the recorded order."""
        return self._select_assets(sa.select(AssetVersionRow).where(AssetVersionRow.run_id == run_id))

    def latest_assets(self) -> tuple[InventoryRun | None, list[Asset]]:
        """The latest run overall and its assets."""
        last = self.previous_run()
        if last is None or last.id is None:
            return None, []
        return last, self.assets_of_run(last.id)

    def latest_states(self) -> list[tuple[InventoryRun, Asset]]:
        """The last recorded state of every asset ever recorded, with the run that recorded it.

        Unlike :meth:`latest_assets` this spans runs over different roots (an overview of everything
        known); an asset removed since keeps its last state. Ordered by run, then recorded order.
        """
        v = AssetVersionRow
        last = sa.select(v.asset_id, sa.func.max(v.run_id).label("run_id")).group_by(v.asset_id).subquery()
        stmt = (
            sa.select(v)
            .join(last, sa.and_(v.asset_id == last.c.asset_id, v.run_id == last.c.run_id))
            .order_by(v.run_id, v.position)
            .options(selectinload(v.run), selectinload(v.files), selectinload(v.findings))
        )
        return self._read(lambda s: [(_run(x.run), _asset(x)) for x in s.scalars(stmt)])

    def asset_history(self, asset_id: str) -> list[tuple[InventoryRun, Asset]]:
        """Every recorded state of one asset, oldest run first."""
        stmt = (
            sa.select(AssetVersionRow)
            .where(AssetVersionRow.asset_id == asset_id)
            .order_by(AssetVersionRow.run_id)
            .options(
                selectinload(AssetVersionRow.run),
                selectinload(AssetVersionRow.files),
                selectinload(AssetVersionRow.findings),
            )
        )
        return self._read(lambda s: [(_run(v.run), _asset(v)) for v in s.scalars(stmt)])

    def query_assets(
        self,
        *,
        kind: str | None = None,
        fmt: str | None = None,
        min_severity: Severity | None = None,
        license: str | None = None,
        path_glob: str | None = None,
        run_id: int | None = None,
    ) -> list[Asset]:
        """Assets of run ``run_id`` that pass every given filter; by default, the current inventory.

        The current inventory is the latest run of *each* set of roots (inventories of ``/srv/models`` and
        of the Hugging Face cache are kept side by side), an asset found by several of those runs counted
        once, in its newest state. Assets a later run over the same roots no longer found are not in it.

        * ``kind``: "model" or "dataset".
        * ``fmt``: the asset's principal format, or the format of any of its files (so "pickle" finds the
          snapshots that still carry a ``pytorch_model.bin``).
        * ``min_severity``: the asset's highest finding severity is at least this.
        * ``license``: the declared license, compared case-insensitively.
        * ``path_glob``: :func:`fnmatch.fnmatchcase` against the asset's path or any of its files' paths
          (``*`` also crosses ``/``). Filtered in SQL with a LIKE superset (:func:`glob_to_like`), then
          exactly in Python.

        Every other filter is SQL.
        """
        v = AssetVersionRow
        if run_id is None:
            latest_per_roots = sa.select(sa.func.max(RunRow.id)).group_by(RunRow.roots_key)
            stmt = sa.select(v).where(v.run_id.in_(latest_per_roots))
        else:
            stmt = sa.select(v).where(v.run_id == run_id)
        if kind is not None:
            stmt = stmt.where(v.kind == kind)
        if fmt is not None:
            has_file = sa.select(FileRow.id).where(FileRow.version_id == v.id, FileRow.format == fmt).exists()
            stmt = stmt.where(sa.or_(v.format == fmt, has_file))
        if min_severity is not None:
            stmt = stmt.where(v.severity >= int(min_severity))
        if license is not None:
            stmt = stmt.where(sa.func.lower(v.license) == license.lower())
        if path_glob is not None:
            like = glob_to_like(path_glob)
            file_like = (
                sa.select(FileRow.id).where(FileRow.version_id == v.id, FileRow.path.like(like, escape="\\")).exists()
            )
            stmt = stmt.where(sa.or_(v.path.like(like, escape="\\"), file_like))
        found = self._select_assets(stmt)
        if run_id is None:  # newest state of an asset seen by the latest runs of several root sets
            newest: dict[str, Asset] = {}
            for a in found:  # ordered by run, so a later run's version replaces an earlier one in place
                newest[a.id] = a
            found = list(newest.values())
        if path_glob is not None:
            pattern = path_glob
            found = [
                a
                for a in found
                if fnmatch.fnmatchcase(a.path, pattern) or any(fnmatch.fnmatchcase(f.path, pattern) for f in a.files)
            ]
        return found

    # -- helpers -----------------------------------------------------------------------------------------

    def _read(self, work: Callable[[Session], T]) -> T:
        def run() -> T:
            with Session(self.engine) as session:
                return work(session)

        return self._guard("reading the inventory", run)

    def _select_assets(self, stmt: sa.Select[AssetVersionRow]) -> list[Asset]:
        stmt = stmt.order_by(AssetVersionRow.run_id, AssetVersionRow.position).options(
            selectinload(AssetVersionRow.files), selectinload(AssetVersionRow.findings)
        )
        return self._read(lambda s: [_asset(v) for v in s.scalars(stmt)])


# -- model <-> rows --------------------------------------------------------------------------------------
