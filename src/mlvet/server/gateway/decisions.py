"""The gateway's decision log in the inventory database (table ``gateway_decisions``).

Why one INSERT per decision, after it is made: the row is the audit record of what was served to whom, so it
must describe a finished decision. It is written in a single transaction once the verdict exists (never a row
"in progress" updated later), so a process killed mid-scan leaves no row at all, and the next request for the
object scans again and writes a complete one. SQLite lock contention is retried like the store's own writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from mlvet.store import Store
from mlvet.store.schema import GatewayDecisionRow

__all__ = ["Decision", "list_decisions", "record_decision"]

_ATTEMPTS = 8


@dataclass(frozen=True)
class Decision:
    """One decision as recorded (``id``/``decided_at`` are set by :func:`record_decision`)."""

    who: str
    token_id: int | None
    repo_type: str
    repo_id: str
    revision: str
    commit: str
    path: str
    sha256: str
    size: int | None
    verdict: str
    status: str
    rule_ids: tuple[str, ...]
    reason: str
    scanned: bool
    id: int | None = None
    decided_at: datetime | None = None


def _retryable(exc: sa.exc.DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text or "deadlock" in text or "serializ" in text


def record_decision(store: Store, decision: Decision) -> int:
    """Insert one decision in its own transaction (retried on lock contention); return its id."""
    values = {
        "decided_at": datetime.now(timezone.utc), "who": decision.who, "token_id": decision.token_id,
        "repo_type": decision.repo_type, "repo_id": decision.repo_id, "revision": decision.revision,
        "commit": decision.commit, "path": decision.path, "sha256": decision.sha256, "size": decision.size,
        "verdict": decision.verdict, "status": decision.status, "rule_ids": list(decision.rule_ids),
        "reason": decision.reason, "scanned": decision.scanned,
    }
    delay = 0.02
    for attempt in range(_ATTEMPTS):
        try:
            with store.engine.connect().execution_options(mlvet_write=True) as conn, conn.begin():
                result = conn.execute(sa.insert(GatewayDecisionRow).values(**values)
                                      .returning(GatewayDecisionRow.id))
                return int(result.scalar_one())
        except sa.exc.DBAPIError as exc:
            if attempt + 1 >= _ATTEMPTS or not _retryable(exc):
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")


def list_decisions(store: Store, *, limit: int = 100, verdict: str | None = None,
                   repo_id: str | None = None, sha256: str | None = None) -> list[Decision]:
    """The latest decisions first, optionally filtered (for the dashboard's gateway log and the tests)."""
    stmt = sa.select(GatewayDecisionRow).order_by(GatewayDecisionRow.id.desc()).limit(max(1, min(limit, 10_000)))
    if verdict is not None:
        stmt = stmt.where(GatewayDecisionRow.verdict == verdict)
    if repo_id is not None:
        stmt = stmt.where(GatewayDecisionRow.repo_id == repo_id)
    if sha256 is not None:
        stmt = stmt.where(GatewayDecisionRow.sha256 == sha256)
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [Decision(who=r.who, token_id=r.token_id, repo_type=r.repo_type, repo_id=r.repo_id,
                     revision=r.revision, commit=r.commit, path=r.path, sha256=r.sha256, size=r.size,
                     verdict=r.verdict, status=r.status, rule_ids=tuple(r.rule_ids or ()), reason=r.reason,
                     scanned=bool(r.scanned), id=r.id, decided_at=r.decided_at) for r in rows]
