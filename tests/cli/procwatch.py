"""Wait until a command under test is really busy with its input, so that a signal interrupts real work.

Linux only (it reads ``/proc``): the process and its worker processes are watched for an open file at or
under the target. A scan of many files reads them in workers, and the parent's own walk can be over before
the first look, so children count too.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

__all__ = ["wait_until_busy"]


def _children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


def wait_until_busy(proc: subprocess.Popen[str] | subprocess.Popen[bytes], target: Path, timeout: float = 120) -> None:
    """Block until the process or one of its workers holds ``target`` (or a file under it) open: its work is
    under way. (A scan of many files reads them in worker processes, and with a fast start-up the parent's
    own walk of the folder can be over before the first look.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"finished (exit {proc.returncode}) before it could be interrupted"
        links = []
        for pid in [str(proc.pid), *_children(proc.pid)]:
            try:
                links += [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
            except OSError:
                pass
        if any(link == str(target) or link.startswith(f"{target}/") for link in links):
            return
        time.sleep(0.005)
    raise AssertionError(f"the command never opened {target}")


