"""The Markdown report of a benchmark run: headline tables per corpus block and per source, the
per-technique and per-producer breakdowns, performance tables, and the per-file misses.

``Part`` is one saved half of a run (``.results/<name>.json``); ``render`` turns parts into Markdown.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from peers import ToolRun

from corpus import MB, NEW_SOURCES, OLD_SOURCES, PERF_INPUTS, CorpusFile

# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


_SOURCE_TITLES: dict[str, str] = {
    "ecosystem-data": "ecosystem data (benign)",
    "ecosystem-code": "ecosystem code (gray)",
    "advisories": "advisories (malicious)",
    "issue9-pickles": "issue-9 pickles",
    "old-malicious": "old malicious (build_malicious)",
    "old-benign": "old benign (tests/assets/benign)",
}


def _pct(k: int, n: int) -> str:
    return f"{k}/{n} ({100 * k / n:.0f}%)" if n else "not run"


def _summary_md(tools: Sequence[str], files: list[CorpusFile], runs: list[ToolRun]) -> list[str]:
    """The headline: per corpus block (issue-9 corpus, old corpus) and per tool, recall on malicious
    files, false alarms on benign files, flags on the gray set, errors/timeouts and files not run;
    then the same per source.  Every count is over the files the tool was actually run on."""
    by_path = {str(f.path.resolve()): f for f in files}
    got: dict[tuple[str, str], ToolRun] = {(r.tool, r.path): r for r in runs if r.path in by_path}
    lines: list[str] = []
    blocks = [("issue-9 corpus", NEW_SOURCES), ("old corpus", OLD_SOURCES)]
    for title, sources in blocks:
        block = [f for f in files if f.source in sources]
        if not block:
            continue
        mal = [f for f in block if f.kind == "malicious"]
        ben = [f for f in block if f.kind == "benign"]
        gray = [f for f in block if f.kind == "gray"]
        header = [
            "tool",
            f"malicious detected (recall; {len(mal)} files)",
            f"benign flagged (false alarms; {len(ben)} files)",
        ]
        if gray:
            header.append(f"gray (code-bearing) flagged; {len(gray)} files")
        header += ["errors / timeouts (malicious; benign + gray)", "not run (of all)"]
        rows = []
        for tool in tools:
            rm = [got[(tool, str(f.path.resolve()))] for f in mal if (tool, str(f.path.resolve())) in got]
            rb = [got[(tool, str(f.path.resolve()))] for f in ben if (tool, str(f.path.resolve())) in got]
            rg = [got[(tool, str(f.path.resolve()))] for f in gray if (tool, str(f.path.resolve())) in got]
            cells = [
                tool,
                f"**{_pct(sum(r.verdict == 'malicious' for r in rm), len(rm))}**",
                f"**{_pct(sum(r.verdict == 'malicious' for r in rb), len(rb))}**",
            ]
            if gray:
                cells.append(_pct(sum(r.verdict == "malicious" for r in rg), len(rg)))
            err_m = sum(r.verdict == "error" for r in rm), sum(r.verdict == "timeout" for r in rm)
            err_b = sum(r.verdict == "error" for r in rb + rg), sum(r.verdict == "timeout" for r in rb + rg)
            cells.append(f"{err_m[0]} / {err_m[1]}; {err_b[0]} / {err_b[1]}" if rm or rb or rg else "-")
            not_run = len(block) - len(rm) - len(rb) - len(rg)
            cells.append(f"{not_run} of {len(block)}" if not_run else "0")
            rows.append(cells)
        lines += [f"### {title}", "", *_table(header, rows), ""]
    # Per source.
    srows = []
    for source in (*NEW_SOURCES, *OLD_SOURCES):
        sel = [f for f in files if f.source == source]
        if not sel:
            continue
        kinds = sorted({f.kind for f in sel})
        cells = [_SOURCE_TITLES.get(source, source), str(len(sel))]
        for tool in tools:
            rs = [got[(tool, str(f.path.resolve()))] for f in sel if (tool, str(f.path.resolve())) in got]
            if not rs:
                cells.append("not run")
                continue
            if kinds == ["malicious", "benign"] or len(kinds) > 1:
                mal_rs = [r for f in sel if f.kind == "malicious" and (r := got.get((tool, str(f.path.resolve()))))]
                ben_rs = [r for f in sel if f.kind != "malicious" and (r := got.get((tool, str(f.path.resolve()))))]
                cell = (
                    f"attacks {sum(r.verdict == 'malicious' for r in mal_rs)}/{len(mal_rs)}, "
                    f"benign {sum(r.verdict == 'malicious' for r in ben_rs)}/{len(ben_rs)}"
                )
            else:
                cell = f"{sum(r.verdict == 'malicious' for r in rs)}/{len(rs)}"
            bad = sum(r.verdict in ("error", "timeout") for r in rs)
            if bad:
                cell += f" ({bad} err)"
            if len(rs) < len(sel):
                cell += f" [{len(sel) - len(rs)} not run]"
            cells.append(cell)
        srows.append(cells)
    gray_mlvet = [
        r for f in files if f.kind == "gray" and (r := got.get(("mlvet", str(f.path.resolve())))) is not None
    ]
    if gray_mlvet:
        medium = sum(
            bool(m and {"medium", "high", "critical"} & set(m.group(1).split(",")))
            for m in (re.search(r"severity=(\S+)", r.detail) for r in gray_mlvet)
        )
        lines += [
            f"Gray set, mlvet at medium or above (its code findings, e.g. a Keras Lambda at medium): "
            f"{medium}/{len(gray_mlvet)}.",
            "",
        ]
    lines += [
        "### Per source: files flagged (at the tool's own failing threshold) / files run",
        "",
        "For malicious sources a flag is a detection; for benign sources it is a false alarm; for the gray set "
        "(files that really carry code) a flag is expected but not required. `err` = error or timeout "
        "(neither flagged nor clean).",
        "",
        *_table(["source", "files", *tools], srows),
        "",
    ]
    return lines


def _detection_md(tools: Sequence[str], files: list[CorpusFile], runs: list[ToolRun]) -> list[str]:
    by_path = {str(f.path.resolve()): f for f in files}
    per: dict[str, list[tuple[CorpusFile, ToolRun]]] = defaultdict(list)
    for r in runs:
        per[r.tool].append((by_path[r.path], r))
    rows = []
    for tool in tools:
        pairs = per[tool]
        mal = [r for f, r in pairs if f.kind == "malicious"]
        ben = [r for f, r in pairs if f.kind == "benign"]
        detected = sum(r.verdict == "malicious" for r in mal)
        n_mal, n_ben = len(mal), len(ben)  # per tool: a merged older run may cover fewer files
        rows.append(
            [
                tool,
                f"**{detected}/{n_mal}** ({100 * detected / max(n_mal, 1):.0f}%)",
                str(sum(r.verdict == "clean" for r in mal)),
                str(sum(r.verdict in ("error", "timeout") for r in mal)),
                f"**{sum(r.verdict == 'malicious' for r in ben)}/{n_ben}**",
                str(sum(r.verdict in ("error", "timeout") for r in ben)),
                f"{sum(r.seconds for _, r in pairs):.1f} s",
            ]
        )
    lines = [
        "### Detection",
        "",
        *_table(
            [
                "tool",
                "malicious detected",
                "missed (said clean)",
                "error/timeout on malicious",
                "false alarms on benign",
                "error/timeout on benign",
                "total time, all files",
            ],
            rows,
        ),
        "",
    ]
    # Per-technique breakdown.
    techniques = sorted({f.label for f in files if f.kind == "malicious"})
    trows = []
    for tech in techniques:
        n = sum(1 for f in files if f.kind == "malicious" and f.label == tech)
        cells = [tech, str(n)]
        for tool in tools:
            sel = [r for f, r in per[tool] if f.kind == "malicious" and f.label == tech]
            cells.append(f"{sum(r.verdict == 'malicious' for r in sel)}/{len(sel)}")
        trows.append(cells)
    lines += [
        "#### Malicious samples detected, per technique",
        "",
        *_table(["technique", "n", *tools], trows),
        "",
    ]
    # Benign breakdown (false alarms / errors) per label, only rows where some tool was not clean.
    labels = sorted({f.label for f in files if f.kind == "benign"})
    brows = []
    for label in labels:
        n = sum(1 for f in files if f.kind == "benign" and f.label == label)
        cells = [label, str(n)]
        noisy = False
        for tool in tools:
            sel = [r for f, r in per[tool] if f.kind == "benign" and f.label == label]
            fa = sum(r.verdict == "malicious" for r in sel)
            er = sum(r.verdict in ("error", "timeout") for r in sel)
            noisy = noisy or fa > 0 or er > 0
            cells.append(f"{fa} / {er}")
        if noisy:
            brows.append(cells)
    if brows:
        lines += [
            "#### Benign files not reported clean (false alarms / errors), per producer:format",
            "",
            "Rows where every tool said clean are omitted.",
            "",
            *_table(["benign kind", "n", *tools], brows),
            "",
        ]
    return lines


def _size(path: Path) -> str:
    n = path.stat().st_size / MB
    return f"{n:.1f} MB" if n < 100 else f"{n:.0f} MB"


def _fmt_cell(r: list[ToolRun], metric: str) -> str:
    if not r:
        return "n/a"
    if metric == "time":
        val = f"{statistics.median(x.seconds for x in r):.2f} s"
    elif metric == "cpu":
        val = f"{statistics.median(x.cpu_seconds for x in r):.2f} s"
    else:
        val = f"{max(x.peak_rss_mb for x in r):.0f} MB"
    verdicts = sorted({x.verdict for x in r})
    if verdicts != ["clean"]:
        val += f" ({'/'.join(verdicts)})"
    return val


def _perf_md(
    tools: Sequence[str],
    files: list[CorpusFile],
    runs: list[ToolRun],
    startup: dict[str, dict[str, float | str]],
) -> list[str]:
    grouped: dict[tuple[str, str], list[ToolRun]] = defaultdict(list)
    for r in runs:
        grouped[(r.path, r.tool)].append(r)
    lines = ["### Performance", ""]
    descriptions = {p.key: p.description for p in PERF_INPUTS}
    for f in files:
        lines.append(f"- `{f.label}` ({_size(f.path)}): {descriptions.get(f.label, f.name)}")
    lines.append("")
    metrics = (
        ("time", "Whole-process wall time"),
        ("mem", "Peak RSS of the process tree"),
        ("cpu", "CPU time (user + system; less sensitive than wall time to other load on the machine)"),
    )
    for metric, title in metrics:
        rows = []
        for f in files:
            cells = [f"`{f.label}`"]
            cells += [_fmt_cell(grouped.get((str(f.path.resolve()), t), []), metric) for t in tools]
            rows.append(cells)
        if startup and metric == "time":
            rows.append(["start-up (`--version`)", *[f"{float(startup[t]['seconds']):.2f} s" for t in tools]])
        if startup and metric == "mem":
            rows.append(["start-up (`--version`)", *[f"{float(startup[t]['peak_rss_mb']):.0f} MB" for t in tools]])
        lines += [f"#### {title}", "", *_table(["input", *tools], rows), ""]
    lines.append("A verdict in parentheses means the tool did not report the (benign) input clean.")
    lines.append("")
    # Headline comparisons for mlvet: time and memory against the best peer that finished the scan
    # (an error or timeout verdict means the peer did not read the file, so its time is no bar).
    if "mlvet" in tools:
        lines += ["#### mlvet against the best peer that completed the scan", ""]
        for f in files:
            done = {
                t: rs
                for t in tools
                if (rs := grouped.get((str(f.path.resolve()), t)))
                and all(r.verdict in ("clean", "malicious") for r in rs)
            }
            mine = grouped.get((str(f.path.resolve()), "mlvet"), [])
            peers = {t: rs for t, rs in done.items() if t != "mlvet"}
            if not mine or not peers:
                continue
            my_s = statistics.median(r.seconds for r in mine)
            my_mb = max(r.peak_rss_mb for r in mine)
            best_t = min(peers, key=lambda t: statistics.median(r.seconds for r in peers[t]))
            best_m = min(peers, key=lambda t: max(r.peak_rss_mb for r in peers[t]))
            peer_s = statistics.median(r.seconds for r in peers[best_t])
            peer_mb = max(r.peak_rss_mb for r in peers[best_m])
            lines.append(
                f"- `{f.label}`: mlvet {my_s:.2f} s / {my_mb:.0f} MB "
                f"({', '.join(sorted({r.verdict for r in mine}))}); fastest peer {best_t} {peer_s:.2f} s "
                f"({peer_s / max(my_s, 1e-9):.1f}x mlvet's time); leanest peer {best_m} {peer_mb:.0f} MB"
            )
        if startup and "mlvet" in startup:
            lines.append(f"- start-up: `mlvet --version` {float(startup['mlvet']['seconds']):.3f} s")
        lines.append("")
    if startup:
        lines.append(
            "Start-up commands: " + ", ".join(f"`{v['command']}`" for v in startup.values()) + " (median of repeats)."
        )
        lines.append("")
    return lines


def _misses_md(tools: Sequence[str], files: list[CorpusFile], runs: list[ToolRun], limit: int = 25) -> list[str]:
    """Which files each tool got wrong, with the tool's own detail line (for triage)."""
    by_path = {str(f.path.resolve()): f for f in files}
    lines = ["<details><summary>Per-file misses, false alarms and errors</summary>", ""]
    for tool in tools:
        bad = []
        for r in runs:
            if r.tool != tool:
                continue
            f = by_path[r.path]
            if (f.kind == "malicious" and r.verdict != "malicious") or (f.kind == "benign" and r.verdict != "clean"):
                bad.append(f"  - {f.kind} `{f.name}` [{f.label}]: {r.verdict} ({r.detail})")
        lines.append(f"- **{tool}**: {len(bad)}")
        cap = len(bad) if tool == "mlvet" else limit  # mlvet's own list in full: it is the to-do list
        lines += bad[:cap]
        if len(bad) > cap:
            lines.append(f"  - ... {len(bad) - cap} more in the raw files in .results/")
    lines += ["", "</details>", ""]
    return lines


