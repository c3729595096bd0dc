"""The hub stand-in answers the real clients: snapshot_download, hf_hub_download, HfApi, HfFileSystem and
transformers' from_pretrained all work against it over loopback HTTP, byte-identical to the source folders."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from huggingface_hub import HfApi, HfFileSystem, hf_hub_download, snapshot_download
from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

from conftest import TOKEN, Hub


def _same_tree(a: Path, b: Path) -> None:
    files_a = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file() and ".cache" not in p.parts)
    files_b = sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_snapshot_download_is_byte_identical(hub: Hub, tmp_path: Path) -> None:
    out = snapshot_download("org/bert", endpoint=hub.url, cache_dir=tmp_path / "c", local_dir=tmp_path / "d")
    _same_tree(Path(out), hub.folders["bert"])
    # The LFS file went through the cross-origin redirect to a signed blob URL, without the token.
    blob_gets = [r for r in hub.server.requests if r.path.startswith("/_lfs/") and r.method == "GET"]
    assert blob_gets and not any(r.authorization for r in blob_gets)


def test_revisions_branch_and_sha(hub: Hub, tmp_path: Path) -> None:
    api = HfApi(endpoint=hub.url)
    assert api.model_info("org/bert").sha == hub.commits["bert"]
    assert api.model_info("org/bert", revision="dev").sha == hub.commits["bert_dev"] != hub.commits["bert"]
    p = hf_hub_download("org/bert", "model.safetensors", revision=hub.commits["bert"], endpoint=hub.url,
                        cache_dir=tmp_path)
    assert Path(p).read_bytes() == (hub.folders["bert"] / "model.safetensors").read_bytes()
    p = hf_hub_download("org/bert", "model.safetensors", revision="dev", endpoint=hub.url, cache_dir=tmp_path)
    assert Path(p).read_bytes() == (hub.folders["bert2"] / "model.safetensors").read_bytes()
    with pytest.raises(RevisionNotFoundError):
        api.model_info("org/bert", revision="nope")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("org/bert", "missing.txt", endpoint=hub.url, cache_dir=tmp_path)


def test_api_listings_carry_lfs_sha256(hub: Hub) -> None:
    api = HfApi(endpoint=hub.url)
    info = api.model_info("org/big", files_metadata=True)
    by_name = {s.rfilename: s for s in info.siblings or []}
    assert set(by_name) == {"config.json", "README.md", "model.safetensors"}
    big = by_name["model.safetensors"]
    assert big.lfs is not None and big.lfs.size == (hub.folders["big"] / "model.safetensors").stat().st_size
    assert by_name["config.json"].lfs is None
    small = hub.folders["bert"] / "model.safetensors"
    tree = {f.path: f for f in api.list_repo_tree("org/bert", recursive=True)}
    assert tree["model.safetensors"].lfs.sha256 == hashlib.sha256(small.read_bytes()).hexdigest()
    assert sorted(api.list_repo_files("org/data", repo_type="dataset")) == ["README.md", "train/shard.pkl"]
    infos = api.get_paths_info("org/data", ["train", "README.md", "absent"], repo_type="dataset")
    assert sorted((type(i).__name__, i.path) for i in infos) == [("RepoFile", "README.md"), ("RepoFolder", "train")]


def test_hffilesystem_ranged_reads(hub: Hub) -> None:
    fs = HfFileSystem(endpoint=hub.url, skip_instance_cache=True)
    names = sorted(e["name"] for e in fs.ls("org/big", detail=True))
    assert names == ["org/big/README.md", "org/big/config.json", "org/big/model.safetensors"]
    size = fs.info("org/big/model.safetensors")["size"]
    assert size > 1_000_000_000
    hub.server.reset_counters()
    with fs.open("org/big/model.safetensors", "rb", block_size=4096) as fh:
        n = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(n))
    assert header["model.embed.weight"]["dtype"] == "F32"
    # The server thread counts a response after its last byte is written, which can be just after the client
    # has read it: wait (bounded) for the count instead of racing it.
    deadline = time.monotonic() + 10
    while not any(r.status == 206 for r in hub.server.requests) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert 0 < hub.server.bytes_served.get("org/big/model.safetensors", 0) < 64 * 1024
    assert any(r.status == 206 for r in hub.server.requests)


def test_private_repo_needs_token(hub: Hub, tmp_path: Path) -> None:
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub.url, token=False).model_info("org/private")
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub.url, token="hf_wrong").model_info("org/private")
    assert HfApi(endpoint=hub.url, token=TOKEN).model_info("org/private").sha == hub.commits["private"]
    p = hf_hub_download("org/private", "model.safetensors", endpoint=hub.url, token=TOKEN, cache_dir=tmp_path)
    assert Path(p).read_bytes() == (hub.folders["private"] / "model.safetensors").read_bytes()


def test_from_pretrained_in_a_client_process(hub: Hub, tmp_path: Path) -> None:
    code = ("import sys, transformers\n"
            "m = transformers.AutoModel.from_pretrained(sys.argv[1])\n"
            "print(type(m).__name__, sum(p.numel() for p in m.parameters()))\n")
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("TRANSFORMERS_OFFLINE", None)
    out = subprocess.run([sys.executable, "-c", code, "org/gpt2"], check=False, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    name, count = out.stdout.split()
    assert name == "GPT2Model" and int(count) > 1000
    assert hub.server.bytes_served.get("org/gpt2/model.safetensors") == (
        hub.folders["gpt2"] / "model.safetensors").stat().st_size
