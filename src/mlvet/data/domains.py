"""Split-view exposure of a URL list: rows per registrable domain, and which domains could be taken over.

Domains are grouped by *registrable* domain (the public suffix plus one label: ``cdn.shop.example.co.uk``
→ ``example.co.uk``) because that is what a registrar sells and what an attacker buys. The suffixes come from
``publicsuffixlist``, which bundles a dated copy of the Public Suffix List in its wheel and never fetches one
at run time (an offline scanner must give the same grouping on every run); only the ICANN section is used,
since private suffixes such as ``github.io`` are platforms, not registries — a name under them is taken over
by claiming an account, not by buying a domain, and is grouped with its platform.

Status of a domain, from DNS and RDAP facts (live, :mod:`mlvet.data.probes`, or a recorded snapshot):

``expired``       RDAP has no registration (404: anyone can buy it), its expiration date is past, or it is in
                  ``redemption period`` / ``pending delete``
``changed``       registered again after the recorded date (``--since``): it may have changed hands
``unresolvable``  DNS says the name does not exist, while RDAP says it is still registered (or was not asked)
``unknown``       no answer (timeouts, errors, not in the snapshot, an IP address, an unparsable URL)
``ok``            resolves and is registered

The *takeover share* is the share of rows on ``expired`` domains: what an attacker could serve by buying
what is for sale (Carlini et al. 2023 bought such domains for LAION-400M and COYO-700M).
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from mlvet.data import urllist
from mlvet.data.probes import DnsProbe, RdapFacts, RdapProbe
from mlvet.errors import UsageError

__all__ = ["DomainReport", "DomainRow", "count_domains", "domain_status", "load_snapshot", "registrable",
           "snapshot_document", "survey"]

SNAPSHOT_FORMAT = "mlvet-domain-snapshot"
_EXPIRED_STATUS = ("redemption period", "pending delete", "pendingdelete", "redemptionperiod")
INVALID = "(invalid url)"
_PSL: dict[str, Any] = {}


def _psl() -> Any:
    if "list" not in _PSL:
        try:
            from publicsuffixlist import PublicSuffixList
        except ImportError:
            raise UsageError("grouping URLs by domain needs publicsuffixlist, which is not installed: "
                             "pip install 'mlvet[data]'") from None
        _PSL["list"] = PublicSuffixList(only_icann=True)
    return _PSL["list"]


def registrable(url: str) -> str:
    """The registrable domain of a URL's host (an IP address stays itself; garbage is ``(invalid url)``)."""
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return INVALID
    if not host:
        return INVALID
    host = host.rstrip(".").lower()
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return INVALID
    return str(_psl().privatesuffix(host) or host)


def iter_urls(path: str, column: str | None) -> Iterator[str]:
    """The URL column of a table (parquet, CSV, TSV, JSONL), streamed; a folder: every URL-list table in it."""
    if os.path.isdir(path):
        tables = sorted(os.path.join(folder, name) for folder, _, names in os.walk(path) for name in names
                        if urllist.is_table(name))
        tables = [t for t in tables if urllist.url_column_of(t, None) is not None or column is not None]
        if not tables:
            raise UsageError(f"{path}: no URL-list table (parquet, CSV, TSV or JSONL with a URL column) in it")
        for table in tables:
            yield from iter_urls(table, column)
        return
    found = urllist.url_column_of(path, column)
    if found is None:
        raise UsageError(f"{path}: no URL column found; name it with --url-column")
    for row in urllist.iter_rows(path):
        value = row.get(found)
        yield value if isinstance(value, str) else ""


def count_domains(urls: Iterable[str]) -> tuple[Counter[str], int]:
    """Rows per registrable domain and the total number of rows."""
    counts: Counter[str] = Counter()
    total = 0
    for url in urls:
        counts[registrable(url)] += 1
        total += 1
    return counts, total


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def domain_status(dns: str | None, rdap: RdapFacts | None, *, since: datetime | None, now: datetime) -> str:
    """The status of one domain from its facts (see the module docstring)."""
    if rdap is not None:
        expiration = _date(rdap.expiration)
        if not rdap.registered or (expiration is not None and expiration < now) or \
                any(s in _EXPIRED_STATUS for s in rdap.status):
            return "expired"
        registration = _date(rdap.registration)
        if since is not None and registration is not None and registration > since:
            return "changed"
    if dns == "nxdomain":
        return "unresolvable"
    if dns == "ok" or (dns is None and rdap is not None):
        return "ok"
    return "unknown"


