"""The code-analysis engines return data and sit below the format layer (issue 10, item 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import mlvet.analysis

ANALYSIS = Path(mlvet.analysis.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_nothing_under_analysis_imports_the_format_layer() -> None:
    offenders = {
        str(p.relative_to(ANALYSIS)): sorted(m for m in _imports(p) if m.startswith(("mlvet.formats", "mlvet.scanner")))
        for p in ANALYSIS.rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_template_engine_returns_typed_results_without_a_context() -> None:
    from mlvet.analysis.chat_template import TemplateAnalysis, analyse_template
    from mlvet.model import Severity

    result = analyse_template("{{ ().__class__.__mro__ }}", where="t")
    assert isinstance(result, TemplateAnalysis) and result.error is None
    assert result.issues and result.issues[0].severity is Severity.CRITICAL
    assert result.issues[0].message.startswith("t: ") and result.issues[0].evidence.startswith("line 1: ")
    broken = analyse_template("{% if %}", where="t")
    assert broken.error is not None and [i.rule.id for i in broken.issues] == ["GGF707"]
