"""``mlvet serve`` as a real subprocess: health, OpenAPI, tokens (CLI and HTTP), the limits middleware."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from _live import LiveServer, live_server, make_token

from mlvet.errors import UsageError
from mlvet.server.config import load_settings
from mlvet.server.limits import UnsafePath, safe_join


def _mlvet(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlvet", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def _raw_get(base: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (http.client sends the request target unchanged)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_health_openapi_and_token_lifecycle(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'server.db'}"
    made = _mlvet("token", "create", "--name", "team-a", "--scope", "read,push", "--db", db, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("mlvet_") and "shown only this once" in made.stderr
    listed = _mlvet("token", "list", "--db", db, "-f", "json", cwd=tmp_path)
    assert token not in listed.stdout and '"team-a"' in listed.stdout
    assert token not in (tmp_path / "server.db").read_bytes().decode("latin-1")  # only the hash is stored
    with live_server(db_url=db) as base, httpx.Client(base_url=base, timeout=10) as c:
        assert c.get("/healthz").json()["status"] == "ok"
        schema = c.get("/openapi.json").json()
        assert "/api/v1/whoami" in schema["paths"] and "/healthz" in schema["paths"]
        assert c.get("/docs").status_code == 200
        who = c.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        assert who.status_code == 200 and who.json()["scopes"] == ["push", "read"]
        missing = c.get("/api/v1/whoami")
        assert missing.status_code == 401 and "authentication required" in missing.json()["detail"]
        assert missing.headers["www-authenticate"].startswith("Bearer")
        bad = c.get("/api/v1/whoami", headers={"Authorization": "Bearer mlvet_not-a-token"})
        assert bad.status_code == 401 and "invalid or revoked" in bad.json()["detail"]
        basic = c.get("/api/v1/whoami", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        assert basic.status_code == 401 and "Bearer" in basic.json()["detail"]
        revoked = _mlvet("token", "revoke", "team-a", "--db", db, cwd=tmp_path)
        assert revoked.returncode == 0, revoked.stderr
        after = c.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        assert after.status_code == 401 and "revoked" in after.json()["detail"]


def test_traversal_and_oversized_bodies_get_clear_4xx(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'server.db'}"
    token = make_token(db, ["admin"])
    auth = {"Authorization": f"Bearer {token}"}
    with live_server(db_url=db, max_upload_bytes=1000) as base, httpx.Client(base_url=base, timeout=10) as c:
        for path in ("/api/v1/../../etc/passwd", "/api/v1/%2e%2e/%2e%2e/etc/passwd", "/x/..%2f..%2fetc",
                     "/api/v1/a%5c..%5cb", "/api/v1/a%00b"):
            status, body = _raw_get(base, path, auth)  # httpx would normalise the dots away
            assert status == 400, (path, status)
            assert "refused request path" in json.loads(body)["detail"]
        big = c.post("/api/v1/whoami", content=b"x" * 5000, headers=auth)
        assert big.status_code == 413 and "over the limit of 1000 bytes" in big.json()["detail"]

        def chunks() -> object:
            for _ in range(10):
                yield b"y" * 400

        # No Content-Length: the body is counted as it arrives (a route that reads it: the login form).
        chunked = c.post("/login", content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert chunked.status_code == 413


def test_settings_precedence_and_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "server.toml"
    cfg.write_text('[server]\nport = 9000\nanonymous_scopes = ["read"]\nmax_upload_bytes = 1234\n')
    s = load_settings(str(cfg), {"MLVET_SERVER_PORT": "9001"}, {"port": None, "host": "0.0.0.0"})
    assert (s.port, s.host, s.max_upload_bytes, s.anonymous_scopes) == (9001, "0.0.0.0", 1234, frozenset({"read"}))
    assert load_settings(None, {}, {}).anonymous_scopes == frozenset()
    assert load_settings(None, {}, {}).host == "127.0.0.1"
    with pytest.raises(UsageError, match="unknown setting 'prot'"):
        cfg.write_text("prot = 1\n")
        load_settings(str(cfg), {}, {})
    with pytest.raises(UsageError, match="MLVET_SERVER_ANONYMOUS_SCOPES: unknown scope everything"):
        load_settings(None, {"MLVET_SERVER_ANONYMOUS_SCOPES": "everything"}, {})
    with pytest.raises(UsageError, match="bad value"):
        load_settings(None, {"MLVET_SERVER_PORT": "eighty"}, {})


def test_safe_join(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert safe_join(tmp_path, "a", "b.txt") == tmp_path.resolve() / "a" / "b.txt"
    os.symlink("/etc", tmp_path / "a" / "out")
    for parts in (("..", "x"), ("/etc/passwd",), ("a\\..\\..",), ("a", "out", "passwd"), ("a\x00",), ("",)):
        with pytest.raises(UnsafePath):
            safe_join(tmp_path, *parts)


def test_anonymous_scopes_are_off_unless_configured(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'server.db'}"
    server = LiveServer(db_url=db, anonymous_scopes=["read"], workdir=tmp_path)
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as c:
            # whoami needs a credential even then: anonymous is a scope grant, not an identity.
            assert c.get("/api/v1/whoami").status_code == 401
    finally:
        assert server.stop() in (0, 143, -15)
