"""hub-scan benchmark: N generated repositories served by the loopback hub stand-in, scanned on Dask.

    python benchmarks/hub_scan.py [--repos 10000] [--workers 1 2 4] [--out benchmarks/results-hubscan.md]

Repositories (made here, served by ``tests/support/hubserver.py`` in this process on 127.0.0.1):

* every repo has a ``config.json`` and a ``README.md`` of its own, the same ``tokenizer.json`` (one tokenizer
  shared by the whole hub, as ``bert-base-uncased``'s is by thousands of fine-tunes) and a small
  ``model.safetensors`` (real header and data) shared by groups of 20 repositories (fine-tunes of one base
  uploaded unchanged); one repo in 200 also has a malicious protocol-0 pickle ``model.pkl``.

For each worker count: a fresh Dask cluster (``dask scheduler`` + that many ``dask worker`` processes, one
thread each, no nanny), a fresh SQLite database, and ``mlvet hub-scan --engine dask://…`` as its own process.
Measured: wall time (resolve round and scan round), repos/s and files/s, speed-up against one worker, bytes
read per repo (the ``bytes_read`` column: what the scanners fetched), bytes the hub served and requests per
repo (the stand-in's counters), the cache hit rate (files recorded without a scan: shared within the run or
found in the result cache), and the workers' CPU time. A last run repeats the one-worker scan on the same
database: a warm result cache, as a daily re-scan of an unchanged hub would see it.

Per-format CPU cost: each kind of file is scanned in this process (``scan_stream`` on its bytes, repeated),
giving CPU ms per file by format for ``docs/scale.md``.

The machine has 2 cores shared with other work and the hub stand-in itself runs in this process, so the
speed-up is bounded by 2 and by the server; the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "engine"))

EVIL = b"cos\nsystem\n(S'echo owned'\ntR."
GROUP = 20
EVIL_EVERY = 200


def _tokenizer() -> bytes:
    vocab = {f"tok{i}": i for i in range(3000)}
    return json.dumps({"version": "1.0", "truncation": None, "model": {"type": "WordPiece", "vocab": vocab}}).encode()


def _safetensors(seed: int) -> bytes:
    import struct

    n = 64 * 64
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "w": {"dtype": "F32", "shape": [64, 64], "data_offsets": [0, 4 * n]}}).encode()
    header += b" " * (-len(header) % 8)
    data = struct.pack(f"<{n}f", *((seed * 7 + i) % 97 / 97.0 for i in range(n)))
    return struct.pack("<Q", len(header)) + header + data


def make_repos(base: Path, n: int) -> list[tuple[str, Path]]:
    """Write ``n`` repo folders (shared files hard-linked) and return (repo id, folder)."""
    shared = base / "shared"
    shared.mkdir(parents=True)
    (shared / "tokenizer.json").write_bytes(_tokenizer())
    for g in range((n + GROUP - 1) // GROUP):
        (shared / f"w{g}.safetensors").write_bytes(_safetensors(g))
    out = []
    for i in range(n):
        d = base / "repos" / f"r{i:05d}"
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert",
                                                   "hidden_size": 64, "_name_or_path": f"bench/r{i:05d}"}))
        (d / "README.md").write_text(f"---\nlicense: apache-2.0\n---\n# r{i:05d}\n\nA generated repository.\n")
        os.link(shared / "tokenizer.json", d / "tokenizer.json")
        os.link(shared / f"w{i // GROUP}.safetensors", d / "model.safetensors")
        if i % EVIL_EVERY == EVIL_EVERY - 1:
            (d / "model.pkl").write_bytes(EVIL)
        out.append((f"bench/r{i:05d}", d))
    return out


def _cpu_of(pid: int) -> float:
    """User+system CPU seconds of a live process (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def _rows(db: str, run_id: str | None = None) -> list[Any]:
    import sqlalchemy as sa

    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            sql = "SELECT run_id, path, format, status, bytes_read, cache_hit FROM scan_run_results"
            rows = list(conn.execute(sa.text(sql)))
    finally:
        engine.dispose()
    return [r for r in rows if run_id is None or r[0] == run_id]


def run_once(server: Any, repos_file: Path, db: str, workers: int, logs: Path, n: int) -> dict[str, Any]:
    """One hub-scan on a fresh cluster of ``workers`` workers; returns the measured figures."""
    from _cluster import dask_cluster, env

    server.reset_counters()
    with dask_cluster(logs, workers=workers) as cluster:
        cpu0 = sum(_cpu_of(w.pid) for w in cluster.workers)
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "mlvet", "hub-scan", "--repos", str(repos_file), "--db", db,
                               "--engine", cluster.spec, "--endpoint", server.url, "--fail-on", "critical"],
                              capture_output=True, text=True, env=env(), timeout=24 * 3600, check=False)
        wall = time.monotonic() - t0
        cpu = sum(_cpu_of(w.pid) for w in cluster.workers) - cpu0
    if done.returncode not in (0, 1):
        raise RuntimeError(f"hub-scan exit {done.returncode}: {done.stderr[-2000:]}")
    run_id = done.stdout.split()[1].rstrip(":")
    rows = _rows(db, run_id)
    files = len(rows)
    hits = sum(bool(r[5]) for r in rows)
    db_file = db.removeprefix("sqlite:///")
    db_bytes = sum(os.path.getsize(p) for p in (db_file, db_file + "-wal") if os.path.exists(p))
    return {"workers": workers, "wall": wall, "files": files, "repos": n, "hits": hits, "db_bytes": db_bytes,
            "bytes_read": sum(r[4] or 0 for r in rows), "served": server.total_bytes_served,
            "requests": len(server.requests), "cpu": cpu, "errors": sum(r[3] == "error" for r in rows),
            "exit": done.returncode, "summary": done.stdout.splitlines()[0]}


