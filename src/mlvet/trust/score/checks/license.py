"""license: a licence is declared and recognised, and how freely it lets you use the model.

Identifiers are the Hugging Face Hub's licence ids (lower-case SPDX where one exists). Permissive licences
score 10, copyleft ones 8 (obligations on redistribution), licences with use restrictions (OpenRAIL,
Llama/Gemma community licences, non-commercial or no-derivatives terms) 6, an unrecognised or "other"
licence 3 (someone must read it), none at all 0.
"""

from __future__ import annotations

from mlvet.trust.score.base import Check, CheckResult, Risk, ScoreContext, register

_PERMISSIVE = frozenset({
    "apache-2.0", "mit", "bsd", "bsd-2-clause", "bsd-3-clause", "bsd-3-clause-clear", "isc", "cc0-1.0",
    "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "unlicense", "zlib", "bsl-1.0", "afl-3.0",
    "artistic-2.0", "ecl-2.0", "postgresql", "ms-pl", "wtfpl", "pddl", "odc-by", "openrail++", "c-uda",
    "ncsa", "ofl-1.1", "cdla-permissive-1.0", "cdla-permissive-2.0", "etalab-2.0", "mit-0", "0bsd",
})
_COPYLEFT = frozenset({
    "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1", "lgpl-3.0", "lgpl-lr", "agpl-3.0", "mpl-2.0",
    "epl-1.0", "epl-2.0", "eupl-1.1", "eupl-1.2", "cc-by-sa-3.0", "cc-by-sa-4.0", "odbl", "gfdl",
    "cdla-sharing-1.0", "osl-3.0", "apple-ascl",
})
_RESTRICTED_PREFIXES = ("cc-by-nc", "cc-by-nd", "llama", "gemma", "openrail", "bigscience", "creativeml",
                        "deepfloyd", "bigcode-openrail", "fair-noncommercial", "intel-research", "h-research",
                        "apple-amlr", "lucene")
_ALIASES = {"apache 2.0": "apache-2.0", "apache2": "apache-2.0", "apache-2": "apache-2.0", "mit license": "mit",
            "bsd-3": "bsd-3-clause", "cc-by": "cc-by-4.0"}


def classify_license(text: str) -> tuple[int, str]:
    """(score, category) for one declared licence id."""
    lid = _ALIASES.get(text.strip().lower(), text.strip().lower())
    if lid in _PERMISSIVE:
        return 10, "permissive"
    if lid in _COPYLEFT:
        return 8, "copyleft"
    if lid.startswith(_RESTRICTED_PREFIXES):
        return 6, "use-restricted"
    return 3, "unrecognised"


class License(Check):
    """A declared license, and whether it is a known open one."""
    name = "license"
    risk = Risk.LOW
    description = "A recognised licence is declared (card metadata, GGUF header); permissive scores highest."

    def run(self, ctx: ScoreContext) -> CheckResult:
        md = ctx.metadata
        if md is None:
            return self.result(ctx, 0, f"no licence information: {ctx.metadata_error or 'no metadata'}")
        if not md.license:
            return self.result(ctx, 0, "no licence is declared: the terms of use are unknown")
        score, category = classify_license(md.license)
        extra = dict(md.extra)
        details = [f"declared: {md.license}"] + [f"{k}: {v}" for k, v in extra.items() if k.startswith("license")]
        if category == "unrecognised":
            return self.result(ctx, score, f"licence {md.license!r} is not a recognised identifier; read its terms",
                               details)
        return self.result(ctx, score, f"{category} licence {md.license}", details)


register(License())
