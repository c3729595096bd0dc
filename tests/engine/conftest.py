"""Fixtures of the engine tests: a corpus of files that take a measurable time to scan, and a Dask cluster."""

from __future__ import annotations

import pickle
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cluster import Cluster, dask_cluster

#: A protocol-0 pickle that calls os.system when loaded (only ever scanned).
EVIL = b"cos\nsystem\n(S'echo owned'\ntR."
#: Benign pickles in the corpus, each ~0.1-0.2 s of pickle analysis: a run lasts long enough to be interrupted.
HEAVY_FILES = 40


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Distinct benign pickles (no two share content), one malicious pickle, one truncated pickle."""
    root = tmp_path_factory.mktemp("engine-corpus")
    for i in range(HEAVY_FILES):
        (root / f"weights-{i:03d}.pkl").write_bytes(pickle.dumps(list(range(i, i + 200_000)), protocol=2))
    (root / "evil.pkl").write_bytes(EVIL)
    (root / "truncated.pkl").write_bytes(pickle.dumps({"a": list(range(50))}, protocol=4)[:40])
    return root


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A fresh cluster per test (a test may kill its processes): one scheduler, two workers."""
    with dask_cluster(tmp_path, workers=2) as c:
        yield c
