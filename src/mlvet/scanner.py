"""The scan pipeline: expand inputs, scan each file in isolation, assemble one ScanReport.

Each file is scanned inside its own error boundary: whatever goes wrong in a handler becomes an ``error``
result for that file (fail closed), and the scan goes on with the others. ``jobs > 1`` scans files in
worker processes (:mod:`mlvet.parallel`: one pool, batched tasks); results come back as plain data and the
report is in input order either way.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from mlvet.catalogue import REFINED, FormatId, code_formats
from mlvet.context import ScanContext, Sink
from mlvet.errors import PolicyError
from mlvet.formats.dispatch import dispatch
from mlvet.model import FileResult, HubOrigin, ScanReport, Severity, Status
from mlvet.parallel import note_reading, reading_position
from mlvet.policy import Policy, default_policy
from mlvet.rules import FMT001, FMT002
from mlvet.walk import IssueKind, WalkIssue, iter_files, walk

__all__ = ["iter_files", "resolve_policy", "scan", "scan_file"]

Progress = Callable[[FileResult], None]


def scan_file(path: str, policy: Policy) -> FileResult:
    """Scan one file; never raises (an internal failure becomes an ``error`` result)."""
    size: int | None = None
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return FileResult(path=path, format=FormatId.OTHER.value, status=Status.SKIPPED,
                              skip_reason="not a regular file")
        size = st.st_size
        with open(path, "rb") as f:
            note_reading(f.fileno())  # lets a progress bar follow a big file (mlvet.parallel)
            try:
                return _scan_opened(f, size, os.path.basename(path), path, policy)
            finally:
                note_reading(-1)
    except OSError as exc:
        return _assemble(path, policy, _failed(f"cannot read file: {exc.strerror or exc}"), None, size)
    except Exception as exc:
        failed = _failed(f"internal error while analysing ({type(exc).__name__}: {exc})")
        return _assemble(path, policy, failed, None, size)


def scan_stream(stream: BinaryIO, size: int, name: str, policy: Policy, *, path: str | None = None) -> FileResult:
    """Scan ``size`` bytes of a seekable binary ``stream`` as a file called ``name`` (reported as ``path``).

    The same error boundary as :func:`scan_file`: never raises for bad content.
    """
    return _scan_opened(stream, size, name, path if path is not None else name, policy)


def _scan_opened(stream: BinaryIO, size: int, name: str, path: str, policy: Policy) -> FileResult:
    sink = Sink()
    fmt: str | None = None
    try:
        ctx = ScanContext(path, policy, sink, dispatcher=dispatch)
        fmt = ctx.scan_stream(stream, size, name)
    except OSError as exc:
        sink.errors.append(f"cannot read file: {exc.strerror or exc}")
    except RecursionError:
        sink.errors.append("input nests too deeply to analyse")
    except MemoryError:
        sink.errors.append("input exhausted memory during analysis")
    except Exception as exc:
        sink.errors.append(f"internal error while analysing ({type(exc).__name__}: {exc})")
    return _assemble(path, policy, sink, fmt, size)


def _failed(message: str) -> Sink:
    sink = Sink()
    sink.errors.append(message)
    return sink


def _assemble(path: str, policy: Policy, sink: Sink, fmt: str | None, size: int | None) -> FileResult:
    """Freeze what a scan collected into the file's result (fail closed: any error makes it ``error``)."""
    if sink.errors:
        status = Status.ERROR
    elif sink.skip_reason is not None and not sink.findings:
        status = Status.SKIPPED
    else:
        status = Status.SCANNED
    primary = _primary_format(fmt, sink.formats)
    _check_extension(path, primary, sink, policy)
    return FileResult(
        hub=_hub_origin(path),
        path=path,
        format=primary,
        status=status,
        findings=tuple(sink.findings),
        suppressed=tuple(sink.suppressed),
        errors=tuple(sink.errors),
        skip_reason=sink.skip_reason if status is Status.SKIPPED else None,
        size=size,
        formats_seen=tuple(sink.formats),
    )


#: Extensions that promise content which cannot run code; a code-bearing file wearing one hides.
_HARMLESS_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".svg", ".ico", ".txt", ".md", ".json", ".yaml", ".yml",
     ".csv", ".tsv", ".html", ".xml", ".pdf", ".wav", ".mp3", ".mp4", ".safetensors", ".gguf", ".onnx"}
)
#: Content whose usual loader runs code from the file (from the format catalogue).
_CODE_FORMATS = code_formats()


