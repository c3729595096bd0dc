"""``mlvet hub-scan`` against the loopback hub stand-in (tests/support/hubserver.py), on the local engine and
on a real Dask cluster: every file once in the database, origins pinned, shared blobs scanned once, a policy
change never served from the cache, and findings equal to a local scan of the same files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _cluster import Cluster, env

from mlvet.policy import default_policy
from mlvet.scanner import scan
from support.hubrepos import write_big_safetensors_repo, write_malicious_repo, write_tiny_bert
from support.hubserver import HubServer

TIMEOUT = 300
TOKENIZER = json.dumps({"version": "1.0", "model": {"type": "WordPiece", "vocab": {f"w{i}": i for i in range(500)}}})


@dataclass
class Hub:
    """The running stand-in and what it serves."""

    server: HubServer
    url: str
    folders: dict[str, Path]
    commits: dict[str, str]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """org/bert, org/evil (malicious pickle), org/big (sparse 1 GB safetensors), and org/copy-0..2: three repos
    sharing the same weights and tokenizer (each with its own README)."""
    root = tmp_path_factory.mktemp("hub")
    server = HubServer(root / "server")
    folders = {"bert": write_tiny_bert(root / "bert"), "evil": write_malicious_repo(root / "evil"),
               "big": write_big_safetensors_repo(root / "big")}
    (folders["bert"] / "tokenizer.json").write_text(TOKENIZER)
    for i in range(3):
        f = root / f"copy-{i}"
        shutil.copytree(folders["bert"], f)
        (f / "README.md").write_text(f"# copy {i}\n")
        folders[f"copy-{i}"] = f
    commits = {name: server.add_repo(f"org/{name}", folder) for name, folder in folders.items()}
    url = server.start()
    try:
        yield Hub(server, url, folders, commits)
    finally:
        server.stop()


def _hub_scan(hub: Hub, tmp: Path, db: str, *extra: str, repos: list[str] | None = None,
              ) -> subprocess.CompletedProcess[str]:
    listing = tmp / "repos.txt"
    names = repos if repos is not None else ["org/bert", "org/evil", "org/big", "org/copy-0", "org/copy-1",
                                               "org/copy-2@main", "# a comment", "", "org/missing"]
    listing.write_text("\n".join(names) + "\n")
    return subprocess.run([sys.executable, "-m", "mlvet", "hub-scan", "--repos", str(listing), "--db", db,
                           "--endpoint", hub.url, *extra], capture_output=True, text=True, env=env(), cwd=tmp,
                          check=False, timeout=TIMEOUT)


def _rows(db: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT run_id, path, source, status, severity, bytes_read, cache_hit, "
                                        "result FROM scan_run_results ORDER BY run_id, path")).mappings().all()
            return [dict(r, result=json.loads(r["result"]) if isinstance(r["result"], str) else r["result"])
                    for r in rows]
    finally:
        engine.dispose()


def _rules(doc: dict[str, Any]) -> list[str]:
    return sorted(f["rule_id"] for f in doc["findings"])


def test_hub_scan_records_every_file_once_with_pinned_origins(hub: Hub, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/hub.db"
    done = _hub_scan(hub, tmp_path, db, "-j", "1")
    assert done.returncode == 1, done.stderr  # org/evil
    rows = _rows(db)
    paths = [r["path"] for r in rows]
    assert len(paths) == len(set(paths))
    expected = {f"hf://org/{name}@{hub.commits[name]}/{p.relative_to(folder).as_posix()}"
                for name, folder in hub.folders.items() for p in folder.rglob("*") if p.is_file()}
    assert set(paths) == expected | {"hf://org/missing"}
    missing = next(r for r in rows if r["path"] == "hf://org/missing")
    assert missing["status"] == "error"
    # Findings equal those of a local scan of the same files.
    for name in ("evil", "bert"):
        local = {Path(r.path).relative_to(hub.folders[name]).as_posix(): sorted(f.rule_id for f in r.findings)
                 for r in scan([str(hub.folders[name])], policy=default_policy(), jobs=1).results}
        remote = {r["path"].split(f"@{hub.commits[name]}/", 1)[1]: _rules(r["result"])
                  for r in rows if r["path"].startswith(f"hf://org/{name}@")}
        assert remote == local
    evil = next(r for r in rows if r["path"].endswith("org/evil@" + hub.commits["evil"] + "/pytorch_model.bin"))
    assert evil["severity"] == 5
    # The sparse 1 GB safetensors file cost its header, not its size.
    big = next(r for r in rows if r["path"].endswith("/model.safetensors") and "org/big@" in r["path"])
    assert big["status"] == "scanned" and 0 < big["bytes_read"] < 1 << 20
    # Shared blobs (weights, tokenizer) of the three copies and bert were scanned once; the rest are hits.
    shared = [r for r in rows if r["path"].endswith(("/model.safetensors", "/tokenizer.json"))
              and "/org/big@" not in r["path"] and "org/big@" not in r["path"]]
    assert len(shared) == 8 and sum(not r["cache_hit"] for r in shared) == 2
    assert all(r["bytes_read"] == 0 for r in shared if r["cache_hit"])
    assert "6 shared within the run" in done.stdout


def test_second_run_is_served_from_the_cache_unless_the_policy_changed(hub: Hub, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/hub.db"
    repos = ["org/evil", "org/copy-0"]
    first = _hub_scan(hub, tmp_path, db, "-j", "1", repos=repos)
    assert first.returncode == 1, first.stderr
    second = _hub_scan(hub, tmp_path, db, "-j", "1", repos=repos)
    assert second.returncode == 1, second.stderr
    rows = _rows(db)
    runs = sorted({r["run_id"] for r in rows})
    assert len(runs) == 2
    again = [r for r in rows if r["run_id"] == runs[1]]
    # Everything but the folder-dependent config.json (never cached) comes from the cache.
    assert {r["path"].rsplit("/", 1)[1] for r in again if not r["cache_hit"]} == {"config.json"}
    policy = tmp_path / "policy.toml"
    policy.write_text('suppress = ["PKL100"]\n')
    third = _hub_scan(hub, tmp_path, db, "-j", "1", "--policy", str(policy), repos=repos)
    rows = _rows(db)
    new = [r for r in rows if r["run_id"] not in runs]
    assert new and not any(r["cache_hit"] for r in new if r["path"].endswith("pytorch_model.bin"))
    evil = next(r for r in new if r["path"].endswith("pytorch_model.bin"))
    assert "PKL100" not in _rules(evil["result"])
    assert "PKL100" in {f["rule_id"] for f in evil["result"]["suppressed"]}
    assert third.returncode in (0, 1), third.stderr


def test_hub_scan_on_dask_equals_local(hub: Hub, tmp_path: Path, cluster: Cluster) -> None:
    a, b = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    on_dask = _hub_scan(hub, tmp_path, a, "--engine", cluster.spec)
    local = _hub_scan(hub, tmp_path, b, "-j", "1")
    assert on_dask.returncode == local.returncode == 1, on_dask.stderr

    def key(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {r["path"]: (r["status"], r["severity"], _rules(r["result"])) for r in rows}

    assert key(_rows(a)) == key(_rows(b))


def test_bad_repo_list_is_a_usage_error(hub: Hub, tmp_path: Path) -> None:
    done = _hub_scan(hub, tmp_path, f"sqlite:///{tmp_path}/x.db", repos=["org/ok", "not a repo; rm -rf /"])
    assert done.returncode == 4
    assert "repos.txt:2" in done.stderr
