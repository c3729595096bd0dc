"""Start-up: a per-file ``mlvet scan`` imports only what its output needs.

Pre-commit hooks and CI jobs run mlvet once per file, so its start-up is paid per file; on a 500 MB checkpoint
the scan itself is a few tens of milliseconds. These tests pin the import set of the real console script
(``PYTHONPROFILEIMPORTTIME`` lists every module the process imported) so that a stray top-level import of a
heavy library is caught here rather than in a benchmark.
"""

from __future__ import annotations

import json
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


def imported_modules(args: list[str], cwd: Path | None = None) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Every module the console script imported for ``args`` (stdout is a pipe: no colour, no progress)."""
    env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1")
    env.pop("FORCE_COLOR", None)
    proc = subprocess.run([*mlvet_command(), *args], capture_output=True, text=True, env=env, timeout=120,
                          check=False, cwd=cwd)
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


#: Format modules a PyTorch zip checkpoint never needs: each is imported only when a file's content passes
#: its prefilter in :mod:`mlvet.formats.dispatch` (the small text members ``version``, ``byteorder`` and
#: ``.data/serialization_id`` of a checkpoint must not pass the text formats' prefilters).
LAZY_FORMATS = ("onnx", "onnx_backdoor", "tensorflow", "tf_meta", "keras", "gguf", "tflite", "safetensors", "hf",
                "yaml_tags", "hydra_config", "templates", "embeddings", "torch7", "paddle", "coreml", "openvino",
                "boosting", "zarr", "mxnet", "cntk")
#: Every command module but scan's (and the package itself and its click-free helpers).
OTHER_COMMANDS = ("assets", "bom", "convert", "data", "diff", "inventory", "rules", "score", "sign", "verify")


def test_pt_scan_imports_only_the_zip_and_pickle_formats(tmp_path: Path) -> None:
    names, proc = imported_modules(["scan", str(CHECKPOINT), "--format", "json"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {"mlvet.formats.zip", "mlvet.formats.pickle", "mlvet.scanner"} <= names
    assert _offenders(names, tuple(f"mlvet.formats.{m}" for m in LAZY_FORMATS)) == []


def test_plain_scan_imports_neither_click_nor_another_command_nor_a_toml_parser(tmp_path: Path) -> None:
    """The fast path: no click, only the scan body; the cwd has no pyproject naming mlvet, so no TOML."""
    names, proc = imported_modules(["scan", str(CHECKPOINT), "--format", "json", "--no-color"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mlvet.commands._scan_body" in names
    assert _offenders(names, ("click", "tomllib", "mlvet.hfcache")) == []
    assert _offenders(names, tuple(f"mlvet.commands.{c}" for c in (*OTHER_COMMANDS, "scan"))) == []


def test_a_command_imports_its_own_module_only(tmp_path: Path) -> None:
    """Through click (``-j 1`` is not a fast-path option): the group imports only the invoked command."""
    names, proc = imported_modules(["scan", str(CHECKPOINT), "--format", "json", "-j", "1"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "click" in names and "mlvet.commands.scan" in names
    assert _offenders(names, tuple(f"mlvet.commands.{c}" for c in OTHER_COMMANDS)) == []
    names, proc = imported_modules(["rules", "--format", "json"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mlvet.commands.rules" in names
    assert _offenders(names, tuple(f"mlvet.commands.{c}" for c in OTHER_COMMANDS if c != "rules")) == []


def test_help_still_lists_every_command_with_its_short_help() -> None:
    from mlvet.commands import COMMANDS

    proc = subprocess.run([*mlvet_command(), "--help"], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0
    listed = proc.stdout.split("Commands:", 1)[1].splitlines()
    rows = {line.split()[0]: line for line in listed if line.strip()}
    assert list(rows) == list(COMMANDS)
    assert all(len(row.split()) > 2 for row in rows.values()), rows  # a name and its short help


def _comparable(stdout: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads(stdout)
    for key in ("started_at", "finished_at", "duration_s"):
        doc.pop(key, None)
    return doc


@pytest.mark.parametrize("extra", [[], ["--fail-on", "medium", "--verbose"], ["--format=json", "--no-progress"]])
def test_fast_path_and_click_give_the_same_report_and_exit_code(tmp_path: Path, extra: list[str]) -> None:
    """The same scan through the fast path and through click (``-j 1``, the default job count for one file)."""
    target = str(CHECKPOINT.parent)
    fast = subprocess.run([*mlvet_command(), "scan", target, "--format", "json", *extra], capture_output=True,
                          text=True, timeout=120, check=False, cwd=tmp_path)
    slow = subprocess.run([*mlvet_command(), "scan", target, "--format", "json", *extra, "-j", "1"],
                          capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path)
    assert fast.returncode == slow.returncode, (fast.stderr[-1000:], slow.stderr[-1000:])
    assert _comparable(fast.stdout) == _comparable(slow.stdout)


@pytest.mark.parametrize("args", [["scan"], ["scan", str(CHECKPOINT), "--format", "nope"],
                                  ["scan", str(CHECKPOINT), "--fail-on", "bogus"], ["scan", str(CHECKPOINT), "-f=json"],
                                  ["scan", str(CHECKPOINT), "--format"]])
def test_what_the_fast_path_cannot_parse_goes_to_click(args: list[str]) -> None:
    proc = subprocess.run([*mlvet_command(), *args], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 4, proc.stderr[-1000:]
    assert "mlvet: error:" in proc.stderr and "Traceback" not in proc.stderr  # click's usage error


def test_fast_path_defaults_are_the_click_commands_defaults() -> None:
    import click

    from mlvet.cli import get_cli
    from mlvet.commands._scan_body import DEFAULTS

    command = get_cli().get_command(click.Context(get_cli()), "scan")
    params = dict(command.make_context("scan", ["model.pt"]).params)  # what click passes for no options
    assert params.pop("paths") == ("model.pt",)
    assert params == DEFAULTS
