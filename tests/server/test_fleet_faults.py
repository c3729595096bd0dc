"""Push under load and faults: concurrent and retried pushes, a server killed mid-push, hostile requests."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from _fleet_data import synthetic_payload
from _live import LiveServer, live_server, make_token

from mlvet.store import normalize_url


def _counts(db_url: str) -> dict[str, int]:
    engine = sa.create_engine(normalize_url(db_url))
    try:
        with engine.connect() as conn:
            return {t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
                    for t in ("runs", "fleet_pushes", "asset_versions", "asset_files", "run_changes")}
    finally:
        engine.dispose()


def test_twenty_concurrent_pushes_and_retries_lose_and_duplicate_nothing(tmp_path: Path, db_url: str) -> None:
    token = make_token(db_url, ["push", "read"])
    payloads = [synthetic_payload(f"host-{i:02d}", assets=10, files=3, seed=i % 4) for i in range(20)]
    with live_server(db_url=db_url) as base:
        def send(doc: dict[str, object]) -> httpx.Response:
            with httpx.Client(base_url=base, timeout=120) as c:
                return c.post("/api/v1/runs", json=doc, headers={"Authorization": f"Bearer {token}"})

        # 20 distinct pushes and a retry of each of the first 10, all at once.
        with ThreadPoolExecutor(max_workers=30) as pool:
            answers = list(pool.map(send, payloads + payloads[:10]))
        assert all(r.status_code in (200, 201) for r in answers), [r.text for r in answers if r.status_code > 201]
        assert sum(r.status_code == 201 for r in answers) == 20
        by_key: dict[str, set[int]] = {}
        for doc, r in zip(payloads + payloads[:10], answers, strict=True):
            by_key.setdefault(str(doc["idempotency_key"]), set()).add(r.json()["run_id"])
        assert all(len(runs) == 1 for runs in by_key.values())  # a retry answers with the same run
        assert len({next(iter(v)) for v in by_key.values()}) == 20
        # Sequential retry after the fact: 200, same run, nothing new.
        again = send(payloads[5])
        assert again.status_code == 200 and again.json()["created"] is False
        assert again.json()["run_id"] == next(iter(by_key[str(payloads[5]["idempotency_key"])]))
        hosts = httpx.get(base + "/api/v1/hosts", headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
        assert len(hosts) == 20 and all(h["assets"] == 10 and h["pushes"] == 1 for h in hosts)
        fleet = httpx.get(base + "/api/v1/assets", params={"limit": 1000},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
        assert fleet["total"] == 40  # 4 seeds x 10 asset ids, each held by 5 hosts
        assert all(len(a["hosts"]) == 5 for a in fleet["items"])
        # The same key with another body is a client bug: 409, never a second run.
        other = {**payloads[0], "host": "someone-else"}
        conflict = send(other)
        assert conflict.status_code == 409 and "already used" in conflict.json()["detail"]
    counts = _counts(db_url)
    assert counts["runs"] == 20 and counts["fleet_pushes"] == 20
    assert counts["asset_versions"] == 200 and counts["asset_files"] == 600


def test_server_killed_mid_push_leaves_no_half_written_run(tmp_path: Path, db_url: str) -> None:
    token = make_token(db_url, ["push", "read"])
    server = LiveServer(db_url=db_url, workdir=tmp_path)
    base = server.start()
    auth = {"Authorization": f"Bearer {token}"}
    big = {"assets": 1000, "files": 4}
    # How long a push this size takes here, to aim the kill at its middle.
    t0 = time.monotonic()
    first = httpx.post(base + "/api/v1/runs", json=synthetic_payload("probe", seed=99, **big), headers=auth,
                       timeout=300)
    took = time.monotonic() - t0
    assert first.status_code == 201, first.text
    killed_mid_push = 0
    try:
        for attempt, fraction in enumerate((0.3, 0.6, 0.85)):
            doc = synthetic_payload("victim", seed=attempt, **big)
            outcome: dict[str, object] = {}

            def push(doc: dict[str, object] = doc, outcome: dict[str, object] = outcome) -> None:
                try:
                    outcome["status"] = httpx.post(base + "/api/v1/runs", json=doc, headers=auth,
                                                   timeout=300).status_code
                except httpx.HTTPError as exc:
                    outcome["error"] = type(exc).__name__

            thread = threading.Thread(target=push)
            thread.start()
            time.sleep(took * fraction)
            server.kill()  # SIGKILL: no shutdown code, no rollback by the server
            thread.join(timeout=60)
            killed_mid_push += "error" in outcome
            base = server.start()
            counts = _counts(db_url)
            # Either the whole run is there or none of it: every run has its push row and all its assets.
            assert counts["runs"] == counts["fleet_pushes"]
            assert counts["asset_versions"] == 1000 * counts["runs"], counts
            assert counts["asset_files"] == 4 * counts["asset_versions"]
            # The client's retry (same key) completes it exactly once.
            retry = httpx.post(base + "/api/v1/runs", json=doc, headers=auth, timeout=300)
            assert retry.status_code in (200, 201), retry.text
            assert retry.status_code == (200 if outcome.get("status") == 201 else retry.status_code)
            after = _counts(db_url)
            assert after["runs"] == attempt + 2 and after["asset_versions"] == 1000 * (attempt + 2)
        assert killed_mid_push >= 1, "no kill landed while a push was in flight"
    finally:
        server.stop()


@pytest.fixture
def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    db = f"sqlite:///{tmp_path / 'server.db'}"
    tokens = {s: make_token(db, [s], name=s) for s in ("read", "push")}
    with live_server(db_url=db, max_upload_bytes=200_000, max_bom_bytes=50_000) as base:
        yield base, tokens


def test_hostile_push_requests_get_clear_4xx(served) -> None:  # type: ignore[no-untyped-def]
    base, tokens = served
    push = {"Authorization": f"Bearer {tokens['push']}"}
    good = synthetic_payload("h", assets=2, files=1)
    with httpx.Client(base_url=base, timeout=30) as c:
        # No token, a wrong token, a token without the scope.
        assert c.post("/api/v1/runs", json=good).status_code == 401
        assert c.post("/api/v1/runs", json=good, headers={"Authorization": "Bearer mlvet_x"}).status_code == 401
        r = c.post("/api/v1/runs", json=good, headers={"Authorization": f"Bearer {tokens['read']}"})
        assert r.status_code == 403 and "lacks the scope 'push'" in r.json()["detail"]
        # Malformed JSON, wrong shapes, bad values: 422 naming the problem.
        r = c.post("/api/v1/runs", content=b'{"schema_version": 1, "host": ', headers={**push,
                                                                                    "Content-Type": "application/json"})
        assert r.status_code == 422 and "json" in json.dumps(r.json()).lower()
        for broken, field in (({**good, "schema_version": 7}, "schema_version"),
                              ({**good, "host": "a\nb"}, "host"),
                              ({**good, "idempotency_key": "x"}, "idempotency_key"),
                              ({**good, "run": {**good["run"], "started_at": "2026-12-07T10:00:00"}}, "started_at"),
                              ({**good, "assets": [{**good["assets"][0], "id": "../../etc"}]}, "id"),
                              ({**good, "assets": [good["assets"][0], good["assets"][0]]}, "twice")):
            r = c.post("/api/v1/runs", json=broken, headers=push)
            assert r.status_code == 422, (field, r.status_code, r.text)
            assert field in r.text, (field, r.text)
        # Header and body keys disagree.
        r = c.post("/api/v1/runs", json=good, headers={**push, "Idempotency-Key": "push-other-key"})
        assert r.status_code == 400
        # Oversized push.
        r = c.post("/api/v1/runs", json=synthetic_payload("h", assets=400, files=3), headers=push)
        assert r.status_code == 413 and "over the limit" in r.json()["detail"]
        # Nothing above was recorded; the good push still works.
        assert c.get("/api/v1/runs", headers={"Authorization": f"Bearer {tokens['read']}"}).json() == []
        assert c.post("/api/v1/runs", json=good, headers=push).status_code == 201
        # Unknown run and asset, bad ids.
        read = {"Authorization": f"Bearer {tokens['read']}"}
        assert c.get("/api/v1/runs/999", headers=read).status_code == 404
        assert c.get("/api/v1/assets/zzzz", headers=read).status_code == 422
        assert c.get("/api/v1/assets", params={"limit": 10**9}, headers=read).status_code == 422
