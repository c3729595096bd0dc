"""code_execution: what the scanner found — the one check that can sink a model on its own."""

from __future__ import annotations

from mlvet.model import Severity
from mlvet.trust.score.base import Check, CheckResult, Risk, ScoreContext, register
from mlvet.words import plural

#: Score by the worst finding: anything high or critical means the file can run code, hide a payload or
#: attack its parser when loaded; medium findings need a reviewer; low ones are worth a glance.
_BY_SEVERITY = {Severity.NONE: 10, Severity.INFO: 10, Severity.LOW: 8, Severity.MEDIUM: 5, Severity.HIGH: 0,
                Severity.CRITICAL: 0}
_SHOWN = 12


class CodeExecution(Check):
    """Scanner findings that mean code runs on load (critical/high in any file)."""
    name = "code_execution"
    risk = Risk.CRITICAL
    description = ("Static scan of every file for code that runs on load (pickle calls, Lambda layers, "
                   "template escapes, remote code) and for structures that hide it.")

    def run(self, ctx: ScoreContext) -> CheckResult:
        report = ctx.report
        findings = sorted(report.findings, key=lambda f: -f.severity)
        worst = report.max_severity
        details = [f"{f.rule_id} {f.severity.label} {ctx.rel(f.location.path)}: {f.message}"
                   for f in findings[:_SHOWN]]
        if len(findings) > _SHOWN:
            details.append(f"… and {len(findings) - _SHOWN} more (mlvet scan lists them all)")
        counts = report.summary().by_severity
        tally = ", ".join(f"{n} {sev}" for sev, n in reversed(counts.items()) if n)
        if worst >= Severity.HIGH:
            top = findings[0]
            reason = (f"{plural(len(findings), 'finding')} ({tally}); worst: {top.rule_id} in "
                      f"{ctx.rel(top.location.path)} — {top.message}")
        elif worst is Severity.MEDIUM:
            reason = f"no high or critical findings, but {plural(len(findings), 'finding')} ({tally}) need review"
        elif worst is Severity.LOW:
            reason = f"only low-severity findings ({tally})"
        else:
            reason = f"no findings in {plural(len(report.results), 'file')}" + (f" ({tally})" if tally else "")
        return self.result(ctx, _BY_SEVERITY[worst], reason, details)


register(CodeExecution())
