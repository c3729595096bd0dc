"""``mlvet scan https://…`` (here ``http://`` on loopback) through fsspec's HTTP backend, served by the standard
library's file server, which ignores ``Range``: a header at offset 0 still costs only its prefix, findings
equal a local scan, and a missing file is incomplete."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from s3server import write_model_files

import mlvet
from mlvet.model import Status
from mlvet.remote.scan import scan_remote

pytest.importorskip("aiohttp", reason="fsspec's HTTP backend (mlvet[http]) is not installed")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that stops reading a 1 GB body (it had what it needed) is expected, not an error."""


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Path]]]:
    folder = tmp_path_factory.mktemp("web")
    files = write_model_files(folder)
    server = _Server(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", files
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize("name", ["evil.pkl", "sklearn.joblib", "small.safetensors", "big.safetensors"])
def test_findings_equal_a_local_scan(web: tuple[str, dict[str, Path]], name: str) -> None:
    base, files = web
    [res] = scan_remote(f"{base}/{name}").results
    [local] = mlvet.scan([str(files[name])]).results
    assert (res.status, res.format, res.severity) == (local.status, local.format, local.severity), res.errors
    assert sorted((f.rule_id, f.evidence) for f in res.findings) == sorted((f.rule_id, f.evidence)
                                                                          for f in local.findings)
    assert res.origin is not None and res.origin.kind == "fsspec" and res.origin.locator == f"{base}/{name}"
    assert res.bytes_read is not None and res.bytes_read < 1 << 20


def test_big_file_behind_a_server_without_ranges_costs_its_header(web: tuple[str, dict[str, Path]]) -> None:
    base, _ = web
    [res] = scan_remote(f"{base}/big.safetensors").results
    assert res.status is Status.SCANNED and res.size is not None and res.size > 1 << 30
    assert res.bytes_read is not None and 0 < res.bytes_read < 1 << 20


def test_missing_file_is_an_error(web: tuple[str, dict[str, Path]]) -> None:
    base, _ = web
    [res] = scan_remote(f"{base}/missing.pkl").results
    assert res.status is Status.ERROR and "no such object" in res.errors[0]
