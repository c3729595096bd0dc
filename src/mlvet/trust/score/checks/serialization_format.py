"""serialization_format: whether the weights come in a format that can run code when loaded."""

from __future__ import annotations

from mlvet.trust.score.base import Check, CheckResult, Risk, ScoreContext, register
from mlvet.trust.score.checks._formats import format_score, is_weight_file


class SerializationFormat(Check):
    """How safe the weights' serialization formats are to load (the catalogue's families)."""
    name = "serialization_format"
    risk = Risk.HIGH
    description = ("Weights in a data-only format (safetensors, GGUF, ONNX) cannot run code when loaded; "
                   "pickle-based formats (PyTorch .bin/.pt, joblib) can. The worst weight file decides.")

    def run(self, ctx: ScoreContext) -> CheckResult:
        scored = [(format_score(r), r) for r in ctx.report.results if is_weight_file(r)]
        if not scored:
            return self.result(ctx, None, "no model weights in a recognised format were found")
        scored.sort(key=lambda item: item[0][0])
        details = [f"{ctx.rel(r.path)}: {s}/10 — {why}" for (s, why), r in scored]
        (worst, why), res = scored[0]
        formats = sorted({r.format for _s, r in scored})
        if worst >= 9:
            reason = f"all weights are in data-only formats ({', '.join(formats)})"
        else:
            reason = f"{ctx.rel(res.path)} is {why}"
        return self.result(ctx, worst, reason, details)


register(SerializationFormat())
