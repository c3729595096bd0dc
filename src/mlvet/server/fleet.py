"""The organisation inventory: runs pushed by many machines, per-host and fleet-wide change tracking.

Storage reuses the inventory tables (:mod:`mlvet.store.schema`): a pushed run is a ``runs`` row with its
``host``, its assets are ``asset_versions`` rows, its per-host changes are ``run_changes`` rows, exactly as
``mlvet inventory`` records a local run. The push itself (host, owner, idempotency key, who pushed) is a
``fleet_pushes`` row and the fleet-wide changes are ``fleet_changes`` rows, all written in **one**
transaction: a push is recorded whole or not at all (a server killed mid-push leaves nothing behind).

Change tracking, the same rules as :mod:`mlvet.inventory.changes`:

* **per host**: the run against the same host's previous pushed run over the same roots (new, changed,
  removed, worse), computed by :func:`mlvet.inventory.changes.compute_changes` itself;
* **fleet-wide**: the fleet inventory is the union of every host's latest run per set of roots. A push is
  compared with the fleet just before it: *new* = no machine had the asset; *removed* = no machine has it
  any more; *changed* = the set of contents the fleet holds for the asset differs (a machine now has a
  version no other had, or dropped the last copy of one); *worse* = the worst verdict any machine holds
  got worse.

Pushes are serialised (SQLite's write lock; a PostgreSQL advisory transaction lock), so both comparisons
see the fleet exactly as the previous push left it, and the idempotency-key lookup inside the same
transaction makes a retried push return the run it created instead of recording a second one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from mlvet.inventory.changes import compute_changes
from mlvet.inventory.model import Asset, Changes, InventoryRun
from mlvet.model import Severity
from mlvet.store import Store
from mlvet.store.schema import (
    AssetRow,
    AssetVersionRow,
    FileRow,
    FindingRow,
    FleetChangeRow,
    FleetPushRow,
    RunChangeRow,
    RunRow,
)
from mlvet.store.store import _insert
from mlvet.store.urls import roots_key

__all__ = ["CHANGE_KINDS", "IdempotencyConflict", "IngestResult", "Push", "ingest", "latest_slots", "push_dict",
           "push_of_run"]

CHANGE_KINDS = ("new", "changed", "removed", "worse")
#: PostgreSQL advisory lock serialising pushes ("mlvet" + 1).
_PG_PUSH_LOCK = 0x6D6C76657401

Rank = tuple[int, int]


class IdempotencyConflict(ValueError):
    """An idempotency key came back with a different body: a client bug, answered 409 (never a new run)."""


@dataclass(frozen=True)
class Push:
    """One machine's run as the server received it."""

    run: InventoryRun
    assets: Sequence[Asset]
    host: str
    owner: str | None
    idempotency_key: str
    client_run_id: str | None
    payload_sha256: str
    token_id: int | None = None


@dataclass(frozen=True)
class IngestResult:
    """What recording a push did: the run and push ids, whether it was new, and both change lists."""

    push_id: int
    run_id: int
    created: bool
    host: str
    previous_run_id: int | None
    changes: Changes
    fleet_changes: Changes


def _rank(severity: int, incomplete: bool) -> Rank:
    return int(severity), int(incomplete)


FleetState = dict[str, tuple[frozenset[str], Rank]]


def _fleet_state(rows: Iterable[tuple[str, str, int, bool]]) -> FleetState:
    """``asset id -> (contents held anywhere, worst rank anywhere)`` from ``(asset, content, severity, incomplete)``."""
    hashes: dict[str, set[str]] = {}
    worst: dict[str, Rank] = {}
    for asset_id, content, severity, incomplete in rows:
        hashes.setdefault(asset_id, set()).add(content)
        rank = _rank(severity, incomplete)
        worst[asset_id] = max(worst.get(asset_id, rank), rank)
    return {a: (frozenset(h), worst[a]) for a, h in hashes.items()}


def compare_fleet(before: FleetState, after: FleetState) -> Changes:
    """Fleet-wide changes between two fleet states (see the module docstring)."""
    common = sorted(a for a in after if a in before)
    return Changes(
        new=tuple(sorted(a for a in after if a not in before)),
        changed=tuple(a for a in common if after[a][0] != before[a][0]),
        removed=tuple(sorted(a for a in before if a not in after)),
        worse=tuple(a for a in common if after[a][1] > before[a][1]),
    )


def latest_slots(host: str | None = None) -> Any:  # a Select of (host, roots_key, run id)
    """``(host, roots_key, latest pushed run id)``: the runs that make up the fleet inventory now."""
    stmt = (
        sa.select(RunRow.host, RunRow.roots_key, sa.func.max(RunRow.id))
        .join(FleetPushRow, FleetPushRow.run_id == RunRow.id)
        .group_by(RunRow.host, RunRow.roots_key)
    )
    if host is not None:
        stmt = stmt.where(RunRow.host == host)
    return stmt


def _changes(lists: dict[str, list[str]]) -> Changes:
    return Changes(**{k: tuple(lists.get(k, ())) for k in CHANGE_KINDS})


