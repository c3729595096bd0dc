"""``mlvet scan PATH... --db URL``: a local scan as a resumable batch run recorded in the database."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from mlvet.batch.run import BatchStats, run_batch
from mlvet.batch.tasks import FileRef, Unit, _sha256
from mlvet.model import ScanReport
from mlvet.store.results import ScanRuns

if TYPE_CHECKING:
    from mlvet.engine import Engine
    from mlvet.policy import Policy
    from mlvet.store import Store

__all__ = ["scan_into_store"]


def _units(paths: list[str], policy: Policy) -> list[Unit]:
    from mlvet.scanner import _dedupe_cache_blobs, issue_result
    from mlvet.walk import WalkIssue, walk

    items = list(walk(paths, policy.limits.max_files))
    files = _dedupe_cache_blobs([i for i in items if isinstance(i, str)])
    units = []
    for f in files:
        try:
            size = os.path.getsize(f)
        except OSError:
            size = 0
        # Hashed here, by the only process that reads the cache; unreadable files get no key (scanned, error).
        units.append(Unit(f, (FileRef(f, os.path.basename(f), size, _sha256(f)),)))
    units += [Unit(i.path, issue=issue_result(i, policy)) for i in items if isinstance(i, WalkIssue)]
    return units


def inputs_key(paths: list[str]) -> str:
    """The identity of a scan's inputs (what ``--resume`` matches): its sorted absolute paths."""
    text = "\0".join(sorted({os.path.abspath(p) for p in paths}))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def scan_into_store(paths: list[str], policy: Policy, store: Store, engine: Engine, *, run_id: str | None = None,
                    resume: bool = False) -> tuple[ScanReport, BatchStats]:
    """Scan ``paths`` into a run of ``store``; the report holds every result of the run (earlier ones too)."""
    started = datetime.now(timezone.utc)
    stats = run_batch(store, engine, policy, _units(paths, policy), command="scan", inputs_key=inputs_key(paths),
                      run_id=run_id, resume=resume)
    results = tuple(r for _src, r, _hit, _n in ScanRuns(store).results(stats.run_id))
    report = ScanReport(results=results, started_at=started, finished_at=datetime.now(timezone.utc),
                        policy_sources=policy.sources, policy_warnings=policy.warnings)
    return report, stats
