"""HTTP-level tests of every dashboard page and filter against a real ``mlvet serve`` subprocess.

The fleet (:mod:`_fleet`) is a real inventory of real files recorded for three simulated hosts plus this
machine; every assertion compares a page with what the inventory recorded.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from _fleet import HOSTILE_HOST, HOSTS, IFRAME, IMG, SCRIPT, SVG
from markupsafe import escape

from conftest import PUSH_OWNER, Served, Traffic

PAGES = ["/ui/", "/ui/assets", "/ui/hosts", "/ui/runs", "/ui/gateway", "/ui/bom.json"]


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base, timeout=30,
                      headers={"Authorization": f"Bearer {served.read_token}"}) as c:
        yield c


def _names(page: str) -> list[str]:
    """Asset names linked from an assets table, unescaped."""
    return [html.unescape(m) for m in re.findall(r'<a href="/ui/assets/[0-9a-f]+">([^<]*)</a>', page)]


def _asset_pages(served: Served) -> list[str]:
    return [f"/ui/assets/{a.id}" for a in served.fleet.info["hostile_assets"] + served.fleet.info["shared_assets"]]


def test_every_page_needs_a_login(served: Served) -> None:
    with httpx.Client(base_url=served.base, timeout=30) as anon:
        for path in [*PAGES, *_asset_pages(served), "/ui/runs/1", "/ui/assets?verdict=critical"]:
            r = anon.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"] == f"/ui/login?next={quote(path, safe='')}", path
        assert anon.get("/").headers["location"] == "/ui/"
        # The login page and the style sheet are public; the page loads nothing from elsewhere.
        login = anon.get("/ui/login", params={"next": "//evil.example/x"})
        assert login.status_code == 200 and 'action="/login"' in login.text
        assert 'name="next" value="/ui/"' in login.text, "an off-site next= must not survive"
        assert "script-src" not in login.headers["content-security-policy"]
        assert "default-src 'none'" in login.headers["content-security-policy"]
        assert anon.get("/ui/static/dashboard.css").headers["content-type"].startswith("text/css")
        # A bad bearer token is a 401 (an API client is told, not redirected); a token without read is 403.
        assert anon.get("/ui/", headers={"Authorization": "Bearer mlvet_wrong"}).status_code == 401
        r = anon.get("/ui/", headers={"Authorization": f"Bearer {served.push_token}"})
        assert r.status_code == 403 and "lacks the scope" in r.text


def test_login_session_and_logout_with_csrf(served: Served) -> None:
    with httpx.Client(base_url=served.base, timeout=30) as browser:
        bad = browser.post("/login", data={"token": "mlvet_nope", "next": "/ui/hosts"})
        assert bad.status_code == 401 and "mlvet_session" not in browser.cookies
        r = browser.post("/login", data={"token": served.read_token, "next": "/ui/hosts"})
        assert r.status_code == 303 and r.headers["location"] == "/ui/hosts"
        page = browser.get("/ui/hosts")
        assert page.status_code == 200 and "dash-reader" in page.text
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
        assert csrf is not None, "the sign-out form carries the session's CSRF token"
        assert browser.post("/logout", data={"csrf_token": "0" * 64}).status_code == 403
        assert browser.get("/ui/hosts").status_code == 200, "a forged sign-out must not end the session"
        out = browser.post("/logout", data={"csrf_token": csrf.group(1)})
        assert out.status_code == 303
        assert browser.get("/ui/hosts").status_code == 303


def test_anonymous_only_when_the_operator_allows_it(served: Served, tmp_path_factory: pytest.TempPathFactory) -> None:
    from server._live import live_server

    with live_server(db_url=served.fleet.db_url, anonymous_scopes=["read"]) as base, \
            httpx.Client(base_url=base, timeout=30) as anon:
        r = anon.get("/ui/")
        assert r.status_code == 200 and "anonymous" in r.text
        assert anon.get("/ui/assets", params={"verdict": "critical"}).status_code == 200


def test_overview_counts_and_chart(served: Served, client: httpx.Client) -> None:
    page = client.get("/ui/").text
    current = {a.id: a for a in [*served.fleet.info["shared_assets"], *served.fleet.info["hostile_assets"],
                                 *served.fleet.info["local_assets"]]}
    total = re.search(r'<div class="n">(\d+)</div><div class="l">assets in the current inventory', page)
    assert total is not None and int(total.group(1)) == len(current) == 6
    critical = sum(1 for a in current.values() if a.verdict == "critical")
    assert f'<a class="tile" href="/ui/assets?verdict=critical"><div class="n">{critical}</div>' in page
    # Changes since last week: today lab-gpu-01's second run changed and worsened the GPT-2 and added one.
    changes = served.fleet.info["changes"]
    today = served.fleet.info["second"].finished_at.date().isoformat()
    assert f"<title>{today}: {len(changes.worse)} worse</title>" in page
    assert f"<title>{today}: {len(changes.changed)} changed</title>" in page
    for host in HOSTS[:2]:
        assert f"{host}</a>" in page
    assert html.escape(HOSTILE_HOST) in page and HOSTILE_HOST not in page


@pytest.mark.parametrize(("query", "expected"), [
    ({}, {"tiny-gpt2", "trojan.pt", "second.pkl", f"model {SVG}", f"{IMG}.pkl", "gpt2-local"}),
    ({"verdict": "critical"}, {"trojan.pt", "second.pkl", f"{IMG}.pkl"}),
    ({"host": "laptop-ana"}, {"tiny-gpt2", "trojan.pt", "second.pkl"}),
    ({"host": "laptop-ana", "verdict": "medium"}, {"tiny-gpt2"}),
    ({"format": "safetensors"}, {"tiny-gpt2", f"model {SVG}", "gpt2-local"}),
    ({"q": "TROJAN"}, {"trojan.pt"}),
    ({"q": "checkpoints/second"}, {"second.pkl"}),
    ({"q": "100%_"}, set()),
    ({"license": "APACHE-2.0"}, {"tiny-gpt2", "gpt2-local"}),
    ({"kind": "dataset"}, set()),
    ({"source": "local"}, {"tiny-gpt2", "trojan.pt", "second.pkl", f"model {SVG}", f"{IMG}.pkl", "gpt2-local"}),
    ({"verdict": "<bogus>", "page": "x"}, {"tiny-gpt2", "trojan.pt", "second.pkl", f"model {SVG}", f"{IMG}.pkl",
                                           "gpt2-local"}),
])
def test_asset_filters(client: httpx.Client, query: dict[str, str], expected: set[str]) -> None:
    r = client.get("/ui/assets", params=query)
    assert r.status_code == 200
    names = _names(r.text)
    # Two GPT-2 copies share a name only when both trees hold one; the set compares names, the count ids.
    assert set(names) == expected
    assert f"({len(names)})" in r.text


def test_asset_page_shows_everything_recorded(served: Served, client: httpx.Client) -> None:
    gpt2 = served.fleet.asset("tiny-gpt2")
    page = client.get(f"/ui/assets/{gpt2.id}").text
    for f in gpt2.files:
        assert f">{html.escape(f.rel)}<" in page
    for finding in gpt2.findings:
        assert html.escape(finding.message) in page and html.escape(finding.evidence) in page
    # Both hosts whose latest run has it; its lineage from the card; its history over two hosts, three runs.
    assert page.count('href="/ui/assets?host=lab-gpu-01"') == 1 and 'href="/ui/assets?host=laptop-ana"' in page
    assert "openai-community/gpt2" in page and "acme/reviews" in page
    assert len(re.findall(r'<li><a href="/ui/runs/\d+">#\d+</a>', page)) == 4, "two runs, one on laptop-ana, one push"
    assert 'href="/ui/assets?host=build-runner-7"' in page
    # The report card: every check listed; the file-reading checks are inconclusive for another host's files.
    for name in ("code_execution", "signature", "integrity", "license", "serialization_format"):
        assert f'data-check="{name}"' in page
    assert "the files are not on this server" in page and "Not recorded by the inventory" in page
    sig_row = page.split('data-check="signature"')[1].split("</tr>")[0]
    assert "–" in sig_row and "needs the files, which are on build-runner-7" in sig_row, "the newest state"


def test_report_card_of_a_critical_asset_elsewhere_is_capped(served: Served, client: httpx.Client) -> None:
    from mlvet.trust.score import score_model

    trojan = served.fleet.asset("trojan.pt")
    page = client.get(f"/ui/assets/{trojan.id}").text
    card = score_model(trojan.path)  # the same file scored on disk: its cap applies to the recorded card too
    assert card.cap is not None
    shown = float(re.search(r'<span class="score s-\w+">([0-9.]+)</span>', page).group(1))
    assert shown <= card.cap.limit and str(escape(card.cap.reason)) in page


def test_asset_on_this_machine_gets_the_real_report_card(served: Served, client: httpx.Client) -> None:
    from mlvet.trust.score import score_model

    local = served.fleet.asset("gpt2-local")
    page = client.get(f"/ui/assets/{local.id}").text
    assert "computed on this server&#39;s copy of the files" in page
    card = score_model(local.path)
    assert '<span class="score s-' in page and f">{card.score:.1f}</span>" in page
    assert "No signature next to the files." in page


def test_recorded_lineage_is_shown(served: Served, client: httpx.Client) -> None:
    import sqlalchemy as sa

    from mlvet.store import Store

    with Store(served.fleet.db_url) as store:
        has_table = sa.inspect(store.engine).has_table("lineage")
    if not has_table:
        pytest.skip("this tree has no lineage table yet (issue 15's `mlvet data link` adds it)")
    local = served.fleet.asset("gpt2-local")
    proc = subprocess.run([sys.executable, "-m", "mlvet", "data", "link", local.path, "acme/reviews-2024",
                           "--no-verify", "--db", served.fleet.db_url], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    page = client.get(f"/ui/assets/{local.id}").text
    lineage = page.split('id="lineage"')[1].split("</section>")[0]
    assert "trained on (explicit)" in lineage and "acme/reviews-2024" in lineage


def test_a_push_claiming_this_host_never_makes_the_server_read_files(tmp_path: Path) -> None:
    """A push token holder names the server's own host and a path on it: the card still uses the record only."""
    import socket

    from _fleet import build_trees, pythonpath_env

    from server._live import live_server, make_token

    trees = build_trees(tmp_path / "trees")
    db = f"sqlite:///{tmp_path / 'server.db'}"
    push, read = make_token(db, ["push"]), make_token(db, ["read"])
    with live_server(db_url=db, env={"PYTHONPATH": pythonpath_env()}) as base, \
            httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {read}"}) as c:
        proc = subprocess.run(
            [sys.executable, "-m", "mlvet", "inventory", str(trees["local"]), "--db", f"sqlite:///{tmp_path / 'c.db'}",
             "--push", base, "--host", socket.gethostname(), "--no-progress"],
            env={**os.environ, "MLVET_TOKEN": push, "PYTHONPATH": pythonpath_env()}, capture_output=True, text=True,
            timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
        asset_id = re.search(r'href="/ui/assets/([0-9a-f]+)">gpt2-local<', c.get("/ui/assets").text).group(1)
        page = c.get(f"/ui/assets/{asset_id}").text
        assert "computed from the inventory record" in page and "copy of the files" not in page
        assert "needs the files, which are on" in page


def test_hosts_runs_and_run_pages(served: Served, client: httpx.Client) -> None:
    hosts = client.get("/ui/hosts").text
    for host in HOSTS:
        assert str(escape(host)) in hosts
    runner = hosts.split('href="/ui/assets?host=build-runner-7"')[1].split("</tr>")[0]
    assert PUSH_OWNER in runner and "critical" in runner, "the pushed host's owner (fleet tables) and worst verdict"
    runs = client.get("/ui/runs").text
    pushed = re.search(r'<a href="/ui/runs/(\d+)">#\d+</a> <span class="badge b-pushed">pushed</span>', runs)
    assert pushed is not None and runs.count("b-pushed") == 1
    push_page = client.get(f"/ui/runs/{pushed.group(1)}").text
    assert "Fleet-wide changes" in push_page and f"by {PUSH_OWNER}" in push_page
    assert push_page.count('<span class="badge b-new">new</span>') == 6, "3 new on the host, 3 new to the fleet"
    assert 'href="/ui/runs?host=lab-gpu-01">2</a>' in hosts, "lab-gpu-01 recorded two runs"
    runs = client.get("/ui/runs", params={"host": "lab-gpu-01"}).text
    ids = re.findall(r'<td><a href="/ui/runs/(\d+)">', runs)
    assert ids == [str(served.fleet.info["second"].id), str(served.fleet.info["first"].id)]
    second = client.get(f"/ui/runs/{served.fleet.info['second'].id}").text
    changes = served.fleet.info["changes"]
    assert second.count('<span class="badge b-worse">worse</span>') == len(changes.worse) == 1
    assert second.count('<span class="badge b-new">new</span>') == len(changes.new) == 1
    assert client.get("/ui/runs/999999").status_code == 404
    assert client.get("/ui/runs/abc").status_code == 404
    assert client.get("/ui/assets/0123456789abcdef").status_code == 404


def test_bom_downloads(served: Served, client: httpx.Client) -> None:
    fleet = client.get("/ui/bom.json")
    assert fleet.status_code == 200 and fleet.headers["content-type"] == "application/vnd.cyclonedx+json"
    assert "attachment" in fleet.headers["content-disposition"]
    doc = json.loads(fleet.text)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    models = [c for c in doc["components"] if c["type"] == "machine-learning-model"]
    assert len(models) == 6, "one component per current asset (plus the datasets their cards name)"
    critical = json.loads(client.get("/ui/bom.json", params={"verdict": "critical"}).text)
    assert sorted(c["name"] for c in critical["components"] if c["type"] == "machine-learning-model") == sorted(
        ["trojan.pt", "second.pkl", f"{IMG}.pkl"])
    one = served.fleet.asset("trojan.pt")
    single = json.loads(client.get(f"/ui/assets/{one.id}/bom.json").text)
    assert [c["name"] for c in single["components"] if c["type"] == "machine-learning-model"] == ["trojan.pt"]
    assert any(v.get("id") or v.get("source") for v in single.get("vulnerabilities", [])), "findings travel"


def test_gateway_page_on_a_fresh_database(tmp_path: Path) -> None:
    from server._live import live_server, make_token

    db = f"sqlite:///{tmp_path / 'fresh.db'}"
    token = make_token(db, ["read"])
    with live_server(db_url=db) as base, httpx.Client(base_url=base, timeout=30,
                                                      headers={"Authorization": f"Bearer {token}"}) as c:
        page = c.get("/ui/gateway")
        assert page.status_code == 200 and "No gateway decisions in this database" in page.text
        overview = c.get("/ui/")
        assert overview.status_code == 200 and "nothing recorded yet" in overview.text
        assert "No changes in the last 7 days." in overview.text
        assert "No host has recorded a run yet" in c.get("/ui/hosts").text


def test_gateway_log_shows_served_and_refused_downloads(served: Served, gateway_traffic: Traffic,
                                                        client: httpx.Client) -> None:
    assert "pytorch_model.bin" in gateway_traffic.refused_error
    page = client.get("/ui/gateway").text
    rows = page.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    by_repo = {re.search(r'<td class="name">(?:<span[^>]*>[^<]*</span> )?([^<]+)<', r).group(1): r for r in rows}
    served_row, refused_row = by_repo["org/gpt2"], by_repo["org/xss"]
    assert "b-served" in served_row and "model.safetensors" in served_row and "notebook-bob" in served_row
    assert "b-refused" in refused_row and "pytorch_model.bin" in refused_row and "PKL" in refused_row
    assert str(escape(SCRIPT)) in refused_row and SCRIPT not in page, "the finding text is escaped"
    # Filters: by decision and by text.
    refused = client.get("/ui/gateway", params={"verdict": "refused"}).text
    assert "org/xss" in refused and "org/gpt2" not in refused.split("<tbody>")[1]
    found = client.get("/ui/gateway", params={"q": "GPT2"}).text.split("<tbody>")[1]
    assert "org/gpt2" in found and "org/xss" not in found
    assert '<div class="n">1</div><div class="l"><span class="badge b-refused">refused</span>' in page


PAYLOADS = [SCRIPT, IMG, SVG, IFRAME, HOSTILE_HOST]


def test_hostile_text_is_escaped_on_every_page(served: Served, client: httpx.Client) -> None:
    pages = [*PAGES[:-1], *_asset_pages(served), *(f"/ui/runs/{r.id}" for r in [served.fleet.info["second"]]),
             "/ui/runs/2", "/ui/assets?q=" + quote(IMG), "/ui/assets?host=" + quote(HOSTILE_HOST)]
    seen: set[str] = set()
    for path in pages:
        r = client.get(path)
        assert r.status_code == 200, path
        for p in PAYLOADS:
            assert p not in r.text, f"{p!r} reached {path} unescaped"
            if str(escape(p)) in r.text:
                seen.add(p)
        injected = re.search(r"<(script|img|iframe)\b|<svg onload|<b onmouseover", r.text, re.IGNORECASE)
        assert injected is None, f"markup from scanned text on {path}: {injected.group(0)}"
    assert seen == set(PAYLOADS), f"payloads never shown (escaped) anywhere: {set(PAYLOADS) - seen}"