def _recorded(session: Session, row: FleetPushRow) -> IngestResult:
    """The result of a push recorded earlier (the answer to a retry)."""
    host_lists: dict[str, list[str]] = {}
    for change, asset_id in session.execute(
        sa.select(RunChangeRow.change, RunChangeRow.asset_id)
        .where(RunChangeRow.run_id == row.run_id).order_by(RunChangeRow.change, RunChangeRow.position)
    ):
        host_lists.setdefault(change, []).append(asset_id)
    fleet_lists: dict[str, list[str]] = {}
    for change, asset_id in session.execute(
        sa.select(FleetChangeRow.change, FleetChangeRow.asset_id)
        .where(FleetChangeRow.push_id == row.id).order_by(FleetChangeRow.change, FleetChangeRow.position)
    ):
        fleet_lists.setdefault(change, []).append(asset_id)
    run = session.get(RunRow, row.run_id)
    previous = session.scalar(
        sa.select(sa.func.max(RunRow.id)).join(FleetPushRow, FleetPushRow.run_id == RunRow.id)
        .where(RunRow.host == row.host, RunRow.id < row.run_id,
               RunRow.roots_key == (run.roots_key if run is not None else ""))
    )
    return IngestResult(push_id=row.id, run_id=row.run_id, created=False, host=row.host, previous_run_id=previous,
                        changes=_changes(host_lists), fleet_changes=_changes(fleet_lists))


@dataclass(frozen=True)
class _Seen:
    """What change tracking needs of a recorded asset version (no files or findings loaded)."""

    id: str
    content_hash: str
    severity: Severity
    incomplete: bool


def _state_row(a: _Seen | Asset) -> tuple[str, str, int, bool]:
    return a.id, a.content_hash, int(a.severity), a.incomplete


def _insert_many(session: Session, entity: Any, rows: list[dict[str, Any]]) -> None:
    """One executemany INSERT of plain rows (no ORM objects: a push of thousands of files stays fast)."""
    if rows:  # Core insert of the table (the ORM's bulk path costs more per row than the database does)
        session.execute(sa.insert(entity.__table__), rows)


def _insert_versions(session: Session, run_id: int, assets: Sequence[Asset]) -> None:
    """Insert the run's asset versions, then their files and findings, in bulk (the same columns as
    :func:`mlvet.store.rows._version_row`, without building ORM objects)."""
    versions = []
    for pos, a in enumerate(assets):
        m = a.metadata
        versions.append({
            "run_id": run_id, "asset_id": a.id, "position": pos, "kind": a.kind, "name": a.name, "path": a.path,
            "format": a.format, "framework": a.framework, "content_hash": a.content_hash, "size": a.size,
            "severity": int(a.severity), "verdict": a.verdict, "incomplete": a.incomplete,
            "hub_repo_type": a.hub.repo_type if a.hub else None, "hub_repo_id": a.hub.repo_id if a.hub else None,
            "hub_revision": a.hub.revision if a.hub else None, "hub_refs": list(a.hub.refs) if a.hub else None,
            "architecture": m.architecture, "parameters": m.parameters, "task": m.task, "license": m.license,
            "library": m.library, "card": m.card, "remote_code": m.remote_code,
            "meta": {"base_models": list(m.base_models), "datasets": list(m.datasets), "languages": list(m.languages),
                     "tags": list(m.tags), "card_sections": list(m.card_sections),
                     "extra": [list(pair) for pair in m.extra]},
        })
    _insert_many(session, AssetVersionRow, versions)
    ids = dict(session.execute(sa.select(AssetVersionRow.position, AssetVersionRow.id)
                               .where(AssetVersionRow.run_id == run_id)).tuples().all())
    files = []
    findings = []
    for pos, a in enumerate(assets):
        version_id = ids[pos]
        files += [{"version_id": version_id, "position": i, "rel": f.rel, "path": f.path, "size": f.size,
                   "sha256": f.sha256, "format": f.format, "severity": int(f.severity), "scan_status": f.scan_status,
                   "integrity": f.integrity} for i, f in enumerate(a.files)]
        findings += [{"version_id": version_id, "position": i, "rule_id": f.rule_id, "severity": int(f.severity),
                      "confidence": int(f.confidence), "message": f.message, "evidence": f.evidence,
                      "path": f.location.path, "members": list(f.location.members), "offset": f.location.offset,
                      "opcode_index": f.location.opcode_index, "cwe": f.cwe, "fingerprint": f.fingerprint}
                     for i, f in enumerate(a.findings)]
    _insert_many(session, FileRow, files)
    _insert_many(session, FindingRow, findings)


def _check(push: Push) -> None:
    for stamp in (push.run.started_at, push.run.finished_at):
        if stamp.tzinfo is None or stamp.utcoffset() is None:
            raise ValueError(f"run time {stamp.isoformat()} has no time zone")
    seen: set[str] = set()
    for a in push.assets:
        if a.id in seen:
            raise ValueError(f"asset id {a.id} occurs twice in one run")
        seen.add(a.id)


