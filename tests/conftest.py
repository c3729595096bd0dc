"""Shared fixtures for mlvet's scanner tests.

Why a session-wide corpus: the malicious samples are built from raw opcodes by
``tests/corpus/build_malicious.py`` (building them executes nothing). Writing all of them once per
session keeps the suite fast, and writing them under their (sometimes misleading) file names is what
makes the extension-mismatch samples meaningful.

Helpers here never load a scanned file with pickle/torch/numpy/joblib: tests inspect mlvet's results only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

import mlvet
from mlvet.model import FileResult

# Keras 3 runs on the PyTorch backend in this suite (TensorFlow is not a test dependency); set for the whole
# session here, where it is meant, rather than by whichever test module happens to be imported first.
os.environ.setdefault("KERAS_BACKEND", "torch")

TESTS_DIR = Path(__file__).resolve().parent
REPO_DIR = TESTS_DIR.parent
SRC_DIR = REPO_DIR / "src" / "mlvet"
CORPUS_DIR = TESTS_DIR / "corpus"
BENIGN_DIR = TESTS_DIR / "assets" / "benign"

if str(CORPUS_DIR) not in sys.path:
    sys.path.insert(0, str(CORPUS_DIR))

import build_malicious  # noqa: E402  (needs CORPUS_DIR on sys.path)

#: SQLite/PostgreSQL fixtures (``db_url``, ``pg_url``) for the store, inventory and BOM tests.
pytest_plugins = ["db_fixtures"]

ScanOne = Callable[[str | os.PathLike[str]], FileResult]


def scan_one(path: str | os.PathLike[str]) -> FileResult:
    """Scan exactly one file through the public API and return its FileResult."""
    report = mlvet.scan(path)
    assert len(report.results) == 1, f"expected one result for {path}, got {len(report.results)}"
    return report.results[0]


@pytest.fixture(scope="session")
def malicious_samples() -> list[build_malicious.Sample]:
    """Every sample of the malicious corpus, in the builder's stable order."""
    return build_malicious.build_all()


@pytest.fixture(scope="session")
def malicious_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole malicious corpus written once per session as ``<dir>/<sample name>/<file name>``."""
    root = tmp_path_factory.mktemp("malicious")
    build_malicious.write_all(root)
    return root


@pytest.fixture(scope="session")
def malicious_paths(
    malicious_dir: Path, malicious_samples: list[build_malicious.Sample]
) -> dict[str, Path]:
    """Sample name -> path of the written file."""
    paths = {s.name: malicious_dir / s.name / s.filename for s in malicious_samples}
    missing = [name for name, p in paths.items() if not p.is_file()]
    assert not missing, f"write_all did not write {missing}"
    return paths


@pytest.fixture(scope="session")
def benign_dir() -> Path:
    """``tests/assets/benign``: files written by the real ML libraries (see MANIFEST.json)."""
    assert BENIGN_DIR.is_dir(), "benign fixtures are missing; run tests/assets/make_benign.py"
    return BENIGN_DIR


@pytest.fixture(scope="session")
def benign_files(benign_dir: Path) -> list[Path]:
    """Every benign fixture file (MANIFEST.json excluded), sorted."""
    return sorted(p for p in benign_dir.rglob("*") if p.is_file() and p.name != "MANIFEST.json")


@pytest.fixture(name="scan_one", scope="session")
def scan_one_fixture() -> ScanOne:
    """``scan_one(path) -> FileResult`` through ``mlvet.scan``."""
    return scan_one


def run_cli(
    args: Sequence[str], *, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mlvet ARGS`` in a fresh process (what a user's shell does), capturing both streams."""
    full_env = dict(os.environ)
    full_env.pop("NO_COLOR", None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mlvet", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(name="run_cli", scope="session")
def run_cli_fixture() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_cli(args, cwd=..., env=...)``: ``python -m mlvet`` in a subprocess."""
    return run_cli


def console_script() -> str:
    """The installed ``mlvet`` console script (what users and CI call), beside this Python or on PATH."""
    import shutil

    beside = Path(sys.executable).with_name("mlvet")
    found = str(beside) if beside.exists() else shutil.which("mlvet")
    assert found, "the mlvet console script is not installed (pip install -e .)"
    return found


@pytest.fixture(name="mlvet_exe", scope="session")
def mlvet_exe_fixture() -> str:
    """Path of the real ``mlvet`` console script, for tests of process behaviour (signals, pipes, exit codes)."""
    return console_script()
