"""Network facts about a domain: does it resolve (DNS), is it registered, since when, until when (RDAP).

* **DNS** (dnspython): an ``NS`` query for the registrable domain, through ``--resolver HOST:PORT`` or the
  system's resolvers, with a per-query timeout. ``NXDOMAIN`` means the name no longer exists — the first sign
  of an expired domain; ``NOERROR`` (with or without records) means it resolves; a timeout or ``SERVFAIL``
  leaves it unknown.
* **RDAP** (RFC 9082/9083, plain HTTPS GET of ``{base}/domain/{name}`` with urllib): ``404`` means the
  registry has no such registration (the domain is free to buy); otherwise its ``registration`` and
  ``expiration`` events and ``status`` values. Requests are rate limited (a minimum interval between
  them), time out, are read up to 1 MiB, and are cached on disk for a day so that re-runs do not hammer
  registries.

Only the facts are gathered here; :mod:`mlvet.data.domains` turns them into a status.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from mlvet.errors import UsageError

__all__ = ["DnsProbe", "RdapFacts", "RdapProbe", "parse_rdap"]

_MAX_RDAP_BYTES = 1 << 20
_CACHE_TTL = 24 * 3600


class DnsProbe:
    """Whether a domain resolves: ``"ok"``, ``"nxdomain"`` or ``"error"`` (timeout, SERVFAIL, refused)."""

    def __init__(self, resolver: str | None, timeout: float = 3.0) -> None:
        import dns.resolver

        self._resolver = dns.resolver.Resolver(configure=resolver is None)
        if resolver is not None:
            host, _, port = resolver.rpartition(":")
            if not host or not port.isdigit():
                raise UsageError(f"--resolver {resolver!r}: expected HOST:PORT")
            self._resolver.nameservers = [host.strip("[]")]
            self._resolver.port = int(port)
        self._resolver.timeout = timeout
        self._resolver.lifetime = timeout * 2

    def check(self, domain: str) -> str:
        """Query ``NS`` of ``domain`` and classify the answer."""
        import dns.exception
        import dns.resolver

        try:
            self._resolver.resolve(domain, "NS", raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return "nxdomain"
        except (dns.exception.DNSException, OSError):
            return "error"
        return "ok"


@dataclass(frozen=True)
class RdapFacts:
    """What RDAP says: registered or not, registration and expiration dates (ISO 8601), status values."""

    registered: bool
    registration: str | None = None
    expiration: str | None = None
    status: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The snapshot form."""
        return {"registered": self.registered, "registration": self.registration, "expiration": self.expiration,
                "status": list(self.status)}

    @classmethod
    def from_json(cls, doc: Any) -> RdapFacts | None:
        """From the snapshot form (None when absent or malformed)."""
        if not isinstance(doc, dict) or not isinstance(doc.get("registered"), bool):
            return None
        status = doc.get("status") or []
        return cls(doc["registered"], _opt_str(doc.get("registration")), _opt_str(doc.get("expiration")),
                   tuple(str(s) for s in status if isinstance(s, str)) if isinstance(status, list) else ())


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_rdap(doc: Any) -> RdapFacts:
    """The facts in an RDAP domain object (RFC 9083 §5.3: ``events``, ``status``)."""
    if not isinstance(doc, dict):
        raise ValueError("not an RDAP object")
    events: list[Any] = doc["events"] if isinstance(doc.get("events"), list) else []
    dates: dict[str, str] = {}
    for event in events:
        if isinstance(event, dict) and isinstance(event.get("eventAction"), str) and \
                isinstance(event.get("eventDate"), str):
            dates.setdefault(event["eventAction"].lower(), event["eventDate"])
    status: list[Any] = doc["status"] if isinstance(doc.get("status"), list) else []
    return RdapFacts(True, dates.get("registration"), dates.get("expiration"),
                     tuple(s.lower() for s in status if isinstance(s, str)))


class RdapProbe:
    """RDAP lookups against one base URL, rate limited, with timeouts and an on-disk cache."""

    def __init__(self, base: str, *, timeout: float = 10.0, min_interval: float = 0.2,
                 cache_dir: str | None = None) -> None:
        if not base.startswith(("http://", "https://")):
            raise UsageError(f"--rdap {base!r}: expected an http(s) URL")
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.min_interval = min_interval
        self.cache_dir = cache_dir
        self._lock = threading.Lock()
        self._next = 0.0

    def _cache_file(self, domain: str) -> str | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha256(f"{self.base}\0{domain}".encode()).hexdigest()
        return os.path.join(self.cache_dir, f"{key}.json")

    def _wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.min_interval
        if delay > 0:
            time.sleep(delay)

    def check(self, domain: str) -> RdapFacts | None:
        """RDAP facts for ``domain``; None when the lookup failed (network, malformed answer)."""
        cached = self._cache_file(domain)
        if cached is not None:
            with contextlib.suppress(OSError, ValueError):
                if time.time() - os.path.getmtime(cached) < _CACHE_TTL:
                    with open(cached, encoding="utf-8") as fh:
                        facts = RdapFacts.from_json(json.load(fh))
                    if facts is not None:
                        return facts
        facts = self._fetch(domain)
        if facts is not None and cached is not None:
            with contextlib.suppress(OSError):
                os.makedirs(os.path.dirname(cached), exist_ok=True)
                tmp = f"{cached}.{os.getpid()}.{threading.get_ident()}.partial"
                with open(tmp, "w", encoding="utf-8") as fh:
                    json.dump(facts.to_json(), fh)
                os.replace(tmp, cached)
        return facts

    def _fetch(self, domain: str) -> RdapFacts | None:
        self._wait()
        request = urllib.request.Request(f"{self.base}/domain/{urllib.parse.quote(domain, safe='')}",  # noqa: S310 (http(s) checked)
                                         headers={"Accept": "application/rdap+json, application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (http(s) only)
                body = response.read(_MAX_RDAP_BYTES + 1)
            if len(body) > _MAX_RDAP_BYTES:
                return None
            return parse_rdap(json.loads(body))
        except urllib.error.HTTPError as exc:
            return RdapFacts(False) if exc.code == 404 else None
        except (urllib.error.URLError, OSError, ValueError):
            return None