def issue_result(issue: WalkIssue, policy: Policy) -> FileResult:
    """The result for something the walk could not turn into a scanned file (never silently clean)."""
    if issue.kind is IssueKind.LINK_FOLDER:
        return FileResult(path=issue.path, format="other", status=Status.SKIPPED, skip_reason=issue.detail)
    sink = Sink()
    if issue.kind is IssueKind.LINK_OUTSIDE:
        ctx = ScanContext(issue.path, policy, sink, dispatcher=dispatch)
        ctx.report(FMT002, f"symbolic link {issue.detail}: a loader opening this path reads the target, which is "
                   "not part of the folder that was scanned and can differ on every machine (it can be planted "
                   "after the scan); mlvet did not read it, so the result is incomplete",
                   evidence=f"-> {issue.target}")
        sink.errors.append("link target outside the scanned folder was not analysed (scan the target itself)")
        fmt = "symlink"
    else:
        sink.errors.append(issue.detail)
        fmt = "other"
    return FileResult(path=issue.path, format=fmt, status=Status.ERROR, findings=tuple(sink.findings),
                      suppressed=tuple(sink.suppressed), errors=tuple(sink.errors))


def _hub_origin(path: str) -> HubOrigin | None:
    if "--" not in os.path.abspath(path):  # a cache repository folder is named models--org--name: not in one
        return None
    from mlvet.hfcache import parse_hf_path  # imported only for paths that may be in a Hugging Face cache

    ref = parse_hf_path(path)
    if ref is None:
        return None
    return HubOrigin(ref.repo_type, ref.repo_id, ref.revision, ref.refs, ref.path_in_repo)


def _dedupe_cache_blobs(files: list[str]) -> list[str]:
    """In a Hugging Face cache every snapshot file is a symlink to a blob; scan each blob once, under its
    snapshot name (which says what the file is), and blobs no snapshot points to under their own path."""
    if not any(f"{os.sep}blobs{os.sep}" in f for f in files):
        return files
    from mlvet.hfcache import is_cache_blob

    by_target: dict[str, str] = {}
    order: list[str] = []
    for f in files:
        real = os.path.realpath(f)
        prev = by_target.get(real)
        if prev is None:
            by_target[real] = f
            order.append(real)
        elif is_cache_blob(prev) and not is_cache_blob(f):
            by_target[real] = f
    return [by_target[r] for r in order]


def _check_extension(path: str, fmt: str, sink: Sink, policy: Policy) -> None:
    ext = os.path.splitext(path)[1].lower()
    if ext in _HARMLESS_EXTENSIONS and (fmt in _CODE_FORMATS or FormatId.PICKLE in sink.formats):
        ctx = ScanContext(path, policy, sink, dispatcher=dispatch)
        ctx.report(FMT001, f"named {ext} but the content is {fmt}, which can run code when loaded",
                   evidence=f"extension {ext}, content {fmt}")


#: Formats first recognised as a container (or a bare pickle) that a more specific name may refine.
_REFINABLE = frozenset({FormatId.ZIP, FormatId.TAR, FormatId.PICKLE, FormatId.HDF5})


def _primary_format(fmt: str | None, seen: list[str]) -> str:
    """The result's format: more specific names (catalogue ``refines``) win over the container they were in."""
    if fmt is None:
        return FormatId.UNKNOWN.value
    if fmt in _REFINABLE:
        for refined in REFINED:
            if refined in seen:
                return refined.value
    return fmt


def _scan_item(policy: Policy, path: str) -> FileResult:
    """The worker-side task of a parallel scan (module level: sent to workers by reference)."""
    return scan_file(path, policy)


