"""``mlvet hub-scan``: scan a list of hub repositories into the database (see :mod:`mlvet.batch`).

Two rounds on the same engine: first every repository is resolved (its revision pinned to a commit, its
files listed with their content keys: LFS sha256, or git blob id for small files), then the files the result
cache does not already know are scanned, one task per repository, and recorded as they complete. A
repository that cannot be resolved is an ``error`` row, so the run is incomplete, never silently clean.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlvet.batch.remote_task import resolve_repo_task, unit_of
from mlvet.batch.run import BatchStats, run_batch
from mlvet.batch.tasks import Unit
from mlvet.errors import UsageError
from mlvet.model import FileResult, Status

if TYPE_CHECKING:
    from mlvet.engine import Engine
    from mlvet.policy import Policy
    from mlvet.store import Store

__all__ = ["HubQuery", "hub_scan", "query_repo_list", "read_repo_list"]

#: ``org/name``, ``name``, ``datasets/org/name``, ``spaces/org/name``, each with an optional ``@revision``.
_SPEC = re.compile(r"^(?:(?:datasets|spaces)/)?[A-Za-z0-9][\w.-]*(?:/[A-Za-z0-9][\w.-]*)?(?:@[\w./-]+)?$")
#: Longest repo list line considered (a hostile list must not make a huge error message).
_MAX_LINE = 512


def read_repo_list(path: str) -> list[str]:
    """The repository specs in ``path``: one per line, blank lines and ``#`` comments ignored, duplicates once.

    A line that is not a repository id is a usage error naming its line number (exit 4), before any work.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the repository list {path}: {exc}") from None
    specs: dict[str, None] = {}
    for n, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if len(line) > _MAX_LINE or not _SPEC.match(line):
            raise UsageError(f"{path}:{n}: not a repository id (org/name[@revision]): {line[:80]!r}")
        specs[line] = None
    return list(specs)


@dataclass(frozen=True)
class HubQuery:
    """A hub search that selects the repositories of a ``hub-scan`` (instead of a ``--repos`` file).

    ``limit`` is required: an unbounded query on the real Hub lists millions of repositories.
    """

    repo_type: str = "model"
    search: str | None = None
    author: str | None = None
    filters: tuple[str, ...] = ()
    limit: int = 1000


def query_repo_list(query: HubQuery, endpoint: str | None = None) -> list[str]:
    """The repository specs the hub lists for ``query`` (``datasets/``/``spaces/`` prefixed), at most ``limit``.

    The hub's own client lists them (``HfApi.list_models``/``list_datasets``/``list_spaces``: ``HF_ENDPOINT``,
    ``HF_TOKEN`` and ``Link`` pagination are its business); revisions are pinned later, when each repository
    is resolved, exactly as for a ``--repos`` file. A listing that fails, or that names something that is not a
    repository id, raises :class:`~mlvet.remote.base.RemoteError` (exit 2): a query that cannot be answered is
    never an empty, clean run.
    """
    import os

    from mlvet.remote.base import RemoteError
    from mlvet.remote.hf import _errors, _hub, _reason

    hub = _hub()
    url = (endpoint or os.environ.get("HF_ENDPOINT") or hub.constants.ENDPOINT).rstrip("/")
    api = hub.HfApi(endpoint=url)
    lister = {"model": api.list_models, "dataset": api.list_datasets, "space": api.list_spaces}[query.repo_type]
    prefix = "" if query.repo_type == "model" else f"{query.repo_type}s/"
    specs: dict[str, None] = {}
    try:
        for info in lister(search=query.search or None, author=query.author or None,
                           filter=list(query.filters) or None, limit=query.limit):
            spec = f"{prefix}{info.id}"
            if not isinstance(info.id, str) or len(spec) > _MAX_LINE or "@" in spec or not _SPEC.match(spec):
                raise RemoteError(f"the hub listing on {url} returned an invalid repository id: {spec[:80]!r}")
            specs[spec] = None
    except _errors() as exc:
        raise RemoteError(f"cannot list {query.repo_type} repositories on {url} ({_reason(exc)})") from None
    return list(specs)[: query.limit]


def _inputs_key(specs: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(specs)).encode()).hexdigest()


def _unresolved(spec: str, reason: str) -> FileResult:
    return FileResult(path=f"hf://{spec}", format="unknown", status=Status.ERROR, errors=(reason,))


def hub_scan(specs: list[str], policy: Policy, store: Store, engine: Engine, *, run_id: str | None = None,
             resume: bool = False, progress: Callable[[BatchStats], None] | None = None,
             endpoint: str | None = None) -> tuple[BatchStats, dict[str, Any]]:
    """Resolve and scan ``specs`` into a run of ``store``; returns the stats and per-phase figures."""
    import time

    t0 = time.monotonic()
    units: list[Unit] = []
    resolved = 0
    for _i, got in engine.map(resolve_repo_task, endpoint, specs, on_failure=_unresolved):
        if isinstance(got, FileResult):
            units.append(Unit(got.path, issue=got))
        else:
            pinned, files = got
            units.append(unit_of(pinned, files, endpoint))
            resolved += 1
    t1 = time.monotonic()
    stats = run_batch(store, engine, policy, units, command="hub-scan", inputs_key=_inputs_key(specs),
                      run_id=run_id, resume=resume, progress=progress)
    t2 = time.monotonic()
    return stats, {"repos": len(specs), "resolved": resolved, "resolve_s": t1 - t0, "scan_s": t2 - t1}
