"""remote_code: whether using the model means running Python shipped in its repository."""

from __future__ import annotations

from mlvet.trust.score.base import Check, CheckResult, Risk, ScoreContext, register
from mlvet.words import plural

#: Shipped code that does something dangerous (processes, dynamic code, native code, obfuscation ...).
_DANGEROUS = frozenset({"HFR902", "HFR910", "HFR911", "HFR914", "HFR915", "HFR916"})
#: Code that is needed to load the model at all.
_NEEDED = frozenset({"HFR900", "HFR908", "OTH020", "HFR907"})


class RemoteCode(Check):
    """Configs that make loaders import code shipped with the model (``auto_map``, ``trust_remote_code``)."""
    name = "remote_code"
    risk = Risk.HIGH
    description = ("Models that need trust_remote_code=True (auto_map, custom pipelines or modules) run the "
                   "repository's Python with your privileges every time they load.")

    def run(self, ctx: ScoreContext) -> CheckResult:
        findings = ctx.report.findings
        rules = {f.rule_id for f in findings}
        py = [ctx.rel(f) for f in ctx.files if f.endswith(".py")]
        details = [f"{f.rule_id} {ctx.rel(f.location.path)}: {f.message}" for f in findings
                   if f.rule_id.startswith("HFR9") or f.rule_id == "OTH020"][:12]
        details += [f"Python file: {p}" for p in py[:20]]
        md = ctx.metadata
        needs = bool(rules & _NEEDED) or (md is not None and md.remote_code)
        if rules & _DANGEROUS:
            return self.result(ctx, 0, "the repository ships Python code that performs dangerous operations",
                               details)
        if "HFR901" in rules:
            return self.result(ctx, 1, "auto_map loads code from another repository, which can change at any time",
                               details)
        if "HFR905" in rules:
            return self.result(ctx, 2, "a configuration turns trust_remote_code on for a component it loads",
                               details)
        if needs:
            return self.result(ctx, 3, "loading needs trust_remote_code=True: the repository's Python runs "
                                       "with your privileges", details)
        if py:
            return self.result(ctx, 7, f"{plural(len(py), 'Python file')} ship with the model, though no config "
                                       "references them", details)
        return self.result(ctx, 10, "loads with the library's own code; no remote code is needed", details)


register(RemoteCode())
