"""Start-up: a per-file ``mlvet scan`` imports only what its output needs.

Pre-commit hooks and CI jobs run mlvet once per file, so its start-up is paid per file; on a 500 MB checkpoint
the scan itself is a few tens of milliseconds. These tests pin the import set of the real console script
(``PYTHONPROFILEIMPORTTIME`` lists every module the process imported) so that a stray top-level import of a
heavy library is caught here rather than in a benchmark.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHECKPOINT = Path(__file__).resolve().parents[1] / "assets" / "benign" / "torch" / "state_dict_fp32.pt"

#: Never needed to scan a PyTorch file and print a report without colour.
HEAVY = ("rich", "jinja2", "sqlalchemy", "alembic", "numpy", "torch", "yaml", "cryptography")
#: mlvet layers a scan never uses.
UNUSED_LAYERS = ("mlvet.inventory", "mlvet.store", "mlvet.bom", "mlvet.trust")


def mlvet_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m mlvet``."""
    script = Path(sys.executable).with_name("mlvet")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mlvet"]


def imported_modules(args: list[str]) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Every module the console script imported for ``args`` (stdout is a pipe: no colour, no progress)."""
    env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1")
    env.pop("FORCE_COLOR", None)
    proc = subprocess.run([*mlvet_command(), *args], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    names = {line.rpartition("|")[2].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    names.discard("imported package")
    return names, proc


def _offenders(names: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes))


@pytest.mark.parametrize("fmt", ["json", "text", "sarif"])
def test_plain_scan_imports_no_heavy_library(fmt: str) -> None:
    names, proc = imported_modules(["scan", str(CHECKPOINT), "--format", fmt])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mlvet.scanner" in names  # the measurement works: the scan really ran in this process
    assert _offenders(names, HEAVY) == []
    assert _offenders(names, UNUSED_LAYERS) == []


def test_json_output_imports_only_the_json_renderer() -> None:
    names, _proc = imported_modules(["scan", str(CHECKPOINT), "--format", "json"])
    assert "mlvet.report.jsonfmt" in names
    assert "mlvet.report.text" not in names and "mlvet.report.sarif" not in names


def test_colour_output_still_uses_rich() -> None:
    """The control: the probe does see rich when the output needs it (so the tests above can fail)."""
    names, proc = imported_modules(["scan", str(CHECKPOINT), "--color"])
    assert proc.returncode == 0
    assert "rich" in names and "\x1b[" in proc.stdout


def test_version_imports_no_cli_framework() -> None:
    names, proc = imported_modules(["--version"])
    assert proc.returncode == 0
    assert "click" not in names and "mlvet.scanner" not in names
