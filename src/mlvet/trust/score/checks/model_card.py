"""model_card: the model card exists and covers what a user needs to decide whether to use the model.

The sections follow the Hugging Face model card template (and Mitchell et al., "Model Cards for Model
Reporting"): what the model is, intended use, limitations and bias, training data and procedure,
evaluation, and how to use it. A card is worth 2 points by existing; each covered topic adds its share
of the remaining 8.
"""

from __future__ import annotations

import os
import re

from mlvet.trust.score.base import Check, CheckResult, Risk, ScoreContext, register
from mlvet.walk import open_regular

#: Topic → words that mark a heading as covering it (headings are matched lower-case, by substring).
TOPICS: dict[str, tuple[str, ...]] = {
    "model description": ("model description", "model details", "description", "overview", "summary",
                          "about"),
    "intended use": ("intended use", "uses", "use case", "direct use", "downstream use", "out-of-scope"),
    "limitations and bias": ("limitation", "bias", "risk", "ethical", "safety", "caveat"),
    "training": ("training", "fine-tun", "pretrain", "dataset"),
    "evaluation": ("evaluation", "results", "metric", "benchmark", "performance", "accuracy"),
    "how to use": ("how to use", "how to get started", "usage", "getting started", "example", "quick start",
                   "quickstart", "inference"),
}
#: Cards are read up to this size; beyond it only the headings the metadata reader saw count.
MAX_CARD_BYTES = 4 * 1024 * 1024
#: A section needs this many characters of its own text (after removing placeholders) to count.
MIN_CONTENT = 8
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
#: Placeholders of the Hugging Face card template, removed where they stand.
_PLACEHOLDERS = ("[more information needed]", "[optional]")
#: Sentences of the template that stay when nobody fills it in: a line holding one says nothing.
_BOILERPLATE = (
    "more information needed", "use the code below to get started with the model",
    "should be made aware of the risks, biases and limitations of the model",
    "carbon emissions can be estimated using the", "this is the model card of a 🤗 transformers model",
    "this model card has been automatically generated",
)
_LABEL = re.compile(r"\*\*[^*]{1,80}:\*\*")
_MARKUP = re.compile(r"[-*#>|`_\s]+")


def _section_text(card: str) -> list[tuple[int, str, int]]:
    """(level, lower-case heading, characters of real text directly under it) for each ATX heading."""
    body = card
    if body.startswith("---"):
        end = body.find("\n---", 3)
        if end != -1:
            body = body[end + 4 :]
    body = _COMMENT.sub("", body)
    out: list[tuple[int, str, int]] = []
    fence = False
    for line in body.splitlines():
        if _FENCE.match(line):
            fence = not fence
            if out:  # code examples are content
                out[-1] = (out[-1][0], out[-1][1], out[-1][2] + MIN_CONTENT)
            continue
        m = None if fence else _HEADING.match(line)
        if m:
            title = re.sub(r"[*_`]+", "", m.group(2)).strip().lower()
            out.append((len(m.group(1)), title, 0))
            continue
        if not out or fence:
            continue
        text = line.lower()
        if any(phrase in text for phrase in _BOILERPLATE):
            continue
        for placeholder in _PLACEHOLDERS:
            text = text.replace(placeholder, "")
        text = _MARKUP.sub(" ", _LABEL.sub(" ", text)).strip()
        if text:
            out[-1] = (out[-1][0], out[-1][1], out[-1][2] + len(text))
    return out


def _filled_headings(card: str) -> list[str]:
    """Headings whose section, subsections included, holds real text rather than template placeholders."""
    sections = _section_text(card)
    filled = []
    for i, (level, title, own) in enumerate(sections):
        total = own
        for lvl, _t, n in sections[i + 1 :]:
            if lvl <= level:
                break
            total += n
        if total >= MIN_CONTENT:
            filled.append(title)
    return filled


def _read_card(ctx: ScoreContext) -> str | None:
    if not ctx.is_dir:
        return None
    for name in os.listdir(ctx.target):
        if name.lower() == "readme.md":
            fh = open_regular(os.path.join(ctx.target, name))  # a FIFO named README.md must not hang
            if fh is None:
                return None
            try:
                with fh:
                    return fh.read(MAX_CARD_BYTES).decode("utf-8", "replace")
            except OSError:
                return None
    return None


class ModelCard(Check):
    """A model card with the sections a user needs (uses, limitations, training data, evaluation)."""
    name = "model_card"
    risk = Risk.LOW
    description = ("A model card (README.md) that describes the model, its intended use, limitations and "
                   "bias, training, evaluation and usage, with real text rather than template placeholders.")

    def run(self, ctx: ScoreContext) -> CheckResult:
        md = ctx.metadata
        if md is None:
            return self.result(ctx, 0, f"no model card: {ctx.metadata_error or 'no metadata'}")
        if not md.card:
            return self.result(ctx, 0, "no model card (README.md): nothing tells users what the model is for")
        text = _read_card(ctx)
        headings = _filled_headings(text) if text is not None else list(md.card_sections)
        covered = {t: next(h for h in headings if any(w in h for w in words))
                   for t, words in TOPICS.items() if any(w in h for h in headings for w in words)}
        missing = [t for t in TOPICS if t not in covered]
        details = [f"{t}: “{h}”" for t, h in covered.items()] + [f"{t}: no section with content" for t in missing]
        score = round(2 + 8 * len(covered) / len(TOPICS))
        if not missing:
            return self.result(ctx, score, "the card covers every topic of the model card template", details)
        if not covered:
            empty = " (only empty template sections)" if md.card_sections else ""
            return self.result(ctx, score, f"a card exists but covers none of the expected topics{empty}", details)
        return self.result(ctx, score, f"the card covers {len(covered)} of {len(TOPICS)} topics; missing: "
                                       f"{', '.join(missing)}", details)


register(ModelCard())
