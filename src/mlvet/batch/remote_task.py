"""The remote side of ``hub-scan``: resolve a repository (pin its commit, list its files) and scan its files
through ranged reads (:mod:`mlvet.remote`), so a safetensors or GGUF file costs its header, not its weight.

Both are pure tasks of their inputs: a repository spec, or a pinned ``hf://org/name@<commit>`` and its file
records. A resolve or read failure is an ``error`` result (fail closed), never an exception that would lose
the unit.
"""

from __future__ import annotations

import os
import re
from typing import Any

from mlvet.batch.tasks import FileRef, Scanned, Unit
from mlvet.model import FileResult, Status

__all__ = ["Resolved", "content_key", "resolve_repo_task", "scan_remote_unit", "unit_of"]

#: What resolving a repository gives: its pinned source URL and its file records (``RemoteFile``).
Resolved = tuple[str, list[Any]]


def content_key(rf: Any) -> str | None:
    """The cache key of a remote file: its LFS sha256, else its git blob id (``git:<oid>``), else None.

    Both name content exactly; the git id is what the hub lists for small files (configs, tokenizers), which
    is where repositories share the most.
    """
    if rf.sha256:
        return str(rf.sha256)
    oid = rf.origin.get("git_oid") if rf.origin is not None else None
    return f"git:{oid}" if oid else None


def _error(path: str, reason: str, size: int | None = None) -> FileResult:
    return FileResult(path=path, format="unknown", status=Status.ERROR, errors=(reason,), size=size)


def resolve_repo_task(endpoint: str | None, spec: str) -> Resolved | FileResult:
    """Resolve ``spec`` (``org/name[@rev]``, ``datasets/org/name[@rev]``): (pinned URL, files), or an error."""
    from mlvet.remote.base import open_source

    _use_endpoint(endpoint)
    url = spec if "://" in spec else f"hf://{spec}"
    try:
        src = open_source(url)
        try:
            src.resolve()
            files = list(src.files())
            commit = getattr(src, "commit", None)
        finally:
            src.close()
    except Exception as exc:  # RemoteError, or anything else: this repository is not scanned, so: error
        return _error(url, f"cannot resolve: {exc}")
    base = url.split("@", 1)[0] if "@" in url.split("://", 1)[1] else url
    pinned = f"{base}@{commit}" if commit else (files[0].url.rsplit("/", 1)[0] if files else url)
    return pinned, files


def unit_of(pinned: str, files: list[Any], endpoint: str | None = None) -> Unit:
    """The scan unit of a resolved repository: one :class:`FileRef` per file, keyed by content."""
    refs = tuple(FileRef(f.url, os.path.basename(f.name), int(f.size or 0), content_key(f), f) for f in files)
    return Unit(pinned, refs, remote=True, endpoint=endpoint)


def scan_remote_unit(policy: Any, unit: Unit) -> list[Scanned]:
    """Scan the files of one pinned repository through ranged reads (:func:`mlvet.remote.scan.remote_result`:
    the same scanner as ``mlvet scan hf://``); each result carries its origin and the bytes read."""
    from mlvet.remote.base import open_source
    from mlvet.remote.scan import remote_result

    _use_endpoint(unit.endpoint)
    try:
        src = open_source(unit.source)
        _pin(src, unit)
    except Exception as exc:  # the repository went away or the hub is unreachable: every file is an error
        return [Scanned(r, _error(r.path, f"cannot resolve {unit.source}: {exc}", r.size or None), None)
                for r in unit.files]
    out: list[Scanned] = []
    try:
        for ref in unit.files:
            res = remote_result(src, ref.remote, policy)
            out.append(Scanned(ref, res, res.bytes_read))
    finally:
        src.close()
    return out


def _pin(src: Any, unit: Unit) -> None:
    """Pin ``src`` to the commit the resolve round found, without asking the hub again when possible.

    The unit's source is ``hf://org/name@<commit>``; a source that keeps its pinned commit in ``commit`` (the
    hub source does) is given it directly, which saves the two listing requests per repository that
    :meth:`resolve` would repeat. Any other source is resolved again (same commit: same files).
    """
    commit = unit.source.rsplit("@", 1)[-1]
    if re.fullmatch(r"[0-9a-f]{40}", commit) and getattr(src, "commit", "missing") is None:
        src.commit = commit
        return
    src.resolve()


def _use_endpoint(endpoint: str | None) -> None:
    """Point this worker's hub client at ``endpoint`` (``hub-scan --endpoint``); None keeps ``HF_ENDPOINT``.

    Sources read ``HF_ENDPOINT`` when they are built, and a worker process only ever serves one hub-scan.
    """
    if endpoint:
        os.environ["HF_ENDPOINT"] = endpoint
