"""Overhead of the hub gateway on a cached file, and time to first byte on a sparse 1 GB safetensors.

Same run, same machine, loopback only: the upstream is the hub stand-in (``tests/support/hubserver.py``, a
threaded stdlib HTTP server in this process) and the gateway is ``python -m mlvet serve --hub-upstream …``
in a subprocess. For each file the same requests are timed against the upstream directly and through the
gateway, after one warm-up request has put the file in the gateway's cache (fetched, verified, scanned):

* *GET at a commit*: one ``GET /{repo}/resolve/{commit}/{file}`` (the upstream answers an LFS file with a 302
  to its blob URL, followed; the gateway serves the cached object after a verdict lookup);
* *hf_hub_download sequence*: what ``huggingface_hub`` sends for a download by branch name — ``HEAD`` on
  ``resolve/main`` (the gateway answers 307 to the commit after asking the upstream which commit ``main`` is;
  redirects followed) then the ``GET``.

Latency percentiles over ``--requests`` sequential requests on one keep-alive connection; throughput from
the big file (``--big-mb``). Then a sparse 1 GB safetensors whose header is real: time to first byte of the
first GET through the gateway (fetch of 1 GB from the upstream, SHA-256 verification, header-only scan), of
a second GET (cached), and of the upstream directly. The stand-in gets ``TCP_NODELAY`` here (see main()).

    PYTHONPATH=src python benchmarks/gateway.py [--requests 300] [--big-mb 64] [--out benchmarks/results-gateway.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

import httpx  # noqa: E402

from server._live import LiveServer, make_token  # noqa: E402
from support import hubserver as hubserver_module  # noqa: E402
from support.hubrepos import write_big_safetensors_repo, write_tiny_bert  # noqa: E402
from support.hubserver import HubServer  # noqa: E402


def _random_safetensors(path: Path, size: int) -> None:
    """A safetensors file of about ``size`` bytes: the library's header layout, random (incompressible) F32 data."""
    n = max(1, (size - 256) // 4)
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
    header += b" " * (-len(header) % 8)
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        fh.write(os.urandom(4 * n))


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _series(fn: Callable[[], int], n: int) -> tuple[list[float], int]:
    samples, total = [], 0
    for _ in range(n):
        t = time.perf_counter()
        total += fn()
        samples.append(time.perf_counter() - t)
    return samples, total


def _get(client: httpx.Client, url: str) -> int:
    r = client.get(url)
    if r.status_code != 200:
        raise RuntimeError(f"GET {url}: {r.status_code} {r.text[:200]}")
    return len(r.content)


def _hf_sequence(client: httpx.Client, base: str, repo: str, name: str) -> int:
    head = client.head(f"{base}/{repo}/resolve/main/{name}", headers={"Accept-Encoding": "identity"},
                       follow_redirects=False)
    location = head.headers.get("location")
    if head.status_code in (301, 302, 307) and location and location.startswith("/"):
        # huggingface_hub follows a same-host redirect with HEAD and then GETs the final URL.
        head = client.head(base + location, headers={"Accept-Encoding": "identity"}, follow_redirects=False)
        url = base + location
    else:
        url = f"{base}/{repo}/resolve/{head.headers['x-repo-commit']}/{name}"
    return _get(client, url)


def _ttfb(client: httpx.Client, url: str) -> tuple[float, float]:
    """(seconds to the first body byte, seconds to the last), for one streamed GET."""
    t = time.perf_counter()
    with client.stream("GET", url) as r:
        if r.status_code != 200:
            raise RuntimeError(f"GET {url}: {r.status_code}")
        first = None
        for chunk in r.iter_raw(1 << 20):
            if first is None and chunk:
                first = time.perf_counter() - t
    return first or 0.0, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--big-mb", type=int, default=64)
    ap.add_argument("--big-requests", type=int, default=10)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results-gateway.md"))
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mlvet-gwbench-"))
    # The stand-in writes headers and body in two sends; without TCP_NODELAY, Nagle + delayed ACK add ~40 ms to
    # every small answer, which would inflate the *direct* figures (and every forwarded call) for nothing.
    hubserver_module._Handler.disable_nagle_algorithm = True
    hub = HubServer(tmp / "hub")
    small = write_tiny_bert(tmp / "small")
    big = tmp / "big"
    big.mkdir()
    _random_safetensors(big / "weights.safetensors", args.big_mb << 20)
    write_big_safetensors_repo(tmp / "huge")
    commits = {"org/small": hub.add_repo("org/small", small), "org/huge": hub.add_repo("org/huge", tmp / "huge")}
    commits["org/big"] = hub.add_repo("org/big", big)
    upstream = hub.start()

    db_url = f"sqlite:///{tmp / 'server.db'}"
    token = make_token(db_url, ["gateway"], name="bench")
    (tmp / "work").mkdir()
    live = LiveServer(db_url=db_url, hub_upstream=upstream, cache_dir=str(tmp / "cache"), workdir=tmp / "work",
                      env={"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])})
    gateway = live.start()
    rows: list[str] = []
    notes: list[str] = []
    try:
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(follow_redirects=True, timeout=600) as direct, \
                httpx.Client(headers=auth, follow_redirects=True, timeout=600) as gw:
            cases = [("org/small", "model.safetensors", args.requests), ("org/small", "config.json", args.requests),
                     ("org/big", "weights.safetensors", args.big_requests)]
            for repo, name, n in cases:
                size = (small if repo == "org/small" else big).joinpath(name).stat().st_size
                pinned = f"/{repo}/resolve/{commits[repo]}/{name}"
                _get(gw, gateway + pinned)  # warm-up: fetch + verify + scan into the gateway's cache
                _get(direct, upstream + pinned)
                for label, fn_direct, fn_gw in (
                    ("GET at a commit", lambda p=pinned: _get(direct, upstream + p),
                     lambda p=pinned: _get(gw, gateway + p)),
                    ("hf_hub_download sequence", lambda r=repo, f=name: _hf_sequence(direct, upstream, r, f),
                     lambda r=repo, f=name: _hf_sequence(gw, gateway, r, f)),
                ):
                    d, d_bytes = _series(fn_direct, n)
                    g, g_bytes = _series(fn_gw, n)
                    d_tp = d_bytes / sum(d) / 1e6
                    g_tp = g_bytes / sum(g) / 1e6
                    rows.append(
                        f"| {name} ({size / 1e6:.2f} MB) | {label} | {n} | "
                        f"{statistics.median(d) * 1e3:.2f} / {_percentile(d, 0.99) * 1e3:.2f} | "
                        f"{statistics.median(g) * 1e3:.2f} / {_percentile(g, 0.99) * 1e3:.2f} | "
                        f"{d_tp:.1f} | {g_tp:.1f} | {g_tp / d_tp:.2f} |")
                    print(rows[-1], flush=True)

            huge = f"/org/huge/resolve/{commits['org/huge']}/model.safetensors"
            size = (tmp / "huge" / "model.safetensors").stat().st_size
            first = _ttfb(gw, gateway + huge)
            second = _ttfb(gw, gateway + huge)
            upstream_t = _ttfb(direct, upstream + huge)
            notes += [
                f"| through the gateway, first request (fetch + verify + scan) | {first[0]:.2f} | {first[1]:.2f} |",
                f"| through the gateway, cached | {second[0] * 1e3:.1f} ms | {second[1]:.2f} |",
                f"| upstream directly | {upstream_t[0] * 1e3:.1f} ms | {upstream_t[1]:.2f} |",
            ]
            for n in notes:
                print(n, flush=True)
    finally:
        live.stop()
        hub.stop()

    text = [
        "# Hub gateway benchmark",
        "",
        f"`PYTHONPATH=src python benchmarks/gateway.py --requests {args.requests} --big-mb {args.big_mb}` on "
        f"{platform.machine()} / Python {platform.python_version()} / {os.cpu_count()} CPUs, loopback. Upstream: "
        "the hub stand-in (stdlib threaded HTTP server, in the benchmark process); gateway: `mlvet serve` "
        "(uvicorn, one process) with the file already in its cache (fetched, verified and scanned once before "
        "timing). Sequential requests on one keep-alive connection; latency in ms (p50 / p99); throughput in "
        "MB/s of file bytes over the whole series.",
        "",
        "## Overhead on a cached file",
        "",
        "| file | requests | n | direct p50 / p99 (ms) | gateway p50 / p99 (ms) | direct MB/s | gateway MB/s | "
        "gateway / direct |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"## Time to first byte, sparse safetensors ({size / 1e9:.2f} GB, real header)",
        "",
        "| request | time to first byte (s) | whole transfer (s) |",
        "|---|---|---|",
        *notes,
        "",
    ]
    Path(args.out).write_text("\n".join(text), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
