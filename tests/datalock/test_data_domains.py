"""``mlvet data domains``: per-domain shares and statuses from a real DNS server and an RDAP stand-in on loopback.

The URL list is the maker's img2dataset dataset (2000 rows, 250 registrable domains behind www./cdn./...
subdomains over com, org, net, co.uk, com.au, de, io). Each domain's fate is served by the loopback
authoritative DNS server (dnspython) and the RDAP stand-in (http.server); the expected status of each
domain and its row count come from the maker, not from mlvet.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyarrow", reason="pyarrow (mlvet[data]) is not installed")
pytest.importorskip("publicsuffixlist", reason="publicsuffixlist (mlvet[data]) is not installed")
pytest.importorskip("dns.resolver", reason="dnspython (mlvet[data]) is not installed")

from _datalock import mlvet
from _loopback_servers import LoopbackDns, LoopbackRdap
from make_urllist import SINCE, expected_statuses, rdap_document, resolves, snapshot

from mlvet.data.domains import domain_status, registrable
from mlvet.data.probes import RdapFacts, parse_rdap

Fixture = tuple[Path, Path, dict[str, Any]]


@pytest.fixture(scope="module")
def servers(urllist: Fixture) -> Any:
    fates = urllist[2]["fates"]
    live = [d for d, fate in fates.items() if resolves(fate)]
    with LoopbackDns(live) as dns_server, LoopbackRdap({d: rdap_document(d, f) for d, f in fates.items()}) as rdap:
        yield dns_server, rdap


def _domains(*args: str) -> tuple[int, dict[str, Any], str]:
    done = mlvet("data", "domains", *args, "--format", "json")
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def _check_against_truth(report: dict[str, Any], truth: dict[str, Any]) -> None:
    total = truth["rows"]
    got = {d["domain"]: d for d in report["domains"]}
    assert set(got) == set(truth["per_domain"])  # grouped by registrable domain, subdomains folded in
    for domain, rows in truth["per_domain"].items():
        assert got[domain]["rows"] == rows
        assert got[domain]["share"] == pytest.approx(rows / total, abs=1e-8)
    expected = expected_statuses(truth["fates"])
    assert {d: e["status"] for d, e in got.items()} == expected
    expired_rows = sum(truth["per_domain"][d] for d, s in expected.items() if s == "expired")
    assert report["takeover_share"] == pytest.approx(expired_rows / total, abs=1e-8)
    assert report["takeover_share"] > 0
    counts = [e["rows"] for e in report["domains"]]
    assert counts == sorted(counts, reverse=True)


def test_live_dns_and_rdap_on_loopback(urllist: Fixture, servers: Any, tmp_path: Path) -> None:
    dataset, _, truth = urllist
    dns_server, rdap = servers
    recorded = tmp_path / "recorded.json"
    code, report, stderr = _domains(str(dataset), "--resolver", dns_server.address, "--rdap", rdap.url,
                                    "--since", SINCE, "--rate", "100", "--cache-dir", str(tmp_path / "cache"),
                                    "--record-snapshot", str(recorded))
    assert code == 0, stderr
    _check_against_truth(report, truth)
    assert dns_server.queries >= len(truth["fates"]) and len(rdap.requests) == len(truth["fates"])
    # the RDAP answers are cached on disk: a second run asks the registry nothing
    before = len(rdap.requests)
    code, again, _ = _domains(str(dataset), "--resolver", dns_server.address, "--rdap", rdap.url, "--since", SINCE,
                              "--rate", "100", "--cache-dir", str(tmp_path / "cache"))
    assert again == report and len(rdap.requests) == before
    # the recorded snapshot replays offline to the same report (the servers are not asked)
    queries = dns_server.queries
    code, replay, _ = _domains(str(dataset), "--snapshot", str(recorded), "--since", SINCE)
    assert code == 0 and replay == report and dns_server.queries == queries


def test_recorded_snapshot_offline(urllist: Fixture, tmp_path: Path) -> None:
    dataset, _, truth = urllist
    snap = tmp_path / "snapshot.json"
    snap.write_text(json.dumps(snapshot(truth["fates"])))
    code, report, _ = _domains(str(dataset), "--snapshot", str(snap), "--since", SINCE)
    assert code == 0
    _check_against_truth(report, truth)
    # --fail-over turns the takeover share into an exit code
    assert mlvet("data", "domains", str(dataset), "--snapshot", str(snap), "--since", SINCE,
                 "--fail-over", "0.001").returncode == 1
    # without --since the snapshot's recording date is the reference: the 2024 re-registrations are 'changed'
    code, report, _ = _domains(str(dataset / "00000.parquet"), "--snapshot", str(snap))
    assert {e["status"] for e in report["domains"]} <= {"ok", "expired", "unresolvable", "changed"}


def test_text_output_escapes_hostile_urls(tmp_path: Path) -> None:
    table = tmp_path / "urls.tsv"
    with open(table, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t")
        writer.writerow(["id", "link_to_image"])
        writer.writerow(["1", "https://a.example.com/x.jpg"])
        writer.writerow(["2", "https://b.example.com/y.jpg"])
        writer.writerow(["3", "http://198.51.100.7/z.jpg"])
        writer.writerow(["4", "not a url \x1b[31m"])
    done = mlvet("data", "domains", str(table), "--url-column", "link_to_image", "--offline")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "example.com" in done.stdout
    _, report, _ = _domains(str(table), "--url-column", "link_to_image", "--offline")
    assert [(d["domain"], d["rows"], d["status"]) for d in report["domains"]] == [
        ("example.com", 2, "unknown"), ("(invalid url)", 1, "unknown"), ("198.51.100.7", 1, "unknown")]
    assert mlvet("data", "domains", str(table)).returncode == 4  # no known URL column: name it
    assert mlvet("data", "domains", str(table), "--url-column", "nope").returncode == 4
    assert mlvet("data", "domains", str(table), "--resolver", "nonsense", "--url-column",
                 "link_to_image").returncode == 4


def test_unanswered_dns_is_unknown(tmp_path: Path) -> None:
    jsonl = tmp_path / "urls.jsonl"
    jsonl.write_text('{"url": "https://one.example.org/a"}\n{"url": "https://two.example.net/b"}\n')
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        code, report, _ = _domains(str(jsonl), "--resolver", f"127.0.0.1:{port}", "--timeout", "0.2")
    assert code == 0 and {d["status"] for d in report["domains"]} == {"unknown"}
    assert report["takeover_share"] == 0


@pytest.mark.parametrize(("url", "domain"), [
    ("https://cdn.images.example.co.uk/a.jpg", "example.co.uk"),
    ("http://WWW.Example.COM:8080/x", "example.com"),
    ("https://user.github.io/p.png", "github.io"),  # a platform, not a registry: grouped with it
    ("https://bücher.de/x", "xn--bcher-kva.de"),
    ("https://[2001:db8::1]/x", "2001:db8::1"),
    ("ftp://", "(invalid url)"),
    ("https://a.b.c.example.com.au/", "example.com.au"),
])
def test_registrable_domain(url: str, domain: str) -> None:
    assert registrable(url) == domain


def test_status_rules() -> None:
    from datetime import datetime, timezone

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    since = datetime(2023, 1, 1, tzinfo=timezone.utc)
    active = parse_rdap(rdap_document("x.com", "ok"))
    assert domain_status("ok", active, since=since, now=now) == "ok"
    assert domain_status("nxdomain", RdapFacts(False), since=since, now=now) == "expired"
    assert domain_status("nxdomain", parse_rdap(rdap_document("x.com", "lapsed")), since=since, now=now) == "expired"
    assert domain_status("ok", parse_rdap(rdap_document("x.com", "changed")), since=since, now=now) == "changed"
    assert domain_status("ok", parse_rdap(rdap_document("x.com", "changed")), since=None, now=now) == "ok"
    assert domain_status("nxdomain", active, since=since, now=now) == "unresolvable"
    assert domain_status("nxdomain", None, since=since, now=now) == "unresolvable"
    assert domain_status("error", None, since=since, now=now) == "unknown"
    assert domain_status(None, None, since=since, now=now) == "unknown"


def test_rdap_rate_limit_cache_and_bad_answers(tmp_path: Path) -> None:
    import time

    from mlvet.data.probes import RdapProbe

    docs: dict[str, Any] = {f"d{i}.com": rdap_document(f"d{i}.com", "ok") for i in range(4)}
    with LoopbackRdap(docs) as rdap:
        probe = RdapProbe(rdap.url, min_interval=0.15, cache_dir=str(tmp_path / "cache"))
        start = time.monotonic()
        facts = [probe.check(d) for d in docs]
        assert time.monotonic() - start >= 0.44  # four requests, at least 0.15 s apart
        assert all(f is not None and f.registered for f in facts)
        assert probe.check("missing.com") == RdapFacts(False)  # 404: not registered
        count = len(rdap.requests)
        assert [probe.check(d) for d in docs] == facts and len(rdap.requests) == count  # from the cache
        docs["broken.com"] = ["not", "an", "object"]  # type: ignore[assignment]
        assert probe.check("broken.com") is None  # a malformed answer is unknown, not 'registered'
    with pytest.raises(Exception, match="http"):
        RdapProbe("file:///etc/passwd")