def _file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def scan(
    paths: Iterable[str | os.PathLike[str]],
    *,
    policy: Policy | None = None,
    jobs: int | None = 1,
    progress: Progress | None = None,
    on_start: Callable[[int, int, Callable[[], int]], None] | None = None,
    engine: Any = None,
) -> ScanReport:
    """Scan files, folders and archives; return the report (never raises for a bad *file*).

    ``jobs`` is the number of worker processes; 0 or None chooses it from the machine and the input
    (:func:`mlvet.parallel.default_jobs`). Results are in input order whatever ``jobs`` is. ``on_start`` is
    called once with the number of results to come, the total bytes of the files, and a function that tells
    (from any thread) how many bytes of the files being scanned right now have been read; it is called after
    the workers have started (so a caller may then start threads of its own, e.g. a progress bar).
    ``progress`` is called with each result as it arrives. ``engine`` (an :class:`mlvet.engine.Engine`, e.g. a
    Dask cluster) runs the files instead of local worker processes; results are in input order all the same.

    Raises :class:`~mlvet.errors.UsageError` for a path that does not exist.
    """
    from mlvet.parallel import resolve_jobs

    pol = policy or default_policy()
    started = datetime.now(timezone.utc)
    items = list(walk(paths, pol.limits.max_files))
    files = _dedupe_cache_blobs([i for i in items if isinstance(i, str)])
    issues = [i for i in items if isinstance(i, WalkIssue)]
    need_sizes = on_start is not None or not jobs or jobs > 1
    sizes = [_file_size(f) for f in files] if need_sizes else []
    n_jobs = resolve_jobs(jobs, len(files), sum(sizes)) if files else 1
    if engine is not None:
        from mlvet.parallel import ordered

        def lost(path: str, reason: str) -> FileResult:
            return _assemble(path, pol, _failed(reason), None, None)

        if on_start:
            on_start(len(files) + len(issues), sum(sizes), lambda: 0)
        results = ordered(len(files), engine.map(_scan_item, pol, files, sizes=sizes, on_failure=lost), progress)
    elif n_jobs > 1:
        from mlvet.parallel import WorkerPool, ordered

        def failed(path: str, reason: str) -> FileResult:
            return _assemble(path, pol, _failed(reason), None, None)

        with WorkerPool[str, FileResult](n_jobs, pol) as pool:
            arriving = pool.submit(_scan_item, files, sizes, failed)
            if on_start:
                on_start(len(files) + len(issues), sum(sizes), pool.in_flight)
            results = ordered(len(files), arriving, progress)
    else:
        if on_start:
            on_start(len(files) + len(issues), sum(sizes), reading_position)
        results = []
        for f in files:
            res = scan_file(f, pol)
            results.append(res)
            if progress:
                progress(res)
    for issue in issues:
        res = issue_result(issue, pol)
        results.append(res)
        if progress:
            progress(res)
    return ScanReport(
        results=tuple(results),
        started_at=started,
        finished_at=datetime.now(timezone.utc),
        policy_sources=pol.sources,
        policy_warnings=pol.warnings,
    )


def resolve_policy(policy_file: str | None, start: Path) -> Policy:
    """The effective policy: shipped default, then pyproject [tool.mlvet], then --policy FILE.

    The pyproject table is found by discovery (at or above ``start``), so it may only strengthen the scan;
    the file the user names applies in full. Rule ids in suppressions and severity overrides are checked.
    """
    from mlvet.policy import load_policy_file, load_pyproject

    pol = default_policy()
    project = load_pyproject(start, pol, rule_severity=_rule_severity)
    if project is not None:
        pol = project
    if policy_file:
        pol = load_policy_file(policy_file, pol)
    return check_rule_ids(pol)


def _rule_severity(rule_id: str) -> Severity | None:
    from mlvet.formats import import_all
    from mlvet.rules import all_rules

    import_all()  # format modules register their rules on import
    return next((r.severity for r in all_rules() if r.id == rule_id), None)


def check_rule_ids(policy: Policy) -> Policy:
    """A typo in a suppression would silently suppress nothing: unknown rule ids are a PolicyError.

    Checked here, above the format layer, because format and analysis modules define rules on import.
    """
    ids = {*policy.suppress, *policy.severity_overrides}
    if not ids:
        return policy
    from mlvet.formats import import_all
    from mlvet.rules import all_rules

    import_all()
    unknown = sorted(ids - {r.id for r in all_rules()})
    if unknown:
        sources = ", ".join(s for s in policy.sources if not s.startswith("builtin:"))
        raise PolicyError(f"{sources}: unknown rule id(s) {', '.join(unknown)}; `mlvet rules` lists them")
    return policy
