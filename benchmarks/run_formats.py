"""Compare mlvet with modelscan, picklescan, fickling and modelaudit on the NON-pickle formats.

    python benchmarks/run_formats.py                    # corpus + 10 MB / 4 GiB sparse inputs
    python benchmarks/run_formats.py --skip-big --workers 2
    python benchmarks/run_formats.py --only big --tools mlvet,modelaudit

Corpus: the committed fixtures under tests/assets/{keras,tensorflow,onnx,gguf,safetensors,hf,skops,
pmml,mlflow}, labelled by formats_corpus.py (the rule per format is printed into the results).  Every
tool runs as a fresh process per unit through peers.run_tool, so verdicts (malicious / clean / error /
timeout) follow exactly the rules of peers.py.  Big inputs are sparse files written by the fixture
generators; they show whether time and peak memory grow with tensor size (mlvet reads headers only).
Writes benchmarks/results-formats.md and the raw runs to benchmarks/.results/formats.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from formats_corpus import FORMATS, GIB, MB, BigInput, Unit, build, make_big_inputs, rules, summarise_excluded
from peers import ALL_TOOLS, BENCH_DIR, ToolRun, run_tool, tool_available, tool_version

OUT_MD = BENCH_DIR / "results-formats.md"
RAW = BENCH_DIR / ".results" / "formats.json"
BIG_DIR = BENCH_DIR / ".corpus" / "formats"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _run_all(jobs: list[tuple[str, Path]], timeout: float, workers: int) -> list[ToolRun]:
    """Run (tool, path) jobs; workers > 1 overlaps runs (fine for verdicts, inflates times a little)."""

    def one(job: tuple[str, Path]) -> ToolRun:
        run = run_tool(job[0], job[1], timeout=timeout)
        _log(f"{run.tool:11} {run.verdict:9} {run.seconds:7.2f}s {run.peak_rss_mb:7.0f}MB {job[1]}")
        return run

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(one, jobs))


def _cell(hit: int, n: int) -> str:
    return f"{hit}/{n}" if n else "-"


def corpus_tables(units: list[Unit], runs: dict[tuple[str, str], ToolRun], tools: list[str]) -> list[str]:
    lines = [
        "### Detection per format",
        "",
        "`mal` = malicious units detected (verdict malicious) / malicious units; `FA` = benign units flagged "
        "malicious / benign units; `err` = runs ending in error or timeout (all units of the format).",
        "",
        "| format | n mal | n benign | " + " | ".join(f"{t} mal / FA / err" for t in tools) + " |",
        "|---|---:|---:|" + "---|" * len(tools),
    ]
    totals: dict[str, list[int]] = {t: [0, 0, 0, 0, 0] for t in tools}  # hit, nmal, fa, nben, err
    for fmt in FORMATS:
        fu = [u for u in units if u.fmt == fmt]
        mal = [u for u in fu if u.label == "malicious"]
        ben = [u for u in fu if u.label == "benign"]
        cells = []
        for t in tools:
            if any((t, str(u.path)) not in runs for u in fu):
                cells.append("not run")
                continue
            hit = sum(runs[(t, str(u.path))].verdict == "malicious" for u in mal)
            fa = sum(runs[(t, str(u.path))].verdict == "malicious" for u in ben)
            err = sum(runs[(t, str(u.path))].verdict in ("error", "timeout") for u in fu)
            cells.append(f"{_cell(hit, len(mal))} / {_cell(fa, len(ben))} / {err}")
            for i, v in enumerate((hit, len(mal), fa, len(ben), err)):
                totals[t][i] += v
        lines.append(f"| {fmt} | {len(mal)} | {len(ben)} | " + " | ".join(cells) + " |")
    nmal = sum(u.label == "malicious" for u in units)
    nben = sum(u.label == "benign" for u in units)
    cells = [f"**{h}/{m} / {f}/{b} / {e}**" for h, m, f, b, e in (totals[t] for t in tools)]
    lines.append(f"| **all** | {nmal} | {nben} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "### Time and memory over the corpus",
        "",
        "| tool | runs | total wall s | median s/run | max peak RSS MB | errors | timeouts |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for t in tools:
        rs = [runs[(t, str(u.path))] for u in units if (t, str(u.path)) in runs]
        secs = sorted(r.seconds for r in rs)
        med = secs[len(secs) // 2] if secs else 0.0
        lines.append(
            f"| {t} | {len(rs)} | {sum(secs):.1f} | {med:.2f} | {max((r.peak_rss_mb for r in rs), default=0):.0f} "
            f"| {sum(r.verdict == 'error' for r in rs)} | {sum(r.verdict == 'timeout' for r in rs)} |"
        )
    return lines


def per_unit_table(units: list[Unit], runs: dict[tuple[str, str], ToolRun], tools: list[str]) -> list[str]:
    """Every unit's verdict per tool; misses and false alarms are bold (X = malicious, . = clean)."""
    sym = {"malicious": "X", "clean": ".", "error": "err", "timeout": "T/O"}
    lines = [
        "| unit | label | " + " | ".join(tools) + " |",
        "|---|---|" + "---|" * len(tools),
    ]
    for u in units:
        cells = []
        for t in tools:
            if (t, str(u.path)) not in runs:
                cells.append("")
                continue
            v = runs[(t, str(u.path))].verdict
            wrong = (u.label == "malicious" and v != "malicious") or (u.label == "benign" and v == "malicious")
            cells.append(f"**{sym[v]}**" if wrong else sym[v])
        lines.append(f"| {u.rel} | {u.label} | " + " | ".join(cells) + " |")
    return lines


