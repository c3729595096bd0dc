"""Console output for people.

Everything this renderer prints about a file comes from that file: its name, archive member names,
messages quoting strings from the pickle, and evidence such as ``os.system('curl … | sh')``. All of it is
attacker-controlled, so two things are enforced for every such string:

* it is never parsed as rich markup: lines are assembled from :class:`rich.text.Text` pieces, so
  ``[bold red]CLEAN[/]`` in a file name is printed literally, not as a fake verdict;
* terminal control characters are made visible (``\\x1b``, ``\\r``, ``\\u202e`` …) by :func:`printable`,
  so a file cannot clear the screen, move the cursor to overwrite a verdict, or reorder the line with
  bidirectional overrides.

Newlines are escaped in single-line fields; multi-line evidence (TorchScript code) keeps its lines, but
each is printed behind an indented gutter so it can never pass for a verdict line of its own.

``rich`` is imported inside :meth:`TextRenderer.render` so that ``mlvet --version`` and the machine
formats never pay for it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from mlvet.model import Confidence, FileResult, Finding, ScanReport, Severity, Status
from mlvet.rules import get_rule

if TYPE_CHECKING:  # pragma: no cover - typing only
    from rich.console import Console
    from rich.text import Text

#: Unicode categories that do not print as a visible glyph and can change how a line is displayed:
#: controls (Cc: ESC, CR, BEL, C1 CSI …), format characters (Cf: bidi overrides, zero-width spaces),
#: lone surrogates (Cs: undecodable bytes of a file name) and line/paragraph separators.
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

#: Without --verbose, more clean (or skipped) files than this are collapsed into one count line.
COLLAPSE_AFTER = 10
#: Without --verbose, evidence is cut to this many lines of at most this many characters.
EVIDENCE_MAX_LINES = 8
EVIDENCE_MAX_CHARS = 300

_VERDICT_WIDTH = 10
_INDENT = "  "
_DETAIL = " " * (len(_INDENT) + _VERDICT_WIDTH)

_SEVERITY_STYLE: dict[Severity, str] = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "blue",
    Severity.NONE: "green",
}
_CLEAN_STYLE = "bold green"
_ERROR_STYLE = "bold magenta"
_SKIPPED_STYLE = "dim"
_DIM = "dim"


def _escape_char(char: str) -> str:
    code = ord(char)
    if char == "\t":
        return "\\t"
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str, *, multiline: bool = False) -> str:
    """Make an untrusted string safe to print on a terminal.

    Every control, format or separator character is replaced by a visible Python-style escape; with
    ``multiline`` set, ``\\n`` is kept (callers then indent each line) and tabs become spaces.
    The fast path returns ``text`` unchanged when it is plain printable ASCII.
    """
    if text.isascii() and text.isprintable():
        return text
    pieces: list[str] = []
    for char in text:
        if multiline and char == "\n":
            pieces.append(char)
        elif multiline and char == "\t":
            pieces.append("    ")
        elif unicodedata.category(char) in _UNPRINTABLE_CATEGORIES:
            pieces.append(_escape_char(char))
        else:
            pieces.append(char)
    return "".join(pieces)


def _shorten(line: str, limit: int) -> str:
    if len(line) <= limit:
        return line
    return f"{line[:limit]}... [+{len(line) - limit} chars]"


def _size(num: int) -> str:
    value = float(num)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{num} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{num} B"  # pragma: no cover - loop always returns


def _pad(label: str) -> str:
    """Spaces after a verdict label up to the detail column (unstyled, so backgrounds end at the word)."""
    return " " * max(1, _VERDICT_WIDTH - len(label))


@dataclass(frozen=True)
class _Verdict:
    label: str
    style: str


def _verdict(result: FileResult) -> _Verdict:
    if result.status is Status.ERROR:
        return _Verdict("ERROR", _ERROR_STYLE)
    if result.status is Status.SKIPPED:
        return _Verdict("SKIPPED", _SKIPPED_STYLE)
    if not result.findings:
        return _Verdict("CLEAN", _CLEAN_STYLE)
    return _Verdict(result.severity.name, _SEVERITY_STYLE[result.severity])


def _order(results: tuple[FileResult, ...]) -> list[FileResult]:
    """Most urgent first: files with findings (worst first), then errors, skipped, clean.

    Ties keep the scan order, so output is deterministic for a deterministic scan.
    """

    def rank(item: tuple[int, FileResult]) -> tuple[int, int, int]:
        index, result = item
        if result.findings:
            group = 0
        elif result.status is Status.ERROR:
            group = 1
        elif result.status is Status.SKIPPED:
            group = 2
        else:
            group = 3
        return (group, -int(result.severity), index)

    return [r for _, r in sorted(enumerate(results), key=rank)]


class _PlainText:
    """The part of :class:`rich.text.Text` the writer uses, for output without colour: styles are dropped."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def append(self, content: str, style: str | None = None) -> None:
        self.parts.append(content)

    def __str__(self) -> str:
        return "".join(self.parts)