def format_costs() -> list[tuple[str, int, float]]:
    """(format, bytes, CPU ms per scan) of the kinds of file a hub repo holds, scanned from memory."""
    from mlvet.policy import default_policy
    from mlvet.scanner import scan_stream

    policy = default_policy()
    samples: dict[str, tuple[str, bytes]] = {
        "config.json": ("config.json", json.dumps({"architectures": ["BertModel"], "model_type": "bert"}).encode()),
        "tokenizer.json (3k vocab)": ("tokenizer.json", _tokenizer()),
        "README.md": ("README.md", b"---\nlicense: apache-2.0\n---\n# model\n" * 20),
        "model.safetensors (16 KB)": ("model.safetensors", _safetensors(1)),
        "malicious pickle": ("model.pkl", EVIL),
    }
    try:
        import pickle

        import torch  # noqa: TID251 - the benchmark makes its inputs with the real library

        buf = io.BytesIO()
        torch.save({f"layer{i}.weight": torch.zeros(64, 64) for i in range(20)}, buf)
        samples["pytorch_model.bin (torch zip, 20 tensors)"] = ("pytorch_model.bin", buf.getvalue())
        samples["sklearn-like pickle (10k floats)"] = ("model.pkl", pickle.dumps([float(i) for i in range(10000)]))
    except ImportError:
        pass
    out = []
    for label, (name, data) in samples.items():
        scan_stream(io.BytesIO(data), len(data), name, policy)  # warm-up (imports)
        reps = 0
        t0 = time.process_time()
        while time.process_time() - t0 < 0.5:
            scan_stream(io.BytesIO(data), len(data), name, policy)
            reps += 1
        out.append((label, len(data), (time.process_time() - t0) * 1000 / reps))
    return out


