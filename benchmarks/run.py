"""Compare mlvet with modelscan, picklescan, fickling and modelaudit.

    bash benchmarks/setup_peers.sh          # once: peers into benchmarks/.venv-peers
    python benchmarks/run.py                # everything (~1-1.5 h on 2 CPUs; makes ~5.3 GB of inputs once)
    python benchmarks/run.py --quick        # skip the multi-GB inputs
    python benchmarks/run.py --only perf --tools mlvet,picklescan

Every tool runs as a fresh process per file (see peers.py for how each verdict is read and how
time and memory are measured).  Writes ``benchmarks/results.md`` and the raw runs of each half to
``benchmarks/.results/{detection,perf}.json``.  ``--combine`` keeps saved results: the other half
(with ``--only``) and the runs of tools not re-run now (``--tools mlvet --combine``);
``--update-readme`` also copies the tables into README.md.
This is a manual benchmark: CI never runs the peers (too slow, too heavy).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import statistics
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import (
    ALL_TOOLS,
    BENCH_DIR,
    DEFAULT_TIMEOUT_S,
    PEERS,
    ToolRun,
    measure,
    peer_torch_version,
    run_tool,
    startup_argv,
    tool_available,
    tool_env,
    tool_version,
)

from corpus import MB, PERF_INPUTS, CorpusFile, benign_files, malicious_files, perf_files

README = BENCH_DIR / "README.md"
README_START = "<!-- results:start -->"
README_END = "<!-- results:end -->"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _machine() -> dict[str, str]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu or platform.processor() or "unknown",
        "memory": mem or "unknown",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _warm_page_cache(path: Path) -> None:
    """Read the file once so every tool starts with it in the page cache (none pays the cold read)."""
    with path.open("rb") as fh:
        while fh.read(64 * 1024 * 1024):
            pass


def _warm_up(tools: Sequence[str]) -> None:
    """One unmeasured start-up per tool: compiles any missing .pyc and pulls the code into cache."""
    for tool in tools:
        measure(startup_argv(tool), timeout=120, env=tool_env(tool))


# --------------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------------


def run_detection(tools: Sequence[str], timeout: float) -> tuple[list[CorpusFile], list[ToolRun], list[str]]:
    mal, mal_note = malicious_files()
    ben, ben_note = benign_files()
    for note in (mal_note, ben_note):
        if note.startswith("FALLBACK"):
            _log(f"!! {note}")
    files = mal + ben
    runs: list[ToolRun] = []
    for i, f in enumerate(files, 1):
        for tool in tools:
            run = run_tool(tool, f.path, timeout)
            runs.append(run)
        _log(
            f"[detection {i}/{len(files)}] {f.kind:<9} {f.name}: "
            + " ".join(f"{r.tool}={r.verdict}" for r in runs[-len(tools) :])
        )
    return files, runs, [f"malicious: {mal_note}", f"benign: {ben_note}"]


def run_perf(
    tools: Sequence[str], timeout: float, repeat: int, include_big: bool
) -> tuple[list[CorpusFile], list[ToolRun]]:
    files = perf_files(include_big=include_big)
    runs: list[ToolRun] = []
    for f in files:
        _warm_page_cache(f.path)
        for tool in tools:
            for _ in range(repeat):
                run = run_tool(tool, f.path, timeout)
                runs.append(run)
                _log(
                    f"[perf] {f.label:<13} {tool:<11} {run.verdict:<9} {run.seconds:8.2f} s "
                    f"{run.peak_rss_mb:9.1f} MB  {run.detail}"
                )
    return files, runs


def run_startup(tools: Sequence[str], repeat: int) -> dict[str, dict[str, float | str]]:
    out: dict[str, dict[str, float | str]] = {}
    for tool in tools:
        argv = startup_argv(tool)
        times, mems, codes = [], [], []
        for _ in range(repeat):
            m = measure(argv, timeout=120, env=tool_env(tool))
            times.append(m.seconds)
            mems.append(m.peak_rss_mb)
            codes.append(m.returncode)
        out[tool] = {
            "command": " ".join([Path(argv[0]).name, *argv[1:]]),
            "seconds": statistics.median(times),
            "peak_rss_mb": max(mems),
            "exit": ",".join(sorted({str(c) for c in codes})),
        }
        _log(f"[startup] {tool:<11} {out[tool]['seconds']:.3f} s")
    return out


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
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
        lines += bad[:limit]
        if len(bad) > limit:
            lines.append(f"  - ... {len(bad) - limit} more in .results/detection.json")
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
            lines += _detection_md(part.tools, part.files, part.runs)
    for part in parts:
        if part.kind == "perf":
            lines += _perf_md(part.tools, part.files, part.runs, part.startup)
    for part in parts:
        if part.kind == "detection":
            lines += _misses_md(part.tools, part.files, part.runs)
    return "\n".join(lines)


def _update_readme(body: str) -> None:
    text = README.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        _log(f"README has no {README_START}/{README_END} markers; not updated")
        return
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    README.write_text(f"{head}{README_START}\n{body}\n{README_END}{tail}", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tools", default=",".join(ALL_TOOLS), help="comma-separated subset of " + ",".join(ALL_TOOLS))
    ap.add_argument("--only", choices=("detection", "perf"), help="run only one part")
    ap.add_argument("--quick", action="store_true", help="skip the multi-GB performance inputs")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="per-run timeout in seconds")
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool per perf input (median time reported)")
    ap.add_argument("--startup-repeat", type=int, default=5, help="runs of each tool's --version")
    ap.add_argument("--output", type=Path, default=BENCH_DIR / "results.md")
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rebuild the report from the halves saved in .results/",
    )
    ap.add_argument(
        "--combine",
        action="store_true",
        help="with --only: report the other part too, from its last saved run in .results/",
    )
    ap.add_argument("--update-readme", action="store_true", help="also copy the tables into benchmarks/README.md")
    args = ap.parse_args(argv)
    # Turn SIGTERM into SystemExit so the measuring loop's cleanup kills the tool it started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    raw_dir = BENCH_DIR / ".results"
    if args.report_only:
        halves = [raw_dir / f"{kind}.json" for kind in ("detection", "perf")]
        loaded = [Part.from_json(json.loads(f.read_text(encoding="utf-8"))) for f in halves if f.exists()]
        if not loaded:
            _log(f"nothing saved in {raw_dir}")
            return 2
        return _write_report(_machine(), loaded, args.output, args.update_readme)

    requested = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in requested if t not in ALL_TOOLS]
    if unknown:
        ap.error(f"unknown tool(s): {', '.join(unknown)}")
    tools = [t for t in requested if tool_available(t)]
    for t in requested:
        if t not in tools:
            hint = "set MLVET_BIN or `pip install -e .`" if t == "mlvet" else "run benchmarks/setup_peers.sh"
            _log(f"!! {t} is not installed ({hint}); skipped")
    if not tools:
        _log("no tool to run")
        return 2

    machine = _machine()
    versions = {t: tool_version(t) for t in tools}
    if any(t in PEERS for t in tools):
        versions["torch in peer venv"] = peer_torch_version()
    _warm_up(tools)
    cmdline = " ".join(["python benchmarks/run.py", *(sys.argv[1:] if argv is None else argv)])
    raw_dir.mkdir(exist_ok=True)
    parts: list[Part] = []
    for kind in ("detection", "perf"):
        if args.only not in (None, kind):
            other = raw_dir / f"{kind}.json"
            if args.combine and other.exists():
                parts.append(Part.from_json(json.loads(other.read_text(encoding="utf-8"))))
                _log(f"combining with the saved {kind} part from {other}")
            continue
        meta = {"date": _now(), "cmdline": cmdline, "load_start": _load()}
        if kind == "detection":
            files, runs, notes = run_detection(tools, args.timeout)
            part = Part(kind, meta, tools, versions, files, runs, notes)
        else:
            files, runs = run_perf(tools, args.timeout, max(1, args.repeat), include_big=not args.quick)
            startup = run_startup(tools, max(1, args.startup_repeat))
            part = Part(kind, meta, tools, versions, files, runs, startup=startup)
        meta["load_end"] = _load()
        if max(float(x) for x in f"{meta['load_start']} {meta['load_end']}".split()) > (os.cpu_count() or 1) - 0.5:
            _log(f"!! the machine was busy during the {kind} run: wall times are inflated; compare CPU times")
        saved = raw_dir / f"{kind}.json"
        if args.combine and saved.exists():
            _merge_saved_tools(part, Part.from_json(json.loads(saved.read_text(encoding="utf-8"))))
        saved.write_text(json.dumps(part.to_json(), indent=1), encoding="utf-8")
        parts.append(part)

    return _write_report(machine, parts, args.output, args.update_readme)


def _merge_saved_tools(part: Part, old: Part) -> None:
    """Keep the saved runs of tools not re-run now, so mlvet can be re-measured without the peers'
    hour.  Only runs on files that are still in the corpus are kept; the report counts each tool's
    totals from its own runs, so a corpus that grew since shows up as a different denominator.
    """
    keep = [t for t in old.tools if t not in part.tools]
    if not keep:
        return
    paths = {str(f.path.resolve()) for f in part.files}
    part.runs += [r for r in old.runs if r.tool in keep and r.path in paths]
    part.tools = sorted([*part.tools, *keep], key=lambda t: ALL_TOOLS.index(t) if t in ALL_TOOLS else 99)
    part.versions = {**{k: v for k, v in old.versions.items() if k not in part.versions}, **part.versions}
    part.startup = {**{k: v for k, v in old.startup.items() if k in keep}, **part.startup}
    part.meta["merged"] = f"{', '.join(keep)} kept from the run of {old.meta['date']} (`{old.meta['cmdline']}`)"
    _log(f"kept saved {part.kind} runs of {', '.join(keep)} from {old.meta['date']}")


def _write_report(machine: dict[str, str], parts: list[Part], output: Path, update_readme: bool) -> int:
    body = render(machine, parts)
    output.write_text("# mlvet peer benchmark: results\n\n" + body + "\n", encoding="utf-8")
    if update_readme:
        _update_readme(body)
    print(body)
    _log(f"wrote {output}; raw runs in {BENCH_DIR / '.results'}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
