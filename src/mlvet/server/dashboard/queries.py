"""What the dashboard reads from the database: the current fleet inventory, hosts, runs, changes, one asset.

All reads go through the inventory tables of :mod:`mlvet.store.schema` (runs carry the host that recorded
them, whether the run was recorded locally by ``mlvet inventory`` or pushed to the server), and through the
gateway's decision table when that table exists (reflected, so the dashboard works on a database that has
never seen a gateway).

"Current" means: for every (host, set of roots), the latest run; an asset is current when one of those
runs found it, shown in its newest state. Two machines inventorying the same folder name are two hosts,
not one, which is why the grouping includes the host (``Store.query_assets`` groups by roots only, which
is right for one machine).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from mlvet.inventory.model import Asset, Changes, InventoryRun
from mlvet.store import Store
from mlvet.store.schema import AssetVersionRow, FileRow, FleetChangeRow, FleetPushRow, RunChangeRow, RunRow
from mlvet.store.types import escape_text, unescape_text

#: Verdicts from worst to best, the order every page lists them in.
VERDICTS = ("critical", "high", "medium", "low", "incomplete", "clean")
CHANGE_KINDS = ("new", "changed", "worse", "removed")
#: Upper bound of rows one list page shows (the rest is reached by the page links).
PAGE_SIZE = 100
#: Names the gateway's decision table may have (reflected, never created here).
GATEWAY_TABLES = ("gateway_decisions", "gateway_log")


@dataclass
class AssetSummary:
    """One current asset as lists show it (its newest state, plus every host whose latest run has it)."""

    asset_id: str
    name: str
    path: str
    kind: str
    format: str
    framework: str | None
    severity: int
    verdict: str
    incomplete: bool
    size: int
    license: str | None
    source: str
    run_id: int
    seen_at: datetime
    hosts: list[str] = field(default_factory=list)

    @property
    def severity_label(self) -> str:
        """The verdict as a CSS/badge class ("critical" … "clean", "incomplete")."""
        return self.verdict


@dataclass(frozen=True)
class Filters:
    """The query parameters every list page accepts; all optional, combined with AND."""

    q: str = ""
    verdict: str = ""
    format: str = ""
    host: str = ""
    source: str = ""
    kind: str = ""
    license: str = ""

    def active(self) -> dict[str, str]:
        """The filters that are set (for the "clear" chips and for page links)."""
        return {k: v for k, v in self.__dict__.items() if v}


def source_of(path: str, hub_repo_type: str | None, hub_repo_id: str | None) -> str:
    """Where an asset came from, in one word a person filters by: the hub, a remote URL scheme, or disk."""
    if hub_repo_id:
        return "huggingface"
    if "://" in path:
        return path.split("://", 1)[0].lower()[:16] or "local"
    return "local"


def _like(text: str) -> str:
    """A case-insensitive substring LIKE pattern with ``%``, ``_`` and ``\\`` taken literally."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _current_runs() -> sa.Select[Any]:
    """The latest run of every (host, roots) pair."""
    return sa.select(sa.func.max(RunRow.id)).group_by(RunRow.host, RunRow.roots_key)


