"""Helpers and fixtures for the gateway tests: a hub stand-in upstream and a live ``mlvet serve`` in front of it.

Why real processes: the acceptance is about what the real clients (``huggingface_hub``, ``transformers``) do
against the real HTTP protocol, so the upstream is the loopback hub stand-in (``tests/support/hubserver.py``,
repos written by ``save_pretrained``/``torch.save``) and the gateway is ``python -m mlvet serve`` in a
subprocess, started with ``--hub-upstream`` pointing at it. Session scope: repos are written once; each test
uses repos of its own (or counts relative to a baseline) so tests stay independent.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from support.hubrepos import write_malicious_repo, write_tiny_bert, write_tiny_gpt2
from support.hubserver import HubServer

if TYPE_CHECKING:
    from server._live import LiveServer

#: Entries in the slow-to-scan pickle: seconds of scanner time, for the kill-mid-scan test.
SLOW_PICKLE_ITEMS = 1_500_000


@dataclass
class Hub:
    """The running upstream and the source folders of its repos."""

    server: HubServer
    url: str
    root: Path
    folders: dict[str, Path]

    def add(self, repo_id: str, name: str, revision: str = "main") -> str:
        """Commit ``folders[name]`` to ``repo_id`` and return the commit sha."""
        return self.server.add_repo(repo_id, self.folders[name], revision=revision)


@dataclass
class Gateway:
    """A live gateway: its URL, a token with scope ``gateway``, its database URL and the process handle."""

    url: str
    token: str
    db_url: str
    live: LiveServer
    cache_dir: Path


def _write_slow_pickle(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = [{"a": i, "b": str(i)} for i in range(SLOW_PICKLE_ITEMS)]
    (folder / "data.pkl").write_bytes(pickle.dumps(data, protocol=4))
    return folder


def _write_truncated(folder: Path, evil: Path) -> Path:
    """A repo whose ``pytorch_model.bin`` is cut short: the scan cannot complete (fail closed)."""
    folder.mkdir(parents=True, exist_ok=True)
    whole = (evil / "pytorch_model.bin").read_bytes()
    (folder / "pytorch_model.bin").write_bytes(whole[: len(whole) // 2])
    (folder / "config.json").write_bytes((evil / "config.json").read_bytes())
    return folder


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """Upstream with org/bert, org/gpt2 (benign, save_pretrained), org/evil (os.system pickle), org/truncated."""
    root = tmp_path_factory.mktemp("gwhub")
    server = HubServer(root / "server")
    folders = {
        "bert": write_tiny_bert(root / "bert"),
        "bert2": write_tiny_bert(root / "bert2", seed=1),
        "gpt2": write_tiny_gpt2(root / "gpt2"),
        "evil": write_malicious_repo(root / "evil"),
    }
    folders["truncated"] = _write_truncated(root / "truncated", folders["evil"])
    folders["slow"] = _write_slow_pickle(root / "slow")
    hub = Hub(server, "", root, folders)
    for repo, name in (("org/bert", "bert"), ("org/gpt2", "gpt2"), ("org/evil", "evil"),
                       ("org/truncated", "truncated")):
        hub.add(repo, name)
    hub.url = server.start()
    try:
        yield hub
    finally:
        server.stop()


def _pythonpath() -> str:
    """``PYTHONPATH`` with every entry absolute (the server runs in another folder; ``src`` must stay this tree)."""
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    src = str(Path(__file__).resolve().parents[2] / "src")
    return os.pathsep.join(dict.fromkeys([src, *(os.path.abspath(p) for p in parts)]))


def start_gateway(hub: Hub, root: Path, **fields: object) -> Gateway:
    """Start ``mlvet serve --hub-upstream <hub>`` on a fresh SQLite database and cache under ``root``."""
    from server._live import LiveServer, make_token

    root.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{root / 'server.db'}"
    token = make_token(db_url, ["gateway"], name="alice")
    cache_dir = root / "cache"
    live = LiveServer(db_url=db_url, hub_upstream=hub.url, cache_dir=str(cache_dir), workdir=root / "work",
                      env={"PYTHONPATH": _pythonpath()}, **fields)
    (root / "work").mkdir(exist_ok=True)
    url = live.start()
    return Gateway(url, token, db_url, live, cache_dir)


@pytest.fixture(scope="session")
def gateway(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One live gateway in front of :func:`hub` for the session."""
    gw = start_gateway(hub, tmp_path_factory.mktemp("gw"))
    try:
        yield gw
    finally:
        gw.live.stop()


@pytest.fixture
def python() -> str:
    """The interpreter for client subprocesses (the one running the tests)."""
    return sys.executable