def big_table(big: list[BigInput], runs: dict[tuple[str, str], ToolRun], tools: list[str]) -> list[str]:
    lines = [
        "| format | input | size on disk (apparent) | " + " | ".join(f"{t} s / MB / verdict" for t in tools) + " |",
        "|---|---|---:|" + "---|" * len(tools),
    ]
    for b in big:
        size = f"{b.size / GIB:.2f} GiB" if b.size >= GIB else f"{b.size / MB:.1f} MiB"
        cells = []
        for t in tools:
            r = runs.get((t, str(b.path)))
            if r is None:
                cells.append("not run")
                continue
            cells.append(f"{r.seconds:.2f} ({r.cpu_seconds:.2f}) / {r.peak_rss_mb:.0f} / {r.verdict}")
        lines.append(f"| {b.fmt} | {b.path.name} ({b.note}) | {size} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tools", default=",".join(ALL_TOOLS))
    ap.add_argument("--only", choices=("corpus", "big"), default=None)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--formats", default=",".join(FORMATS), help="corpus formats to run (default: all)")
    ap.add_argument("--big-size", type=float, default=4.0, help="big input size in GiB (default 4)")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--workers", type=int, default=2, help="parallel runs for the corpus (big inputs: always 1)")
    ap.add_argument("--out", type=Path, default=OUT_MD)
    ap.add_argument("--note", action="append", default=[], help="extra line for the results header (repeatable)")
    ap.add_argument("--raw", type=Path, default=RAW, help="where the raw runs are saved (and read by --reuse)")
    ap.add_argument("--reuse", action="store_true", help="tabulate the runs saved in --raw; run nothing")
    ap.add_argument("--no-md", action="store_true", help="only save raw runs (e.g. for --extra-runs)")
    ap.add_argument(
        "--extra-runs",
        action="append",
        default=[],
        metavar="JSON:SUFFIX",
        help="add the runs saved in JSON as extra columns, tool renamed TOOL+SUFFIX (e.g. a peer venv with extras)",
    )
    args = ap.parse_args(argv)
    tools = [t for t in args.tools.split(",") if t]
    missing = [t for t in tools if not tool_available(t)]
    if missing and not args.reuse:
        _log(f"not installed: {', '.join(missing)} (run benchmarks/setup_peers.sh)")
        return 2

    started, load_start = dt.datetime.now(dt.timezone.utc), _uptime()
    versions = {} if args.reuse else {t: tool_version(t) for t in tools}
    units, excluded = build()
    runs: dict[tuple[str, str], ToolRun] = {}
    big: list[BigInput] = []
    if args.reuse:
        saved = json.loads(args.raw.read_text(encoding="utf-8"))
        runs.update(((r["tool"], r["path"]), ToolRun(**r)) for r in saved["runs"])
        started, load_start, load_end = (
            dt.datetime.fromisoformat(saved["started"]),
            saved["load_start"],
            saved["load_end"],
        )
        versions = saved["versions"]
        if not args.skip_big and args.only != "corpus":
            big = make_big_inputs(BIG_DIR, (10 * MB, int(args.big_size * GIB)))
    else:
        if args.only != "big":
            chosen = [u for u in units if u.fmt in args.formats.split(",")]
            jobs = [(t, u.path) for u in chosen for t in tools]
            keys = [(t, str(u.path)) for u in chosen for t in tools]
            runs.update(zip(keys, _run_all(jobs, args.timeout, args.workers), strict=True))
        if args.only != "corpus" and not args.skip_big:
            big = make_big_inputs(BIG_DIR, (10 * MB, int(args.big_size * GIB)))
            for b in big:  # serial: these numbers are the point, so nothing else runs alongside
                for t in tools:
                    runs[(t, str(b.path))] = _run_all([(t, b.path)], args.timeout, 1)[0]
        load_end = _uptime()
        args.raw.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "started": started.isoformat(),
            "load_start": load_start,
            "load_end": load_end,
            "versions": versions,
            "runs": [asdict(r) for r in runs.values()],
        }
        args.raw.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        _log(f"wrote {args.raw}")
    for spec in args.extra_runs:
        path, suffix = spec.rsplit(":", 1)
        saved = json.loads(Path(path).read_text(encoding="utf-8"))
        for r in saved["runs"]:
            r["tool"] += suffix
            runs[(r["tool"], r["path"])] = ToolRun(**r)
            if r["tool"] not in tools:
                tools.append(r["tool"])
                versions[r["tool"]] = saved["versions"].get(r["tool"][: -len(suffix)], "?") + f" ({suffix} venv)"
    if args.no_md:
        return 0

    md = [
        "# mlvet vs peers on non-pickle formats",
        "",
        f"Generated by `python benchmarks/run_formats.py` at {started:%Y-%m-%d %H:%M} UTC. Every tool runs as a "
        "fresh process per unit (`peers.run_tool`: whole-process wall time, peak RSS of the process tree); "
        "verdict rules are those of `peers.py` (mlvet: malicious = any finding of severity high or critical). "
        f"Per-run timeout {args.timeout:.0f} s. Corpus runs used {args.workers} parallel worker(s) on a "
        "2-CPU machine (times slightly inflated); big inputs ran one at a time.",
        "",
        f"- load at start: `{load_start}`",
        f"- load at end: `{load_end}`",
        "- versions: " + ", ".join(v if v.startswith(t) else f"{t} {v}" for t, v in versions.items()),
        *(f"- note: {n}" for n in args.note),
        "",
    ]
    if runs and args.only != "big":
        md += ["## Corpus (committed fixtures)", ""]
        md += corpus_tables(units, runs, tools)
        amb = [u for u in units if u.label == "ambiguous"]
        if amb:
            md += ["", "### Ambiguous units (scanned, not counted)", "", "| unit | why | " + " | ".join(tools) + " |"]
            md += ["|---|---|" + "---|" * len(tools)]
            for u in amb:
                verdicts = [runs[(t, str(u.path))].verdict if (t, str(u.path)) in runs else "" for t in tools]
                md.append(f"| {u.rel} | {u.note} | " + " | ".join(verdicts) + " |")
        md += ["", "### Labelling rule per format", ""]
        md += [f"- **{fmt}**: {rule}" for fmt, rule in rules().items()]
        md += ["", "### Excluded (not a unit)", "", "| files | reason |", "|---|---|"]
        md += [f"| {f} | {why} |" for f, why in summarise_excluded(excluded)]
    if big:
        md += [
            "",
            "## Big inputs: time and peak memory vs tensor size",
            "",
            "Sparse files (header written, data extended with truncate/seek) from `make_big_safetensors`, "
            "`make_big_gguf` and `make_big_onnx` (tests/formats/test_onnx.py), at 10 MiB and "
            f"{args.big_size:g} GiB, under `benchmarks/.corpus/formats/`. "
            "Cells: wall s (CPU s) / peak RSS MB / verdict.",
            "",
            *big_table(big, runs, tools),
        ]
    if runs and args.only != "big":
        md += ["", "## Per-unit verdicts", "", "X = malicious, . = clean; bold = miss or false alarm.", ""]
        md += per_unit_table(units, runs, tools)
    args.out.write_text("\n".join(md) + "\n", encoding="utf-8")
    _log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
