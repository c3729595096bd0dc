"""``--engine dask://``: a real Dask cluster (separate scheduler and worker processes) started by the tests.

Results must equal the local engine's on the same corpus, and runs recorded with ``--db`` must end with every
file's result written exactly once after a worker is SIGKILLed mid-run or the client is killed and resumed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _cluster import Cluster, env

from mlvet.engine import open_engine
from mlvet.engine.codec import result_to_doc
from mlvet.policy import default_policy
from mlvet.scanner import scan

TIMEOUT = 180


def _mlvet(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlvet", *args], capture_output=True, text=True, env=env(),
                          check=False, cwd=cwd, timeout=TIMEOUT)


def _start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "mlvet", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env(), cwd=cwd, start_new_session=True)


@functools.lru_cache(maxsize=2)
def _local(corpus: Path) -> dict[str, dict[str, Any]]:
    report = scan([str(corpus)], policy=default_policy(), jobs=1)
    return {r.path: result_to_doc(r) for r in report.results}


def _rows(db: str) -> list[tuple[str, dict[str, Any]]]:
    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT path, result FROM scan_run_results"))
            return [(p, json.loads(r) if isinstance(r, str) else r) for p, r in rows]
    except sa.exc.OperationalError:  # the table does not exist yet
        return []
    finally:
        engine.dispose()


def _wait_rows(db: str, at_least: int, proc: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        n = len(_rows(db))
        if n >= at_least:
            return n
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise TimeoutError("no result was recorded in time")


def _assert_exactly_once_and_equal(db: str, corpus: Path) -> None:
    rows = _rows(db)
    paths = [p for p, _r in rows]
    assert len(paths) == len(set(paths))  # exactly once
    local = _local(corpus)
    assert sorted(paths) == sorted(local)  # every file
    for path, doc in rows:
        stored = dict(doc)
        stored.pop("path")
        assert stored.pop("sha256") == hashlib.sha256(Path(path).read_bytes()).hexdigest()
        stored["sha256"] = None  # a plain scan does not hash; the recorded run does (its cache key)
        assert stored["status"] != "error" or local[path]["status"] == "error", (path, stored["errors"])
        assert stored == json.loads(json.dumps(local[path])), path


def test_dask_engine_results_equal_the_local_engine(cluster: Cluster, corpus: Path) -> None:
    engine = open_engine(cluster.spec)
    try:
        on_dask = scan([str(corpus)], policy=default_policy(), engine=engine)
    finally:
        engine.close()
    local = scan([str(corpus)], policy=default_policy(), jobs=1)
    assert on_dask.results == local.results
    assert any(r.findings for r in local.results) and any(r.status.value == "error" for r in local.results)


def test_scan_command_with_dask_engine_prints_the_local_report(cluster: Cluster, corpus: Path,
                                                                tmp_path: Path) -> None:
    on_dask = _mlvet("scan", str(corpus), "-f", "json", "--engine", cluster.spec, cwd=tmp_path)
    local = _mlvet("scan", str(corpus), "-f", "json", "-j", "1", cwd=tmp_path)
    assert on_dask.returncode == local.returncode == 1, on_dask.stderr
    assert json.loads(on_dask.stdout)["results"] == json.loads(local.stdout)["results"]


def test_inventory_with_dask_engine_equals_local(cluster: Cluster, corpus: Path, tmp_path: Path) -> None:
    a = _mlvet("inventory", str(corpus), "--db", f"sqlite:///{tmp_path}/a.db", "-f", "json", "--engine",
               cluster.spec, cwd=tmp_path)
    b = _mlvet("inventory", str(corpus), "--db", f"sqlite:///{tmp_path}/b.db", "-f", "json", "-j", "1",
               cwd=tmp_path)
    assert a.returncode == b.returncode == 2, a.stderr  # the truncated pickle: incomplete
    strip = ("first_seen", "last_seen")
    assets_a = [{k: v for k, v in x.items() if k not in strip} for x in json.loads(a.stdout)["assets"]]
    assets_b = [{k: v for k, v in x.items() if k not in strip} for x in json.loads(b.stdout)["assets"]]
    assert assets_a == assets_b


def test_worker_killed_mid_run_every_result_written_once(cluster: Cluster, corpus: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/run.db"
    client = _start("scan", str(corpus), "--db", db, "--engine", cluster.spec, "--run-id", "r1", "-f", "json",
                    cwd=tmp_path)
    try:
        _wait_rows(db, 3, client)  # the run is under way (the issue rows come first)
        victim = cluster.workers[0]
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        out, err = client.communicate(timeout=TIMEOUT)
    finally:
        if client.poll() is None:
            os.kill(client.pid, signal.SIGKILL)
            client.wait(timeout=10)
    assert client.returncode == 1, err
    assert len(json.loads(out)["results"]) == len(_local(corpus))
    _assert_exactly_once_and_equal(db, corpus)


def test_client_killed_and_resumed_every_result_written_once(cluster: Cluster, corpus: Path,
                                                              tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/run.db"
    client = _start("scan", str(corpus), "--db", db, "--engine", cluster.spec, "--run-id", "r2", cwd=tmp_path)
    try:
        recorded = _wait_rows(db, 6, client)
        os.kill(client.pid, signal.SIGKILL)
        client.wait(timeout=10)
    finally:
        if client.poll() is None:
            os.kill(client.pid, signal.SIGKILL)
            client.wait(timeout=10)
    partial = len(_rows(db))
    assert recorded <= partial < len(_local(corpus))  # killed mid-run
    final = sum(r["status"] != "error" for _p, r in _rows(db))  # error rows are retried on resume
    again = _mlvet("scan", str(corpus), "--db", db, "--engine", cluster.spec, "--run-id", "r2", "--resume",
                   "-f", "json", cwd=tmp_path)
    assert again.returncode == 1, again.stderr
    assert f"{final} already recorded" in again.stderr
    _assert_exactly_once_and_equal(db, corpus)
    # A second resume only retries the file that cannot be analysed (an error may be transient) and changes
    # nothing.
    third = _mlvet("scan", str(corpus), "--db", db, "--run-id", "r2", "--resume", "-f", "json", cwd=tmp_path)
    assert third.returncode == 1 and " 1 scanned" in third.stderr, third.stderr
    _assert_exactly_once_and_equal(db, corpus)


def test_scheduler_killed_then_new_cluster_resumes_to_exactly_once(cluster: Cluster, corpus: Path,
                                                                   tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/run.db"
    client = _start("scan", str(corpus), "--db", db, "--engine", cluster.spec, "--run-id", "r3", cwd=tmp_path)
    try:
        _wait_rows(db, 6, client)
        assert cluster.scheduler is not None
        os.kill(cluster.scheduler.pid, signal.SIGKILL)
        try:  # the client gives up on its own (its futures are lost), or it is stopped as a user would
            client.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(client.pid, signal.SIGKILL)
            client.wait(timeout=10)
    finally:
        if client.poll() is None:
            os.kill(client.pid, signal.SIGKILL)
            client.wait(timeout=10)
    assert client.returncode != 0
    cluster.stop()
    from _cluster import dask_cluster

    with dask_cluster(tmp_path, workers=1) as fresh:
        again = _mlvet("scan", str(corpus), "--db", db, "--engine", fresh.spec, "--run-id", "r3", "--resume",
                       "-f", "json", cwd=tmp_path)
    assert again.returncode == 1, again.stderr
    _assert_exactly_once_and_equal(db, corpus)
