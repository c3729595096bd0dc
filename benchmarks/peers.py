"""Adapters that run mlvet and its peer scanners on one file and measure them.

Every tool is run the way a user runs it: as a fresh process from its console script, so the numbers
include interpreter start-up and imports ("whole-process time"), which is what a CI job or a
pre-download hook pays per file.

Verdicts are normalised to ``malicious`` / ``clean`` / ``error`` / ``timeout``.  Each peer's rule
below was derived from reading its CLI source in ``benchmarks/.venv-peers`` (paths in the
comments); where a peer's exit code lets an error mask a finding (picklescan, modelscan and
modelaudit all check "errors" before "issues"), the structured output is read as well, so a
finding is never counted as a miss just because the same run also hit an error.

Peak memory is the larger of two measurements of the child process tree:
``ru_maxrss`` from ``os.wait4`` (exact, but the per-process maximum: Linux folds reaped
descendants in as a max, not a sum) and the sum of ``VmRSS`` over the live tree sampled every
50 ms (catches concurrent workers, may miss a short spike).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Verdict = Literal["malicious", "clean", "error", "timeout"]

BENCH_DIR = Path(__file__).resolve().parent
PEER_VENV = Path(os.environ.get("MLVET_BENCH_PEER_VENV", str(BENCH_DIR / ".venv-peers")))
PEERS: tuple[str, ...] = ("picklescan", "modelscan", "fickling", "modelaudit")
ALL_TOOLS: tuple[str, ...] = ("mlvet", *PEERS)
DEFAULT_TIMEOUT_S = 300.0
_TAIL_CHARS = 1500
_SAMPLE_EVERY_S = 0.05


@dataclass
class ToolRun:
    """One measured invocation of one tool on one file."""

    tool: str
    path: str
    verdict: Verdict
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    exit_code: int | None
    detail: str = ""
    raw_output_tail: str = ""


@dataclass
class Measured:
    """What the measurement layer observed, before any tool-specific interpretation."""

    returncode: int | None  # None = killed on timeout
    seconds: float  # wall time from fork to reap of the tool
    cpu_seconds: float  # user + system CPU of the tool and its reaped descendants
    peak_rss_mb: float
    stdout: str
    stderr: str


# --------------------------------------------------------------------------------------------------
# Process measurement
# --------------------------------------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    """ppid -> pids for every process, from /proc (no psutil dependency)."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # The command name may contain spaces or parentheses: fields start after the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def _tree_rss_kb(root: int, include_root: bool = True) -> int:
    """Sum of VmRSS (kB) over ``root`` (optionally) and all its live descendants."""
    tree = _children_map()
    total = 0
    stack = [root] if include_root else list(tree.get(root, []))
    while stack:
        pid = stack.pop()
        stack.extend(tree.get(pid, []))
        try:
            with open(f"/proc/{pid}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


# Runs as ``python -S -E -c _LAUNCHER REPORT_FILE ARGV...``: fork, exec the tool, wait4, report.
# Why an intermediary: ru_maxrss survives execve, so a tool spawned straight from this (large)
# harness process would inherit the harness's own high-water mark (subprocess uses vfork).  A
# bare interpreter is ~8 MB, below any tool measured, so it cannot inflate a max.
_LAUNCHER = """
import os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
seconds = time.perf_counter() - t0
with open(report, "w") as fh:
    cpu = ru.ru_utime + ru.ru_stime
    fh.write(f"{os.waitstatus_to_exitcode(status)} {seconds:.6f} {ru.ru_maxrss} {cpu:.6f}")
"""


def measure(
    argv: list[str],
    *,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Measured:
    """Run ``argv`` to completion and measure it (returncode None means killed on timeout).

    Time is measured by the launcher from fork to reap of the tool (so the launcher's own start-up
    is not charged to the tool).  stdout/stderr go to temporary files rather than pipes so a
    chatty tool can never block on a full pipe and distort its own timing.
    """
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory(prefix="bench-measure-") as tmp,
    ):
        report = Path(tmp) / "report"
        launcher = [sys.executable, "-S", "-E", "-c", _LAUNCHER, str(report), *argv]
        start = time.perf_counter()
        # argv is always a list built by this module, never a shell string.
        proc = subprocess.Popen(
            launcher,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        sampled_kb = 0
        next_sample = start
        timed_out = False
        reaped = False
        try:
            while True:
                pid, _, _ = os.wait4(proc.pid, os.WNOHANG)
                if pid == proc.pid:
                    reaped = True
                    break
                now = time.perf_counter()
                if now - start > timeout:
                    timed_out = True
                    break
                if now >= next_sample:
                    sampled_kb = max(sampled_kb, _tree_rss_kb(proc.pid, include_root=False))
                    next_sample = now + _SAMPLE_EVERY_S
                time.sleep(0.005)
        finally:
            if not reaped:  # timeout, Ctrl-C or SIGTERM: end the launcher and the tool, nothing else
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: holds only launcher + tool
                os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = -9 if timed_out else 0  # reaped above; keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
        returncode: int | None = None
        seconds, rusage_kb, cpu = wall, 0, float("nan")
        if not timed_out:
            try:
                rc_s, sec_s, kb_s, cpu_s = report.read_text().split()
                returncode, seconds, rusage_kb, cpu = int(rc_s), float(sec_s), int(kb_s), float(cpu_s)
            except (OSError, ValueError):
                returncode = 125  # launcher failed; surfaces as an error verdict
    return Measured(returncode, seconds, cpu, max(rusage_kb, sampled_kb) / 1024.0, stdout, stderr)


# --------------------------------------------------------------------------------------------------
# Tool locations and environment
# --------------------------------------------------------------------------------------------------


def mlvet_bin() -> str | None:
    """The mlvet executable: $MLVET_BIN, else the one on PATH (the system python's, `pip install -e`)."""
    configured = os.environ.get("MLVET_BIN")
    if configured:
        return configured
    return shutil.which("mlvet")


def peer_bin(tool: str) -> Path:
    return PEER_VENV / "bin" / tool


def tool_available(tool: str) -> bool:
    if tool == "mlvet":
        found = mlvet_bin()
        return found is not None and (shutil.which(found) is not None or Path(found).exists())
    return peer_bin(tool).exists()


def tool_env(tool: str) -> dict[str, str]:
    """Environment for one run: quiet, non-interactive, and no network side effects.

    modelaudit sends usage telemetry unless told not to (modelaudit/telemetry.py `_is_disabled`);
    a network round-trip (or its timeout, offline) would be charged to its scan time.
    """
    env = dict(os.environ)
    env.update({"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"})
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # any value disables the .pyc cache and slows start-up
    if tool != "mlvet":
        env["PATH"] = f"{PEER_VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(PEER_VENV)
    if tool == "modelaudit":
        env.update({"PROMPTFOO_DISABLE_TELEMETRY": "1", "NO_ANALYTICS": "1"})
    return env


# --------------------------------------------------------------------------------------------------
# Per-tool command lines and verdict rules
# --------------------------------------------------------------------------------------------------


def _tail(text: str) -> str:
    return text[-_TAIL_CHARS:]


def _short(text: object, limit: int = 140) -> str:
    """One line of at most ``limit`` characters, for the per-file detail column."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _json_objects(path: Path) -> list[dict[str, Any]]:
    """All JSON objects in a file that holds several concatenated ones (fickling appends per pickle)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    decoder, pos, found = json.JSONDecoder(), 0, []
    while pos < len(text):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except ValueError:
            break
        if isinstance(obj, dict):
            found.append(obj)
    return found


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _mlvet(path: Path, work: Path) -> tuple[list[str], Callable[[Measured], tuple[Verdict, str]]]:
    """mlvet contract: `mlvet scan PATH --format json`; exit 0 clean, 1 findings >= --fail-on (high),
    2 scan incomplete, 4 usage error.  Verdict from the JSON: any result with severity high or
    critical is malicious (wins over errors); else any result with status error is an error.
    """
    binary = mlvet_bin() or "mlvet"

    def verdict(p: Measured) -> tuple[Verdict, str]:
        try:
            results = json.loads(p.stdout)["results"]
        except (ValueError, KeyError, TypeError):
            return "error", f"exit {p.returncode}, no JSON report on stdout"
        return _mlvet_classify(results, p.returncode)

    return [binary, "scan", str(path), "--format", "json"], verdict


def _mlvet_classify(results: list[dict[str, Any]], returncode: int | None) -> tuple[Verdict, str]:
    """mlvet's verdict over some of its JSON results: high/critical wins, then any error, else clean."""
    severities = sorted({str(r.get("severity")) for r in results})
    statuses = sorted({str(r.get("status")) for r in results})
    info = f"exit {returncode}; severity={','.join(severities)} status={','.join(statuses)}"
    loud = sorted(
        {
            f"{f.get('rule_id')}:{f.get('severity')}"
            for r in results
            for f in r.get("findings") or []
            if isinstance(f, dict) and f.get("severity") in ("medium", "high", "critical")
        }
    )
    if loud:
        info += f"; medium+ findings: {' '.join(loud[:6])}" + (" ..." if len(loud) > 6 else "")
    if any(r.get("severity") in ("high", "critical") for r in results):
        return "malicious", info
    if any(r.get("status") == "error" for r in results):
        return "error", info
    return "clean", info


def run_mlvet_folder(
    folder: Path | str, files: Sequence[Path | str], timeout: float = DEFAULT_TIMEOUT_S
) -> list[ToolRun]:
    """One `mlvet scan FOLDER --format json` run, judged per file (one ToolRun per entry of ``files``).

    Folder-shaped models (a DCP folder, a save_pretrained folder, a Trainer checkpoint) are what a
    user scans, and mlvet reads a file in the context of its siblings.  Each file's verdict comes
    from the results whose path is that file (nested members included); the run's time, CPU and
    memory are split evenly over the files.  A file the folder scan did not report is an error.
    """
    root = Path(folder).resolve()
    targets = [Path(f).resolve() for f in files]
    with tempfile.TemporaryDirectory(prefix="bench-mlvet-") as scratch:
        argv = [mlvet_bin() or "mlvet", "scan", str(root), "--format", "json"]
        # The limit is per file: a folder of 500 files gets 500 times the one-file budget, capped at 2 s a file.
        timeout = max(timeout, 2.0 * len(targets))
        m = measure(argv, timeout=timeout, env=tool_env("mlvet"), cwd=Path(scratch))
    share = max(1, len(targets))
    tail = _tail((m.stdout + ("\n[stderr]\n" + m.stderr if m.stderr.strip() else "")).strip())
    sec, cpu, mem = m.seconds / share, m.cpu_seconds / share, m.peak_rss_mb

    def run(target: Path, verdict: Verdict, detail: str) -> ToolRun:
        return ToolRun("mlvet", str(target), verdict, sec, cpu, mem, m.returncode, detail, tail)

    if m.returncode is None:
        return [run(t, "timeout", f"folder scan of {root.name} killed after {timeout:.0f} s") for t in targets]
    try:
        results = json.loads(m.stdout)["results"]
    except (ValueError, KeyError, TypeError):
        return [run(t, "error", f"exit {m.returncode}, no JSON report on stdout") for t in targets]
    by_path: dict[Path, list[dict[str, Any]]] = {}
    for r in results:
        raw = str(r.get("path", ""))
        # Members of archives may be reported as "file:member" or "file!member": keep the file part.
        for sep in ("!", "::"):
            raw = raw.split(sep, 1)[0]
        by_path.setdefault(Path(raw).resolve(), []).append(r)
    out = []
    for t in targets:
        mine = by_path.get(t, [])
        if not mine:
            out.append(run(t, "error", f"exit {m.returncode}; not reported by the scan of folder {root.name}"))
            continue
        verdict, info = _mlvet_classify(mine, m.returncode)
        out.append(run(t, verdict, f"folder scan of {root.name}, {info.replace('exit', 'folder exit', 1)}"))
    return out


def _picklescan(path: Path, work: Path) -> tuple[list[str], Callable[[Measured], tuple[Verdict, str]]]:
    """picklescan/cli.py `main`: returns 2 if ``scan_err`` (checked first), 1 if dangerous globals
    were found, else 0.  Suspicious (non-dangerous) globals do not fail the scan.  A file that is
    not a pickle at all is only a logged WARNING and exits 0 (picklescan/scanner.py).  The summary
    block ("Dangerous globals: N") is always printed, so it is read to see findings behind exit 2.
    """

    def verdict(p: Measured) -> tuple[Verdict, str]:
        m = re.search(r"Dangerous globals: (\d+)", p.stdout)
        dangerous = int(m.group(1)) if m else 0
        parse_warn = "could not parse" in p.stdout
        info = f"exit {p.returncode}; dangerous={dangerous}" + ("; not parsed as pickle" if parse_warn else "")
        if dangerous > 0:
            return "malicious", info
        if p.returncode == 0:
            return "clean", info
        return "error", info

    return [str(peer_bin("picklescan")), "-p", str(path)], verdict


def _modelscan(path: Path, work: Path) -> tuple[list[str], Callable[[Measured], tuple[Verdict, str]]]:
    """modelscan/cli.py `scan`: exit 3 if nothing was scanned, else 2 if any error, else 1 if any
    issue (of any severity, LOW included), else 0; 4 for usage errors.  The JSON report is written
    to a file (``-o``) because its stdout copy is wrapped by rich at the terminal width.
    """
    report = work / "modelscan.json"

    def verdict(p: Measured) -> tuple[Verdict, str]:
        doc = _read_json(report)
        issues = doc.get("issues", []) if isinstance(doc, dict) else []
        errors = doc.get("errors", []) if isinstance(doc, dict) else []
        sev = sorted({str(i.get("severity")) for i in issues})
        info = f"exit {p.returncode}; issues={len(issues)} {','.join(sev)}; errors={len(errors)}"
        if issues:
            info += f"; first: {_short(issues[0].get('description'))}"
        elif errors:
            info += f"; first error: {_short(errors[0].get('description'))}"
        if issues:
            return "malicious", info
        if p.returncode == 0:
            return "clean", info
        return "error", info

    argv = [str(peer_bin("modelscan")), "scan", "-p", str(path), "-r", "json", "-o", str(report)]
    return argv, verdict


def _fickling(path: Path, work: Path) -> tuple[list[str], Callable[[Measured], tuple[Verdict, str]]]:
    """fickling/cli.py + fickling/constants.py: `--check-safety` exits 0 (EXIT_CLEAN) when every
    stacked pickle is at most LIKELY_SAFE, 1 (EXIT_UNSAFE) otherwise, 2 (EXIT_ERROR) when the file
    does not parse as a pickle stream -- which includes every PyTorch zip checkpoint: the CLI has no
    zip handling outside its --huggingface mode.  ``--json-output`` is pointed at the scratch dir
    because the default (safety_results.json) lands in the current directory.
    """

    def verdict(p: Measured) -> tuple[Verdict, str]:
        info = f"exit {p.returncode}"
        unsafe = [r for r in _json_objects(work / "fickling.json") if r.get("severity") != "LIKELY_SAFE"]
        if unsafe:
            info += f"; {unsafe[0].get('severity')}: {_short(unsafe[0].get('analysis'))}"
        elif p.returncode == 2:
            info += f"; {_short(p.stderr)}"
        if p.returncode == 1:
            return "malicious", info
        if p.returncode == 0:
            return "clean", info
        return "error", info

    argv = [
        str(peer_bin("fickling")),
        "--check-safety",
        "--json-output",
        str(work / "fickling.json"),
        str(path),
    ]
    return argv, verdict


def _modelaudit(path: Path, work: Path) -> tuple[list[str], Callable[[Measured], tuple[Verdict, str]]]:
    """modelaudit/core_results.py `determine_exit_code`: 2 on operational error (checked first),
    else 1 if any issue of severity WARNING or CRITICAL or a failed check of that severity, else 2
    if coverage was incomplete or nothing was scanned, else 0.  `--no-cache` so repeated runs are
    real scans; JSON goes to a file (``-o``) to keep it apart from log lines.
    """
    report = work / "modelaudit.json"

    def verdict(p: Measured) -> tuple[Verdict, str]:
        doc = _read_json(report)
        issues = doc.get("issues", []) if isinstance(doc, dict) else []
        checks = doc.get("checks", []) if isinstance(doc, dict) else []
        security = [i for i in issues if str(i.get("severity", "")).lower() in ("warning", "critical")]
        failed = [
            c
            for c in checks
            if str(c.get("status", "")).lower() == "failed"
            and str(c.get("severity", "")).lower() in ("warning", "critical")
        ]
        crit = sum(1 for i in security if str(i.get("severity", "")).lower() == "critical")
        info = f"exit {p.returncode}; critical={crit} warning={len(security) - crit} failed_checks={len(failed)}"
        if security:
            first = next((i for i in security if str(i.get("severity", "")).lower() == "critical"), security[0])
            info += f"; first: {_short(first.get('message'))}"
        if p.returncode == 1 or security or failed:
            return "malicious", info
        if p.returncode == 0:
            return "clean", info
        return "error", info

    argv = [
        str(peer_bin("modelaudit")),
        "scan",
        "--no-cache",
        "--format",
        "json",
        "-o",
        str(report),
        str(path),
    ]
    return argv, verdict


_ADAPTERS: dict[str, Callable[[Path, Path], tuple[list[str], Callable[[Measured], tuple[Verdict, str]]]]] = {
    "mlvet": _mlvet,
    "picklescan": _picklescan,
    "modelscan": _modelscan,
    "fickling": _fickling,
    "modelaudit": _modelaudit,
}


def run_tool(tool: str, path: Path | str, timeout: float = DEFAULT_TIMEOUT_S) -> ToolRun:
    """Scan one file with one tool in a fresh process and scratch directory; measure and classify."""
    target = Path(path).resolve()
    with tempfile.TemporaryDirectory(prefix=f"bench-{tool}-") as scratch:
        work = Path(scratch)
        argv, classify = _ADAPTERS[tool](target, work)
        m = measure(argv, timeout=timeout, env=tool_env(tool), cwd=work)
        tail = _tail((m.stdout + ("\n[stderr]\n" + m.stderr if m.stderr.strip() else "")).strip())
        if m.returncode is None:
            detail = f"killed after {timeout:.0f} s"
            return ToolRun(tool, str(target), "timeout", m.seconds, m.cpu_seconds, m.peak_rss_mb, None, detail, tail)
        verdict, detail = classify(m)
        return ToolRun(tool, str(target), verdict, m.seconds, m.cpu_seconds, m.peak_rss_mb, m.returncode, detail, tail)


# --------------------------------------------------------------------------------------------------
# Versions and start-up cost
# --------------------------------------------------------------------------------------------------

# A cheap invocation per tool that imports the CLI and exits: the fixed cost every scan pays.
_STARTUP_ARGV: dict[str, list[str]] = {
    "picklescan": ["--help"],  # picklescan has no --version flag
    "modelscan": ["--version"],
    "fickling": ["--version"],
    "modelaudit": ["--version"],
    "mlvet": ["--version"],
}


def startup_argv(tool: str) -> list[str]:
    binary = (mlvet_bin() or "mlvet") if tool == "mlvet" else str(peer_bin(tool))
    return [binary, *_STARTUP_ARGV[tool]]


def peer_torch_version() -> str:
    """torch in the peers' venv changes modelaudit's verdicts on checkpoints: report it."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        return "no venv"
    code = "import importlib.metadata as m\ntry: print(m.version('torch'))\nexcept Exception: print('absent')"
    m = measure([str(python), "-c", code], timeout=60)
    return m.stdout.strip() or "unknown"


def tool_version(tool: str) -> str:
    """Installed version, from package metadata (peers) or `mlvet --version` output."""
    if tool == "mlvet":
        binary = mlvet_bin()
        if binary is None:
            return "not installed"
        m = measure([binary, "--version"], timeout=60, env=tool_env(tool))
        text = (m.stdout or m.stderr).strip()
        return text.splitlines()[0] if m.returncode == 0 and text else f"unknown (exit {m.returncode})"
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        return "not installed"
    code = f"import importlib.metadata as m; print(m.version({tool!r}))"
    m = measure([str(python), "-c", code], timeout=60)
    return m.stdout.strip() if m.returncode == 0 else "unknown"


if __name__ == "__main__":  # tiny manual check: python benchmarks/peers.py TOOL FILE
    run = run_tool(sys.argv[1], sys.argv[2])
    print(json.dumps(run.__dict__, indent=2))
