"""The model report card: ``mlvet score PATH`` (see :mod:`.base` for the scoring model).

Public API::

    from mlvet.trust.score import score_model
    card = score_model("path/to/model")
    print(card.score, [(c.name, c.score, c.reason) for c in card.checks])

Renderers live in :mod:`.render` (text, JSON, HTML).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from mlvet.trust.score.base import (
    Cap,
    Check,
    CheckResult,
    Risk,
    ScoreCard,
    ScoreContext,
    aggregate,
    all_checks,
    register,
)
from mlvet.trust.score.settings import DEFAULT_CAPS, DEFAULT_WEIGHTS, ScoreSettings, score_settings
from mlvet.words import plural

if TYPE_CHECKING:
    from mlvet.model import ScanReport
    from mlvet.policy import Policy

__all__ = [
    "DEFAULT_CAPS",
    "DEFAULT_WEIGHTS",
    "Cap",
    "Check",
    "CheckResult",
    "Risk",
    "ScoreCard",
    "ScoreContext",
    "ScoreSettings",
    "aggregate",
    "all_checks",
    "register",
    "run_checks",
    "score_model",
    "score_settings",
]


def run_checks(ctx: ScoreContext) -> tuple[CheckResult, ...]:
    """Run every registered check; a check that crashes scores 0 with the error as its reason (fail closed)."""
    out = []
    for check in all_checks():
        try:
            res = check.run(ctx)
        except Exception as exc:
            res = check.result(ctx, 0, f"the check failed ({type(exc).__name__}: {exc}); scored 0 so that a "
                                       "file that breaks a check cannot raise the score")
        out.append(res)
    return tuple(out)


def score_model(
    target: str | os.PathLike[str],
    *,
    policy: Policy | None = None,
    public_key: str | None = None,
    signature: str | None = None,
    report: ScanReport | None = None,
    jobs: int = 1,
    now: datetime | None = None,
    db: str | None = None,
) -> ScoreCard:
    """Score a model file or folder. Raises :class:`~mlvet.errors.UsageError` for a missing path.

    ``public_key`` (with an optional ``signature`` path) turns the keyless signature inspection into a
    full verification of the signer. ``report`` reuses a scan already made of the same target; ``now``
    fixes the timestamp (golden files). ``db``: an inventory database whose lineage records (``mlvet data
    link``) the ``data_integrity`` check reads too.
    """
    from mlvet._version import __version__

    ctx = ScoreContext(target, policy=policy, public_key=public_key, signature=signature, report=report, jobs=jobs,
                       db=db)
    checks = run_checks(ctx)
    uncapped = aggregate(checks)
    cap = _cap(ctx)
    final = min(uncapped, cap.limit) if cap is not None else uncapped
    rep = ctx.report
    summary = rep.summary()
    ref = ctx.hf_ref
    hub: dict[str, object] | None = None
    if ref is not None:
        hub = {"repo_type": ref.repo_type, "repo_id": ref.repo_id, "revision": ref.revision, "refs": list(ref.refs)}
    return ScoreCard(
        target=ctx.target,
        name=ctx.name,
        score=round(final, 1),
        uncapped_score=uncapped,
        checks=checks,
        generated_at=now or datetime.now(timezone.utc),
        tool_version=__version__,
        weights={k: float(ctx.settings.weights.get(k, v)) for k, v in DEFAULT_WEIGHTS.items()},
        cap=cap if cap is not None and cap.limit < uncapped else None,
        hub=hub,
        scan={"files": summary.files, "scanned": summary.scanned, "skipped": summary.skipped,
              "errors": summary.errors, "findings": summary.findings, "max_severity": summary.max_severity.label},
        notes=(*ctx.notes, *_policy_notes(rep)),
        policy_sources=tuple(ctx.policy.sources),
    )


def _policy_notes(report: ScanReport) -> list[str]:
    """Suppressions and ignored policy keys, so that the card never hides what the policy changed."""
    notes = list(report.policy_warnings)
    if report.suppressed:
        rules = sorted({f.rule_id for f in report.suppressed})
        sources = sorted({f.suppressed_by or "policy" for f in report.suppressed})
        notes.append(f"{plural(len(report.suppressed), 'scanner finding')} ({', '.join(rules)}) suppressed by "
                     f"{', '.join(sources)}; they do not count in this score")
    return notes


def _cap(ctx: ScoreContext) -> Cap | None:
    """The cap for the worst finding's severity, if the policy sets one (``[score].caps``)."""
    worst = ctx.report.max_severity
    limit = ctx.settings.caps.get(worst.label)
    if limit is None:
        return None
    first = next(f for f in ctx.report.findings if f.severity == worst)
    return Cap(float(limit), worst.label,
               f"A {worst.label} finding ({first.rule_id}: {first.message}) limits the score to {float(limit):g}: a "
               "model that can run code or hide content when loaded is untrustworthy whatever else it gets right")
