"""Organisation inventory end to end: three machines (separate ``mlvet inventory --push`` processes with their
own host names and caches) push overlapping assets to a real ``mlvet serve``, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import httpx
from _fleet_data import Host, evil_files, hub_id, ids, model_files
from _live import LiveServer, make_token

SHARED, ALPHA, BETA, GAMMA = "org/shared", "org/alpha-only", "org/beta-only", "org/gamma-bad"


def _empty() -> dict[str, set[str]]:
    return {"new": set(), "changed": set(), "removed": set(), "worse": set()}


def _as_sets(changes: dict[str, list[str]]) -> dict[str, set[str]]:
    return {k: set(v) for k, v in changes.items()}


def test_three_hosts_push_overlapping_assets(tmp_path: Path, db_url: str) -> None:
    token = make_token(db_url, ["push", "read"], name="fleet")
    alpha, beta, gamma = (Host(tmp_path, n) for n in ("alpha", "beta", "gamma"))
    for host in (alpha, beta, gamma):
        host.put(SHARED, model_files(1.0))
    alpha.put(ALPHA, model_files(2.0))
    beta.put(BETA, model_files(3.0))
    gamma.put(GAMMA, evil_files())
    shared, a_only, b_only, g_bad = (hub_id(r) for r in (SHARED, ALPHA, BETA, GAMMA))

    server = LiveServer(db_url=db_url, workdir=tmp_path)
    base = server.start()
    try:
        client = httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"})
        # Round 1: every host's first push.
        answers = {}
        for host in (alpha, beta, gamma):
            done = host.push(base, token)
            assert done.returncode in (0, 1), done.stderr[-3000:]
            assert f"of host {host.name}" in done.stderr
            answers[host.name] = client.get("/api/v1/changes", params={"host": host.name, "limit": 1}).json()[0]
        assert ids(answers["alpha"]["changes"]["new"]) == {shared, a_only}
        assert ids(answers["alpha"]["fleet_changes"]["new"]) == {shared, a_only}
        assert ids(answers["beta"]["changes"]["new"]) == {shared, b_only}
        assert ids(answers["beta"]["fleet_changes"]["new"]) == {b_only}  # shared was already in the fleet
        assert ids(answers["gamma"]["changes"]["new"]) == {shared, g_bad}
        assert ids(answers["gamma"]["fleet_changes"]["new"]) == {g_bad}
        for name in ("alpha", "beta", "gamma"):
            for kind in ("changed", "removed", "worse"):
                assert answers[name]["changes"][kind] == [] and answers[name]["fleet_changes"][kind] == []

        hosts = {h["host"]: h for h in client.get("/api/v1/hosts").json()}
        assert set(hosts) == {"alpha", "beta", "gamma"}
        assert {h: (v["assets"], v["pushes"], v["owner"]) for h, v in hosts.items()} == {
            "alpha": (2, 1, "owner-alpha"), "beta": (2, 1, "owner-beta"), "gamma": (2, 1, "owner-gamma")}
        assert hosts["gamma"]["worst_severity"] == "critical" and hosts["alpha"]["worst_severity"] == "none"

        fleet = client.get("/api/v1/assets").json()
        assert fleet["total"] == 4
        by_id = {a["id"]: a for a in fleet["items"]}
        assert set(by_id) == {shared, a_only, b_only, g_bad}
        assert sorted(h["host"] for h in by_id[shared]["hosts"]) == ["alpha", "beta", "gamma"]
        assert by_id[shared]["versions"] == 1 and by_id[shared]["name"] == SHARED
        assert [h["host"] for h in by_id[g_bad]["hosts"]] == ["gamma"]
        assert by_id[g_bad]["worst_severity"] == "critical"
        beta_view = client.get("/api/v1/assets", params={"host": "beta"}).json()
        assert {a["id"] for a in beta_view["items"]} == {shared, b_only}
        risky = client.get("/api/v1/assets", params={"min_severity": "high"}).json()
        assert {a["id"] for a in risky["items"]} == {g_bad}

        # Round 2: alpha drops its own model and has new content for the shared one; beta's model turns bad.
        alpha.drop(ALPHA)
        alpha.put(SHARED, model_files(9.0))
        beta.put(BETA, {**model_files(3.0), **evil_files()})
        for host in (alpha, beta):
            done = host.push(base, token)
            assert done.returncode in (0, 1), done.stderr[-3000:]
        feed = client.get("/api/v1/changes", params={"limit": 2}).json()
        beta2, alpha2 = feed  # newest first
        assert (alpha2["host"], beta2["host"]) == ("alpha", "beta")
        assert {k: ids(v) for k, v in alpha2["changes"].items()} == {**_empty(), "changed": {shared},
                                                                   "removed": {a_only}}
        assert {k: ids(v) for k, v in alpha2["fleet_changes"].items()} == {**_empty(), "changed": {shared},
                                                                         "removed": {a_only}}
        assert {k: ids(v) for k, v in beta2["changes"].items()} == {**_empty(), "changed": {b_only},
                                                                  "worse": {b_only}}
        assert {k: ids(v) for k, v in beta2["fleet_changes"].items()} == {**_empty(), "changed": {b_only},
                                                                        "worse": {b_only}}
        removed = alpha2["changes"]["removed"][0]
        assert removed["name"] == ALPHA  # a removed asset is still named

        fleet = client.get("/api/v1/assets").json()
        by_id = {a["id"]: a for a in fleet["items"]}
        assert set(by_id) == {shared, b_only, g_bad}
        assert by_id[shared]["versions"] == 2  # alpha's new content next to beta's and gamma's
        assert by_id[b_only]["worst_severity"] == "critical"
        runs = client.get("/api/v1/runs", params={"host": "alpha"}).json()
        assert [r["host"] for r in runs] == ["alpha", "alpha"]
        assert runs[0]["changes"] == {"new": 0, "changed": 1, "removed": 1, "worse": 0}
        detail = client.get(f"/api/v1/runs/{runs[0]['run_id']}").json()
        assert [a["id"] for a in detail["assets"]] == [shared]
        asset = client.get(f"/api/v1/assets/{shared}").json()
        assert sorted(h["host"] for h in asset["hosts"]) == ["alpha", "beta", "gamma"]
        assert [h["host"] for h in asset["history"]] == ["alpha", "beta", "gamma", "alpha", "beta"]  # every push
        # Reads need a token with the read scope.
        assert httpx.get(base + "/api/v1/assets", timeout=10).status_code == 401
        push_only = make_token(db_url, ["push"], name="push-only")
        denied = httpx.get(base + "/api/v1/hosts", headers={"Authorization": f"Bearer {push_only}"}, timeout=10)
        assert denied.status_code == 403 and "lacks the scope 'read'" in denied.json()["detail"]
        client.close()
    finally:
        server.stop()
