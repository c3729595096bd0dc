"""Read side of the organisation inventory: hosts, the fleet's assets, pushes, runs and change feeds.

What the API (``GET /api/v1/...``) and the dashboard show. Every function returns JSON-ready data and
reads in one session; "the fleet" is the union of every host's latest pushed run per set of roots
(:func:`mlvet.server.fleet.latest_slots`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from mlvet.inventory.serialize import asset_to_dict, run_to_dict
from mlvet.model import Severity
from mlvet.server.fleet import CHANGE_KINDS, latest_slots, push_dict
from mlvet.store import Store
from mlvet.store.rows import _asset, _run
from mlvet.store.schema import AssetVersionRow, FleetChangeRow, FleetPushRow, RunChangeRow, RunRow

__all__ = ["asset_detail", "change_feed", "fleet_assets", "hosts", "pushes", "run_detail"]


def _slot_runs(session: Session, host: str | None = None) -> list[int]:
    return [run_id for _h, _k, run_id in session.execute(latest_slots(host))]


def hosts(store: Store) -> list[dict[str, Any]]:
    """Every host that pushed: pushes, last push, owner, and what its latest runs hold (assets, worst verdict)."""

    def read(s: Session) -> list[dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        stats = s.execute(
            sa.select(FleetPushRow.host, sa.func.count(FleetPushRow.id), sa.func.max(FleetPushRow.id))
            .group_by(FleetPushRow.host).order_by(FleetPushRow.host))
        last_ids = {}
        for host, count, last in stats:
            out[host] = {"host": host, "pushes": count, "assets": 0, "worst_severity": "none", "incomplete": 0}
            last_ids[last] = host
        for row in s.scalars(sa.select(FleetPushRow).where(FleetPushRow.id.in_(list(last_ids)))):
            out[row.host].update(owner=row.owner, last_push_at=row.received_at.isoformat(), last_run_id=row.run_id)
        v = AssetVersionRow
        runs = _slot_runs(s)
        if runs:
            per_host = s.execute(
                sa.select(RunRow.host, sa.func.count(sa.distinct(v.asset_id)), sa.func.max(v.severity),
                          sa.func.sum(sa.case((v.incomplete, 1), else_=0)))
                .join(RunRow, RunRow.id == v.run_id).where(v.run_id.in_(runs)).group_by(RunRow.host))
            for host, count, worst, incomplete in per_host:
                if host in out:
                    out[host].update(assets=count, worst_severity=Severity(worst or 0).label,
                                     incomplete=int(incomplete or 0))
        return list(out.values())

    return store._read(read)


def fleet_assets(store: Store, *, host: str | None = None, kind: str | None = None, fmt: str | None = None,
                 min_severity: Severity | None = None, query: str | None = None, limit: int = 100,
                 offset: int = 0) -> dict[str, Any]:
    """The fleet's assets, each once (its newest state) with the hosts that hold it and their versions.

    Filters: ``host`` (assets that host holds), ``kind``, ``fmt`` (principal format), ``min_severity`` (the
    worst state any host holds), ``query`` (substring of name or path, case-insensitive).
    """

    def read(s: Session) -> dict[str, Any]:
        v = AssetVersionRow
        runs = _slot_runs(s)
        if not runs:
            return {"total": 0, "items": []}
        stmt = (sa.select(v, RunRow.host).join(RunRow, RunRow.id == v.run_id).where(v.run_id.in_(runs))
                .order_by(v.run_id, v.position))
        if kind is not None:
            stmt = stmt.where(v.kind == kind)
        if fmt is not None:
            stmt = stmt.where(v.format == fmt)
        if query:
            like = "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            stmt = stmt.where(sa.or_(sa.func.lower(v.name).like(like, escape="\\"),
                                     sa.func.lower(v.path).like(like, escape="\\")))
        grouped: dict[str, dict[str, Any]] = {}
        for row, row_host in s.execute(stmt):
            item = grouped.get(row.asset_id)
            holder = {"host": row_host, "run_id": row.run_id, "path": row.path, "content_sha256": row.content_hash,
                      "verdict": row.verdict, "severity": Severity(row.severity).label, "incomplete": row.incomplete}
            if item is None:
                item = grouped[row.asset_id] = {"hosts": [], "_worst": -1}
            item.update(id=row.asset_id, kind=row.kind, name=row.name, format=row.format, framework=row.framework,
                        size=row.size, license=row.license, verdict=row.verdict, content_sha256=row.content_hash,
                        hub_repo_id=row.hub_repo_id, hub_revision=row.hub_revision)
            item["_worst"] = max(item["_worst"], row.severity)
            item["hosts"].append(holder)
        items = []
        for item in grouped.values():
            worst = item.pop("_worst")
            item["worst_severity"] = Severity(worst).label
            item["versions"] = len({h["content_sha256"] for h in item["hosts"]})
            if host is not None and all(h["host"] != host for h in item["hosts"]):
                continue
            if min_severity is not None and worst < int(min_severity):
                continue
            items.append(item)
        items.sort(key=lambda i: (i["name"], i["id"]))
        return {"total": len(items), "items": items[offset: offset + limit]}

    return store._read(read)


def asset_detail(store: Store, asset_id: str) -> dict[str, Any] | None:
    """One asset: its state on every host whose latest run holds it (files, findings), and its push history."""

    def read(s: Session) -> dict[str, Any] | None:
        v = AssetVersionRow
        runs = _slot_runs(s)
        current = (sa.select(v).where(v.asset_id == asset_id, v.run_id.in_(runs)).order_by(v.run_id)
                   .options(selectinload(v.run), selectinload(v.files), selectinload(v.findings)))
        holders = [{"host": x.run.host, "run": run_to_dict(_run(x.run)), "asset": asset_to_dict(_asset(x))}
                   for x in s.scalars(current)] if runs else []
        history = [{"run_id": run_id, "host": host, "content_sha256": content, "verdict": verdict}
                   for run_id, host, content, verdict in s.execute(
                       sa.select(v.run_id, RunRow.host, v.content_hash, v.verdict).join(RunRow, RunRow.id == v.run_id)
                       .join(FleetPushRow, FleetPushRow.run_id == v.run_id)
                       .where(v.asset_id == asset_id).order_by(v.run_id))]
        if not holders and not history:
            return None
        return {"id": asset_id, "hosts": holders, "history": history}

    return store._read(read)


def pushes(store: Store, *, host: str | None = None, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Pushed runs, newest first, with their change counts (per host and fleet-wide)."""

    def read(s: Session) -> list[dict[str, Any]]:
        stmt = (sa.select(FleetPushRow, RunRow).join(RunRow, RunRow.id == FleetPushRow.run_id)
                .order_by(FleetPushRow.id.desc()).limit(limit).offset(offset))
        if host is not None:
            stmt = stmt.where(FleetPushRow.host == host)
        rows = list(s.execute(stmt))
        run_ids = [p.run_id for p, _ in rows]
        push_ids = [p.id for p, _ in rows]
        host_counts = _counts(s.execute(
            sa.select(RunChangeRow.run_id, RunChangeRow.change, sa.func.count())
            .where(RunChangeRow.run_id.in_(run_ids)).group_by(RunChangeRow.run_id, RunChangeRow.change)))
        fleet_counts = _counts(s.execute(
            sa.select(FleetChangeRow.push_id, FleetChangeRow.change, sa.func.count())
            .where(FleetChangeRow.push_id.in_(push_ids)).group_by(FleetChangeRow.push_id, FleetChangeRow.change)))
        sizes: dict[int, int] = dict(s.execute(
            sa.select(AssetVersionRow.run_id, sa.func.count())
            .where(AssetVersionRow.run_id.in_(run_ids)).group_by(AssetVersionRow.run_id)).tuples().all())
        return [{**push_dict(p), "run": run_to_dict(_run(r)), "assets": sizes.get(p.run_id, 0),
                 "changes": host_counts.get(p.run_id, _zero()), "fleet_changes": fleet_counts.get(p.id, _zero())}
                for p, r in rows]

    return store._read(read)


