"""Helpers for the tests that drive the real ``mlvet`` console script in a subprocess (tests/cli/test_state_*).

Why a subprocess: what these tests pin belongs to the process (exit codes, signals, bytes written to a
terminal or a pipe, file modes under a umask, permissions); an in-process ``CliRunner`` would see none of it.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

import mlvet

SRC = str(Path(mlvet.__file__).resolve().parents[1])
#: A benign pickle: what the scanner passes as clean.
BENIGN = pickle.dumps({"a": 1, "w": [0.5, 1.5]}, protocol=4)


def truncated_pickle() -> bytes:
    """A pickle cut before STOP: the scanner reports it as ``error`` with a medium PKL200 finding."""
    from collections import OrderedDict

    return pickle.dumps({"a": OrderedDict(x=1)}, protocol=2)[:-3]


def mlvet_command() -> list[str]:
    """The installed console script beside this interpreter (else on PATH), as a user runs it."""
    script = Path(sys.executable).with_name("mlvet")
    if script.exists():
        return [str(script)]
    found = shutil.which("mlvet")
    if found is None:  # pragma: no cover - the package is installed in every test environment
        pytest.skip("the mlvet console script is not installed")
    return [found]


def env(**extra: str) -> dict[str, str]:
    """The environment for the console script: this checkout's sources first, no terminal width, no colour."""
    out = dict(os.environ)
    out["PYTHONPATH"] = SRC + (os.pathsep + out["PYTHONPATH"] if out.get("PYTHONPATH") else "")
    out.pop("COLUMNS", None)
    out.pop("MLVET_DB", None)
    out["NO_COLOR"] = "1"
    out.update(extra)
    return out


def run(*args: str | os.PathLike[str], cwd: Path | None = None, prefix: Sequence[str] = (),
        extra_env: dict[str, str] | None = None, preexec: Callable[[], None] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
    """Run ``mlvet ARGS`` to completion; stdout and stderr captured as bytes (terminal bytes are the point)."""
    return subprocess.run([*prefix, *mlvet_command(), *map(os.fspath, args)], cwd=cwd, env=env(**(extra_env or {})),
                          capture_output=True, timeout=timeout, check=False, preexec_fn=preexec)


def start(*args: str | os.PathLike[str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``mlvet ARGS`` in the background (for the signal tests)."""
    return subprocess.Popen([*mlvet_command(), *map(os.fspath, args)], cwd=cwd, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Poll ``condition`` until true; fail if the process ends first or the time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            _out, err = proc.communicate()
            pytest.fail(f"mlvet finished (exit {proc.returncode}) before the condition held: {err.decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            pytest.fail("timed out waiting for the condition")
        time.sleep(0.02)


def shim(tmp_path: Path, *blocked: str) -> dict[str, str]:
    """An environment in which importing ``blocked`` modules fails as if they were not installed.

    A ``sitecustomize`` on PYTHONPATH installs a meta-path finder raising ``ModuleNotFoundError`` with the
    module's name, exactly what Python raises for a missing package.
    """
    folder = tmp_path / "shim"
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "import sys\n"
        f"BLOCKED = {blocked!r}\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Block())\n"
    )
    return {"PYTHONPATH": f"{folder}{os.pathsep}{SRC}"}


# ---- running without the privilege to ignore permissions -------------------------------------------------


def _as_nobody() -> None:  # pragma: no cover - runs in the child
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def _denied(prefix: Sequence[str], preexec: Callable[[], None] | None, probe: Path) -> bool:
    code = ("import sys, mlvet, click, sqlalchemy\n"
            "try:\n    open(sys.argv[1], 'ab')\nexcept PermissionError:\n    sys.exit(7)\n")
    try:
        done = subprocess.run([*prefix, sys.executable, "-c", code, str(probe)], env=env(), capture_output=True,
                              timeout=60, check=False, preexec_fn=preexec)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 7


def unprivileged() -> tuple[list[str], Callable[[], None] | None]:
    """(command prefix, preexec_fn) under which permission bits are enforced, or skip.

    As root, permissions are no obstacle, so a read-only test would prove nothing: the child switches to
    ``nobody`` (``os.setuid`` in a preexec_fn) when that user can still run the interpreter, else drops the
    capabilities that bypass permission checks (``setpriv --bounding-set=-all``: uid 0 without
    CAP_DAC_OVERRIDE is bound by the mode bits like anyone). A probe proves the choice before it is used.
    """
    folder = Path(tempfile.mkdtemp(prefix="mlvet-ro-probe-"))
    try:
        folder.chmod(0o755)
        probe = folder / "probe"
        probe.write_bytes(b"x")
        probe.chmod(0o444)
        if os.geteuid() != 0:
            return [], None
        candidates: list[tuple[list[str], Callable[[], None] | None]] = [([], _as_nobody)]
        if shutil.which("setpriv"):
            candidates.append((["setpriv", "--inh-caps=-all", "--bounding-set=-all"], None))
        for prefix, preexec in candidates:
            if _denied(prefix, preexec, probe):
                return prefix, preexec
        pytest.skip("running as root with no way to drop the privilege to ignore permissions")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
