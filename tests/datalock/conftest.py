"""Fixtures of the training-data tests: an img2dataset-style dataset made at test time, and its lock."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _datalock import mlvet  # noqa: E402
from make_urllist import make_dataset  # noqa: E402


@pytest.fixture(scope="session")
def urllist(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """(dataset folder, its lock, the maker's truth): 2000 rows over 250 domains in 2 shards (files layout)."""
    base = tmp_path_factory.mktemp("urllist")
    truth = make_dataset(base / "dataset")
    lock = base / "data.lock"
    done = mlvet("data", "lock", str(base / "dataset"), "-o", str(lock))
    assert done.returncode == 0, done.stderr
    return base / "dataset", lock, truth


class Scratch:
    """Damage the shared locked dataset for one test; everything is put back afterwards.

    Copying 6,000 files per test costs more than the test itself on a busy machine, so tests damage the
    session's dataset in place through :meth:`keep` (the original bytes of each file they touch are kept);
    teardown restores those files and removes any file that was added.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.saved: dict[Path, bytes] = {}
        self.listing = {p for p in root.rglob("*") if p.is_file()}

    def keep(self, path: Path) -> Path:
        """Remember ``path``'s bytes before the test changes or deletes it."""
        if path not in self.saved and path.exists():
            self.saved[path] = path.read_bytes()
        return path

    def restore(self) -> None:
        """Put every touched file back and delete the added ones."""
        for path in {p for p in self.root.rglob("*") if p.is_file()} - self.listing:
            path.unlink()
        for path, data in self.saved.items():
            path.write_bytes(data)


@pytest.fixture
def scratch(urllist: tuple[Path, Path, dict[str, Any]]) -> Any:
    """The locked dataset, to be damaged through ``scratch.keep(path)`` and restored after the test."""
    state = Scratch(urllist[0])
    try:
        yield state
    finally:
        state.restore()
