"""``mlvet inventory --push`` exit codes: refused (4), unreachable (2), no token (4); anonymous reads when the
operator turns them on, and never anonymous pushes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from _fleet_data import Host, model_files
from _live import free_port, live_server, make_token


def test_push_refused_unreachable_or_without_token(tmp_path: Path) -> None:
    host = Host(tmp_path, "h1")
    host.put("org/m", model_files(1.0))
    db = f"sqlite:///{tmp_path / 'server.db'}"
    read_only = make_token(db, ["read"], name="reader")
    with live_server(db_url=db) as base:
        refused = host.push(base, read_only)
        assert refused.returncode == 4, refused.stderr
        assert "refused the push (403)" in refused.stderr and "lacks the scope 'push'" in refused.stderr
        revoked = host.push(base, "mlvet_not-a-real-token")
        assert revoked.returncode == 4 and "(401)" in revoked.stderr
    down = host.push(f"http://127.0.0.1:{free_port()}", read_only)
    assert down.returncode == 2, down.stderr
    assert "could not push" in down.stderr and "after 4 attempts" in down.stderr
    no_token = host.push(base, "")
    assert no_token.returncode == 4 and "needs a token" in no_token.stderr
    bad_url = host.push("ftp://example.org", read_only)
    assert bad_url.returncode == 4 and "not an http:// or https:// URL" in bad_url.stderr


def test_anonymous_reads_only_when_configured(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'server.db'}"
    token = make_token(db, ["push"], name="pusher")
    host = Host(tmp_path, "h1")
    host.put("org/m", model_files(1.0))
    with live_server(db_url=db, anonymous_scopes=["read"]) as base:
        done = host.push(base, token)
        assert done.returncode == 0, done.stderr
        hosts = httpx.get(base + "/api/v1/hosts", timeout=10)
        assert hosts.status_code == 200 and [h["host"] for h in hosts.json()] == ["h1"]
        anonymous_push = host.push(base, "")
        assert anonymous_push.returncode == 4  # the client refuses to push without a token
        r = httpx.post(base + "/api/v1/runs", json={}, timeout=10)
        assert r.status_code == 401  # read is anonymous, push is not
    with live_server(db_url=db) as base:
        assert httpx.get(base + "/api/v1/hosts", timeout=10).status_code == 401


def test_hostile_and_undecodable_names_survive_the_push(tmp_path: Path) -> None:
    import os
    import pickle

    db = f"sqlite:///{tmp_path / 'server.db'}"
    token = make_token(db, ["push", "read"], name="pusher")
    models = tmp_path / "h" / "models"
    models.mkdir(parents=True)
    raw_name = os.fsencode(models) + b'/m\xfe<img src=x onerror=alert(1)>.pkl'
    with open(raw_name, "wb") as fh:
        fh.write(pickle.dumps({"w": [1, 2, 3]}, protocol=4))
    host = Host(tmp_path, "h-names")
    with live_server(db_url=db) as base:
        done = subprocess.run([sys.executable, "-m", "mlvet", "inventory", str(models), "--db", host.db, "--push",
                               base, "--host", "h<b>1</b>", "-j", "1"], capture_output=True, text=True, timeout=180,
                              env={**os.environ, "MLVET_TOKEN": token}, check=False)
        assert done.returncode == 0, done.stderr
        r = httpx.get(base + "/api/v1/assets", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200, r.text
        (asset,) = r.json()["items"]
        assert asset["name"] == 'm\udcfe<img src=x onerror=alert(1)>.pkl'  # the exact name, JSON-escaped
        assert asset["hosts"][0]["host"] == "h<b>1</b>"
        assert r.headers["content-type"].startswith("application/json")
