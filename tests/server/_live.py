"""A real ``mlvet serve`` for tests: a subprocess on a free loopback port, polled on ``/healthz``.

``with live_server(db_url=..., anonymous_scopes=["read"]) as base_url:`` runs ``python -m mlvet serve`` with
a config file written from the keyword arguments (any :class:`mlvet.server.config.Settings` field) or from a
``Settings`` object, waits (bounded) until ``/healthz`` answers 200, yields ``http://127.0.0.1:<port>``
and stops the process (SIGTERM, then SIGKILL) afterwards. :class:`LiveServer` is the same with explicit
``start``/``stop``/``kill`` for fault tests. ``make_token(db_url, scopes)`` creates a token directly in
the database and returns it.

Other test folders import it as ``from server._live import live_server`` (``tests/`` is on ``sys.path``
through the root conftest), tests in this folder as ``from _live import live_server``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlvet.server.config import Settings
from mlvet.server.tokens import create_token
from mlvet.store import Store

__all__ = ["LiveServer", "free_port", "live_server", "make_token"]

_START_TIMEOUT_S = 60.0


def free_port() -> int:
    """A port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple, frozenset, set)):
        return "[" + ", ".join(_toml_value(v) for v in sorted(value) if v is not None) + "]"
    return json.dumps(str(value))  # a TOML basic string is a JSON string for these values


def make_token(db_url: str, scopes: Iterable[str], name: str = "test") -> str:
    """Create a token with ``scopes`` in the server database ``db_url`` and return it."""
    with Store(db_url) as store:
        return create_token(store, name, scopes)[1]


class LiveServer:
    """One ``mlvet serve`` subprocess; ``start()`` returns the base URL once ``/healthz`` answers."""

    def __init__(self, settings: Settings | None = None, *, workdir: str | os.PathLike[str] | None = None,
                 env: dict[str, str] | None = None, **fields: Any) -> None:
        base = dataclasses.asdict(settings) if settings is not None else {}
        base.update(fields)
        base.pop("host", None)
        base.pop("port", None)
        self.fields = base
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="mlvet-live-"))
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.base_url = ""
        self.log = self.workdir / "server.log"

    def _config(self) -> Path:
        path = self.workdir / "server.toml"
        lines = [f"{k} = {_toml_value(v)}" for k, v in self.fields.items() if v is not None]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def start(self) -> str:
        """Start the server on a free port and wait (at most a minute) for ``/healthz``."""
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "mlvet", "serve", "--config", str(self._config()), "--host", "127.0.0.1",
               "--port", str(self.port), "--no-access-log"]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.workdir)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlvet serve exited with {self.proc.returncode}: {self.log_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return self.base_url
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"mlvet serve did not become healthy in {_START_TIMEOUT_S:g} s: {self.log_text()[-3000:]}")

    def log_text(self) -> str:
        """What the server printed so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (the crash case)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> int | None:
        """SIGTERM and wait (SIGKILL after 20 s); returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode


@contextmanager
def live_server(settings: Settings | None = None, **fields: Any) -> Iterator[str]:
    """Run ``mlvet serve`` for the ``with`` block; yields its base URL (see the module docstring)."""
    server = LiveServer(settings, **fields)
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()
