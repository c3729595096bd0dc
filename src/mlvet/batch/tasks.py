"""The pure tasks engines run for batch scans: scan the files of one unit (local or remote).

Module-level functions of (policy, unit) only — no database, no global state — so they can run in any
worker process on any machine, any number of times, with the same result.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from typing import Any

from mlvet.model import FileResult

__all__ = ["FileRef", "Scanned", "Unit", "failed_unit", "scan_unit_task"]


@dataclass(frozen=True)
class FileRef:
    """One file to scan: where (``path``: local path or pinned remote URL), under which name, its size and
    content key when known. ``remote`` is the source's own file record (a ``RemoteFile``) for remote files."""

    path: str
    name: str
    size: int = 0
    sha256: str | None = None
    remote: Any = None


@dataclass(frozen=True)
class Unit:
    """Files scanned together by one task: one local file, or the files of one remote repository.

    ``source`` names where they come from (the root path, or the pinned ``hf://org/name@commit``) and is
    what a remote task opens. ``issue`` is a ready-made result (a walk issue, a repository that could not
    be resolved): nothing is scanned for it, it is recorded as it is.
    """

    source: str
    files: tuple[FileRef, ...] = ()
    remote: bool = False
    issue: FileResult | None = field(default=None, compare=False)
    #: The hub a remote unit is read from (None: the worker's ``HF_ENDPOINT``).
    endpoint: str | None = None


@dataclass(frozen=True)
class Scanned:
    """A file's result as the task made it: the result (path set), bytes read and its content hash."""

    ref: FileRef
    result: FileResult
    bytes_read: int | None


def _sha256(path: str) -> str | None:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        return h.hexdigest()
    except OSError:
        return None


def scan_unit_task(policy: Any, unit: Unit) -> list[Scanned]:
    """Scan every file of ``unit`` (never raises for a bad file: its result is an ``error``)."""
    if unit.remote:
        from mlvet.batch.remote_task import scan_remote_unit

        scanned: list[Scanned] = scan_remote_unit(policy, unit)
        return scanned
    from mlvet.scanner import scan_file

    out = []
    for ref in unit.files:
        res = scan_file(ref.path, policy)
        sha = ref.sha256 or _sha256(ref.path)
        out.append(Scanned(replace(ref, sha256=sha), replace(res, sha256=sha), os.path.getsize(ref.path)
                           if os.path.isfile(ref.path) else None))
    return out


def failed_unit(unit: Unit, reason: str) -> list[Scanned]:
    """Every file of a unit whose task could not run (its workers kept dying): an ``error`` each, never clean."""
    from mlvet.model import Status

    return [Scanned(ref, FileResult(path=ref.path, format="unknown", status=Status.ERROR, errors=(reason,),
                                    size=ref.size or None, sha256=ref.sha256), None) for ref in unit.files]
