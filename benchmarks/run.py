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
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus_issue9 import new_corpus
from peers import (
    ALL_TOOLS,
    BENCH_DIR,
    DEFAULT_TIMEOUT_S,
    PEERS,
    ToolRun,
    measure,
    peer_torch_version,
    run_mlvet_folder,
    run_tool,
    startup_argv,
    tool_available,
    tool_env,
    tool_version,
)
from report import Part, render

from corpus import (
    CorpusFile,
    benign_files,
    malicious_files,
    perf_files,
)

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


def detection_corpus(which: str) -> tuple[list[CorpusFile], list[str]]:
    """The files of the detection half: ``new`` (issue 9), ``old`` (build_malicious + benign assets) or ``all``."""
    files: list[CorpusFile] = []
    notes: list[str] = []
    if which in ("all", "new"):
        got, got_notes = new_corpus()
        files += got
        notes += got_notes
    if which in ("all", "old"):
        mal, mal_note = malicious_files()
        ben, ben_note = benign_files()
        files += mal + ben
        notes += [f"old malicious: {mal_note}", f"old benign: {ben_note}"]
    for note in notes:
        if "FALLBACK" in note or "MISSING" in note:
            _log(f"!! {note}")
    return files, notes


Task = Callable[[], list[ToolRun]]


def _one_run(tool: str, path: Path, timeout: float) -> list[ToolRun]:
    return [run_tool(tool, path, timeout)]


def _tasks(
    tools: Sequence[str], files: list[CorpusFile], timeout: float, skip: set[tuple[str, str]]
) -> list[tuple[str, Task]]:
    """(description, job) in corpus order.  mlvet judges folder-shaped files through one scan of
    their ``scan_root`` (see ``run_mlvet_folder``); every other run is one tool on one file."""
    tasks: list[tuple[str, Task]] = []
    folders: dict[str, list[CorpusFile]] = {}
    for f in files:
        if f.scan_root:
            folders.setdefault(f.scan_root, []).append(f)
    queued: set[str] = set()
    folder_tasks: list[tuple[int, str, Task]] = []
    for f in files:
        for tool in tools:
            if tool == "mlvet" and f.scan_root:
                if f.scan_root in queued:
                    continue
                queued.add(f.scan_root)
                members = [m.path for m in folders[f.scan_root]]
                folder_tasks.append(
                    (
                        len(members),
                        f"mlvet folder {Path(f.scan_root).name} ({len(members)} files)",
                        partial(run_mlvet_folder, f.scan_root, members, timeout),
                    )
                )
            elif (tool, str(f.path.resolve())) not in skip:
                tasks.append((f"{tool} {f.source} {f.name}", partial(_one_run, tool, f.path, timeout)))
    # Folder scans first, biggest first: the longest single tasks must not start last.
    folder_tasks.sort(key=lambda t: -t[0])
    return [(desc, job) for _, desc, job in folder_tasks] + tasks