@dataclass
class Part:
    """One half of a benchmark run (detection or perf) with the facts needed to report it alone."""

    kind: str  # "detection" | "perf"
    meta: dict[str, str]  # date, cmdline, load averages
    tools: list[str]
    versions: dict[str, str]
    files: list[CorpusFile]
    runs: list[ToolRun]
    notes: list[str] = field(default_factory=list)
    startup: dict[str, dict[str, float | str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "meta": self.meta,
            "tools": self.tools,
            "versions": self.versions,
            "files": [{**asdict(f), "path": str(f.path)} for f in self.files],
            "runs": [asdict(r) for r in self.runs],
            "notes": self.notes,
            "startup": self.startup,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Part:
        return cls(
            kind=doc["kind"],
            meta=doc["meta"],
            tools=doc["tools"],
            versions=doc["versions"],
            files=[CorpusFile(**{**f, "path": Path(f["path"])}) for f in doc["files"]],
            runs=[ToolRun(**r) for r in doc["runs"]],
            notes=doc.get("notes", []),
            startup=doc.get("startup", {}),
        )


def render(machine: dict[str, str], parts: Sequence[Part]) -> str:
    lines = [
        f"Machine: {machine['nproc']} CPUs ({machine['cpu']}), {machine['memory']} RAM, {machine['os']}, "
        f"Python {machine['python']}.",
        "",
    ]
    if not any("mlvet" in part.tools for part in parts):
        lines += ["**mlvet is not part of this run: peers only.**", ""]
    for part in parts:
        m = part.meta
        lines.append(
            f"- {part.kind}: measured {m['date']} with `{m['cmdline']}`; load average (1/5/15 min) "
            f"{m['load_start']} at start, {m['load_end']} at end; "
            + (f"{m['merged']}; " if m.get("merged") else "")
            + ", ".join(f"{t} {v}" for t, v in part.versions.items())
            + "."
        )
        lines += [f"  - corpus {n}" for n in part.notes]
    lines.append("")
    for part in parts:
        if part.kind == "detection":
            lines += _summary_md(part.tools, part.files, part.runs)
            lines += _detection_md(part.tools, part.files, part.runs)
    for part in parts:
        if part.kind == "perf":
            lines += _perf_md(part.tools, part.files, part.runs, part.startup)
    for part in parts:
        if part.kind == "detection":
            lines += _misses_md(part.tools, part.files, part.runs)
    return "\n".join(lines)
