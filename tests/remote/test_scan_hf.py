"""``mlvet scan hf://…`` against the loopback hub stand-in: same findings as a local scan of the same files,
every result pinned to the commit, a 1 GB safetensors file costing its header, revisions, tokens, failures."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import TOKEN, Hub
from mlvet.model import Status
from mlvet.remote.scan import scan_remote

MB = 1024 * 1024


def _cli(hub_url: str, tmp_path: Path, *args: str, token: str | None = None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE"))}
    env |= {"HF_ENDPOINT": hub_url, "HF_HOME": str(tmp_path / "hf-home"), "NO_COLOR": "1"}
    if token:
        env["HF_TOKEN"] = token
    out = subprocess.run([sys.executable, "-m", "mlvet", "scan", *args], check=False, env=env,
                         capture_output=True, text=True, timeout=120)
    return out.returncode, out.stdout, out.stderr


def _scan_json(hub_url: str, tmp_path: Path, url: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    code, out, err = _cli(hub_url, tmp_path, url, "-f", "json", token=token)
    assert out, err
    return code, json.loads(out)


def _comparable(result: dict[str, Any]) -> tuple[Any, ...]:
    findings = sorted((f["rule_id"], f["severity"], f["evidence"], tuple(f["location"]["members"]),
                       f["location"]["offset"]) for f in result["findings"])
    return result["status"], result["format"], tuple(result["formats_seen"]), tuple(findings)


@pytest.mark.parametrize("name", ["evil", "bert", "big"])
def test_findings_equal_a_local_scan(hub: Hub, tmp_path: Path, name: str) -> None:
    code, remote = _scan_json(hub.url, tmp_path, f"hf://org/{name}")
    local_code, local_out, _ = _cli(hub.url, tmp_path, str(hub.folders[name]), "-f", "json")
    local = json.loads(local_out)
    assert code == local_code == (1 if name == "evil" else 0)
    prefix = f"hf://org/{name}@{hub.commits[name]}/"
    by_remote = {r["path"].removeprefix(prefix): _comparable(r) for r in remote["results"]}
    by_local = {str(Path(r["path"]).relative_to(hub.folders[name])): _comparable(r) for r in local["results"]}
    assert by_remote == by_local
    assert all(r["path"].startswith(prefix) for r in remote["results"])
    if name == "evil":
        assert any(f[0] == "PKL100" and "system" in f[2] for f in by_remote["pytorch_model.bin"][3])


def test_origin_is_pinned_in_every_result(hub: Hub, tmp_path: Path) -> None:
    _, doc = _scan_json(hub.url, tmp_path, "hf://org/evil@main")
    commit = hub.commits["evil"]
    for r in doc["results"]:
        name = r["path"].rsplit("/", 1)[1]
        assert r["path"] == f"hf://org/evil@{commit}/{name}"
        assert r["origin"]["kind"] == "hf" and r["origin"]["locator"] == "org/evil"
        assert r["origin"]["revision"] == commit and r["origin"]["path"] == name
        assert r["origin"]["extra"]["requested_revision"] == "main"
        assert r["huggingface"]["revision"] == commit and r["huggingface"]["refs"] == ["main"]
        data = (hub.folders["evil"] / name).read_bytes()
        assert r["sha256"] == hashlib.sha256(data).hexdigest()  # LFS oid, or computed for a small git file
        assert r["bytes_read"] == len(data)  # small files are read whole, once


def test_big_safetensors_costs_its_header(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    hub.server.reset_counters()
    report = scan_remote("hf://org/big", jobs=1)
    by_name = {r.origin.path: r for r in report.results if r.origin}
    big = by_name["model.safetensors"]
    size = (hub.folders["big"] / "model.safetensors").stat().st_size
    assert big.status is Status.SCANNED and big.format == "safetensors" and big.size == size > 1_000_000_000
    small = sum(p.stat().st_size for p in hub.folders["big"].iterdir() if p.name != "model.safetensors")
    assert big.bytes_read is not None and big.bytes_read < MB
    assert sum(r.bytes_read or 0 for r in report.results) < MB + small
    # The server's own count agrees: what mlvet says it read is what crossed the wire.
    served = hub.server.bytes_served
    assert served["org/big/model.safetensors"] == big.bytes_read
    assert sum(v for k, v in served.items() if k.startswith("org/big/")) == sum(r.bytes_read or 0
                                                                                for r in report.results)
    assert big.sha256 == next(e.sha256 for e in hub.server.repos[("model", "org/big")].commits[
        hub.commits["big"]].files.values() if e.path == "model.safetensors")


def test_revision_by_branch_and_by_sha(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    dev = scan_remote("hf://org/bert@dev")
    assert {r.origin.revision for r in dev.results if r.origin} == {hub.commits["bert_dev"]}
    old = scan_remote(f"hf://org/bert@{hub.commits['bert']}")
    assert all(r.path.startswith(f"hf://org/bert@{hub.commits['bert']}/") for r in old.results)
    sha = {r.origin.path: r.sha256 for r in old.results if r.origin}
    sha_dev = {r.origin.path: r.sha256 for r in dev.results if r.origin}
    weights = "model.safetensors"
    assert sha[weights] == hashlib.sha256((hub.folders["bert"] / weights).read_bytes()).hexdigest()
    assert sha_dev[weights] == hashlib.sha256((hub.folders["bert2"] / weights).read_bytes()).hexdigest()
    assert sha[weights] != sha_dev[weights]
    bad = scan_remote("hf://org/bert@no-such-branch")
    assert [r.status for r in bad.results] == [Status.ERROR] and "RevisionNotFound" in bad.results[0].errors[0]


def test_private_repo_needs_the_token(hub: Hub, tmp_path: Path) -> None:
    code, doc = _scan_json(hub.url, tmp_path, "hf://org/private")
    assert code == 2
    assert [r["status"] for r in doc["results"]] == ["error"]
    assert "RepositoryNotFound" in doc["results"][0]["errors"][0]
    assert any(r.status == 401 and "/api/models/org/private" in r.path for r in hub.server.requests)
    code, doc = _scan_json(hub.url, tmp_path, "hf://org/private", token=TOKEN)
    assert code == 0
    assert {r["origin"]["revision"] for r in doc["results"]} == {hub.commits["private"]}
    assert {r["status"] for r in doc["results"]} <= {"scanned", "skipped"}


def test_token_from_the_hub_clients_token_file(hub: Hub, tmp_path: Path) -> None:
    home = tmp_path / "hf-home"
    home.mkdir()
    (home / "token").write_text(TOKEN)
    code, _ = _scan_json(hub.url, tmp_path, "hf://org/private")
    assert code == 0


def test_unreachable_endpoint_is_incomplete(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    started = time.monotonic()
    code, doc = _scan_json(f"http://127.0.0.1:{port}", tmp_path, "hf://org/evil")
    assert code == 2
    assert [r["status"] for r in doc["results"]] == ["error"]
    assert doc["results"][0]["path"] == "hf://org/evil"
    assert time.monotonic() - started < 60


def test_datasets_prefix(hub: Hub, tmp_path: Path) -> None:
    code, doc = _scan_json(hub.url, tmp_path, "hf://datasets/org/data")
    assert code == 1
    paths = {r["path"]: r for r in doc["results"]}
    shard = paths[f"hf://datasets/org/data@{hub.commits['data']}/train/shard.pkl"]
    assert any(f["rule_id"] == "PKL100" for f in shard["findings"])
    assert shard["origin"]["locator"] == "datasets/org/data" and shard["origin"]["extra"]["repo_type"] == "dataset"
    assert shard["huggingface"]["repo_type"] == "dataset"
    # the same name as a model repo does not exist: the prefix is what selects the dataset
    code, _ = _scan_json(hub.url, tmp_path, "hf://org/data")
    assert code == 2


def test_one_file_and_sarif_and_verbose_text(hub: Hub, tmp_path: Path) -> None:
    url = f"hf://org/evil@{hub.commits['evil']}/pytorch_model.bin"
    code, out, _ = _cli(hub.url, tmp_path, url, "-f", "sarif")
    assert code == 1
    run = json.loads(out)["runs"][0]
    [artifact] = run["artifacts"]
    assert artifact["location"]["uri"] == url
    assert artifact["properties"]["origin"]["revision"] == hub.commits["evil"]
    assert artifact["properties"]["bytesRead"] == (hub.folders["evil"] / "pytorch_model.bin").stat().st_size
    assert run["results"][0]["ruleId"] == "PKL100"
    code, out, _ = _cli(hub.url, tmp_path, "hf://org/big", "--verbose")
    assert code == 0
    line = next(x for x in out.splitlines() if "model.safetensors" in x)
    assert "1024.0 MiB" in line and "KiB read]" in line


def test_malformed_url_is_a_usage_error(hub: Hub, tmp_path: Path) -> None:
    code, _, err = _cli(hub.url, tmp_path, "hf://org/na me@")
    assert code == 4 and "hf://" in err
