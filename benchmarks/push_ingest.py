"""Push ingestion benchmark: how many inventory runs (and assets) per second ``mlvet serve`` records.

    PYTHONPATH=src python benchmarks/push_ingest.py [--pushes 60] [--assets 100] [--files 5]
        [--clients 1,4] [--out benchmarks/results-server.md] [--skip-postgres]

A real ``mlvet serve`` subprocess on 127.0.0.1 with a fresh database, once on a SQLite file and once on a
throwaway PostgreSQL cluster (``initdb``/``pg_ctl`` from the installed PostgreSQL, as in tests/db_fixtures.py).
The client is mlvet's own push client (:func:`mlvet.server.wire.push_run`, what ``mlvet inventory --push``
calls), in ``--clients`` concurrent threads. Every push is one machine's run of ``--assets`` assets of
``--files`` files (files with hashes, a critical finding on every tenth asset); hosts come in four groups that
hold the same asset ids, so the fleet-wide change tracking has overlap to compute, as in a real fleet.

Figures: runs/s and assets/s over all pushes, push latency p50/p95 (client side, HTTP round trip included),
and the rate over the first and last third of the pushes (the fleet grows as pushes arrive: each push compares
itself with every host's latest run). Plus one large push (2,000 assets of 5 files) timed alone.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))

from mlvet.inventory.model import Asset, AssetFile, InventoryRun, asset_id  # noqa: E402
from mlvet.model import Finding, Location, Severity  # noqa: E402
from mlvet.server.wire import new_idempotency_key, push_payload, push_run  # noqa: E402


def payload(host: str, group: int, assets: int, files: int, salt: str) -> dict[str, Any]:
    """One machine's run as the push client sends it."""
    out = []
    for i in range(assets):
        root = f"/srv/models/g{group}-{i:05d}"
        fs = tuple(AssetFile(path=f"{root}/shard{j}.safetensors", rel=f"shard{j}.safetensors", size=10_000 + j,
                             sha256=hashlib.sha256(f"{salt}{group}{i}{j}".encode()).hexdigest(), format="safetensors",
                             scan_status="scanned") for j in range(files))
        findings: tuple[Finding, ...] = ()
        if i % 10 == 0:
            findings = (Finding("PKL001", Severity.CRITICAL, "pickle calls os.system",
                                Location(f"{root}/shard0.safetensors"), evidence="os.system"),)
        out.append(Asset(id=asset_id(f"path:{root}"), kind="model", name=f"g{group}-{i}", path=root,
                         format="safetensors", framework="pytorch", files=fs, findings=findings))
    now = datetime.now(timezone.utc)
    run = InventoryRun(started_at=now, finished_at=now, roots=("/srv/models",), tool_version="bench", host=host,
                       files_seen=assets * files, files_hashed=assets * files)
    return push_payload(run, out, host=host, owner="bench", idempotency_key=new_idempotency_key())


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a Unix socket; yields its URL."""
    from db_fixtures import _as_user, _free_port, _pg_bindir

    bindir = _pg_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL binaries not found")
    root = Path(tempfile.mkdtemp(prefix="mlvetpgb"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        os.chmod(root, 0o700)
    data, port = root / "data", _free_port()
    subprocess.run(_as_user([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                             "--no-sync", "--locale=C"]), check=True, capture_output=True, timeout=120)
    # Durable settings (fsync on): the figure is what a real deployment pays per commit.
    opts = f"-c listen_addresses='' -c unix_socket_directories={root} -p {port} -c max_connections=50"
    subprocess.run(_as_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", opts, "-w",
                             "start"]), check=True, capture_output=True, timeout=90)
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={root}&port={port}"
    finally:
        subprocess.run(_as_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, timeout=60, check=False)
        shutil.rmtree(root, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): the server's own cost, whatever the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def server(db_url: str, workdir: Path) -> Iterator[tuple[str, str, int]]:
    """``mlvet serve`` on a free port with a push+read token; yields (base URL, token, server pid)."""
    from server._live import LiveServer, make_token

    token = make_token(db_url, ["push", "read"], name="bench")
    live = LiveServer(db_url=db_url, workdir=workdir, max_upload_bytes=256 << 20)
    base = live.start()
    assert live.proc is not None
    try:
        yield base, token, live.proc.pid
    finally:
        live.stop()


def run_case(db_url: str, workdir: Path, pushes: int, assets: int, files: int, clients: int) -> dict[str, Any]:
    """Time ``pushes`` pushes by ``clients`` concurrent clients; returns the figures."""
    docs = [payload(f"host-{i:04d}", i % 4, assets, files, salt=f"{clients}-{i}") for i in range(pushes)]
    latencies: list[float] = [0.0] * pushes
    finished: list[float] = [0.0] * pushes
    with server(db_url, workdir) as (base, token, pid):
        cpu0 = cpu_seconds(pid)
        def one(i: int) -> None:
            t = time.perf_counter()
            answer = push_run(base, token, docs[i], timeout_s=600, attempts=1)
            assert answer["created"], answer
            latencies[i] = time.perf_counter() - t
            finished[i] = time.perf_counter()

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            list(pool.map(one, range(pushes)))
        wall = time.perf_counter() - t0
        cpu = cpu_seconds(pid) - cpu0
        order = sorted(finished)
        third = max(1, pushes // 3)
        first_rate = third / (order[third - 1] - t0)
        last_rate = third / (order[-1] - order[-third - 1]) if pushes > third else first_rate
        big = payload("big-host", 9, 2000, 5, salt=f"big-{clients}")
        t = time.perf_counter()
        push_run(base, token, big, timeout_s=600, attempts=1)
        big_s = time.perf_counter() - t
        with urllib.request.urlopen(base + "/healthz", timeout=10) as r:
            assert r.status == 200
    lat = sorted(latencies)
    return {"clients": clients, "pushes": pushes, "wall": wall, "runs_s": pushes / wall,
            "assets_s": pushes * assets / wall, "files_s": pushes * assets * files / wall,
            "p50": statistics.median(lat), "p95": lat[min(len(lat) - 1, int(0.95 * len(lat)))],
            "first_rate": first_rate, "last_rate": last_rate, "big_s": big_s, "cpu_ms": 1000 * cpu / pushes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pushes", type=int, default=60)
    parser.add_argument("--assets", type=int, default=100)
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--clients", default="1,4")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results-server.md"))
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="mlvet-bench-push-") as tmp:
        for n in clients:
            work = Path(tmp) / f"sqlite-{n}"
            work.mkdir()
            rows.append(("SQLite", run_case(f"sqlite:///{work / 'server.db'}", work, args.pushes, args.assets,
                                            args.files, n)))
            print(rows[-1], flush=True)
        if not args.skip_postgres:
            for n in clients:
                work = Path(tmp) / f"pg-{n}"
                work.mkdir()
                with postgres() as url:
                    rows.append(("PostgreSQL", run_case(url, work, args.pushes, args.assets, args.files, n)))
                print(rows[-1], flush=True)
    load_after = os.getloadavg()
    lines = [
        "# Server benchmark: push ingestion",
        "",
        f"Generated by `python benchmarks/push_ingest.py --pushes {args.pushes} --assets {args.assets} "
        f"--files {args.files} --clients {args.clients}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC "
        f"({os.cpu_count()} cores, Python {sys.version.split()[0]}); load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after (a shared machine: other work was running).",
        "",
        f"Each push: one machine's run of {args.assets} assets x {args.files} files (hashes, a critical finding on "
        "every tenth asset), sent by mlvet's own push client over HTTP on loopback to a real `mlvet serve`; "
        "hosts in four groups holding the same asset ids (fleet-wide overlap). Latency is client-side (HTTP, "
        "validation, both change computations and the one-transaction write).",
        "",
        "| database | clients | pushes | wall s | runs/s | assets/s | files/s | p50 s | p95 s | runs/s first third | "
        "runs/s last third | one push of 2,000 assets s | server CPU ms per push |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for db, r in rows:
        lines.append(f"| {db} | {r['clients']} | {r['pushes']} | {r['wall']:.1f} | {r['runs_s']:.1f} | "
                     f"{r['assets_s']:,.0f} | {r['files_s']:,.0f} | {r['p50']:.3f} | {r['p95']:.3f} | "
                     f"{r['first_rate']:.1f} | {r['last_rate']:.1f} | {r['big_s']:.2f} | {r['cpu_ms']:.0f} |")
    lines += ["", "Pushes are serialised by the server (one write transaction each: SQLite's write lock, a "
              "PostgreSQL advisory lock), so more clients overlap only the HTTP and validation work. Server CPU "
              "is the `mlvet serve` process's own user+system time per push (HTTP, JSON, validation, change "
              "tracking, SQL building; PostgreSQL's backend CPU is not in it): the figure that does not depend on "
              "the machine's load, which inflates every wall-clock column on a shared machine.", ""]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
