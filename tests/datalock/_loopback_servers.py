"""Real servers on loopback for the domain tests: an authoritative DNS server and an RDAP stand-in.

* :class:`LoopbackDns` — built on dnspython: a ``dns.zone`` holding the live domains (``NS``, ``A``) and a UDP
  socket loop in a thread on 127.0.0.1 (an ephemeral port). Names in the zone get their records
  (authoritative answers), names under a present name with no records get NOERROR/no data, anything else
  NXDOMAIN. It answers until stopped, and the loop wakes every 0.2 s, so it never outlives the test.
* :class:`LoopbackRdap` — :mod:`http.server` on 127.0.0.1 serving ``GET /domain/<name>`` from a dict of RDAP
  JSON documents (404 for names not registered), counting requests (the cache and rate-limit tests read it).

Neither ever talks to anything but the loopback address it binds.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.zone


class LoopbackDns:
    """An authoritative DNS server for ``live`` domains (everything else is NXDOMAIN)."""

    def __init__(self, live: list[str]) -> None:
        lines = ["@ 3600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60", "@ 3600 IN NS ns.test."]
        for domain in live:
            lines += [f"{domain}. 300 IN NS ns1.{domain}.", f"ns1.{domain}. 300 IN A 127.0.0.53",
                      f"www.{domain}. 300 IN A 127.0.0.54"]
        self.zone = dns.zone.from_text("\n".join(lines), origin=dns.name.root, relativize=False)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="loopback-dns", daemon=True)

    @property
    def address(self) -> str:
        """``HOST:PORT`` for ``--resolver``."""
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> LoopbackDns:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        node = self.zone.get_node(question.name)
        if node is None:
            below = any(name.is_subdomain(question.name) for name in self.zone.nodes)
            if not below:
                response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        rdataset = node.get_rdataset(dns.rdataclass.IN, question.rdtype)
        if rdataset is not None:
            response.answer.append(dns.rrset.from_rdata_list(question.name, rdataset.ttl, list(rdataset)))
        return response

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            try:
                query = dns.message.from_wire(data)
                reply = self._answer(query).to_wire()
            except Exception:  # a malformed query gets no answer, the server keeps going
                continue
            self.queries += 1
            self.sock.sendto(reply, peer)


class LoopbackRdap:
    """An RDAP stand-in: ``GET /domain/<name>`` answers ``documents[name]`` or 404."""

    def __init__(self, documents: dict[str, dict[str, Any] | None]) -> None:
        self.documents = documents
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                name = self.path.rsplit("/", 1)[-1].lower()
                doc = outer.documents.get(name) if self.path.startswith("/domain/") else None
                body = json.dumps(doc if doc is not None else {"errorCode": 404, "title": "Not Found"}).encode()
                self.send_response(200 if doc is not None else 404)
                self.send_header("Content-Type", "application/rdap+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="loopback-rdap", daemon=True)

    @property
    def url(self) -> str:
        """The base URL for ``--rdap``."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> LoopbackRdap:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