def main() -> int:
    """Generate, serve, scan with each worker count, and write the Markdown results."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repos", type=int, default=10_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results-hubscan.md"))
    args = ap.parse_args()
    from support.hubserver import HubServer

    tmp = Path(tempfile.mkdtemp(prefix="mlvet-hubscan-"))
    try:
        t0 = time.monotonic()
        repos = make_repos(tmp / "src", args.repos)
        server = HubServer(tmp / "server", lfs_redirect="none")
        for repo_id, folder in repos:
            server.add_repo(repo_id, folder)
        server.start()
        # The stand-in writes headers and body in separate sends; without TCP_NODELAY each response waits for
        # the client's delayed ACK (40 ms on Linux). Accepted sockets inherit the option from the listener.
        server._httpd.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        setup = time.monotonic() - t0
        listing = tmp / "repos.txt"
        listing.write_text("\n".join(r for r, _f in repos) + "\n")
        print(f"{args.repos} repos generated and served in {setup:.0f} s; load {os.getloadavg()}", flush=True)
        results = []
        for w in args.workers:
            db = f"sqlite:///{tmp}/w{w}.db"
            logs = tmp / f"logs{w}"
            logs.mkdir()
            r = run_once(server, listing, db, w, logs, args.repos)
            results.append(r)
            print(json.dumps({k: v for k, v in r.items() if k != "summary"}), flush=True)
        warm_db = f"sqlite:///{tmp}/w{args.workers[0]}.db"
        logs = tmp / "logs-warm"
        logs.mkdir()
        warm = run_once(server, listing, warm_db, args.workers[0], logs, args.repos)
        warm["label"] = f"{args.workers[0]} (warm cache)"
        print(json.dumps({k: v for k, v in warm.items() if k != "summary"}), flush=True)
        costs = format_costs()
        load = os.getloadavg()
        write_md(Path(args.out), args.repos, results, warm, costs, load, setup)
        server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def write_md(out: Path, n: int, results: list[dict[str, Any]], warm: dict[str, Any],
             costs: list[tuple[str, int, float]], load: tuple[float, float, float], setup: float) -> None:
    """The Markdown results file."""
    base = results[0]["wall"]
    lines = [
        "# hub-scan benchmark (`benchmarks/hub_scan.py`)", "",
        f"{n:,} generated repositories (config.json and README.md of their own, one shared tokenizer.json, a "
        f"model.safetensors shared by groups of {GROUP}, a malicious pickle in one repo of {EVIL_EVERY}) served "
        "by the loopback hub stand-in (`tests/support/hubserver.py`, in the benchmark process) and scanned by "
        "`mlvet hub-scan --engine dask://…` on a fresh local Dask cluster per row (scheduler + N single-thread "
        "workers), each into a fresh SQLite database. Machine: 2 cores shared with other sessions; load average "
        f"at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}. Setup (writing and serving the repos): "
        f"{setup:.0f} s.", "",
        "| workers | wall s | speed-up | repos/s | files/s | files | cache hit rate | bytes read / repo | "
        "bytes served / repo | requests / repo | worker CPU s | DB bytes (SQLite, cumulative) | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in [*results, warm]:
        label = r.get("label", str(r["workers"]))
        lines.append(
            f"| {label} | {r['wall']:.1f} | {base / r['wall']:.2f} | {r['repos'] / r['wall']:.1f} | "
            f"{r['files'] / r['wall']:.1f} | {r['files']:,} | {r['hits'] / max(1, r['files']):.1%} | "
            f"{r['bytes_read'] / r['repos']:,.0f} | {r['served'] / r['repos']:,.0f} | "
            f"{r['requests'] / r['repos']:.1f} | {r['cpu']:.1f} | {r['db_bytes']:,} | {r['errors']} |")
    lines += ["", "Cache hit rate: files recorded without being scanned (same content earlier in the run, or "
              "already in the result cache). The warm row re-runs the first configuration on its own database: "
              "only `config.json` files (whose analysis reads their folder, so never cached) are scanned again.",
              "", "## CPU per file by format (scan_stream from memory, this process)", "",
              "| file | bytes | CPU ms / file |", "|---|---|---|"]
    lines += [f"| {label} | {size:,} | {ms:.2f} |" for label, size, ms in costs]
    lines += ["", "Summary lines printed by the runs:", ""]
    lines += [f"- {r['summary']}" for r in [*results, warm]]
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
