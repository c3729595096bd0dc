"""Parsing a template with Jinja's own parser (never rendering it) and the typed result of the analysis."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from jinja2 import Environment, nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension, do, loopcontrols
from jinja2.parser import Parser

from mlvet.analysis.chat_template.checks import Analyser
from mlvet.analysis.chat_template.evidence import snippet, source_line
from mlvet.analysis.chat_template.rules import GGF707, SUMMARY
from mlvet.analysis.chat_template.vocab import MAX_FINDINGS, MAX_TEMPLATE_CHARS
from mlvet.model import Severity
from mlvet.rules import Rule


class _GenerationExtension(Extension):
    """Parse transformers' ``{% generation %}...{% endgeneration %}`` block (AssistantTracker).

    Only so that templates using it parse; its body is analysed like any other. Nothing is rendered.
    """

    tags = {"generation"}  # noqa: RUF012 - Jinja's Extension API declares tags as a class attribute

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """An Environment only to lex and parse (built on first use: it compiles the lexer's regexes).

    The extensions match what loaders enable (transformers turns on loopcontrols and its generation tag;
    ``do`` is accepted by several engines). ``parse()`` never compiles or renders.
    """
    return Environment(extensions=[loopcontrols, do, _GenerationExtension])  # noqa: S701 - never rendered


@dataclass(frozen=True)
class TemplateIssue:
    """One finding about a template: the format layer reports it at the template's location."""

    rule: Rule
    severity: Severity
    message: str
    evidence: str


@dataclass(frozen=True)
class TemplateAnalysis:
    """What :func:`analyse_template` concluded about one template.

    ``error`` is set when the template could not be fully analysed (too large, unparsable, too deep): the
    format layer must then make the result an error as well as report ``issues`` (fail closed).
    """

    issues: tuple[TemplateIssue, ...]
    error: str | None = None


def analyse_template(source: str, *, where: str) -> TemplateAnalysis:
    """Check one chat template for what it could do when rendered; never renders it.

    ``where`` names the template in messages (``tokenizer.chat_template``,
    ``tokenizer_config.json: chat_template[tool_use]``). A template that cannot be parsed yields a GGF707
    issue and an ``error``: fail closed.
    """
    if len(source) > MAX_TEMPLATE_CHARS:
        msg = f"{where}: chat template of {len(source)} characters exceeds {MAX_TEMPLATE_CHARS}; not analysed"
        return _failed(msg, snippet(source))
    try:
        tree = _environment().parse(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        reason = getattr(exc, "message", None) or str(exc)
        msg = f"{where}: chat template does not parse ({reason}{f', line {line}' if line else ''})"
        return _failed(msg, source_line(source, line) if line else snippet(source))
    except (RecursionError, MemoryError):
        return _failed(f"{where}: chat template nests too deeply to parse", snippet(source))
    try:
        groups = Analyser(tree).run()
    except RecursionError:
        return _failed(f"{where}: chat template nests too deeply to analyse", snippet(source))
    groups.sort(key=lambda g: (-g.severity, g.lineno))
    shown = groups[:MAX_FINDINGS]
    issues = []
    for i, group in enumerate(shown):
        details = ", ".join(dict.fromkeys(group.details))
        more = ""
        if i == len(shown) - 1 and len(groups) > len(shown):
            more = f" (+{len(groups) - len(shown)} more findings in this template)"
        issues.append(TemplateIssue(
            group.rule,
            group.severity,
            f"{where}: {SUMMARY[group.rule.id]}: {details}{more}",
            f"line {group.lineno}: {group.evidence}",
        ))
    return TemplateAnalysis(tuple(issues))


def _failed(message: str, evidence: str) -> TemplateAnalysis:
    return TemplateAnalysis((TemplateIssue(GGF707, GGF707.severity, message, evidence),), error=message)
