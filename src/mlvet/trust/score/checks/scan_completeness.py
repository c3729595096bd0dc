"""scan_completeness: every file was fully analysed (an unanalysed file is not a clean one)."""

from __future__ import annotations

from mlvet.model import Status
from mlvet.trust.score.base import Check, CheckResult, Risk, ScoreContext, register
from mlvet.words import plural


class ScanCompleteness(Check):
    """Whether every file could be fully analysed (an unscanned file is never counted as clean)."""
    name = "scan_completeness"
    risk = Risk.HIGH
    description = ("Files the scanner could not fully analyse (malformed, truncated, over a limit) may hide "
                   "what the other checks look for.")

    def run(self, ctx: ScoreContext) -> CheckResult:
        results = ctx.report.results
        errors = [r for r in results if r.status is Status.ERROR]
        scanned = sum(r.status is Status.SCANNED for r in results)
        skipped = [r for r in results if r.status is Status.SKIPPED]
        details = [f"{ctx.rel(r.path)}: {'; '.join(r.errors) or 'error'}" for r in errors]
        details += [f"{ctx.rel(r.path)}: skipped — {r.skip_reason}" for r in skipped[:20]]
        if not results:
            return self.result(ctx, 0, "no files to analyse", details)
        if errors:
            score = min(5, int(10 * scanned / (scanned + len(errors))))
            return self.result(ctx, score, f"{len(errors)} of {plural(len(results), 'file')} could not be fully "
                                           "analysed", details)
        tail = f" ({len(skipped)} skipped as data or text that runs no code)" if skipped else ""
        return self.result(ctx, 10, f"all {plural(scanned, 'model-relevant file')} fully analysed{tail}", details)


register(ScanCompleteness())
