"""Helpers of the training-data tests: the real console script, verify's JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


def console_script() -> str:
    """The installed ``mlvet`` console script, beside this Python or on PATH."""
    beside = Path(sys.executable).with_name("mlvet")
    found = str(beside) if beside.exists() else shutil.which("mlvet")
    assert found, "the mlvet console script is not installed (pip install -e .)"
    return found


def mlvet(*args: str, cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """The real console script (exit codes are part of the interface)."""
    return subprocess.run([console_script(), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          check=False)


def verify_json(dataset: Path, lock: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    """``mlvet data verify --format json``: (exit code, parsed report)."""
    done = mlvet("data", "verify", str(dataset), "--lock", str(lock), "--format", "json", *extra)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)
