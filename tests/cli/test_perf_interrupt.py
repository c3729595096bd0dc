"""Ctrl-C and SIGTERM during a parallel scan: a prompt stop, the conventional exit code, no orphan workers.

Driven through the real console script in its own session (process group), as a terminal or a CI runner
would: Ctrl-C goes to the whole group (workers included), ``kill`` / a CI timeout to the main process only.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlvet.parallel import WorkerPool

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the workers")

BENIGN = Path(__file__).resolve().parents[1] / "assets" / "benign"


def mlvet_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m mlvet``."""
    script = Path(sys.executable).with_name("mlvet")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mlvet"]


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def slow_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough real scikit-learn/PyTorch files that a two-worker scan runs for a while."""
    root = tmp_path_factory.mktemp("slow")
    sources = [p for sub in ("sklearn", "torch") for p in sorted((BENIGN / sub).iterdir())
               if p.is_file() and p.stat().st_size < 2_000_000]
    for i in range(6000):
        src = sources[i % len(sources)]
        folder = root / f"d{i // 500}"
        folder.mkdir(exist_ok=True)
        shutil.copy(src, folder / f"{i:05d}_{src.name}")
    return root


@pytest.mark.parametrize(
    ("signum", "to_group", "expected"),
    [(signal.SIGINT, True, 130), (signal.SIGTERM, False, 143), (signal.SIGTERM, True, 143)],
    ids=["ctrl-c-to-group", "kill-main", "term-to-group"],
)
def test_interrupted_parallel_scan_stops_promptly_without_orphans(slow_folder: Path, signum: int, to_group: bool,
                                                                  expected: int) -> None:
    proc = subprocess.Popen([*mlvet_command(), "scan", str(slow_folder), "-j", "2", "--format", "json",
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None:
            workers = _children(proc.pid)
            if len(workers) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None and len(workers) >= 2, "the scan finished or never started its workers"
        time.sleep(0.5)  # the workers are busy now
        assert proc.poll() is None, "the scan finished before the signal: make the input bigger"
        sent = time.monotonic()
        if to_group:
            os.killpg(proc.pid, signum)
        else:
            os.kill(proc.pid, signum)
        _out, err = proc.communicate(timeout=60)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == expected, err
    assert elapsed < 15, f"took {elapsed:.1f} s to stop"
    assert "interrupted" in err
    assert "Traceback" not in err, err
    time.sleep(0.2)
    assert not [w for w in workers if _running(w)], "worker processes outlived the command"
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # nothing is left in the command's process group


def _sleep_item(state: object, seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_pool_kills_busy_workers_instead_of_waiting_for_them() -> None:
    """A file that takes minutes must not hold up Ctrl-C: the pool terminates, it does not drain."""
    started = time.monotonic()
    pool = WorkerPool[float, float](2, None)
    with pytest.raises(KeyboardInterrupt), pool:
        pool.submit(_sleep_item, [60.0] * 6, [1] * 6, lambda item, why: -1.0)
        pids = pool.pids()
        time.sleep(0.5)
        raise KeyboardInterrupt
    assert time.monotonic() - started < 15
    assert len(pids) == 2
    assert not [p for p in pids if _running(p)]
