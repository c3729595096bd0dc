"""The console renderer: verdicts, findings, summary, and resistance to hostile strings."""

from __future__ import annotations

import re

import pytest
from test_report_common import (
    EVIDENCE,
    FINISHED,
    STARTED,
    UNDECODABLE_PATH,
    UNICODE_PATH,
    clean_report,
    render,
    sample_report,
)

from mlvet.model import FileResult, Finding, Location, ScanReport, Severity, Status
from mlvet.report.text import COLLAPSE_AFTER, EVIDENCE_MAX_LINES, printable

#: Lines that may start in column 0; anything else (a forged verdict) must be indented.
TOP_LEVEL = re.compile(
    r"^(CRITICAL|HIGH|MEDIUM|LOW|INFO|CLEAN|ERROR|SKIPPED) +\S|^Summary: |^Findings: |^Max severity: "
    r"|^Incomplete: |^No files were scanned\.$|^$"
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def plain() -> str:
    return render("text", sample_report())


def lines_of(output: str) -> list[str]:
    return output.split("\n")


def test_plain_output_has_no_escape_sequences_at_all(plain: str) -> None:
    assert "\x1b" not in plain
    assert "\x9b" not in plain  # the 8-bit CSI
    assert "\r" not in plain
    assert "\x07" not in plain
    assert "\u202e" not in plain
    # And nothing else invisible slipped through (only newlines separate lines).
    assert all(ch == "\n" or ch.isprintable() for ch in plain)


def test_verdict_lines(plain: str) -> None:
    lines = lines_of(plain)
    assert "CRITICAL  models/evil.pt  [pytorch-zip]" in lines
    assert "CRITICAL  models/nested.7z  [7z]" in lines
    assert f"LOW       {UNICODE_PATH}  [pickle]" in lines
    assert "ERROR     broken.7z  [7z]" in lines
    assert "ERROR     models/partial.pkl  [pickle]  worst finding: medium" in lines
    assert "SKIPPED   README.md  [unknown]  (not a model file)" in lines
    assert "CLEAN     good.safetensors  [safetensors]" in lines
    assert "CLEAN     bad\\udcff.pkl  [pickle]" in lines


def test_order_is_most_urgent_first(plain: str) -> None:
    starts = [line.split()[0] for line in lines_of(plain) if line and not line.startswith(" ")]
    verdicts = [s for s in starts if s in {"CRITICAL", "HIGH", "MEDIUM", "LOW", "ERROR", "SKIPPED", "CLEAN"}]
    assert verdicts == [
        "CRITICAL",
        "CRITICAL",
        "MEDIUM",
        "ERROR",
        "LOW",
        "ERROR",
        "SKIPPED",
        "CLEAN",
        "CLEAN",
    ]


def test_findings_show_rule_message_location_and_evidence(plain: str) -> None:
    lines = lines_of(plain)
    index = lines.index("  critical  PKL100 dangerous-call: The pickle calls os.system.")
    assert lines[index + 1] == "            in archive/data.pkl, offset 1234, opcode #17"
    assert lines[index + 2] == f"            evidence: {EVIDENCE}"
    assert "  high      PKL101 dangerous-import: PKL101 message (confidence: medium)" in lines
    assert "            in inner.zip!archive/data.pkl, offset 7" in lines
    assert "            at offset 0" in lines
    assert "  error: py7zr is not installed" in lines
    assert "  error: truncated stream" in lines
    # An id the registry does not know is shown without a name instead of crashing.
    assert "  low       XYZ999: from a rule this mlvet does not know" in lines


def test_summary(plain: str) -> None:
    lines = lines_of(plain)
    assert "Summary: 9 files, 6 scanned, 1 skipped, 2 errors" in lines
    assert "Findings: 9 (critical 2, high 1, medium 3, low 2, info 1)" in lines
    assert "Max severity: critical" in lines
    assert "Incomplete: 2 files could not be fully analysed; this is not a clean result." in lines


def test_clean_scan_summary() -> None:
    lines = lines_of(render("text", clean_report(2)))
    assert "CLEAN     ok/0.safetensors  [safetensors]" in lines
    assert "Findings: 0" in lines
    assert "Max severity: none" in lines
    assert not any(line.startswith("Incomplete") for line in lines)


def test_empty_report() -> None:
    output = render("text", sample_report(()))
    assert "No files were scanned." in output
    assert "Summary: 0 files, 0 scanned, 0 skipped, 0 errors" in output


# ------------------------------------------------------------------------------------- hostile strings


def test_markup_in_untrusted_strings_is_printed_literally(plain: str) -> None:
    assert "[bold]x[/]" in plain
    assert "calls [red]CLEAN[/red]" in plain
    assert "in [i]m[/i]\\x1b[1A" in plain


def test_control_characters_are_made_visible(plain: str) -> None:
    assert "[bold]x[/]\\x1b[2J\\u202eevil\\nCLEAN     fake.pkl" in plain
    assert "\\x1b]0;pwned\\x07" in plain
    assert "\\r\\x1b[31mred\\x9b2J" in plain


@pytest.mark.parametrize("verbose", [False, True])
@pytest.mark.parametrize("color", [False, True])
def test_no_forged_top_level_lines(color: bool, verbose: bool) -> None:
    """Newlines in names, messages and evidence cannot start a line that looks like a verdict."""
    output = ANSI.sub("", render("text", sample_report(), color=color, verbose=verbose))
    for line in lines_of(output):
        if not line.startswith(" "):
            assert TOP_LEVEL.match(line), repr(line)
    assert "\nCLEAN     fake.pkl" not in output
    assert "\nCLEAN     forged" not in output
    # Multi-line evidence keeps its lines, but behind the indented gutter.
    assert "                    | CLEAN     forged\\r\\x1b[31mred\\x9b2J" in lines_of(output)


def test_color_output_styles_but_never_passes_hostile_sequences(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich still honours TERM=dumb when asked for colour; pin a colour terminal so the test sees styles.
    monkeypatch.setenv("TERM", "xterm-256color")
    output = render("text", sample_report(), color=True)
    assert ANSI.search(output), "color=True should produce styled output"
    # The only escape sequences are rich's own SGR codes.
    assert not re.sub(r"\x1b\[[0-9;]*m", "", output).count("\x1b")
    for raw in ("\x1b[2J", "\x1b]0;", "\x07", "\r", "\u202e", "\x9b", "\x1b[1A"):
        assert raw not in output
    assert "[bold]x[/]" in output


def test_printable() -> None:
    assert printable("plain/ascii path.pkl") == "plain/ascii path.pkl"
    assert printable("ünïcode 重み") == "ünïcode 重み"
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("a\nb\tc\rd") == "a\\nb\\tc\\rd"
    assert printable("a\nb\tc", multiline=True) == "a\nb    c"
    assert printable("x\x7f\x85\x9b") == "x\\x7f\\x85\\x9b"
    assert printable("\u202eexe.pkl\u2066") == "\\u202eexe.pkl\\u2066"
    assert printable("zero\u200bwidth") == "zero\\u200bwidth"
    assert printable("sep\u2028\u2029") == "sep\\u2028\\u2029"
    assert printable(UNDECODABLE_PATH) == "bad\\udcff.pkl"
    assert printable("\U000e0041tag") == "\\U000e0041tag"  # invisible "tag" characters


# ------------------------------------------------------------------------------------------ verbosity


def test_many_clean_files_collapse_unless_verbose() -> None:
    report = clean_report(COLLAPSE_AFTER + 5)
    quiet = render("text", report)
    assert f"CLEAN     {COLLAPSE_AFTER + 5} files with no findings (use --verbose to list them)" in quiet
    assert "ok/0.safetensors" not in quiet
    loud = render("text", report, verbose=True)
    assert all(f"ok/{i}.safetensors" in loud for i in range(COLLAPSE_AFTER + 5))
    few = render("text", clean_report(COLLAPSE_AFTER))
    assert all(f"ok/{i}.safetensors" in few for i in range(COLLAPSE_AFTER))


def test_many_skipped_files_collapse_unless_verbose() -> None:
    results = tuple(
        FileResult(path=f"doc{i}.txt", format="unknown", status=Status.SKIPPED, skip_reason="not a model")
        for i in range(COLLAPSE_AFTER + 1)
    )
    report = ScanReport(results=results, started_at=STARTED, finished_at=FINISHED)
    assert f"SKIPPED   {COLLAPSE_AFTER + 1} files skipped (use --verbose to list them)" in render(
        "text", report
    )
    assert "doc3.txt" in render("text", report, verbose=True)


def test_long_evidence_is_shortened_unless_verbose() -> None:
    code = "\n".join(f"line {i} " + "x" * 500 for i in range(EVIDENCE_MAX_LINES + 4))
    finding = Finding(
        "ARC310", Severity.MEDIUM, "TorchScript", Location("ts.pt", ("code/m.py",)), evidence=code
    )
    report = ScanReport(
        results=(FileResult("ts.pt", "torchscript", Status.SCANNED, findings=(finding,)),),
        started_at=STARTED,
        finished_at=FINISHED,
    )
    quiet = render("text", report)
    assert "... [+" in quiet
    assert "... 4 more lines (use --verbose)" in quiet
    assert f"line {EVIDENCE_MAX_LINES} " not in quiet
    loud = render("text", report, verbose=True)
    assert f"line {EVIDENCE_MAX_LINES + 3} " + "x" * 500 in loud
    assert "more lines" not in loud


def test_verbose_shows_hashes_cwe_fingerprint_and_fix() -> None:
    report = sample_report()
    output = render("text", report, verbose=True)
    assert "sha256 " + "ab" * 32 in output
    assert "formats: zip, pickle" in output
    assert "[pytorch-zip, 120.6 KiB]" in output
    first = report.results[0].findings[0]
    assert f"CWE-502, fingerprint {first.fingerprint}" in output
    assert "fix: Do not load the file." in output
    assert "(confidence: high)" in output
