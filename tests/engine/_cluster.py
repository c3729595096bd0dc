"""A real Dask cluster for the engine tests: a ``dask scheduler`` process and ``dask worker`` processes.

Everything listens on 127.0.0.1 with free ports; every wait is bounded; every process is killed (by its own
pid) when the test ends. Workers run without a nanny, one thread each, so killing a worker's pid kills the
process that holds its tasks (what a machine loss or the OOM killer does).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env() -> dict[str, str]:
    """The environment of cluster processes: mlvet importable from this worktree, no user config."""
    e = dict(os.environ)
    e["PYTHONPATH"] = SRC + os.pathsep + e.get("PYTHONPATH", "")
    e["DASK_DISTRIBUTED__WORKER__DAEMON"] = "False"
    return e


class Cluster:
    """The processes of one test cluster."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.spec = f"dask://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("wb")
        return subprocess.Popen([sys.executable, "-m", *args], stdout=log, stderr=subprocess.STDOUT, env=env(),
                                start_new_session=True)

    def start_scheduler(self) -> None:
        """Start the scheduler and wait (bounded) until it accepts connections."""
        self.scheduler = self._spawn("scheduler", ["distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                                   "--port", str(self.port), "--no-dashboard"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError("the Dask scheduler did not start within 60 s")

    def add_worker(self) -> subprocess.Popen[bytes]:
        """Start one worker (one thread, no nanny)."""
        w = self._spawn(f"worker{len(self.workers)}", [
            "distributed.cli.dask_worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
            "--host", "127.0.0.1", "--memory-limit", "0", "--death-timeout", "60"])
        self.workers.append(w)
        return w

    def wait_for_workers(self, n: int, timeout: float = 60) -> None:
        """Wait until the scheduler counts ``n`` workers."""
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as c:
            c.wait_for_workers(n, timeout=timeout)

    def stop(self) -> None:
        """Kill every process of the cluster (by pid) and reap it."""
        for p in [*self.workers, *([self.scheduler] if self.scheduler else [])]:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


@contextmanager
def dask_cluster(log_dir: Path, workers: int = 2) -> Iterator[Cluster]:
    """A running cluster of ``workers`` workers, stopped on exit."""
    c = Cluster(log_dir)
    try:
        c.start_scheduler()
        for _ in range(workers):
            c.add_worker()
        c.wait_for_workers(workers)
        yield c
    finally:
        c.stop()
