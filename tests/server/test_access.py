"""Dashboard sessions (login with a token, signed cookie, CSRF), the request time limit, BOM uploads."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from _fleet_data import Host, evil_files, model_files
from _live import live_server, make_token


def test_login_session_cookie_and_csrf(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'server.db'}"
    token = make_token(db, ["read"], name="dash")
    other = make_token(db, ["read"], name="other")
    with live_server(db_url=db) as base:
        with httpx.Client(base_url=base, timeout=10, follow_redirects=False) as browser:
            page = browser.get("/login", params={"next": '"><script>alert(1)</script>'})
            assert page.status_code == 200 and "<script>alert" not in page.text
            # Login CSRF: a form posted from another site (the browser says so) is refused before any cookie.
            for site in ("cross-site", "same-site"):
                forged = browser.post("/login", data={"token": token, "next": "/"}, headers={"Sec-Fetch-Site": site})
                assert forged.status_code == 403 and "another site" in forged.text
                assert "mlvet_session" not in forged.headers.get("set-cookie", "")
            bad = browser.post("/login", data={"token": "mlvet_wrong", "next": "/"},
                               headers={"Sec-Fetch-Site": "same-origin"})
            assert bad.status_code == 401 and "Invalid or revoked token" in bad.text
            assert "mlvet_session" not in bad.headers.get("set-cookie", "")
            # An open redirect through ?next is refused: only local paths.
            ok = browser.post("/login", data={"token": token, "next": "//evil.example/x"})
            assert ok.status_code == 303 and ok.headers["location"] == "/"
            cookie = ok.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
            assert token not in cookie  # the cookie names the token id, never the token
            who = browser.get("/api/v1/whoami")
            assert who.status_code == 200 and who.json() == {"token_id": 1, "name": "dash", "scopes": ["read"],
                                                             "via": "session"}
            csrf = browser.get("/api/v1/csrf").json()["csrf_token"]
            assert len(csrf) == 64
            # A state-changing form without (or with a wrong) CSRF token is refused.
            assert browser.post("/logout").status_code == 403
            assert browser.post("/logout", data={"csrf_token": "0" * 64}).status_code == 403
            # A CSRF token of another session does not fit this one.
            with httpx.Client(base_url=base, timeout=10) as second:
                second.post("/login", data={"token": other})
                foreign = second.get("/api/v1/csrf").json()["csrf_token"]
            assert browser.post("/logout", data={"csrf_token": foreign}).status_code == 403
            out = browser.post("/logout", data={"csrf_token": csrf})
            assert out.status_code == 303
            assert browser.get("/api/v1/whoami").status_code == 401
        with httpx.Client(base_url=base, timeout=10) as forger:
            forger.cookies.set("mlvet_session", "eyJ0IjoxLCJuIjoieCJ9.forged.signature")
            r = forger.get("/api/v1/whoami")
            assert r.status_code == 401 and "log in again" in r.json()["detail"]
        # Revoking the token ends its sessions at once.
        with httpx.Client(base_url=base, timeout=10) as browser:
            browser.post("/login", data={"token": other})
            assert browser.get("/api/v1/whoami").status_code == 200
            done = subprocess.run([sys.executable, "-m", "mlvet", "token", "revoke", "other", "--db", db],
                                  capture_output=True, text=True, timeout=60, check=False)
            assert done.returncode == 0, done.stderr
            r = browser.get("/api/v1/whoami")
            assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_slow_request_body_gets_408(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'server.db'}"
    with live_server(db_url=db, request_timeout_s=1.0) as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                      b"Content-Length: 100\r\n\r\ntoken=mlvet_")  # and then nothing more
            t0 = time.monotonic()
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):  # headers and JSON body
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
            took = time.monotonic() - t0
        text = answer.decode()
        assert text.startswith("HTTP/1.1 408"), text
        assert "did not arrive within 1 s" in text and took < 10


@pytest.fixture
def bom_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    db = f"sqlite:///{tmp_path / 'server.db'}"
    tokens = {s: make_token(db, [s], name=s) for s in ("read", "push")}
    with live_server(db_url=db, max_bom_bytes=200_000) as base:
        yield base, tokens


def _bom(tmp_path: Path) -> bytes:
    """A real ML-BOM written by `mlvet bom` over a small hub cache with a benign and a malicious model."""
    host = Host(tmp_path, "bom-host")
    host.put("org/good", model_files(1.0))
    host.put("org/evil", evil_files())
    out = tmp_path / "bom.json"
    done = subprocess.run([sys.executable, "-m", "mlvet", "bom", str(host.hub), "-o", str(out)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return out.read_bytes()


def test_bom_upload_validates_links_and_deduplicates(tmp_path: Path, bom_server) -> None:  # type: ignore[no-untyped-def]
    base, tokens = bom_server
    raw = _bom(tmp_path)
    push = {"Authorization": f"Bearer {tokens['push']}", "Content-Type": "application/vnd.cyclonedx+json"}
    read = {"Authorization": f"Bearer {tokens['read']}"}
    with httpx.Client(base_url=base, timeout=60) as c:
        first = c.post("/api/v1/boms", params={"project": "chatbot"}, content=raw, headers=push)
        assert first.status_code == 201, first.text
        info = first.json()
        assert info["project"] == "chatbot" and info["ml_components"] >= 2 and info["spec_version"] == "1.6"
        again = c.post("/api/v1/boms", params={"project": "chatbot"}, content=raw, headers=push)
        assert again.status_code == 200 and again.json()["id"] == info["id"]
        other = c.post("/api/v1/boms", params={"project": "search"}, content=raw, headers=push)
        assert other.status_code == 201 and other.json()["id"] != info["id"]
        assert [p["project"] for p in c.get("/api/v1/projects", headers=read).json()] == ["chatbot", "search"]
        listed = c.get("/api/v1/boms", params={"project": "chatbot"}, headers=read).json()
        assert [b["id"] for b in listed] == [info["id"]]
        down = c.get(f"/api/v1/boms/{info['id']}", headers=read)
        assert down.status_code == 200 and json.loads(down.content) == json.loads(raw)
        assert 'filename="chatbot-' in down.headers["content-disposition"]
        # Refusals: each a clear 4xx, nothing stored.
        doc = json.loads(raw)
        broken = json.dumps({**doc, "components": [{"type": "machine-learning-model"}]}).encode()
        r = c.post("/api/v1/boms", params={"project": "chatbot"}, content=broken, headers=push)
        assert r.status_code == 422 and "not a valid CycloneDX 1.6" in r.json()["detail"] and r.json()["errors"]
        r = c.post("/api/v1/boms", params={"project": "chatbot"}, content=b"{not json", headers=push)
        assert r.status_code == 422 and "not JSON" in r.json()["errors"][0]
        r = c.post("/api/v1/boms", params={"project": "chatbot"}, content=b"x" * 300_000, headers=push)
        assert r.status_code == 413 and "over the limit of 200000 bytes" in r.json()["detail"]
        r = c.post("/api/v1/boms", params={"project": "chatbot"}, content=raw,
                   headers={**push, "Content-Type": "text/plain"})
        assert r.status_code == 415
        for bad in ("../../etc", "a\nb", ""):
            r = c.post("/api/v1/boms", params={"project": bad}, content=raw, headers=push)
            assert r.status_code == 422, bad
        assert c.post("/api/v1/boms", params={"project": "x"}, content=raw,
                      headers={**push, "Authorization": f"Bearer {tokens['read']}"}).status_code == 403
        assert c.post("/api/v1/boms", params={"project": "x"}, content=raw,
                      headers={"Content-Type": "application/json"}).status_code == 401
        assert c.get("/api/v1/boms/999", headers=read).status_code == 404
        assert len(c.get("/api/v1/boms", headers=read).json()) == 2
