"""The gateway with the real hub clients: identical bytes, refusals the client raises, cache, fail closed.

``huggingface_hub`` runs in this process with ``endpoint=<gateway>`` (the same code path as ``HF_ENDPOINT``);
``transformers.from_pretrained`` runs in a subprocess with ``HF_ENDPOINT``/``HF_TOKEN`` set, exactly as a user
would. The upstream's request log and the gateway's decision rows say what was fetched and scanned.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from _gateway_support import Gateway, Hub
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import HfHubHTTPError

from mlvet.server.gateway.decisions import Decision, list_decisions
from mlvet.store import Store
from support.hubrepos import write_tiny_bert


def _decisions(gw: Gateway, repo_id: str) -> list[Decision]:
    with Store(gw.db_url) as store:
        return list(reversed(list_decisions(store, repo_id=repo_id, limit=1000)))


def _upstream_gets(hub: Hub, key: str) -> int:
    """File GETs the upstream answered with content for ``org/name/file`` (resolve or LFS blob URL)."""
    sha_paths = [r for r in hub.server.requests if r.method == "GET" and r.bytes_sent > 0 and
                 (key in r.path or f"f={key.replace('/', '%2F')}" in r.path)]
    return len(sha_paths)


def _sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_snapshot_download_gives_the_upstream_bytes(hub: Hub, gateway: Gateway, tmp_path: Path) -> None:
    folder = snapshot_download("org/bert", endpoint=gateway.url, token=gateway.token, cache_dir=tmp_path / "c")
    expected = {p.relative_to(hub.folders["bert"]).as_posix(): _sha(p) for p in hub.folders["bert"].rglob("*")
                if p.is_file()}
    got = {p.relative_to(folder).as_posix(): _sha(p) for p in Path(folder).rglob("*") if p.is_file()}
    assert got == expected
    rows = _decisions(gateway, "org/bert")
    assert {r.path for r in rows} >= set(expected)
    assert all(r.verdict == "served" and r.status == "pass" and r.who == "alice" for r in rows)


def test_hf_hub_download_pins_the_branch_and_serves_identical_bytes(hub: Hub, gateway: Gateway,
                                                                    tmp_path: Path) -> None:
    path = hf_hub_download("org/gpt2", "model.safetensors", endpoint=gateway.url, token=gateway.token,
                           cache_dir=tmp_path)
    assert Path(path).read_bytes() == (hub.folders["gpt2"] / "model.safetensors").read_bytes()
    commit = hub.server.repos[("model", "org/gpt2")].branches["main"]
    assert f"/snapshots/{commit}/" in path
    row = [r for r in _decisions(gateway, "org/gpt2") if r.path == "model.safetensors"][-1]
    assert (row.revision, row.commit, row.sha256) == ("main", commit, _sha(path))


def test_malicious_file_makes_the_client_raise_with_the_finding(hub: Hub, gateway: Gateway, tmp_path: Path) -> None:
    with pytest.raises(HfHubHTTPError) as info:
        hf_hub_download("org/evil", "pytorch_model.bin", endpoint=gateway.url, token=gateway.token,
                        cache_dir=tmp_path)
    text = str(info.value)
    assert info.value.response.status_code == 403
    assert "pytorch_model.bin" in text and "PKL100" in text and "os.system" in text, text
    assert not list(tmp_path.rglob("pytorch_model.bin"))  # nothing of it reached the client's cache
    refused = [r for r in _decisions(gateway, "org/evil") if r.path == "pytorch_model.bin"]
    assert refused and refused[-1].verdict == "refused" and "PKL100" in refused[-1].rule_ids
    # The whole-repo download raises too (the benign files of the repo do not hide the bad one).
    with pytest.raises(HfHubHTTPError, match="PKL100"):
        snapshot_download("org/evil", endpoint=gateway.url, token=gateway.token, cache_dir=tmp_path / "s")


def test_second_download_is_served_from_cache_without_a_new_scan(hub: Hub, gateway: Gateway, tmp_path: Path) -> None:
    hub.folders["cached"] = write_tiny_bert(tmp_path / "src", seed=7)
    hub.add("org/cached", "cached")
    first = hf_hub_download("org/cached", "model.safetensors", endpoint=gateway.url, token=gateway.token,
                            cache_dir=tmp_path / "a")
    second = hf_hub_download("org/cached", "model.safetensors", endpoint=gateway.url, token=gateway.token,
                             cache_dir=tmp_path / "b")
    assert Path(first).read_bytes() == Path(second).read_bytes() == \
        (hub.folders["cached"] / "model.safetensors").read_bytes()
    rows = [r for r in _decisions(gateway, "org/cached") if r.path == "model.safetensors"]
    assert [(r.verdict, r.scanned) for r in rows] == [("served", True), ("served", False)]
    assert _upstream_gets(hub, "org/cached/model.safetensors") == 1


def test_incomplete_scan_is_refused(hub: Hub, gateway: Gateway, tmp_path: Path) -> None:
    with pytest.raises(HfHubHTTPError) as info:
        hf_hub_download("org/truncated", "pytorch_model.bin", endpoint=gateway.url, token=gateway.token,
                        cache_dir=tmp_path)
    assert "pytorch_model.bin" in str(info.value) and "fail closed" in str(info.value)
    row = [r for r in _decisions(gateway, "org/truncated") if r.path == "pytorch_model.bin"][-1]
    assert (row.verdict, row.status) == ("refused", "error")


def test_a_moved_branch_is_a_new_object_scanned_again(hub: Hub, gateway: Gateway, tmp_path: Path) -> None:
    hub.folders["mv1"] = write_tiny_bert(tmp_path / "v1", seed=3)
    hub.folders["mv2"] = write_tiny_bert(tmp_path / "v2", seed=4)
    c1 = hub.add("org/moving", "mv1")
    p1 = hf_hub_download("org/moving", "model.safetensors", endpoint=gateway.url, token=gateway.token,
                         cache_dir=tmp_path / "a")
    c2 = hub.add("org/moving", "mv2")
    p2 = hf_hub_download("org/moving", "model.safetensors", endpoint=gateway.url, token=gateway.token,
                         cache_dir=tmp_path / "b")
    assert c1 != c2
    assert Path(p2).read_bytes() == (hub.folders["mv2"] / "model.safetensors").read_bytes() != Path(p1).read_bytes()
    rows = [r for r in _decisions(gateway, "org/moving") if r.path == "model.safetensors"]
    assert [(r.commit, r.scanned) for r in rows] == [(c1, True), (c2, True)]
    assert rows[0].sha256 != rows[1].sha256


def test_head_metadata_and_range_requests(hub: Hub, gateway: Gateway) -> None:
    commit = hub.server.repos[("model", "org/bert")].branches["main"]
    src = (hub.folders["bert"] / "model.safetensors").read_bytes()
    auth = {"Authorization": f"Bearer {gateway.token}"}
    with httpx.Client(base_url=gateway.url, headers=auth, timeout=30) as client:
        moved = client.head("/org/bert/resolve/main/model.safetensors")
        assert moved.status_code == 307
        assert moved.headers["location"].startswith(f"/org/bert/resolve/{commit}/model.safetensors")
        head = client.head(f"/org/bert/resolve/{commit}/model.safetensors")
        assert head.status_code == 200
        assert head.headers["x-repo-commit"] == commit
        assert head.headers["x-linked-etag"] == f'"{hashlib.sha256(src).hexdigest()}"'
        assert int(head.headers["x-linked-size"]) == len(src) == int(head.headers["content-length"])
        part = client.get(f"/org/bert/resolve/{commit}/model.safetensors", headers={"Range": "bytes=8-99"})
        assert part.status_code == 206 and part.content == src[8:100]
        assert part.headers["content-range"] == f"bytes 8-99/{len(src)}"
        tail = client.get(f"/org/bert/resolve/{commit}/model.safetensors", headers={"Range": "bytes=-16"})
        assert tail.status_code == 206 and tail.content == src[-16:]


def test_api_is_forwarded_for_the_clients(hub: Hub, gateway: Gateway) -> None:
    api = HfApi(endpoint=gateway.url, token=gateway.token)
    commit = hub.server.repos[("model", "org/bert")].branches["main"]
    info = api.model_info("org/bert")
    assert info.sha == commit
    assert {s.rfilename for s in info.siblings or []} == {"README.md", "config.json", "model.safetensors"}
    tree = {f.path: f for f in api.list_repo_tree("org/bert", recursive=True)}
    assert set(tree) == {"README.md", "config.json", "model.safetensors"}
    paths = api.get_paths_info("org/bert", ["config.json", "model.safetensors"], revision=commit)
    assert sorted(p.path for p in paths) == ["config.json", "model.safetensors"]
    assert api.revision_exists("org/bert", commit) and not api.revision_exists("org/bert", "no-such-branch")


def test_missing_file_is_the_hubs_entry_not_found(hub: Hub, gateway: Gateway, tmp_path: Path) -> None:
    from huggingface_hub.errors import EntryNotFoundError

    with pytest.raises(EntryNotFoundError):
        hf_hub_download("org/bert", "nope.bin", endpoint=gateway.url, token=gateway.token, cache_dir=tmp_path)
    commit = hub.server.repos[("model", "org/bert")].branches["main"]
    missing = httpx.get(f"{gateway.url}/org/bert/resolve/{commit}/nope.bin", timeout=30,
                        headers={"Authorization": f"Bearer {gateway.token}"})
    assert missing.status_code == 404
    assert missing.headers.get_list("x-error-code") == ["EntryNotFound"]
    assert len(missing.headers.get_list("x-error-message")) == 1
    assert missing.headers["x-repo-commit"] == commit  # lets the client cache the file's absence


def _from_pretrained(python: str, gw: Gateway, home: Path, repo: str) -> dict[str, Any]:
    script = (
        "import json, sys, hashlib\n"
        "from transformers import AutoModel\n"
        "try:\n"
        "    m = AutoModel.from_pretrained(sys.argv[1])\n"
        "except Exception as e:\n"
        "    print(json.dumps({'error': type(e).__name__, 'message': str(e)})); sys.exit(0)\n"
        "h = hashlib.sha256()\n"
        "for k, v in sorted(m.state_dict().items()):\n"
        "    h.update(k.encode()); h.update(v.detach().numpy().tobytes())\n"
        "print(json.dumps({'digest': h.hexdigest(), 'class': type(m).__name__}))\n"
    )
    env = {**os.environ, "HF_ENDPOINT": gw.url, "HF_TOKEN": gw.token, "HF_HOME": str(home),
           "HF_HUB_DISABLE_TELEMETRY": "1", "TRANSFORMERS_VERBOSITY": "error"}
    done = subprocess.run([python, "-c", script, repo], env=env, capture_output=True, text=True, timeout=240,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _local_digest(python: str, folder: Path) -> str:
    script = (
        "import sys, hashlib\n"
        "from transformers import AutoModel\n"
        "m = AutoModel.from_pretrained(sys.argv[1])\n"
        "h = hashlib.sha256()\n"
        "for k, v in sorted(m.state_dict().items()):\n"
        "    h.update(k.encode()); h.update(v.detach().numpy().tobytes())\n"
        "print(h.hexdigest())\n"
    )
    done = subprocess.run([python, "-c", script, str(folder)], capture_output=True, text=True, timeout=240,
                          check=False, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_from_pretrained_through_the_gateway(hub: Hub, gateway: Gateway, tmp_path: Path, python: str) -> None:
    got = _from_pretrained(python, gateway, tmp_path / "home", "org/gpt2")
    assert got.get("class") == "GPT2Model", got
    assert got["digest"] == _local_digest(python, hub.folders["gpt2"])


def test_from_pretrained_of_a_malicious_repo_raises_with_the_finding(gateway: Gateway, tmp_path: Path,
                                                                     python: str) -> None:
    got = _from_pretrained(python, gateway, tmp_path / "home", "org/evil")
    assert got.get("error") == "OSError", got
    assert "pytorch_model.bin" in got["message"] and "PKL100" in got["message"] and "os.system" in got["message"]


def test_hffilesystem_lists_and_reads_ranges_through_the_gateway(hub: Hub, gateway: Gateway) -> None:
    from huggingface_hub import HfFileSystem

    fs = HfFileSystem(endpoint=gateway.url, token=gateway.token, skip_instance_cache=True)
    assert sorted(fs.ls("org/bert", detail=False)) == ["org/bert/README.md", "org/bert/config.json",
                                                        "org/bert/model.safetensors"]
    src = (hub.folders["bert"] / "model.safetensors").read_bytes()
    with fs.open("org/bert/model.safetensors", "rb", block_size=64) as f:
        f.seek(8)
        assert f.read(92) == src[8:100]
        f.seek(len(src) - 10)
        assert f.read() == src[-10:]
    with pytest.raises(Exception, match="PKL100"):
        fs.read_bytes("org/evil/pytorch_model.bin")
