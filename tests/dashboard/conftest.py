"""Fixtures of the dashboard tests: one fleet database and one real ``mlvet serve`` subprocess per session."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fleet import SCRIPT, build_fleet, pythonpath_env, write_pickle_exploit

from server._live import LiveServer, make_token


@dataclass
class Fleet:
    """The recorded fleet and what the tests compare pages with."""

    db_url: str
    root: Path
    info: dict[str, Any]

    def asset(self, name: str) -> Any:
        """The recorded asset called ``name`` (shared, hostile or local tree)."""
        for a in [*self.info["shared_assets"], *self.info["hostile_assets"], *self.info["local_assets"]]:
            if a.name == name:
                return a
        raise KeyError(name)


@dataclass
class Served:
    """A live server over the fleet database, with a read token and a token without the read scope, in front
    of a hub stand-in (the gateway's upstream)."""

    base: str
    read_token: str
    push_token: str
    gateway_token: str
    fleet: Fleet
    server: LiveServer
    hub_url: str


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    root = tmp_path_factory.mktemp("fleet")
    url = f"sqlite:///{root / 'inventory.db'}"
    return Fleet(url, root, build_fleet(url, root / "trees"))


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The gateway's upstream: org/gpt2 (``save_pretrained``) and org/xss (a pickle whose command is an XSS)."""
    from support.hubrepos import write_tiny_gpt2
    from support.hubserver import HubServer

    root = tmp_path_factory.mktemp("hub")
    server = HubServer(root / "server")
    server.add_repo("org/gpt2", write_tiny_gpt2(root / "gpt2"))
    evil = root / "xss"
    write_pickle_exploit(evil / "pytorch_model.bin", f"echo {SCRIPT}")
    server.add_repo("org/xss", evil)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def served(fleet: Fleet, hub: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    read = make_token(fleet.db_url, ["read"], name="dash-reader")
    push = make_token(fleet.db_url, ["push"], name="ci-pusher")
    gateway = make_token(fleet.db_url, ["gateway"], name="notebook-bob")
    server = LiveServer(db_url=fleet.db_url, hub_upstream=hub, cache_dir=str(tmp_path_factory.mktemp("gwcache")),
                        workdir=tmp_path_factory.mktemp("serve"), env={"PYTHONPATH": pythonpath_env()})
    base = server.start()
    try:
        _push(fleet, base, push, tmp_path_factory.mktemp("push"))
        yield Served(base, read, push, gateway, fleet, server, hub)
    finally:
        server.stop()


#: The host and owner of the run pushed with ``mlvet inventory --push`` (the server's fleet tables).
PUSH_HOST = "build-runner-7"
PUSH_OWNER = "ml-platform"


def _push(fleet: Fleet, base: str, token: str, work: Path) -> None:
    """A fourth host pushes its inventory of the shared tree to the server, as CI would."""
    cmd = [sys.executable, "-m", "mlvet", "inventory", str(fleet.info["trees"]["shared"]), "--db",
           f"sqlite:///{work / 'runner.db'}", "--push", base, "--host", PUSH_HOST, "--owner", PUSH_OWNER,
           "--no-progress"]
    env = {**os.environ, "MLVET_TOKEN": token, "PYTHONPATH": pythonpath_env()}
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "pushed to" in proc.stderr, proc.stderr


@dataclass
class Traffic:
    """What went through the gateway: the file served and the one refused (with the client's error)."""

    served_file: Path
    refused_error: str


@pytest.fixture(scope="session")
def gateway_traffic(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Traffic:
    """Downloads through the gateway with the real ``huggingface_hub`` client: one served, one refused."""
    from huggingface_hub import hf_hub_download

    cache = tmp_path_factory.mktemp("hf-client-cache")
    ok = hf_hub_download("org/gpt2", "model.safetensors", endpoint=served.base, token=served.gateway_token,
                         cache_dir=cache)
    with pytest.raises(Exception) as refused:  # the client raises on the gateway's 403
        hf_hub_download("org/xss", "pytorch_model.bin", endpoint=served.base, token=served.gateway_token,
                        cache_dir=cache)
    return Traffic(Path(ok), str(refused.value))
