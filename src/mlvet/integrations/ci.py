"""CI reports derived from a SARIF file mlvet wrote: a Markdown job summary and a GitLab Code Quality report.

Both read only the SARIF document (the same file code scanning receives), so the CI shows exactly what was
uploaded. Every string taken from the SARIF (file names, messages) is escaped for its target: a hostile
file name cannot break the Markdown table or inject HTML into the job summary.

``python -m mlvet.integrations.ci summary SARIF [--fail-on S] [--exit-code N]`` prints the summary;
``python -m mlvet.integrations.ci codequality SARIF OUT.json`` writes the Code Quality report.
"""

from __future__ import annotations

import hashlib
import html
import json
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from mlvet.report.text import printable
from mlvet.words import plural

__all__ = ["code_quality", "load_sarif", "main", "summary_markdown"]

_ORDER = ("critical", "high", "medium", "low", "info")
#: GitLab Code Quality severities (info, minor, major, critical, blocker).
_GITLAB = {"critical": "blocker", "high": "critical", "medium": "major", "low": "minor", "info": "info"}
_EXIT_MEANING = {0: "passed", 1: "failed: findings at or above the threshold",
                 2: "failed: scan incomplete (a file could not be fully analysed)", 4: "usage or configuration error"}
_MAX_ROWS = 200


def load_sarif(path: str) -> dict[str, Any]:
    """Read a SARIF file (raises ValueError when it is not a SARIF log with at least one run)."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list) or not doc["runs"]:
        raise ValueError(f"{path}: not a SARIF log")
    return doc


def _cell(text: str, limit: int = 300) -> str:
    """One Markdown table cell: control characters escaped, HTML escaped, pipes and newlines neutralised."""
    safe = printable(text)
    if len(safe) > limit:
        safe = safe[: limit - 1] + "…"
    return html.escape(safe, quote=False).replace("|", "\\|").replace("`", "\\`")


def _path(location: Mapping[str, Any]) -> str:
    art = location.get("physicalLocation", {}).get("artifactLocation", {})
    uri = str(art.get("uri", ""))
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    return unquote(uri)


def _severity(result: Mapping[str, Any]) -> str:
    sev = str(result.get("properties", {}).get("severity", ""))
    if sev in _ORDER:
        return sev
    return {"error": "high", "warning": "medium", "note": "low"}.get(str(result.get("level")), "info")


def _findings(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for run in doc["runs"]:
        for result in run.get("results", []):
            if result.get("suppressions"):
                continue
            locations = result.get("locations") or [{}]
            rows.append({"severity": _severity(result), "rule": str(result.get("ruleId", "")),
                         "path": _path(locations[0]),
                         "message": str(result.get("message", {}).get("text", "")).split("\n", 1)[0],
                         "fingerprint": next(iter((result.get("partialFingerprints") or {}).values()), "")})
    rows.sort(key=lambda r: (_ORDER.index(r["severity"]), r["path"], r["rule"]))
    return rows


def _incomplete(doc: Mapping[str, Any]) -> list[str]:
    paths = []
    for run in doc["runs"]:
        for art in run.get("artifacts", []):
            if art.get("properties", {}).get("status") == "error":
                paths.append(unquote(str(art.get("location", {}).get("uri", "")).removeprefix("file://")))
    return paths


def summary_markdown(doc: Mapping[str, Any], *, fail_on: str = "high", exit_code: int | None = None) -> str:
    """The job summary: verdict line, counts by severity, a table of findings, files not fully analysed."""
    rows = _findings(doc)
    counts = Counter(r["severity"] for r in rows)
    files = sum(len(run.get("artifacts", [])) for run in doc["runs"])
    incomplete = _incomplete(doc)
    lines = ["## mlvet scan", ""]
    if exit_code is not None:
        icon = "✅" if exit_code == 0 else "❌"
        lines.append(f"{icon} **{_EXIT_MEANING.get(exit_code, f'exit code {exit_code}')}** "
                     f"(fail on `{_cell(fail_on, 20)}`, exit code {exit_code})")
        lines.append("")
    lines.append(f"{plural(files, 'file')} scanned, {plural(len(rows), 'finding')}, "
                 f"{len(incomplete)} not fully analysed.")
    lines.append("")
    lines.append("| " + " | ".join(_ORDER) + " |")
    lines.append("|" + "---|" * len(_ORDER))
    lines.append("| " + " | ".join(str(counts.get(s, 0)) for s in _ORDER) + " |")
    if rows:
        lines += ["", "| severity | rule | file | finding |", "|---|---|---|---|"]
        for r in rows[:_MAX_ROWS]:
            lines.append(f"| {r['severity']} | {_cell(r['rule'], 20)} | {_cell(r['path'])} | {_cell(r['message'])} |")
        if len(rows) > _MAX_ROWS:
            lines.append(f"\n… and {len(rows) - _MAX_ROWS} more (see the SARIF report).")
    if incomplete:
        lines += ["", "**Not fully analysed** (mlvet fails closed: these count as failures):", ""]
        lines += [f"- {_cell(p)}" for p in incomplete[:_MAX_ROWS]]
    return "\n".join(lines) + "\n"


def code_quality(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """GitLab Code Quality issues (the JSON array GitLab's ``codequality`` report artifact expects)."""
    issues = []
    for r in _findings(doc):
        fingerprint = r["fingerprint"] or hashlib.sha256(
            f"{r['rule']}\0{r['path']}\0{r['message']}".encode()).hexdigest()
        issues.append({"type": "issue", "check_name": r["rule"], "description": f"{r['rule']}: {r['message']}",
                       "categories": ["Security"], "severity": _GITLAB[r["severity"]], "fingerprint": fingerprint,
                       "location": {"path": r["path"], "lines": {"begin": 1}}})
    for path in _incomplete(doc):
        issues.append({"type": "issue", "check_name": "mlvet-incomplete", "categories": ["Security"],
                       "description": "mlvet could not fully analyse this file (treated as a failure)",
                       "severity": "major", "fingerprint": hashlib.sha256(f"incomplete\0{path}".encode()).hexdigest(),
                       "location": {"path": path, "lines": {"begin": 1}}})
    return issues


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (see the module docstring); returns 0, or 4 on bad usage or input."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if len(args) >= 2 and args[0] == "summary":
            fail_on, exit_code = "high", None
            rest = args[2:]
            while rest:
                opt = rest.pop(0)
                if opt == "--fail-on" and rest:
                    fail_on = rest.pop(0)
                elif opt == "--exit-code" and rest:
                    exit_code = int(rest.pop(0))
                else:
                    raise ValueError(f"unknown option {opt!r}")
            sys.stdout.write(summary_markdown(load_sarif(args[1]), fail_on=fail_on, exit_code=exit_code))
            return 0
        if len(args) == 3 and args[0] == "codequality":
            with open(args[2], "w", encoding="utf-8") as f:
                json.dump(code_quality(load_sarif(args[1])), f, indent=1)
            return 0
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"mlvet.integrations.ci: {exc}\n")
        return 4
    sys.stderr.write("usage: python -m mlvet.integrations.ci summary SARIF [--fail-on S] [--exit-code N]\n"
                     "       python -m mlvet.integrations.ci codequality SARIF OUT.json\n")
    return 4


if __name__ == "__main__":
    sys.exit(main())
