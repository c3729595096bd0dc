"""Fixtures for the guard tests: an installed guard with a private cache, canary paths, an audit log.

The audit hook records every ``pickle.find_class`` event of this process (an unpickler resolving a global,
which happens before any REDUCE can run); a refused load must leave none for the canary's ``exec``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

FIND_CLASS: list[tuple[str, str]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "pickle.find_class":
        FIND_CLASS.append((str(args[0]), str(args[1])))


sys.addaudithook(_audit)


class GuardHandle:
    """The installed guard's module plus its counters."""

    def __init__(self, cache_dir: Path) -> None:
        import mlvet.guard

        self.module = mlvet.guard
        self.cache_dir = cache_dir

    @property
    def scans(self) -> int:
        stats = self.module.stats()
        assert stats is not None
        return stats.scans

    @property
    def hits(self) -> int:
        stats = self.module.stats()
        assert stats is not None
        return stats.cache_hits

    def reinstall(self, **kwargs: Any) -> None:
        """Install again (fresh memory cache, same disk cache)."""
        self.module.install(cache_dir=str(self.cache_dir), **kwargs)


@pytest.fixture
def guard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GuardHandle]:
    import mlvet.guard

    cache_dir = tmp_path_factory.mktemp("guard-cache")
    mlvet.guard.install(cache_dir=str(cache_dir))
    try:
        yield GuardHandle(cache_dir)
    finally:
        mlvet.guard.uninstall()


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "CANARY"
    yield path


@pytest.fixture
def find_class_log() -> list[tuple[str, str]]:
    FIND_CLASS.clear()
    return FIND_CLASS