@dataclass(frozen=True)
class DomainRow:
    """One domain of the report."""

    domain: str
    rows: int
    share: float
    status: str


@dataclass
class DomainReport:
    """Per-domain shares and statuses, and the facts they came from (for ``--record-snapshot``)."""

    domains: list[DomainRow]
    total: int
    facts: dict[str, tuple[str | None, RdapFacts | None]]

    @property
    def takeover_share(self) -> float:
        """Share of rows on expired domains."""
        return sum(d.rows for d in self.domains if d.status == "expired") / max(1, self.total)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON."""
        return {"domains": [{"domain": d.domain, "rows": d.rows, "share": round(d.share, 9), "status": d.status}
                            for d in self.domains],
                "takeover_share": round(self.takeover_share, 9)}


def load_snapshot(path: str) -> tuple[dict[str, tuple[str | None, RdapFacts | None]], datetime | None]:
    """Facts recorded by ``--record-snapshot``: ``{domain: (dns, rdap)}`` and the date they were recorded."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the domain snapshot {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != SNAPSHOT_FORMAT or not isinstance(doc.get("domains"), dict):
        raise UsageError(f"{path} is not a mlvet domain snapshot (\"format\": \"{SNAPSHOT_FORMAT}\")")
    facts: dict[str, tuple[str | None, RdapFacts | None]] = {}
    for domain, entry in doc["domains"].items():
        if isinstance(entry, dict):
            dns = entry.get("dns") if entry.get("dns") in ("ok", "nxdomain", "error") else None
            facts[str(domain)] = (dns, RdapFacts.from_json(entry.get("rdap")))
    return facts, _date(doc.get("recorded") if isinstance(doc.get("recorded"), str) else None)


def snapshot_document(facts: dict[str, tuple[str | None, RdapFacts | None]], recorded: datetime) -> dict[str, Any]:
    """The snapshot file for ``facts``, recorded at ``recorded``."""
    return {"format": SNAPSHOT_FORMAT, "version": 1, "recorded": recorded.isoformat(timespec="seconds"),
            "domains": {d: {"dns": dns, "rdap": None if rdap is None else rdap.to_json()}
                        for d, (dns, rdap) in sorted(facts.items())}}


def _probe(domains: list[str], dns: DnsProbe | None, rdap: RdapProbe | None,
           workers: int) -> dict[str, tuple[str | None, RdapFacts | None]]:
    def one(domain: str) -> tuple[str, tuple[str | None, RdapFacts | None]]:
        if domain == INVALID or _is_ip(domain):
            return domain, (None, None)
        answer = dns.check(domain) if dns is not None else None
        facts = rdap.check(domain) if rdap is not None else None
        return domain, (answer, facts)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlvet-domains") as pool:
        return dict(pool.map(one, domains))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def survey(counts: Counter[str], total: int, *, dns: DnsProbe | None = None, rdap: RdapProbe | None = None,
           snapshot: dict[str, tuple[str | None, RdapFacts | None]] | None = None, since: datetime | None = None,
           now: datetime | None = None, workers: int = 8) -> DomainReport:
    """Statuses for every domain of ``counts``: from ``snapshot`` when given (offline), else by probing."""
    now = now or datetime.now(timezone.utc)
    ordered = sorted(counts, key=lambda d: (-counts[d], d))
    if snapshot is not None:
        facts = {d: snapshot.get(d, (None, None)) for d in ordered}
    else:
        facts = _probe(ordered, dns, rdap, workers) if (dns is not None or rdap is not None) else \
            dict.fromkeys(ordered, (None, None))
    rows = [DomainRow(d, counts[d], counts[d] / max(1, total), domain_status(*facts[d], since=since, now=now))
            for d in ordered]
    return DomainReport(rows, total, facts)