def run_detection(
    tools: Sequence[str],
    timeout: float,
    files: list[CorpusFile],
    jobs: int = 1,
    checkpoint: Callable[[list[ToolRun], str], None] | None = None,
    skip: set[tuple[str, str]] | None = None,
) -> list[ToolRun]:
    """Run every task, ``jobs`` at a time; ``checkpoint(runs, progress)`` saves partial results every
    few tasks, so a run stopped early (or killed) still leaves every finished verdict on disk."""
    tasks = _tasks(tools, files, timeout, skip or set())
    runs: list[ToolRun] = []
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(job): desc for desc, job in tasks}
        try:
            for fut in as_completed(futures):
                got = fut.result()
                runs += got
                done += 1
                tally = Counter(r.verdict for r in got)
                verdicts = ", ".join(f"{v} {n}" for v, n in tally.items())
                _log(f"[detection {done}/{len(tasks)}] {futures[fut]}: {verdicts}")
                if checkpoint and done % 10 == 0:
                    checkpoint(runs, f"partial: {done}/{len(tasks)} runs finished")
        except BaseException:
            for fut in futures:
                fut.cancel()
            if checkpoint:
                checkpoint(runs, f"STOPPED: {done}/{len(tasks)} runs finished")
            raise
    return runs


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
    ap.add_argument(
        "--corpus",
        choices=("all", "new", "old"),
        default="all",
        help="detection files: new = issue-9 corpus (ecosystem, advisories, issue-9 pickles), "
        "old = build_malicious + tests/assets/benign, all = both",
    )
    ap.add_argument(
        "--resume",
        action="store_true",
        help="keep the finished runs saved in the raw file (same bytes) and run only what is missing",
    )
    ap.add_argument("--jobs", type=int, default=1, help="detection runs at a time (times are then inflated)")
    ap.add_argument(
        "--raw",
        default="detection",
        help="name of the raw detection file in .results/ (NAME.json), so runs in parallel do not clobber",
    )
    ap.add_argument(
        "--merge-raw",
        default="",
        help="comma-separated raw detection files whose runs are kept (matched by source, name and SHA-256) "
        "for tools or files not run now",
    )
    args = ap.parse_args(argv)
    # Turn SIGTERM into SystemExit so the measuring loop's cleanup kills the tool it started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    raw_dir = BENCH_DIR / ".results"
    if args.report_only:
        halves = [raw_dir / f"{args.raw}.json", raw_dir / "perf.json"]
        loaded = [Part.from_json(json.loads(f.read_text(encoding="utf-8"))) for f in halves if f.exists()]
        for extra in [x for x in args.merge_raw.split(",") if x]:
            for part in loaded:
                if part.kind == "detection":
                    _merge_saved_tools(part, Part.from_json(json.loads(Path(extra).read_text(encoding="utf-8"))))
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
            other = raw_dir / f"{args.raw if kind == 'detection' else kind}.json"
            if args.combine and other.exists():
                parts.append(Part.from_json(json.loads(other.read_text(encoding="utf-8"))))
                _log(f"combining with the saved {kind} part from {other}")
            continue
        meta = {"date": _now(), "cmdline": cmdline, "load_start": _load()}
        if kind == "detection":
            files, notes = detection_corpus(args.corpus)
            part = Part(kind, meta, list(tools), versions, files, [], notes)
            saved_to = raw_dir / f"{args.raw}.json"
            # Read before the run: the checkpoints below overwrite the file.
            if (args.combine or args.resume) and saved_to.exists():
                previous = Part.from_json(json.loads(saved_to.read_text(encoding="utf-8")))
                # --combine: keep the tools not run now; --resume: also the finished runs of the tools run now.
                _merge_saved_tools(part, previous, rerun=() if args.resume else tools)
            carried = list(part.runs)
            skip = {(r.tool, r.path) for r in carried}

            def checkpoint(
                runs: list[ToolRun],
                progress: str,
                part: Part = part,
                saved_to: Path = saved_to,
                carried: list[ToolRun] = carried,
            ) -> None:
                part.runs = carried + runs
                part.meta["progress"] = progress
                part.meta["load_end"] = _load()
                saved_to.write_text(json.dumps(part.to_json(), indent=1), encoding="utf-8")

            part.runs = carried + run_detection(tools, args.timeout, files, args.jobs, checkpoint, skip)
            part.meta["progress"] = f"complete: every file run by {', '.join(tools)}"
            for extra in [x for x in args.merge_raw.split(",") if x]:
                _merge_saved_tools(part, Part.from_json(json.loads(Path(extra).read_text(encoding="utf-8"))))
        else:
            files, runs = run_perf(tools, args.timeout, max(1, args.repeat), include_big=not args.quick)
            startup = run_startup(tools, max(1, args.startup_repeat))
            part = Part(kind, meta, tools, versions, files, runs, startup=startup)
        meta["load_end"] = _load()
        if max(float(x) for x in f"{meta['load_start']} {meta['load_end']}".split()) > (os.cpu_count() or 1) - 0.5:
            _log(f"!! the machine was busy during the {kind} run: wall times are inflated; compare CPU times")
        saved = raw_dir / f"{args.raw if kind == 'detection' else kind}.json"
        if args.combine and saved.exists() and kind == "perf":
            _merge_saved_tools(part, Part.from_json(json.loads(saved.read_text(encoding="utf-8"))))
        saved.write_text(json.dumps(part.to_json(), indent=1), encoding="utf-8")
        parts.append(part)

    return _write_report(machine, parts, args.output, args.update_readme)


def _file_key(f: CorpusFile) -> tuple[str, str, str]:
    """Identity of a corpus file across runs and checkouts: source, name and content hash."""
    return (f.source or f.kind, f.name, f.sha256)


def _merge_saved_tools(part: Part, old: Part, rerun: Sequence[str] = ()) -> None:
    """Keep saved runs for (tool, file) pairs not run now, so mlvet can be re-measured without the
    peers' hour, and peers run in separate processes can be put together.  A saved run is kept only
    for a file still in the corpus with the same source, name and bytes (SHA-256); the report counts
    each tool's totals from its own runs and shows the files a tool has no run for as "not run".
    """
    by_key = {_file_key(f): f for f in part.files}
    old_files = {str(f.path.resolve()): f for f in old.files}
    have = {(r.tool, r.path) for r in part.runs}
    added: dict[str, int] = defaultdict(int)
    for r in old.runs:
        if r.tool in rerun:
            continue
        f_old = old_files.get(r.path)
        if f_old is None or not f_old.sha256:
            continue
        f_new = by_key.get(_file_key(f_old))
        if f_new is None:
            continue
        path = str(f_new.path.resolve())
        if (r.tool, path) in have:
            continue
        have.add((r.tool, path))
        part.runs.append(ToolRun(**{**asdict(r), "path": path}))
        added[r.tool] += 1
    if not added:
        return
    keep = list(added)
    part.tools = sorted({*part.tools, *keep}, key=lambda t: ALL_TOOLS.index(t) if t in ALL_TOOLS else 99)
    part.versions = {**{k: v for k, v in old.versions.items() if k not in part.versions}, **part.versions}
    part.startup = {**{k: v for k, v in old.startup.items() if k in keep}, **part.startup}
    kept = ", ".join(f"{t} ({n} runs)" for t, n in added.items())
    note = f"{kept} kept from the run of {old.meta['date']} (`{old.meta['cmdline']}`; {old.meta.get('progress', '')})"
    part.meta["merged"] = "; ".join(x for x in (part.meta.get("merged", ""), note) if x)
    _log(f"kept saved {part.kind} runs: {note}")


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
