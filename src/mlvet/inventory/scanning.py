"""Scanning the assets an inventory could not reuse: through the result cache, then an engine.

Two reuse levels, both keyed by the policy as well as the content and mlvet version (a policy change must
rescan, never reuse — see :mod:`mlvet.policy.digest`):

* an asset whose content hash equals the previous run's keeps that run's results
  (:func:`mlvet.inventory.discover.build_asset`), when that run was made with the same policy;
* each file of the remaining assets is looked up in the content-hash result cache
  (:class:`mlvet.store.results.ResultCache`) by its SHA-256, which the inventory has computed anyway: a
  new snapshot sharing most blobs with the last one costs only its new blobs.

What is left runs on the engine (``local`` worker processes, or a Dask cluster), one asset per item, and the
new results go into the cache for every later run and command.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mlvet.inventory.model import Asset

if TYPE_CHECKING:
    from mlvet.engine import Engine
    from mlvet.model import FileResult
    from mlvet.policy import Policy
    from mlvet.store.results import ResultCache

__all__ = ["scan_assets"]

#: New results written to the result cache per transaction (and at least every second).
CACHE_BATCH = 1000
#: Progress events: (stage, done, total or None).
ProgressFn = Callable[[str, int, int | None], None]
#: One item of the engine: an asset and the encoded cached results of some of its files (by path).
_Item = tuple[Asset, dict[str, dict[str, Any]]]
#: What a task returns: the scanned asset and the results it computed, by file.
_Done = tuple[Asset, list[tuple[str, str, "FileResult"]]]


def _name(path: str) -> str:
    return os.path.basename(path)


def scan_asset_task(policy: Policy, item: _Item) -> _Done:
    """Scan one asset's files, using the cached results it carries (module level: engines ship it by name)."""
    from mlvet.engine.codec import result_from_doc
    from mlvet.inventory.discover import _scanned
    from mlvet.scanner import scan_file

    asset, cached = item
    sha_of = {f.path: f.sha256 for f in asset.files}
    fresh: list[tuple[str, str, FileResult]] = []

    def scan(path: str) -> FileResult:
        doc = cached.get(path)
        if doc is not None:
            return result_from_doc(doc, path)
        res = scan_file(path, policy)
        fresh.append((sha_of.get(path, ""), _name(path), res))
        return res

    return _scanned(asset, scan), fresh


def _unscanned(item: _Item, reason: str) -> _Done:
    """An asset whose worker died: every file an error, the asset incomplete (never silently clean)."""
    asset = item[0]
    return replace(asset, incomplete=True,
                   files=tuple(replace(f, scan_status="error") for f in asset.files)), []


def scan_assets(pending: Sequence[Asset], policy: Policy, *, jobs: int = 1, engine: Engine | None = None,
                cache: ResultCache | None = None, progress: ProgressFn | None = None) -> list[Asset]:
    """Scan ``pending`` assets (cache first, then ``engine`` or ``jobs`` local processes), in input order."""
    from mlvet.engine.local import LocalEngine

    items: list[_Item] = []
    if cache is not None:
        docs = cache.get((f.sha256, _name(f.path)) for a in pending for f in a.files)
        for a in pending:
            items.append((a, {f.path: docs[(f.sha256, _name(f.path))] for f in a.files
                              if (f.sha256, _name(f.path)) in docs}))
    else:
        items = [(a, {}) for a in pending]
    sizes = [sum(f.size for f in a.files if f.path not in cached) for a, cached in items]
    out: list[Any] = [None] * len(items)
    eng = engine if engine is not None else LocalEngine(jobs)
    arriving = eng.map(scan_asset_task, policy, items, sizes=sizes, on_failure=_unscanned)
    new: list[tuple[str, str, FileResult]] = []
    last = time.monotonic()
    try:
        for done, (i, (asset, fresh)) in enumerate(arriving, 1):
            out[i] = asset
            new.extend(fresh)
            if cache is not None and new and (len(new) >= CACHE_BATCH or time.monotonic() - last >= 1.0):
                cache.put(new)  # in batches: one transaction per asset would dominate trees of small models
                new, last = [], time.monotonic()
            if progress:
                progress("scan", done, len(items))
    except BaseException:  # interrupted: what was scanned still serves the next run
        if cache is not None and new:
            with contextlib.suppress(Exception):  # never hide the interruption behind a database error
                cache.put(new)
        raise
    if cache is not None and new:
        cache.put(new)
    return out