class Dashboard:
    """Read-only queries over one :class:`~mlvet.store.Store` (its engine; nothing is written)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    def _session(self) -> Session:
        return Session(self.engine)

    # -- the current inventory ---------------------------------------------------------------------------

    def current(self, filters: Filters = Filters()) -> list[AssetSummary]:
        """Current assets passing ``filters``, worst first, then by name."""
        v = AssetVersionRow
        stmt = (
            sa.select(v.asset_id, v.name, v.path, v.kind, v.format, v.framework, v.severity, v.verdict,
                      v.incomplete, v.size, v.license, v.hub_repo_type, v.hub_repo_id, v.run_id, RunRow.host,
                      RunRow.finished_at)
            .join(RunRow, RunRow.id == v.run_id)
            .where(v.run_id.in_(_current_runs()))
            .order_by(v.run_id, v.position)
        )
        if filters.kind:
            stmt = stmt.where(v.kind == filters.kind)
        if filters.format:
            has_file = sa.select(FileRow.id).where(FileRow.version_id == v.id, FileRow.format == filters.format)
            stmt = stmt.where(sa.or_(v.format == filters.format, has_file.exists()))
        if filters.license:
            stmt = stmt.where(sa.func.lower(v.license) == filters.license.lower())
        if filters.q:
            like = _like(filters.q)
            in_files = sa.select(FileRow.id).where(FileRow.version_id == v.id,
                                                   sa.func.lower(FileRow.path).like(like, escape="\\"))
            stmt = stmt.where(sa.or_(
                sa.func.lower(v.name).like(like, escape="\\"),
                sa.func.lower(v.path).like(like, escape="\\"),
                sa.func.lower(v.hub_repo_id).like(like, escape="\\"),
                v.asset_id == filters.q.strip().lower(),
                in_files.exists(),
            ))
        by_id: dict[str, AssetSummary] = {}
        with self._session() as s:
            for r in s.execute(stmt):
                host = r.host or "(unknown host)"
                prev = by_id.get(r.asset_id)
                hosts = prev.hosts if prev is not None else []
                if host not in hosts:
                    hosts.append(host)
                by_id[r.asset_id] = AssetSummary(
                    r.asset_id, r.name, r.path, r.kind, r.format, r.framework, r.severity, r.verdict, r.incomplete,
                    r.size, r.license, source_of(r.path, r.hub_repo_type, r.hub_repo_id), r.run_id, r.finished_at,
                    hosts)
        found = list(by_id.values())
        if filters.verdict:
            found = [a for a in found if a.verdict == filters.verdict]
        if filters.host:
            found = [a for a in found if filters.host in a.hosts]
        if filters.source:
            found = [a for a in found if a.source == filters.source]
        rank = {v: i for i, v in enumerate(VERDICTS)}
        found.sort(key=lambda a: (rank.get(a.verdict, len(VERDICTS)), a.name.lower(), a.asset_id))
        return found

    def facets(self, assets: Sequence[AssetSummary]) -> dict[str, list[tuple[str, int]]]:
        """Counts by verdict, format, host and source (the overview's bars and the filter menus)."""
        verdicts = Counter(a.verdict for a in assets)
        return {
            "verdict": [(v, verdicts[v]) for v in VERDICTS if verdicts[v]],
            "format": Counter(a.format for a in assets).most_common(),
            "host": Counter(h for a in assets for h in a.hosts).most_common(),
            "source": Counter(a.source for a in assets).most_common(),
            "kind": Counter(a.kind for a in assets).most_common(),
        }

    # -- changes -----------------------------------------------------------------------------------------

    def changes_by_day(self, days: int = 7, now: datetime | None = None) -> list[tuple[str, dict[str, int]]]:
        """Per day of the last ``days`` days (oldest first, UTC dates): how many assets each change kind hit.

        A run pushed to the server counts its *fleet-wide* changes (an asset new on a third host is not new
        to the organisation); a run recorded locally counts its changes against the previous run over the
        same roots.
        """
        now = now or datetime.now(timezone.utc)
        start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
        pushed = sa.select(FleetPushRow.run_id)
        local = (
            sa.select(RunRow.finished_at, RunChangeRow.change, sa.func.count())
            .join(RunChangeRow, RunChangeRow.run_id == RunRow.id)
            .where(RunRow.finished_at >= start, RunRow.id.not_in(pushed))
            .group_by(RunRow.id, RunRow.finished_at, RunChangeRow.change)
        )
        fleet = (
            sa.select(FleetPushRow.received_at, FleetChangeRow.change, sa.func.count())
            .join(FleetChangeRow, FleetChangeRow.push_id == FleetPushRow.id)
            .where(FleetPushRow.received_at >= start)
            .group_by(FleetPushRow.id, FleetPushRow.received_at, FleetChangeRow.change)
        )
        buckets = {(start + timedelta(days=i)).date().isoformat(): dict.fromkeys(CHANGE_KINDS, 0)
                   for i in range(days)}
        with self._session() as s:
            for when, change, count in [*s.execute(local), *s.execute(fleet)]:
                day = when.astimezone(timezone.utc).date().isoformat()
                if day in buckets and change in buckets[day]:
                    buckets[day][change] += int(count)
        return list(buckets.items())

    def pushes_of(self, run_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The push record of each run that was pushed to the server (owner, when, by which token)."""
        wanted = sorted(set(run_ids))
        out: dict[int, dict[str, Any]] = {}
        with self._session() as s:
            for i in range(0, len(wanted), 500):
                for row in s.scalars(sa.select(FleetPushRow).where(FleetPushRow.run_id.in_(wanted[i:i + 500]))):
                    out[row.run_id] = {"push_id": row.id, "owner": row.owner, "received_at": row.received_at,
                                       "token_id": row.token_id}
        return out

    def fleet_changes(self, push_id: int) -> dict[str, list[str]]:
        """What a push changed in the fleet-wide inventory (asset ids per change kind)."""
        out: dict[str, list[str]] = {k: [] for k in CHANGE_KINDS}
        stmt = (sa.select(FleetChangeRow.change, FleetChangeRow.asset_id).where(FleetChangeRow.push_id == push_id)
                .order_by(FleetChangeRow.change, FleetChangeRow.position))
        with self._session() as s:
            for change, asset_id in s.execute(stmt):
                out.setdefault(change, []).append(asset_id)
        return out

    def recent_changes(self, days: int = 7, limit: int = 50,
                       now: datetime | None = None) -> list[tuple[InventoryRun, str, str, str]]:
        """The latest changes (run, change kind, asset id, asset name), newest first, within ``days`` days."""
        now = now or datetime.now(timezone.utc)
        stmt = (
            sa.select(RunRow, RunChangeRow.change, RunChangeRow.asset_id)
            .join(RunChangeRow, RunChangeRow.run_id == RunRow.id)
            .where(RunRow.finished_at >= now - timedelta(days=days))
            .order_by(RunRow.id.desc(), RunChangeRow.change, RunChangeRow.position)
            .limit(limit)
        )
        with self._session() as s:
            rows = [(_run(run), change, asset) for run, change, asset in s.execute(stmt)]
            names = self._names(s, [a for _r, _c, a in rows])
        return [(run, change, asset, names.get(asset, asset)) for run, change, asset in rows]

    def names(self, ids: Iterable[str]) -> dict[str, str]:
        """The newest recorded name of each asset id."""
        with self._session() as s:
            return self._names(s, ids)

    @staticmethod
    def _names(s: Session, ids: Iterable[str]) -> dict[str, str]:
        """The newest recorded name of each asset id."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        v = AssetVersionRow
        out: dict[str, str] = {}
        for i in range(0, len(wanted), 500):
            stmt = sa.select(v.asset_id, v.name).where(v.asset_id.in_(wanted[i:i + 500])).order_by(v.run_id)
            for asset_id, name in s.execute(stmt):
                out[asset_id] = name
        return out

    # -- hosts and runs ----------------------------------------------------------------------------------

    def hosts(self) -> list[dict[str, Any]]:
        """Every host that recorded a run: runs, last run, current assets and their worst verdict."""
        stmt = (
            sa.select(RunRow.host, sa.func.count(), sa.func.max(RunRow.finished_at), sa.func.max(RunRow.id))
            .group_by(RunRow.host)
        )
        current = self.current()
        per_host: dict[str, list[AssetSummary]] = {}
        for a in current:
            for h in a.hosts:
                per_host.setdefault(h, []).append(a)
        last_push = (
            sa.select(FleetPushRow.host, FleetPushRow.owner, FleetPushRow.received_at)
            .where(FleetPushRow.id.in_(sa.select(sa.func.max(FleetPushRow.id)).group_by(FleetPushRow.host)))
        )
        out = []
        with self._session() as s:
            pushed: dict[str | None, tuple[str | None, datetime | None]] = {
                h: (owner, at) for h, owner, at in s.execute(last_push)}
            for host, runs, last, last_id in s.execute(stmt):
                name = host or "(unknown host)"
                assets = per_host.get(name, [])
                verdicts = Counter(a.verdict for a in assets)
                owner, pushed_at = pushed.get(host, (None, None))
                out.append({"host": name, "runs": int(runs), "last": last, "last_run": last_id,
                            "owner": owner, "pushed_at": pushed_at,
                            "assets": len(assets), "worst": next((v for v in VERDICTS if verdicts[v]), "none"),
                            "verdicts": [(v, verdicts[v]) for v in VERDICTS if verdicts[v]]})
        out.sort(key=lambda h: str(h["host"]))
        return out

    def runs(self, host: str = "", page: int = 1) -> tuple[list[tuple[InventoryRun, dict[str, int], int]], bool]:
        """Runs newest first with their change counts and asset count; and whether a next page exists."""
        stmt = sa.select(RunRow).order_by(RunRow.id.desc()).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
        if host == "(unknown host)":
            stmt = stmt.where(RunRow.host.is_(None))
        elif host:
            stmt = stmt.where(RunRow.host == host)
        with self._session() as s:
            runs = [_run(r) for r in s.scalars(stmt)]
            more = len(runs) > PAGE_SIZE
            runs = runs[:PAGE_SIZE]
            ids = [r.id for r in runs if r.id is not None]
            changes: dict[int, dict[str, int]] = {i: dict.fromkeys(CHANGE_KINDS, 0) for i in ids}
            counts: dict[int, int] = dict.fromkeys(ids, 0)
            if ids:
                q = (sa.select(RunChangeRow.run_id, RunChangeRow.change, sa.func.count())
                     .where(RunChangeRow.run_id.in_(ids)).group_by(RunChangeRow.run_id, RunChangeRow.change))
                for run_id, change, n in s.execute(q):
                    changes[run_id][change] = int(n)
                q2 = (sa.select(AssetVersionRow.run_id, sa.func.count()).where(AssetVersionRow.run_id.in_(ids))
                      .group_by(AssetVersionRow.run_id))
                for run_id, n in s.execute(q2):
                    counts[run_id] = int(n)
        return [(r, changes.get(r.id or 0, {}), counts.get(r.id or 0, 0)) for r in runs], more

    def run(self, run_id: int) -> tuple[InventoryRun, list[Asset], Changes, dict[str, str]] | None:
        """One run, the assets it recorded, its changes and the names of the assets those changes name."""
        run = self.store.run(run_id)
        if run is None:
            return None
        changes = self.store.changes_of_run(run_id)
        with self._session() as s:
            names = self._names(s, [*changes.new, *changes.changed, *changes.removed, *changes.worse])
        return run, self.store.assets_of_run(run_id), changes, names

    # -- one asset ---------------------------------------------------------------------------------------

    def history(self, asset_id: str) -> list[tuple[InventoryRun, Asset]]:
        """Every recorded state of the asset, oldest first (empty when the id is unknown)."""
        return self.store.asset_history(asset_id)

    def holders(self, asset_id: str) -> list[tuple[str, InventoryRun, str]]:
        """Hosts whose latest run (per set of roots) has the asset: (host, that run, the path there)."""
        v = AssetVersionRow
        stmt = (
            sa.select(RunRow, v.path)
            .join(v, v.run_id == RunRow.id)
            .where(v.asset_id == asset_id, RunRow.id.in_(_current_runs()))
            .order_by(RunRow.host, RunRow.id)
        )
        with self._session() as s:
            return [(r.host or "(unknown host)", _run(r), path) for r, path in s.execute(stmt)]

    def newest_states(self, ids: Sequence[str]) -> list[Asset]:
        """The newest current state of each asset id, in the order given (for BOMs)."""
        from sqlalchemy.orm import selectinload

        from mlvet.store.rows import _asset

        v = AssetVersionRow
        newest: dict[str, Asset] = {}
        with self._session() as s:
            for i in range(0, len(ids), 500):
                stmt = (sa.select(v).where(v.asset_id.in_(ids[i:i + 500]), v.run_id.in_(_current_runs()))
                        .order_by(v.run_id).options(selectinload(v.files), selectinload(v.findings)))
                for row in s.scalars(stmt):
                    newest[row.asset_id] = _asset(row)
        return [newest[i] for i in ids if i in newest]

    def lineage(self, asset_id: str, path: str) -> list[tuple[str, str, str]]:
        """Recorded training data of the asset (``mlvet data link`` and discovered links, issue 15), when the
        database has the ``lineage`` table (reflected: a database without it simply has no recorded links).

        Each entry is (relation, dataset name, detail): "trained on (source)", "acme/x", "uri, lock …, verified".
        """
        if "lineage" not in set(sa.inspect(self.engine).get_table_names()):
            return []
        table = sa.Table("lineage", sa.MetaData(), autoload_with=self.engine)
        c = table.c
        if not {"model_path", "dataset_name"} <= set(c.keys()):
            return []
        match = c.model_path == escape_text(path)
        if "model_id" in c:
            match = sa.or_(match, c.model_id == asset_id)
        stmt = sa.select(table).where(match).order_by(*(c[k] for k in ("id",) if k in c)).limit(200)
        out = []
        with self.engine.connect() as conn:
            for row in conn.execute(stmt).mappings():
                details = []
                if row.get("dataset_uri"):
                    details.append(unescape_text(str(row["dataset_uri"])))
                if row.get("lock_root"):
                    details.append(f"lock {str(row['lock_root'])[:16]}…")
                verified = row.get("verified")
                if verified is not None:
                    details.append("matched its lock" if verified else "DIFFERS from its lock")
                source = row.get("source")
                out.append((f"trained on ({source})" if source else "trained on",
                            unescape_text(str(row["dataset_name"])), ", ".join(details)))
        return out

    # -- the gateway -------------------------------------------------------------------------------------

    def gateway_table(self) -> sa.Table | None:
        """The gateway's decision table when the database has one (reflected; None otherwise)."""
        names = set(sa.inspect(self.engine).get_table_names())
        for name in GATEWAY_TABLES:
            if name in names:
                return sa.Table(name, sa.MetaData(), autoload_with=self.engine)
        return None

    def gateway_log(self, table: sa.Table, verdict: str, q: str,
                    page: int) -> tuple[list[dict[str, Any]], list[tuple[str, int]], bool]:
        """See :func:`gateway_log`."""
        return gateway_log(self.engine, table, verdict, q, page)


def _run(row: RunRow) -> InventoryRun:
    """A run row as the inventory's record (the store's own converter, shared)."""
    from mlvet.store.rows import _run as convert

    return convert(row)


#: Candidate column names of the gateway's decision table, per field the log shows (first present wins).
_GATEWAY_FIELDS = {
    "verdict": ("verdict", "decision", "action", "outcome", "status"),
    "repo": ("repo_id", "repo", "repository"),
    "file": ("filename", "file", "path", "rfilename"),
    "revision": ("revision", "commit", "commit_sha", "rev"),
    "who": ("principal", "token_name", "client", "who", "user"),
    "reason": ("reason", "message", "detail", "finding", "rule_id"),
    "sha256": ("sha256", "content_key", "digest"),
    "at": ("decided_at", "created_at", "at", "timestamp", "time"),
    "status": ("status",),
    "rules": ("rule_ids", "rules"),
    "scanned": ("scanned",),
    "repo_type": ("repo_type",),
}


def gateway_columns(table: sa.Table) -> dict[str, sa.Column[Any] | None]:
    """Which column of ``table`` holds each field of the log (None when the table has no such column)."""
    cols = {c.name.lower(): c for c in table.columns}
    return {k: next((cols[n] for n in names if n in cols), None) for k, names in _GATEWAY_FIELDS.items()}


def gateway_log(engine: sa.Engine, table: sa.Table, verdict: str, q: str,
                page: int) -> tuple[list[dict[str, Any]], list[tuple[str, int]], bool]:
    """Decisions newest first (filtered by decision and a substring of repo/file/who/reason), the count per
    decision, and whether another page follows."""
    cols = gateway_columns(table)
    order = [c for c in (cols["at"], table.c.get("id")) if c is not None]
    stmt = sa.select(table).order_by(*(c.desc() for c in order))
    if verdict and cols["verdict"] is not None:
        stmt = stmt.where(cols["verdict"] == verdict)
    if q:
        texts = [c for k in ("repo", "file", "who", "reason", "sha256") if (c := cols[k]) is not None]
        if texts:
            like = _like(q)
            stmt = stmt.where(sa.or_(*(sa.func.lower(sa.cast(c, sa.Text)).like(like, escape="\\") for c in texts)))
    stmt = stmt.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
    rows: list[dict[str, Any]] = []
    totals: list[tuple[str, int]] = []
    with engine.connect() as conn:
        for r in conn.execute(stmt).mappings():
            rows.append({k: ("" if c is None or r[c.name] is None else r[c.name]) for k, c in cols.items()})
        if cols["verdict"] is not None:
            count = sa.select(cols["verdict"], sa.func.count()).group_by(cols["verdict"]).order_by(cols["verdict"])
            totals = [(str(v), int(n)) for v, n in conn.execute(count)]
    for row in rows:
        row["verdict"] = str(row["verdict"] or "unknown")
        at = row["at"]
        row["at"] = at if isinstance(at, datetime) else None
        rules = row["rules"]
        row["rules"] = [str(r) for r in rules] if isinstance(rules, list) else ([str(rules)] if rules else [])
        row["scanned"] = row["scanned"] if isinstance(row["scanned"], bool) else None
        for k in ("repo", "file", "revision", "who", "reason", "sha256", "status", "repo_type"):
            row[k] = str(row[k])
    return rows[:PAGE_SIZE], totals, len(rows) > PAGE_SIZE
