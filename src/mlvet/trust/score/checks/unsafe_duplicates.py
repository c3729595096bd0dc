"""unsafe_duplicates: the repository ships a pickle copy of weights it also has in a safe format.

When ``model.safetensors`` and ``pytorch_model.bin`` sit side by side the pickle adds nothing but attack
surface: an older library, ``use_safetensors=False`` or a script that globs ``*.bin`` loads it instead.
"""

from __future__ import annotations

from mlvet.trust.score.base import Check, CheckResult, Risk, ScoreContext, register
from mlvet.trust.score.checks._formats import SAFE_FORMATS, is_pickle_family, is_weight_file
from mlvet.words import plural


class UnsafeDuplicates(Check):
    """Pickle weights shipped beside a safe copy of the same weights (the unsafe copy is the one loaders may pick)."""
    name = "unsafe_duplicates"
    risk = Risk.LOW
    description = "Pickle-based weight files shipped next to a safe-format copy (safetensors, GGUF, ONNX)."

    def run(self, ctx: ScoreContext) -> CheckResult:
        weights = [r for r in ctx.report.results if is_weight_file(r)]
        safe = [ctx.rel(r.path) for r in weights if r.format in SAFE_FORMATS and not is_pickle_family(r)]
        unsafe = [ctx.rel(r.path) for r in weights if is_pickle_family(r)]
        details = [f"safe: {p}" for p in safe] + [f"pickle-based: {p}" for p in unsafe]
        if not weights:
            return self.result(ctx, None, "no model weights in a recognised format were found")
        if not safe:
            return self.result(ctx, None, "no safe-format copy to compare with (serialization_format covers "
                                          "the format itself)", details)
        if unsafe:
            return self.result(ctx, 4, f"{plural(len(unsafe), 'pickle-based file')} ship next to safe-format weights; "
                                       "remove them so no loader can fall back to pickle", details)
        return self.result(ctx, 10, "no pickle-based copies next to the safe-format weights", details)


register(UnsafeDuplicates())
