"""BOM tests run with the network blocked: schema and model validation must work offline."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from _bom_support import NetworkBlocked


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to connect or resolve a name fails the test."""

    def refuse(*_args: object, **_kwargs: object) -> Any:
        raise NetworkBlocked("network access attempted during a BOM test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
