"""Load every malicious sample with the *real* loaders and report which ones actually execute.

Test tooling only: it deliberately unpickles attacker-shaped files, so it must never be imported
by the ``mlvet`` package.  Each (sample, loader) pair runs in its own subprocess with:

* a fresh temporary working directory (file-system gadgets write ``mlvet_marker*`` there),
* ``MLVET_MARKER`` pointing into that directory (shell/Python payloads append to it),
* an audit hook that *blocks* and records network and browser events (``socket.connect``,
  ``socket.getaddrinfo``, ``urllib.Request``, ``webbrowser.open``), so nothing leaves the host,
* stdin closed and a timeout.

A pair counts as "executed" when a marker file appears or a blocked network event was recorded.

Loaders: ``pickle`` (pickle.load on the file), ``pickle-multi`` (pickle.load until EOF),
``torch`` (torch.load(weights_only=False)), ``numpy`` (numpy.load(allow_pickle=True), touching
every .npz member), ``joblib`` (joblib.load), plus per-sample extras declared in
``Sample.loaders``: ``torch:pickle_file=NAME``, ``extract+pickle`` and ``extract+torch`` (unpack
7z/zip/tar/gzip first, then load the extracted files).

Usage::

    python tests/corpus/verify_live.py [--only NAME ...] [--jobs 2] [--markdown table.md] [--strict]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_malicious

BASE_LOADERS = ("pickle", "pickle-multi", "torch", "numpy", "joblib")

# Executed inside the child process.  Kept as a string so this file never runs a loader itself.
HARNESS = r'''
import os, sys, time, pickle, io
loader, path, auditlog = sys.argv[1], sys.argv[2], sys.argv[3]
BLOCK = ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
         "urllib.Request", "webbrowser.open", "ftplib.connect", "smtplib.connect")
def _hook(event, args):
    if event in BLOCK:
        with open(auditlog, "a") as fh:
            fh.write(event + "\n")
        raise PermissionError("verify_live blocked " + event)
sys.addaudithook(_hook)

def load_pickle(p):
    with open(p, "rb") as f:
        pickle.load(f)

def load_pickle_multi(p):
    with open(p, "rb") as f:
        for _ in range(64):
            try:
                pickle.load(f)
            except EOFError:
                break

def load_torch(p, **kw):
    import torch
    torch.load(p, weights_only=False, **kw)

def load_numpy(p):
    import numpy
    r = numpy.load(p, allow_pickle=True)
    if hasattr(r, "files"):
        for k in r.files:
            r[k]

def load_joblib(p):
    import joblib
    joblib.load(p)

def extract(p, out, depth=0):
    """Unpack nested archives; return leaf files."""
    import tarfile, zipfile, gzip
    leaves = []
    with open(p, "rb") as f:
        head = f.read(8)
    dest = os.path.join(out, "x%d_%s" % (depth, os.path.basename(p)))
    if depth < 4 and head.startswith(b"7z\xbc\xaf\x27\x1c"):
        import py7zr
        with py7zr.SevenZipFile(p, "r") as z:
            z.extractall(dest)
    elif depth < 4 and head.startswith(b"\x1f\x8b"):
        os.makedirs(dest, exist_ok=True)
        target = os.path.join(dest, os.path.basename(p)[:-3] if p.endswith(".gz") else "unpacked")
        with gzip.open(p, "rb") as g, open(target, "wb") as o:
            o.write(g.read())
    elif depth < 4 and tarfile.is_tarfile(p):
        with tarfile.open(p) as t:
            t.extractall(dest, filter="data")
    elif depth < 4 and zipfile.is_zipfile(p) and not any(
            n.endswith("/data.pkl") for n in zipfile.ZipFile(p).namelist()):
        with zipfile.ZipFile(p) as z:
            z.extractall(dest)
    else:
        return [p]
    for root, _dirs, files in os.walk(dest):
        for name in sorted(files):
            leaves += extract(os.path.join(root, name), out, depth + 1)
    return leaves

def run():
    if loader == "pickle":
        load_pickle(path)
    elif loader == "pickle-multi":
        load_pickle_multi(path)
    elif loader == "torch":
        load_torch(path)
    elif loader.startswith("torch:pickle_file="):
        load_torch(path, pickle_file=loader.split("=", 1)[1])
    elif loader == "numpy":
        load_numpy(path)
    elif loader == "joblib":
        load_joblib(path)
    elif loader in ("extract+pickle", "extract+torch"):
        for leaf in extract(path, os.path.dirname(path)):
            try:
                (load_pickle if loader == "extract+pickle" else load_torch)(leaf)
            except Exception:
                pass
    else:
        raise SystemExit("unknown loader " + loader)

try:
    run()
except BaseException as exc:  # payloads and broken streams raise on purpose
    print("load raised %s: %s" % (type(exc).__name__, str(exc)[:200]), file=sys.stderr)
time.sleep(0.3)  # let threads / spawned children of delayed payloads finish
'''


@dataclass
class Outcome:
    sample: str
    loader: str
    executed: bool
    evidence: str
    timed_out: bool = False


def _run_one(sample: build_malicious.Sample, loader: str, timeout: float) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="mlvet-live-") as tmp:
        work = Path(tmp) / "cwd"
        work.mkdir()
        src = Path(tmp) / "in"
        src.mkdir()
        path = src / sample.filename
        path.write_bytes(sample.data)
        marker = work / "marker"
        audit = Path(tmp) / "audit.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLVET")}
        env.update({"MLVET_MARKER": str(marker), "PYTHONDONTWRITEBYTECODE": "1", "BROWSER": "true"})
        timed_out = False
        try:
            subprocess.run(
                [sys.executable, "-c", HARNESS, loader, str(path), str(audit)],
                cwd=work,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            timed_out = True
        time.sleep(0.2)
        evidence = []
        if marker.exists():
            evidence.append("marker")
        evidence += sorted(p.name for p in work.iterdir() if p.name.startswith("mlvet_marker"))
        if audit.exists():
            evidence += sorted({"audit:" + line for line in audit.read_text().split()})
        return Outcome(sample.name, loader, bool(evidence), ",".join(evidence), timed_out)


def _loaders_for(sample: build_malicious.Sample, base: Sequence[str]) -> list[str]:
    extra = [ld for ld in sample.loaders if ld not in BASE_LOADERS]
    return list(base) + extra


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", default=None, help="sample names to run")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--markdown", type=Path, default=None, help="also write the table as markdown")
    ap.add_argument("--loaders", nargs="*", default=list(BASE_LOADERS), help="subset of base loaders")
    ap.add_argument(
        "--emit-table",
        type=Path,
        default=None,
        help="write {name: executed loaders} as a Python literal (for build_malicious._VERIFIED)",
    )
    ap.add_argument("--strict", action="store_true", help="exit 1 when results differ from Sample.loaders")
    args = ap.parse_args(argv)

    samples = [s for s in build_malicious.build_all() if args.only is None or s.name in args.only]
    jobs = [(s, ld) for s in samples if s.live for ld in _loaders_for(s, args.loaders)]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        outcomes = list(pool.map(lambda j: _run_one(j[0], j[1], args.timeout), jobs))
    by_sample: dict[str, dict[str, Outcome]] = {}
    for o in outcomes:
        by_sample.setdefault(o.sample, {})[o.loader] = o

    lines = [
        "| sample | technique | pickle | pickle-multi | torch | numpy | joblib | other | declared | ok |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    mismatches = 0
    for s in samples:
        if not s.live:
            lines.append(
                f"| {s.name} | {s.technique} | skip | skip | skip | skip | skip | | "
                f"{','.join(s.loaders) or '-'} | n/a |"
            )
            continue
        res = by_sample[s.name]

        def cell(ld: str) -> str:
            o = res.get(ld)
            if o is None:
                return "?"
            return "T" if o.timed_out and not o.executed else ("X" if o.executed else "-")

        other = " ".join(f"{ld}:{cell(ld)}" for ld in res if ld not in BASE_LOADERS)
        executed = {ld for ld, o in res.items() if o.executed}
        ok = executed == {ld for ld in s.loaders if ld in res}
        mismatches += not ok
        lines.append(
            f"| {s.name} | {s.technique} | "
            + " | ".join(cell(ld) for ld in BASE_LOADERS)
            + f" | {other} | {','.join(s.loaders) or '-'} | "
            + ("yes" if ok else "NO: " + ",".join(sorted(executed)))
            + " |"
        )
    live = [s for s in samples if s.live]
    any_exec = sum(1 for s in live if any(o.executed for o in by_sample[s.name].values()))
    summary = (
        f"\nsamples={len(samples)} live={len(live)} executed_by_some_loader={any_exec} "
        f"runs={len(outcomes)} mismatches_vs_declared={mismatches}"
    )
    for ld in BASE_LOADERS:
        n = sum(1 for o in outcomes if o.loader == ld and o.executed)
        summary += f"\n  {ld}: {n} samples execute"
    if args.emit_table:
        table = {
            s.name: tuple(sorted(ld for ld, o in by_sample[s.name].items() if o.executed)) for s in samples if s.live
        }
        args.emit_table.write_text(repr(table) + "\n")
    text = "\n".join(lines) + "\n" + summary
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 1 if (args.strict and mismatches) else 0


if __name__ == "__main__":
    raise SystemExit(main())
