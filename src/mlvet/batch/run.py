"""The client side of a batch scan: resume, cache, submit, record exactly once (see :mod:`mlvet.batch`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from mlvet.batch.tasks import FileRef, Scanned, Unit, failed_unit, scan_unit_task
from mlvet.engine.codec import cacheable, result_from_doc, result_to_doc
from mlvet.errors import UsageError
from mlvet.policy.digest import policy_digest
from mlvet.store.results import RecordedResult, ResultCache, ScanRunInfo, ScanRuns, item_key

if TYPE_CHECKING:
    from mlvet.engine import Engine
    from mlvet.model import FileResult
    from mlvet.policy import Policy
    from mlvet.store import Store

__all__ = ["BatchStats", "FileRef", "Unit", "run_batch"]


@dataclass
class BatchStats:
    """What one invocation did (a resumed run counts only its own work in ``scanned``/``cache_hits``)."""

    run_id: str = ""
    units: int = 0
    files: int = 0
    already_done: int = 0
    cache_hits: int = 0
    shared_in_run: int = 0
    scanned: int = 0
    bytes_read: int = 0
    issues: int = 0

    @property
    def hit_rate(self) -> float:
        """Share of this invocation's files served without scanning (cache hits and shared content)."""
        served = self.cache_hits + self.shared_in_run
        return served / max(1, served + self.scanned)


def _start(runs: ScanRuns, command: str, inputs_key: str, digest: str, engine_name: str, run_id: str | None,
           resume: bool) -> ScanRunInfo:
    if resume:
        info = runs.get(run_id) if run_id else runs.latest(command, inputs_key)
        if info is not None:
            if info.policy_digest != digest:
                raise UsageError(f"run {info.id} was made with another policy; resuming it would mix results "
                                 "(start a new run, or use the policy it was made with)")
            if info.command != command or info.inputs_key != inputs_key:
                raise UsageError(f"run {info.id} scanned other inputs; resume it with the same inputs")
            return info
    elif run_id and runs.get(run_id) is not None:
        raise UsageError(f"a run {run_id!r} exists already: add --resume to continue it, or choose another id")
    return runs.create(command, inputs_key, digest, engine_name, run_id)


def run_batch(store: Store, engine: Engine, policy: Policy, units: Iterable[Unit], *, command: str,
              inputs_key: str, run_id: str | None = None, resume: bool = False,
              progress: Callable[[BatchStats], None] | None = None) -> BatchStats:
    """Scan ``units`` on ``engine`` into a run of ``store``; return what was done (see :mod:`mlvet.batch`)."""
    runs = ScanRuns(store)
    digest = policy_digest(policy)
    info = _start(runs, command, inputs_key, digest, engine.name, run_id, resume)
    stats = BatchStats(run_id=info.id)
    done = runs.done_keys(info.id)
    cache = ResultCache(store, digest)
    todo: list[Unit] = []
    issues: list[RecordedResult] = []
    total = 0
    for unit in units:
        stats.units += 1
        if unit.issue is not None:
            total += 1
            if item_key(unit.issue.path) not in done:
                issues.append(RecordedResult(unit.issue, unit.source, False, None))
            continue
        total += len(unit.files)
        left = tuple(f for f in unit.files if item_key(f.path) not in done)
        stats.already_done += len(unit.files) - len(left)
        if left:
            todo.append(replace(unit, files=left))
    stats.files = total
    stats.issues = len(issues)
    runs.record(info.id, issues)
    # The result cache first: hits are recorded at once, without any worker.
    docs = cache.get((f.sha256, f.name) for u in todo for f in u.files if f.sha256)
    hits: list[RecordedResult] = []
    first: dict[tuple[str, str], FileRef] = {}
    waiting: dict[tuple[str, str], list[tuple[str, FileRef]]] = {}
    submit: list[Unit] = []
    for unit in todo:
        keep = []
        for f in unit.files:
            key = (f.sha256 or "", f.name)
            if f.sha256 and key in docs:
                hits.append(RecordedResult(_restored(docs[key], f), unit.source, True, 0))
            elif f.sha256 and key in first:  # the same content earlier in this run: scanned once
                waiting.setdefault(key, []).append((unit.source, f))
            else:
                if f.sha256:
                    first[key] = f
                keep.append(f)
        if keep:
            submit.append(replace(unit, files=tuple(keep)))
    stats.cache_hits = len(hits)
    runs.record(info.id, hits)
    if progress:
        progress(stats)
    again: list[tuple[str, FileRef]] = []
    _scan_and_record(engine, policy, submit, runs, info.id, cache, stats, waiting, again, progress)
    # Copies of content whose result depends on more than the content (a config.json reading its folder) or
    # that ended in an error: each copy is scanned itself, never given another copy's result.
    again.extend(pair for copies in waiting.values() for pair in copies)
    if again:
        by_source: dict[str, list[FileRef]] = {}
        remote = {u.source: u.remote for u in submit}
        for source, f in again:
            by_source.setdefault(source, []).append(f)
        endpoint = {u.source: u.endpoint for u in submit}
        units2 = [Unit(s, tuple(fs), remote.get(s, False), endpoint=endpoint.get(s)) for s, fs in by_source.items()]
        _scan_and_record(engine, policy, units2, runs, info.id, cache, stats, {}, [], progress)
    runs.finish(info.id, total)
    return stats


def _scan_and_record(engine: Engine, policy: Policy, submit: list[Unit], runs: ScanRuns, run_id: str,
                     cache: ResultCache, stats: BatchStats,
                     waiting: dict[tuple[str, str], list[tuple[str, FileRef]]], again: list[tuple[str, FileRef]],
                     progress: Callable[[BatchStats], None] | None) -> None:
    """Run ``submit`` on the engine; record each unit's results (and shareable copies) as it completes."""
    sizes = [sum(f.size for f in u.files) for u in submit]
    for i, scanned in engine.map(scan_unit_task, policy, submit, sizes=sizes, on_failure=failed_unit):
        rows = _rows(submit[i].source, scanned, waiting, again, stats)
        cache.put((s.ref.sha256, s.ref.name, s.result) for s in scanned)
        runs.record(run_id, rows)
        if progress:
            progress(stats)


def _restored(doc: dict[str, Any], f: FileRef) -> FileResult:
    """A cached result for file ``f``; a remote file's ``sha256`` is its own (a git id is a key, not a sha256)."""
    res = result_from_doc(doc, f.path)
    if f.remote is None:
        return replace(res, sha256=f.sha256)
    return replace(res, sha256=f.remote.sha256 or res.sha256, origin=f.remote.origin, bytes_read=0)


def _rows(source: str, scanned: list[Scanned], waiting: dict[tuple[str, str], list[tuple[str, FileRef]]],
          again: list[tuple[str, FileRef]], stats: BatchStats) -> list[RecordedResult]:
    rows = []
    for s in scanned:
        rows.append(RecordedResult(s.result, source, False, s.bytes_read))
        stats.scanned += 1
        stats.bytes_read += s.bytes_read or 0
        key = (s.ref.sha256 or "", s.ref.name)
        copies = waiting.pop(key, []) if s.ref.sha256 else []
        if not cacheable(s.result):
            again.extend(copies)
            continue
        for other_source, f in copies:
            doc = result_to_doc(s.result)
            rows.append(RecordedResult(_restored(doc, f), other_source, True, 0))
            stats.shared_in_run += 1
    return rows
