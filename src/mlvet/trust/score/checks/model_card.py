"""model_card: the model card exists and covers what a user needs to decide whether to use the model.

The sections follow the Hugging Face model card template (and Mitchell et al., "Model Cards for Model
Reporting"): what the model is, intended use, limitations and bias, training data and procedure,
evaluation, and how to use it. A card is worth 2 points by existing; each covered topic adds its share
of the remaining 8.
"""

from __future__ import annotations

from mlvet.trust.score.base import Check, CheckResult, Risk, ScoreContext, register

#: Topic → words that mark a heading as covering it (headings are matched lower-case, by substring).
TOPICS: dict[str, tuple[str, ...]] = {
    "model description": ("model description", "model details", "description", "overview", "summary",
                          "about"),
    "intended use": ("intended use", "uses", "use case", "direct use", "downstream use", "out-of-scope"),
    "limitations and bias": ("limitation", "bias", "risk", "ethical", "safety", "caveat"),
    "training": ("training", "fine-tun", "pretrain", "dataset", "data"),
    "evaluation": ("evaluation", "results", "metric", "benchmark", "performance", "accuracy"),
    "how to use": ("how to use", "how to get started", "usage", "getting started", "example", "quick start",
                   "quickstart", "inference"),
}


class ModelCard(Check):
    name = "model_card"
    risk = Risk.LOW
    description = ("A model card (README.md) that describes the model, its intended use, limitations and "
                   "bias, training, evaluation and usage.")

    def run(self, ctx: ScoreContext) -> CheckResult:
        md = ctx.metadata
        if md is None:
            return self.result(ctx, 0, f"no model card: {ctx.metadata_error or 'no metadata'}")
        if not md.card:
            return self.result(ctx, 0, "no model card (README.md): nothing tells users what the model is for")
        covered = {t: next(s for s in md.card_sections if any(w in s for w in words))
                   for t, words in TOPICS.items() if any(w in s for s in md.card_sections for w in words)}
        missing = [t for t in TOPICS if t not in covered]
        details = [f"{t}: “{h}”" for t, h in covered.items()] + [f"{t}: no section" for t in missing]
        score = round(2 + 8 * len(covered) / len(TOPICS))
        if not missing:
            return self.result(ctx, score, "the card covers every topic of the model card template", details)
        if not covered:
            return self.result(ctx, score, "a card exists but has none of the expected sections", details)
        return self.result(ctx, score, f"the card covers {len(covered)} of {len(TOPICS)} topics; missing: "
                                       f"{', '.join(missing)}", details)


register(ModelCard())