def ingest(store: Store, push: Push) -> IngestResult:
    """Record a push (run, assets, per-host and fleet changes) in one transaction, or return the run an earlier
    push with the same idempotency key recorded. :class:`IdempotencyConflict` when that key came with another
    body; ``ValueError`` for a run that cannot be stored as given (naive times, duplicate asset ids)."""
    _check(push)
    assets = list(push.assets)

    def work(conn: Connection) -> IngestResult:
        if store.dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_PUSH_LOCK})
        with Session(bind=conn, expire_on_commit=False, join_transaction_mode="rollback_only") as session:
            existing = session.scalars(
                sa.select(FleetPushRow).where(FleetPushRow.idempotency_key == push.idempotency_key)
            ).first()
            if existing is not None:
                if existing.payload_sha256 != push.payload_sha256:
                    raise IdempotencyConflict(
                        f"idempotency key {push.idempotency_key!r} was already used for a different push "
                        f"(run {existing.run_id}); use a new key for new content")
                return _recorded(session, existing)
            key = roots_key(push.run.roots)
            previous_id = session.scalar(
                sa.select(sa.func.max(RunRow.id)).join(FleetPushRow, FleetPushRow.run_id == RunRow.id)
                .where(RunRow.host == push.host, RunRow.roots_key == key))
            run = push.run
            row = RunRow(started_at=run.started_at, finished_at=run.finished_at, roots=list(run.roots),
                         roots_key=key, tool_version=run.tool_version, host=push.host, files_seen=run.files_seen,
                         files_hashed=run.files_hashed)
            session.add(row)
            session.flush()
            run_id = row.id
            push_row = FleetPushRow(run_id=run_id, idempotency_key=push.idempotency_key, host=push.host,
                                    owner=push.owner, client_run_id=push.client_run_id, token_id=push.token_id,
                                    received_at=datetime.now(timezone.utc), payload_sha256=push.payload_sha256)
            session.add(push_row)
            session.flush()
            if assets:
                ins = _insert(store.dialect, cast(sa.Table, AssetRow.__table__)).on_conflict_do_nothing(
                    index_elements=["id"])
                session.execute(ins, sorted(({"id": a.id, "kind": a.kind, "first_run_id": run_id} for a in assets),
                                            key=lambda r: str(r["id"])))
                _insert_versions(session, run_id, assets)
            # Only assets of this run or of the run it replaces can change in the fleet: read every host's
            # latest state of those (the new run is now its slot's latest; the replaced run is read too).
            v = AssetVersionRow
            touched = sa.select(v.asset_id).where(v.run_id.in_([r for r in (run_id, previous_id) if r is not None]))
            current_runs = sa.select(latest_slots().subquery().c[2])
            fleet_rows = [
                (rid, _Seen(asset_id, content, Severity(severity), incomplete))
                for rid, asset_id, content, severity, incomplete in session.execute(
                    sa.select(v.run_id, v.asset_id, v.content_hash, v.severity, v.incomplete)
                    .where(sa.or_(v.run_id.in_(current_runs), v.run_id == (previous_id or -1)),
                           v.asset_id.in_(touched)))
            ]
            previous = [seen for rid, seen in fleet_rows if rid == previous_id]
            # compute_changes reads only id, content_hash, severity and incomplete: the light rows suffice.
            changes = compute_changes(cast(list[Asset], previous), assets)
            before = _fleet_state(_state_row(seen) for rid, seen in fleet_rows if rid != run_id)
            after = _fleet_state(_state_row(seen) for rid, seen in fleet_rows if rid != previous_id)
            fleet = compare_fleet(before, after)
            _insert_many(session, RunChangeRow, [
                {"run_id": run_id, "change": kind, "position": pos, "asset_id": asset}
                for kind in CHANGE_KINDS for pos, asset in enumerate(getattr(changes, kind))])
            _insert_many(session, FleetChangeRow, [
                {"push_id": push_row.id, "change": kind, "position": pos, "asset_id": asset}
                for kind in CHANGE_KINDS for pos, asset in enumerate(getattr(fleet, kind))])
            return IngestResult(push_id=push_row.id, run_id=run_id, created=True, host=push.host,
                                previous_run_id=previous_id, changes=changes, fleet_changes=fleet)

    def attempt() -> IngestResult:
        try:
            return store._write(work)
        except sa.exc.IntegrityError:
            # A concurrent push with the same key won the race (not possible under the push lock, but the unique
            # constraint is the last word): the retry finds its row and answers as a repeat.
            return store._write(work)

    return store._guard("recording the push", attempt)


def push_of_run(store: Store, run_id: int) -> dict[str, Any] | None:
    """The push that created run ``run_id`` (host, owner, key, received) or None for a run not pushed."""
    stmt = sa.select(FleetPushRow).where(FleetPushRow.run_id == run_id)

    def read(s: Session) -> dict[str, Any] | None:
        row = s.scalars(stmt).first()
        return None if row is None else push_dict(row)

    return store._read(read)


def push_dict(row: FleetPushRow) -> dict[str, Any]:
    return {"push_id": row.id, "run_id": row.run_id, "host": row.host, "owner": row.owner,
            "client_run_id": row.client_run_id, "received_at": row.received_at.isoformat(),
            "idempotency_key": row.idempotency_key}
