"""Load and faults, loopback only and bounded: concurrency, a SIGKILL mid-scan, hostile paths, bad tokens."""

from __future__ import annotations

import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from _gateway_support import Gateway, Hub, start_gateway
from huggingface_hub import hf_hub_download

from mlvet.server.gateway.decisions import list_decisions
from mlvet.store import Store
from server._live import make_token
from support.hubrepos import write_tiny_bert


def _rows(db_url: str, repo_id: str) -> list[tuple[str, str, bool, str]]:
    with Store(db_url) as store:
        return [(d.path, d.verdict, d.scanned, d.status) for d in
                reversed(list_decisions(store, repo_id=repo_id, limit=10_000))]


def test_fifty_concurrent_downloads_lose_nothing(hub: Hub, gateway: Gateway, tmp_path: Path) -> None:
    hub.folders["crowd"] = write_tiny_bert(tmp_path / "src", seed=11)
    hub.add("org/crowd", "crowd")
    expected = {name: (hub.folders["crowd"] / name).read_bytes() for name in ("model.safetensors", "config.json")}

    def one(i: int) -> dict[str, bytes]:
        out = {}
        for name in expected:
            path = hf_hub_download("org/crowd", name, endpoint=gateway.url, token=gateway.token,
                                   cache_dir=tmp_path / f"c{i}", etag_timeout=60)
            out[name] = Path(path).read_bytes()
        return out

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))
    assert all(r == expected for r in results)
    rows = _rows(gateway.db_url, "org/crowd")
    for name in expected:
        mine = [r for r in rows if r[0] == name]
        assert len(mine) == 50 and all(r[1] == "served" for r in mine)
        # At most one scan for fifty downloads (config.json has the same bytes as other repos' configs, which
        # earlier tests may have had scanned already: content-addressed, it is not scanned again).
        assert sum(r[2] for r in mine) == 1 if name == "model.safetensors" else sum(r[2] for r in mine) <= 1
    fetched = [r for r in hub.server.requests if r.method == "GET" and "org%2Fcrowd%2Fmodel.safetensors" in r.path]
    assert len(fetched) == 1


def test_kill_mid_scan_leaves_no_decision_and_rescans_on_demand(hub: Hub, tmp_path: Path) -> None:
    commit = hub.add("org/slow", "slow")
    size = (hub.folders["slow"] / "data.pkl").stat().st_size
    gw = start_gateway(hub, tmp_path / "gw")
    url = f"{gw.url}/org/slow/resolve/{commit}/data.pkl"
    auth = {"Authorization": f"Bearer {gw.token}"}
    outcome: dict[str, object] = {}

    def download() -> None:
        try:
            outcome["status"] = httpx.get(url, headers=auth, timeout=120).status_code
        except httpx.HTTPError as exc:
            outcome["error"] = type(exc).__name__

    try:
        worker = threading.Thread(target=download)
        worker.start()
        deadline = time.monotonic() + 60
        while hub.server.bytes_served.get("org/slow/data.pkl", 0) < size and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hub.server.bytes_served.get("org/slow/data.pkl", 0) == size  # fetched: the scan is under way
        time.sleep(0.3)
        gw.live.kill()
        worker.join(timeout=30)
        assert "error" in outcome, outcome  # the client got no answer (the process died mid-scan)
        assert _rows(gw.db_url, "org/slow") == []
        verdicts = list((gw.cache_dir / "gateway" / "verdicts").rglob("*.json"))
        assert verdicts == []  # the scan did not finish: nothing half-decided was kept

        base = gw.live.start()  # same database and cache (a new port)
        assert not any((gw.cache_dir / "gateway" / "tmp").iterdir())
        again = httpx.get(f"{base}/org/slow/resolve/{commit}/data.pkl", headers=auth, timeout=120)
        assert again.status_code == 200
        assert again.content == (hub.folders["slow"] / "data.pkl").read_bytes()
        assert _rows(gw.db_url, "org/slow") == [("data.pkl", "served", True, "pass")]
    finally:
        gw.live.stop()


_HOSTILE = [
    "/org/bert/resolve/main/../../etc/passwd",
    "/org/bert/resolve/main/%2e%2e/%2e%2e/etc/passwd",
    "/org/bert/resolve/main/a%2F..%2F..%2Fetc%2Fpasswd",
    "/org/bert/resolve/main/config.json%00.txt",
    "/org/bert/resolve/main/a%5C..%5Cb",
    "/org/bert/resolve/..%2F..%2Fmain/config.json",
    "/org/bert/resolve/main/",
    "/org%2F..%2Fx/bert/resolve/main/config.json",
    "/api/models/org/bert/tree/main/%2e%2e%2f%2e%2e",
    "/api/models/org/bert/revision/..%2F..%2Fmain",
    "/datasets/../org/bert/resolve/main/config.json",
]


def test_malformed_and_traversal_paths_get_a_clear_4xx(hub: Hub, gateway: Gateway) -> None:
    host = urlsplit(gateway.url)
    before = len(hub.server.requests)
    for raw in _HOSTILE:
        conn = http.client.HTTPConnection(host.hostname or "127.0.0.1", host.port, timeout=30)
        try:
            conn.request("GET", raw, headers={"Authorization": f"Bearer {gateway.token}"})  # sent as is
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        assert 400 <= response.status < 500, (raw, response.status, body[:200])
        assert body  # a message says why
    assert len(hub.server.requests) == before  # none of them reached the upstream


def test_tokens_are_required_and_scoped(hub: Hub, gateway: Gateway) -> None:
    commit = hub.server.repos[("model", "org/bert")].branches["main"]
    path = f"/org/bert/resolve/{commit}/config.json"
    reader = make_token(gateway.db_url, ["read"], name="reader")
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer mlvet_not-a-token"}).status_code == 401
        assert client.get(path, headers={"Authorization": f"Bearer {reader}"}).status_code == 403
        assert client.get("/api/models/org/bert").status_code == 401
        ok = client.get(path, headers={"Authorization": f"Bearer {gateway.token}"})
        assert ok.status_code == 200 and ok.content == (hub.folders["bert"] / "config.json").read_bytes()
