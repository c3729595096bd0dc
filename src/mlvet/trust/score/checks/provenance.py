"""provenance: the card says where the model comes from — base model, training data, training process."""

from __future__ import annotations

from mlvet.trust.score.base import Check, CheckResult, Risk, ScoreContext, register

_TRAINING_WORDS = ("training", "fine-tun", "finetun", "pretrain", "pre-train")


class Provenance(Check):
    """Declared lineage: base models and training datasets."""
    name = "provenance"
    risk = Risk.MEDIUM
    description = ("Lineage a reviewer can follow: the base model it derives from, the datasets it was "
                   "trained on, and how it was trained (card metadata and sections).")

    def run(self, ctx: ScoreContext) -> CheckResult:
        md = ctx.metadata
        if md is None:
            return self.result(ctx, 0, f"no provenance information: {ctx.metadata_error or 'no metadata'}")
        training = [s for s in md.card_sections if any(w in s for w in _TRAINING_WORDS)]
        facts = {
            "base model": ", ".join(md.base_models) if md.base_models else None,
            "training datasets": ", ".join(md.datasets) if md.datasets else None,
            "training information": "card sections: " + ", ".join(training) if training else None,
        }
        have = [k for k, v in facts.items() if v]
        missing = [k for k, v in facts.items() if not v]
        details = [f"{k}: {v}" for k, v in facts.items() if v] + [f"{k}: not stated" for k in missing]
        score = round(10 * len(have) / len(facts))
        if not have:
            return self.result(ctx, 0, "no base model, datasets or training information is stated", details)
        if not missing:
            return self.result(ctx, score, "base model, training datasets and training information are stated",
                               details)
        return self.result(ctx, score, f"states {', '.join(have)}; missing {', '.join(missing)}", details)


register(Provenance())
