"""The report card of a remote model (``mlvet score hf://org/name``), without downloading its weights.

Why a shadow tree: the card's checks read a folder (the model card, configs, code, signature files, weight
headers) and the scan report. The remote scan already read what the scanner needs through ranged requests;
this module writes *exactly those bytes* into a temporary folder laid out as a Hugging Face cache snapshot
(``models--org--name/snapshots/<commit>``, with the requested branch in ``refs/``): small files whole, large
files as sparse files holding only the fetched blocks (their headers). The checks then run unchanged on the
shadow tree with the remote scan's report, and the card names the pinned URL. Nothing in the shadow tree is
ever loaded; it is deleted when the card is made.

The integrity check cannot compare cache blob names (the shadow files are not blobs); it says so, and the
card notes that the hub's LFS sha256 were used as content keys instead.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from mlvet.errors import UsageError
from mlvet.model import FileResult, ScanReport
from mlvet.policy import Policy, default_policy
from mlvet.remote.base import RemoteError
from mlvet.trust.score.base import ScoreCard

__all__ = ["score_remote"]


def _localised(res: FileResult, local: str) -> FileResult:
    findings = tuple(dataclasses.replace(x, location=dataclasses.replace(x.location, path=local))
                     for x in res.findings)
    suppressed = tuple(dataclasses.replace(x, location=dataclasses.replace(x.location, path=local))
                       for x in res.suppressed)
    return dataclasses.replace(res, path=local, findings=findings, suppressed=suppressed)


def score_remote(url: str, *, policy: Policy | None = None, public_key: str | None = None,
                 signature: str | None = None, jobs: int = 1, now: datetime | None = None) -> ScoreCard:
    """Score the model at a remote URL (``hf://…``); RemoteError when it cannot be resolved or listed."""
    from mlvet.remote.base import open_source
    from mlvet.remote.scan import Shadow, scan_source
    from mlvet.trust.score import score_model

    pol = policy or default_policy()
    started = datetime.now(timezone.utc)
    src = open_source(url)
    try:
        with tempfile.TemporaryDirectory(prefix="mlvet-score-") as tmp:
            src.resolve()
            first = next(iter(src.files()), None)
            if first is None:
                raise UsageError(f"{url}: no files to score")
            o = first.origin
            if o.kind == "hf":
                repo_type = o.get("repo_type") or "model"
                cache = Path(tmp, f"{repo_type}s--{(o.get('repo_id') or o.locator).replace('/', '--')}")
                root = cache / "snapshots" / (o.revision or "unknown")
                asked = o.get("requested_revision")
                if asked and asked != o.revision and re.fullmatch(r"[A-Za-z0-9._-]+", asked):
                    (cache / "refs").mkdir(parents=True)
                    (cache / "refs" / asked).write_text(o.revision or "")
            else:
                root = Path(tmp, "shadow")
            root.mkdir(parents=True, exist_ok=True)
            results = scan_source(src, pol, jobs=jobs, shadow_root=str(root))
            if any(r.origin is None for r in results):
                raise RemoteError("; ".join(e for r in results for e in r.errors) or f"{url}: cannot be read")
            shadow = Shadow(root)
            local = [_localised(r, shadow.path(r.origin.path)) if r.origin else r for r in results]
            report = ScanReport(results=tuple(local), started_at=started, finished_at=datetime.now(timezone.utc),
                                policy_sources=pol.sources, policy_warnings=pol.warnings)
            card = score_model(str(root), policy=pol, public_key=public_key, signature=signature, report=report,
                               jobs=jobs, now=now)
    finally:
        src.close()
    pinned = f"hf://{o.locator}@{o.revision}" if o.kind == "hf" else url
    read = sum(r.bytes_read or 0 for r in results)
    note = (f"scored remotely from {pinned} ({read} bytes read); content keys are the source's hashes, so the "
            "cache-blob integrity check does not apply")
    return dataclasses.replace(card, target=pinned, notes=(*card.notes, note))