def _zero() -> dict[str, int]:
    return dict.fromkeys(CHANGE_KINDS, 0)


def _counts(rows: Iterable[Any]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for key, change, count in rows:
        out.setdefault(key, _zero())[change] = count
    return out


def _names(s: Session, ids: set[str]) -> dict[str, dict[str, Any]]:
    """``asset id -> {id, name, path, kind}`` from the newest recorded version of each."""
    out: dict[str, dict[str, Any]] = {}
    v = AssetVersionRow
    for asset_id, name, path, kind in s.execute(
            sa.select(v.asset_id, v.name, v.path, v.kind).where(v.asset_id.in_(list(ids))).order_by(v.run_id)):
        out[asset_id] = {"id": asset_id, "name": name, "path": path, "kind": kind}
    return out


def run_detail(store: Store, run_id: int) -> dict[str, Any] | None:
    """A pushed run: push, run, assets (files and findings) and both change lists naming the assets."""

    def read(s: Session) -> dict[str, Any] | None:
        push = s.scalars(sa.select(FleetPushRow).where(FleetPushRow.run_id == run_id)).first()
        run = s.get(RunRow, run_id)
        if push is None or run is None:
            return None
        v = AssetVersionRow
        assets = [asset_to_dict(_asset(x)) for x in s.scalars(
            sa.select(v).where(v.run_id == run_id).order_by(v.position)
            .options(selectinload(v.files), selectinload(v.findings)))]
        feed = _feed(s, [push])
        return {"push": push_dict(push), "run": run_to_dict(_run(run)), "assets": assets,
                "changes": feed[0]["changes"], "fleet_changes": feed[0]["fleet_changes"]}

    return store._read(read)


def _feed(s: Session, rows: list[FleetPushRow]) -> list[dict[str, Any]]:
    by_run: dict[int, dict[str, list[str]]] = {p.run_id: {k: [] for k in CHANGE_KINDS} for p in rows}
    by_push: dict[int, dict[str, list[str]]] = {p.id: {k: [] for k in CHANGE_KINDS} for p in rows}
    for run_id, change, asset_id in s.execute(
            sa.select(RunChangeRow.run_id, RunChangeRow.change, RunChangeRow.asset_id)
            .where(RunChangeRow.run_id.in_(list(by_run))).order_by(RunChangeRow.change, RunChangeRow.position)):
        by_run[run_id][change].append(asset_id)
    for push_id, change, asset_id in s.execute(
            sa.select(FleetChangeRow.push_id, FleetChangeRow.change, FleetChangeRow.asset_id)
            .where(FleetChangeRow.push_id.in_(list(by_push))).order_by(FleetChangeRow.change, FleetChangeRow.position)):
        by_push[push_id][change].append(asset_id)
    ids = {a for d in (*by_run.values(), *by_push.values()) for lst in d.values() for a in lst}
    names = _names(s, ids) if ids else {}

    def named(lists: dict[str, list[str]]) -> dict[str, list[dict[str, Any]]]:
        return {k: [names.get(a, {"id": a}) for a in lists[k]] for k in CHANGE_KINDS}

    return [{**push_dict(p), "changes": named(by_run[p.run_id]), "fleet_changes": named(by_push[p.id])}
            for p in rows]


def change_feed(store: Store, *, host: str | None = None, since: datetime | None = None,
                limit: int = 50) -> list[dict[str, Any]]:
    """Pushes newest first, each with what it changed on its host and in the fleet (assets named)."""

    def read(s: Session) -> list[dict[str, Any]]:
        stmt = sa.select(FleetPushRow).order_by(FleetPushRow.id.desc()).limit(limit)
        if host is not None:
            stmt = stmt.where(FleetPushRow.host == host)
        if since is not None:
            stmt = stmt.where(FleetPushRow.received_at >= since)
        return _feed(s, list(s.scalars(stmt)))

    return store._read(read)
