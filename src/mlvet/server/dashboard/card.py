"""The report card of an inventory asset, computed with :mod:`mlvet.trust.score` from what the database holds.

The report card's checks were written for files on disk. The server holds a fleet's inventory whose files
mostly live on other machines, so a card is computed in one of two ways, and the page says which:

* **On this server's disk** (the asset was recorded by ``mlvet inventory`` on this machine, not pushed, and
  every file is still there): the real
  :func:`~mlvet.trust.score.score_model` on the asset's path, reusing the recorded scan (no re-scan); the
  signature, integrity and card checks read the files as ``mlvet score`` would.
* **Recorded elsewhere**: the same checks run on a context built from the recorded asset (its scan findings,
  file list and metadata). The checks that need the files themselves (signature, integrity, dangerous file
  types, card text, download records) are reported *inconclusive* with the reason, never scored from
  nothing: a missing file on the server proves neither presence nor absence of a signature.

Cards are cached per (asset, content hash) in the process: a page view must not re-hash a 1 GB model.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone

from mlvet.inventory.model import Asset, AssetMetadata, InventoryRun
from mlvet.model import FileResult, Finding, ScanReport, Status
from mlvet.trust.score import ScoreCard, ScoreContext, aggregate, run_checks, score_model
from mlvet.trust.score.base import SignatureStatus

#: Checks that read the files themselves; inconclusive when the files are not on this server.
DISK_CHECKS = frozenset({"signature", "integrity", "dangerous_files", "model_card", "pinned_revision"})
_CACHE_SIZE = 256


@dataclass(frozen=True)
class AssetCard:
    """A report card plus how it was made and the signature status shown next to it."""

    card: ScoreCard
    #: True when computed on the files on this server's disk.
    local: bool
    signature: SignatureStatus | None
    #: One sentence for the page: where the card's facts come from.
    basis: str


def stored_report(asset: Asset, run: InventoryRun) -> ScanReport:
    """The scan the inventory recorded for ``asset``, as a :class:`ScanReport` (findings grouped by file)."""
    by_path: dict[str, list[Finding]] = {}
    for f in asset.findings:
        by_path.setdefault(f.location.path, []).append(f)
    results = []
    for af in asset.files:
        status = Status(af.scan_status) if af.scan_status in {s.value for s in Status} else Status.SKIPPED
        results.append(FileResult(path=af.path, format=af.format or "unknown", status=status,
                                  findings=tuple(by_path.pop(af.path, [])), size=af.size))
    for path, rest in by_path.items():  # a finding whose file is not listed still counts
        results.append(FileResult(path=path, format="unknown", status=Status.SCANNED, findings=tuple(rest)))
    if asset.incomplete and not any(r.status is Status.ERROR for r in results):
        results.append(FileResult(path=asset.path, format="unknown", status=Status.ERROR,
                                  errors=("the inventory recorded this asset as incomplete",)))
    return ScanReport(results=tuple(results), started_at=run.started_at, finished_at=run.finished_at,
                      tool_version=run.tool_version)


class StoredContext(ScoreContext):
    """A :class:`ScoreContext` over recorded data only: nothing on disk is touched."""

    def __init__(self, asset: Asset, run: InventoryRun) -> None:  # no super().__init__: no path check
        from mlvet.policy import default_policy
        from mlvet.trust.score import score_settings

        self.requested = self.target = asset.path
        self.notes = []
        self.policy = default_policy()
        self.settings = score_settings(self.policy)
        self.public_key = None
        self.signature_path = None
        self.jobs = 1
        self._report = stored_report(asset, run)
        self._asset = asset
        self._rels = {f.path: f.rel for f in asset.files}

    @property
    def is_dir(self) -> bool:
        """Folder assets have files below their path."""
        return any(f.path != self._asset.path for f in self._asset.files)

    @property
    def files(self) -> tuple[str, ...]:
        """The recorded files."""
        return tuple(f.path for f in self._asset.files)

    def rel(self, path: str) -> str:
        """The recorded path inside the asset."""
        return self._rels.get(path, os.path.basename(path))

    @property
    def name(self) -> str:
        """The recorded name."""
        return self._asset.name

    @property
    def _metadata(self) -> tuple[AssetMetadata | None, str | None]:
        return self._asset.metadata, None

    @property
    def signature(self) -> SignatureStatus:
        """Unknown: the inventory does not record signatures (the check is reported inconclusive)."""
        return SignatureStatus(False, None, None, "", error="the files are not on this server")

    @property
    def hf_ref(self) -> None:
        """Hub coordinates are shown from the record; the cache-layout checks need the files."""
        return None

    @property
    def local_download(self) -> dict[str, tuple[str, str]]:
        """Download records live next to the files, which are elsewhere."""
        return {}


def _on_this_server(asset: Asset, run: InventoryRun, pushed: bool) -> bool:
    # A pushed run's host name and paths are the pusher's claim: trusting them would let a push token make the
    # server read (and show readers) any file on its own disk. Only runs recorded on this machine qualify.
    if pushed or (run.host is not None and run.host != socket.gethostname()):
        return False
    return bool(asset.files) and all(os.path.isfile(f.path) for f in asset.files)


def _remote_card(asset: Asset, run: InventoryRun) -> ScoreCard:
    from mlvet._version import __version__
    from mlvet.trust.score import DEFAULT_WEIGHTS, _cap

    ctx = StoredContext(asset, run)
    where = run.host or "another machine"
    checks = tuple(
        c if c.name not in DISK_CHECKS else
        dataclasses.replace(c, score=None, details=(),
                            reason=f"needs the files, which are on {where}: run `mlvet score` there")
        for c in run_checks(ctx)
    )
    uncapped = aggregate(checks)
    cap = _cap(ctx)  # the policy's cap for the worst finding, exactly as `mlvet score` applies it
    score = min(uncapped, cap.limit) if cap is not None else uncapped
    rep = ctx.report
    summary = rep.summary()
    return ScoreCard(
        target=asset.path, name=asset.name, score=round(score, 1), uncapped_score=uncapped, checks=checks,
        cap=cap if cap is not None and cap.limit < uncapped else None,
        generated_at=datetime.now(timezone.utc), tool_version=__version__,
        weights={k: float(ctx.settings.weights.get(k, v)) for k, v in DEFAULT_WEIGHTS.items()},
        scan={"files": summary.files, "scanned": summary.scanned, "skipped": summary.skipped,
              "errors": summary.errors, "findings": summary.findings, "max_severity": summary.max_severity.label},
        notes=("computed from the inventory record; checks that read the files are inconclusive",),
    )


_cache: OrderedDict[tuple[str, str, bool], AssetCard] = OrderedDict()
_lock = threading.Lock()


def asset_card(asset: Asset, run: InventoryRun, *, pushed: bool) -> AssetCard:
    """The report card of the asset's recorded state (see the module doc for local vs recorded).

    ``pushed``: the run came in through ``POST /api/v1/runs``; its files are never read on this machine.
    """
    local = _on_this_server(asset, run, pushed)
    key = (asset.id, asset.content_hash, local)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    if local:
        report = stored_report(asset, run)
        ctx = ScoreContext(asset.path, report=report)
        card = score_model(asset.path, report=report)
        made = AssetCard(card, True, ctx.signature,
                         "computed on this server's copy of the files (the recorded scan, live signature and "
                         "integrity checks)")
    else:
        made = AssetCard(_remote_card(asset, run), False, None,
                         f"computed from the inventory record of {run.host or 'an unknown host'}; the files are "
                         "not on this server")
    with _lock:
        _cache[key] = made
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return made
