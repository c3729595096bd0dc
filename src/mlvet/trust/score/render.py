"""Report-card renderers: text (rich), JSON and a self-contained HTML page. They read only :class:`ScoreCard`.

Everything shown comes partly from the scanned files (model names, card headings, finding messages
quoting file content), so the HTML template autoescapes every value and the page loads nothing from
outside itself: no scripts, fonts, images or style sheets by URL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import resources
from typing import Any, TextIO

from mlvet.trust.score.base import CheckResult, ScoreCard
from mlvet.words import plural

#: Bumped when the JSON shape changes incompatibly.
SCORE_SCHEMA_VERSION = "1.0"
FORMATS = ("text", "json", "html")


def grade(score: float | None) -> str:
    """Colour band used by every renderer: "good" ≥ 8, "fair" ≥ 5, "poor" below, "none" when inconclusive."""
    if score is None:
        return "none"
    if score >= 8:
        return "good"
    if score >= 5:
        return "fair"
    return "poor"


def to_dict(card: ScoreCard) -> dict[str, Any]:
    """The JSON document (also the data the HTML template reads)."""
    return {
        "schema_version": SCORE_SCHEMA_VERSION,
        "score": card.score,
        "uncapped_score": card.uncapped_score,
        "cap": None if card.cap is None else {"limit": card.cap.limit, "severity": card.cap.severity,
                                             "reason": card.cap.reason},
        "target": card.target,
        "name": card.name,
        "hub": dict(card.hub) if card.hub is not None else None,
        "checks": [_check_dict(c) for c in card.checks],
        "inconclusive": list(card.inconclusive),
        "weights": dict(card.weights),
        "scan": dict(card.scan),
        "notes": list(card.notes),
        "policy_sources": list(card.policy_sources),
        "tool_version": card.tool_version,
        "generated_at": card.generated_at.isoformat(),
    }


def _check_dict(c: CheckResult) -> dict[str, Any]:
    return {"name": c.name, "score": c.score, "weight": c.weight, "risk": c.risk.value, "reason": c.reason,
            "details": list(c.details), "description": c.description}


def render_json(card: ScoreCard, out: TextIO, *, color: bool = False, verbose: bool = False) -> None:
    """The report card as JSON text."""
    json.dump(to_dict(card), out, indent=2, ensure_ascii=False)
    out.write("\n")


def render_text(card: ScoreCard, out: TextIO, *, color: bool = False, verbose: bool = False) -> None:
    """A rich table: check, score, risk, reason (and the details with ``verbose``)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from mlvet.report.text import printable  # names, paths and messages come from the files

    styles = {"good": "green", "fair": "yellow", "poor": "red", "none": "dim"}
    console = Console(file=out, force_terminal=color, no_color=not color, width=120 if not color else None,
                      highlight=False, soft_wrap=False)
    head = Text()
    head.append("Report card for ")
    head.append(printable(card.name), style="bold")
    head.append(f"  ({printable(card.target)})\n")
    head.append("Score ")
    head.append(f"{card.score:.1f}/10", style=f"bold {styles[grade(card.score)]}")
    if card.cap is not None:
        head.append(f"  (capped from {card.uncapped_score:.1f})", style="red")
    console.print(head)
    if card.cap is not None:
        console.print(Text(printable(card.cap.reason), style="red"))
    errors = card.scan.get("errors")
    if isinstance(errors, int) and errors:  # never hidden in a table row: the score rests on part of the model
        console.print(Text(f"Incomplete: {plural(errors, 'file')} could not be fully analysed "
                           "(see scan_completeness); this is not a complete assessment.", style="magenta"))
    table = Table(show_header=True, header_style="bold", expand=False, show_lines=verbose)
    table.add_column("Check", no_wrap=True)
    table.add_column("Score", justify="right", no_wrap=True)
    table.add_column("Risk", no_wrap=True)
    table.add_column("Reason", overflow="fold")
    for c in card.checks:
        score = Text("?" if c.score is None else f"{c.score}/10", style=styles[grade(c.score)])
        reason = escape(printable(c.reason))
        if verbose and c.details:
            reason += "\n" + "\n".join(f"  • {escape(printable(d))}" for d in c.details)
        table.add_row(c.name, score, c.risk.value + ("" if c.weight else " (ignored)"), reason)
    console.print(table)
    foot = []
    if card.inconclusive:
        foot.append(f"Inconclusive (not counted): {', '.join(card.inconclusive)}.")
    foot.append("Weights by risk: " + ", ".join(f"{k} {v:g}" for k, v in card.weights.items()) + ".")
    foot.extend(printable(n) for n in card.notes)
    console.print(Text(" ".join(foot), style="dim"))


def render_html(card: ScoreCard, out: TextIO, *, color: bool = False, verbose: bool = False) -> None:
    """One self-contained page (inline CSS and SVG; every value autoescaped)."""
    import jinja2

    source = resources.files("mlvet.trust.score").joinpath("templates/card.html.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["grade"] = grade
    data = to_dict(card)
    counts = {g: sum(1 for c in card.checks if grade(c.score) == g) for g in ("good", "fair", "poor", "none")}
    out.write(env.from_string(source).render(card=data, grade=grade(card.score), counts=counts,
                                             generated=_utc(card.generated_at)))


def _utc(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


RENDERERS: dict[str, Callable[..., None]] = {"text": render_text, "json": render_json, "html": render_html}


def get_renderer(fmt: str) -> Callable[..., None]:
    """The renderer for ``fmt``; ValueError names the choices."""
    try:
        return RENDERERS[fmt.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}") from None