class _PlainConsole:
    """The part of :class:`rich.console.Console` the writer uses, for output without colour.

    Uncoloured text (a pipe, a file, ``--no-color``, CI logs) is most of mlvet's output, and a CLI run per file
    in a pre-commit hook should not pay for importing rich (tens of milliseconds) to print plain lines.
    The output is the same: rich adds nothing to unstyled text without markup, emoji, highlighting or wrapping.
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def print(self, text: object = None) -> None:
        self.out.write(f"{text}\n" if text is not None else "\n")


class _Writer:
    """Builds each output line from styled pieces; untrusted strings go through :func:`printable`."""

    def __init__(self, console: Console | _PlainConsole, text_cls: type[Text] | type[_PlainText],
                 verbose: bool) -> None:
        self.console = console
        self.text_cls = text_cls
        self.verbose = verbose

    def line(self, *pieces: tuple[str, str]) -> None:
        text = self.text_cls()
        for content, style in pieces:
            text.append(content, style=style or None)
        self.console.print(text)

    # -- files ---------------------------------------------------------------------------------------

    def file_header(self, result: FileResult, extra: str = "") -> None:
        verdict = _verdict(result)
        pieces: list[tuple[str, str]] = [
            (verdict.label, verdict.style),
            (_pad(verdict.label), ""),
            (printable(result.path), "bold"),
        ]
        details = []
        if result.format:
            details.append(printable(result.format))
        if self.verbose and result.size is not None:
            details.append(_size(result.size))
        if self.verbose and result.bytes_read is not None:
            details.append(f"{_size(result.bytes_read)} read")
        if details:
            pieces.append((f"  [{', '.join(details)}]", _DIM))
        if result.status is Status.ERROR and result.findings:
            worst = result.severity
            pieces.append(("  worst finding: ", _DIM))
            pieces.append((worst.label, _SEVERITY_STYLE[worst]))
        if extra:
            pieces.append((extra, _DIM))
        self.line(*pieces)
        if self.verbose and result.sha256:
            self.line((_DETAIL + "sha256 " + printable(result.sha256), _DIM))
        if self.verbose and len(result.formats_seen) > 1:
            seen = ", ".join(printable(f) for f in result.formats_seen)
            self.line((_DETAIL + "formats: " + seen, _DIM))

    def file_block(self, result: FileResult) -> None:
        extra = ""
        if result.status is Status.SKIPPED:
            extra = f"  ({printable(result.skip_reason or 'not scanned')})"
        self.file_header(result, extra)
        for error in result.errors:
            self.line((_INDENT, ""), ("error: ", _ERROR_STYLE), (printable(error), ""))
        for finding in sorted(result.findings, key=lambda f: -int(f.severity)):
            self.finding(result, finding)
        for finding in result.suppressed:
            self.line((_INDENT, ""), ("suppressed ", _DIM), (printable(finding.rule_id), "bold"),
                      (f" ({finding.severity.label}) by {printable(finding.suppressed_by or 'policy')}: ", _DIM),
                      (printable(finding.message), _DIM))

    # -- findings ------------------------------------------------------------------------------------

    def finding(self, result: FileResult, finding: Finding) -> None:
        sev = finding.severity
        try:
            rule = get_rule(finding.rule_id)
        except KeyError:
            rule = None
        pieces: list[tuple[str, str]] = [
            (_INDENT, ""),
            (sev.label, _SEVERITY_STYLE[sev]),
            (_pad(sev.label), ""),
            (printable(finding.rule_id), "bold"),
        ]
        if rule is not None:
            pieces.append((f" {rule.name}", "bold"))
        pieces.append((": " + printable(finding.message), ""))
        if finding.original_severity is not None:
            pieces.append((f" (severity set by {printable(finding.severity_set_by or 'policy')}; the rule says "
                           f"{finding.original_severity.label})", _DIM))
        if finding.confidence is not Confidence.HIGH or self.verbose:
            pieces.append((f" (confidence: {finding.confidence.label})", _DIM))
        self.line(*pieces)

        where = self.location(result, finding)
        if where:
            self.line((_DETAIL + where, _DIM))
        if finding.evidence:
            self.evidence(finding.evidence)
        if self.verbose:
            cwe = finding.cwe if finding.cwe is not None else (rule.cwe if rule else None)
            meta = f"fingerprint {finding.fingerprint}"
            if cwe is not None:
                meta = f"CWE-{cwe}, {meta}"
            self.line((_DETAIL + meta, _DIM))
            if rule is not None:
                self.line((_DETAIL + "fix: " + rule.fix, _DIM))

    @staticmethod
    def location(result: FileResult, finding: Finding) -> str:
        loc = finding.location
        parts: list[str] = []
        if loc.path != result.path:
            parts.append(printable(loc.path))
        if loc.members:
            parts.append("!".join(printable(m) for m in loc.members))
        where = "in " + "!".join(parts) if parts else ""
        extras = []
        if loc.offset is not None:
            extras.append(f"offset {loc.offset}")
        if loc.opcode_index is not None:
            extras.append(f"opcode #{loc.opcode_index}")
        if extras:
            where = f"{where}, {', '.join(extras)}" if where else "at " + ", ".join(extras)
        return where

    def evidence(self, evidence: str) -> None:
        lines = printable(evidence, multiline=True).split("\n")
        hidden = 0
        if not self.verbose:
            if len(lines) > EVIDENCE_MAX_LINES:
                hidden = len(lines) - EVIDENCE_MAX_LINES
                lines = lines[:EVIDENCE_MAX_LINES]
            lines = [_shorten(line, EVIDENCE_MAX_CHARS) for line in lines]
        for number, text in enumerate(lines):
            label = "evidence: " if number == 0 else "        | "
            self.line((_DETAIL, ""), (label, _DIM), (text, "bold" if number == 0 else ""))
        if hidden:
            self.line((_DETAIL + f"        | ... {hidden} more lines (use --verbose)", _DIM))

    # -- collapsed groups and summary ----------------------------------------------------------------

    def collapsed(self, label: str, style: str, count: int, what: str) -> None:
        self.line(
            (label, style),
            (_pad(label), ""),
            (f"{count} files {what} (use --verbose to list them)", _DIM),
        )

    def summary(self, report: ScanReport) -> None:
        summary = report.summary()
        counts = f"{summary.files} file{'s' if summary.files != 1 else ''}, {summary.scanned} scanned"
        counts += f", {summary.skipped} skipped, {summary.errors} error{'s' if summary.errors != 1 else ''}"
        self.line(("Summary: ", "bold"), (counts, ""))
        pieces: list[tuple[str, str]] = [("Findings: ", "bold"), (str(summary.findings), "")]
        if summary.findings:
            pieces.append((" (", ""))
            first = True
            for sev in sorted(Severity, reverse=True):
                if sev is Severity.NONE:
                    continue
                count = summary.by_severity.get(sev.label, 0)
                if not first:
                    pieces.append((", ", ""))
                first = False
                pieces.append((f"{sev.label} {count}", _SEVERITY_STYLE[sev] if count else _DIM))
            pieces.append((")", ""))
        self.line(*pieces)
        if summary.suppressed:
            rules = sorted({f.rule_id for f in report.suppressed})
            self.line(("Suppressed: ", "bold"),
                      (f"{summary.suppressed} finding{'s' if summary.suppressed != 1 else ''} "
                       f"({', '.join(printable(r) for r in rules)}) by policy; listed above", ""))
        for warning in report.policy_warnings:
            self.line(("Policy: ", "bold"), (printable(warning), _ERROR_STYLE))
        worst = summary.max_severity
        self.line(("Max severity: ", "bold"), (worst.label, _SEVERITY_STYLE[worst]))
        if report.incomplete:
            noun = "file" if summary.errors == 1 else "files"
            self.line(
                (
                    f"Incomplete: {summary.errors} {noun} could not be fully analysed; "
                    "this is not a clean result.",
                    _ERROR_STYLE,
                )
            )


class TextRenderer:
    """``--format text``: a verdict per file, its findings, and a summary."""

    name = "text"

    def render(self, report: ScanReport, out: TextIO, *, color: bool = False, verbose: bool = False) -> None:
        if not color:
            self._render(report, _PlainConsole(out), _PlainText, verbose)
            return
        from rich.console import Console
        from rich.text import Text

        console = Console(
            file=out,
            # Explicit on both ends: the caller decided about colour (TTY, NO_COLOR, --color); the
            # environment must not switch ANSI codes on for a pipe or off for a terminal behind our back.
            force_terminal=color,
            no_color=not color,
            color_system="auto" if color else None,
            markup=False,
            emoji=False,
            highlight=False,
            # Never insert line breaks: long paths and evidence stay on one line for grep and diff.
            soft_wrap=True,
            force_jupyter=False,
            force_interactive=False,
        )
        self._render(report, console, Text, verbose)

    @staticmethod
    def _render(report: ScanReport, console: Console | _PlainConsole, text_cls: type[Text] | type[_PlainText],
                verbose: bool) -> None:
        writer = _Writer(console, text_cls, verbose)
        clean: list[FileResult] = []
        skipped: list[FileResult] = []
        for result in _order(report.results):
            if result.findings or result.suppressed or result.status is Status.ERROR:
                writer.file_block(result)
            elif result.status is Status.SKIPPED:
                skipped.append(result)
            else:
                clean.append(result)

        for group, label, style, what in (
            (skipped, "SKIPPED", _SKIPPED_STYLE, "skipped"),
            (clean, "CLEAN", _CLEAN_STYLE, "with no findings"),
        ):
            if not verbose and len(group) > COLLAPSE_AFTER:
                writer.collapsed(label, style, len(group), what)
            else:
                for result in group:
                    writer.file_block(result)

        if not report.results:
            writer.line(("No files were scanned.", _DIM))
        console.print()
        writer.summary(report)
