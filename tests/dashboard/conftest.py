"""Fixtures of the dashboard tests: one fleet database and one real ``mlvet serve`` subprocess per session."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fleet import build_fleet

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
    """A live server over the fleet database, with a read token and a token without the read scope."""

    base: str
    read_token: str
    push_token: str
    fleet: Fleet
    server: LiveServer


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    root = tmp_path_factory.mktemp("fleet")
    url = f"sqlite:///{root / 'inventory.db'}"
    return Fleet(url, root, build_fleet(url, root / "trees"))


@pytest.fixture(scope="session")
def served(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    read = make_token(fleet.db_url, ["read"], name="dash-reader")
    push = make_token(fleet.db_url, ["push"], name="ci-pusher")
    server = LiveServer(db_url=fleet.db_url, workdir=tmp_path_factory.mktemp("serve"))
    base = server.start()
    try:
        yield Served(base, read, push, fleet, server)
    finally:
        server.stop()
