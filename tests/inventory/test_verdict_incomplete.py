"""An asset's verdict never hides incomplete analysis (issue 11): the rule behind every human output."""

from __future__ import annotations

import pytest

from mlvet.inventory.model import Asset, verdict_text
from mlvet.model import Finding, Location, Severity


def _asset(severity: Severity | None, incomplete: bool) -> Asset:
    findings = () if severity is None else (Finding("PKL200", severity, "m", Location("x.pkl")),)
    return Asset(id="a", kind="model", name="x.pkl", path="/x.pkl", format="pickle", framework=None, files=(),
                 findings=findings, incomplete=incomplete)


@pytest.mark.parametrize(
    ("severity", "incomplete", "verdict", "shown"),
    [
        (None, False, "clean", "clean"),
        (None, True, "incomplete", "incomplete"),
        (Severity.LOW, False, "low", "low"),
        (Severity.MEDIUM, True, "incomplete", "incomplete"),  # a malformed pickle: not "medium"
        (Severity.MEDIUM, False, "medium", "medium"),
        (Severity.HIGH, True, "high", "high, incomplete"),  # the stronger statement, incompleteness still shown
        (Severity.CRITICAL, True, "critical", "critical, incomplete"),
    ],
)
def test_verdict_and_its_human_text(severity: Severity | None, incomplete: bool, verdict: str, shown: str) -> None:
    asset = _asset(severity, incomplete)
    assert asset.verdict == verdict
    assert verdict_text(asset) == shown
