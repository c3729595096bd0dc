"""Fixtures for the remote-source tests: one hub stand-in per session serving repos made by real libraries.

Why session scope: writing the repos imports torch/transformers and hashes a sparse 1 GB file; doing that once
keeps each test at a fraction of a second. Tests that count bytes call ``hub.reset_counters()`` first.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.hubrepos import (
    write_big_safetensors_repo,
    write_malicious_repo,
    write_onnx_external_repo,
    write_tiny_bert,
    write_tiny_gpt2,
)
from support.hubserver import HubServer

TOKEN = "hf_testtoken_remote_0123456789"


@dataclass
class Hub:
    """The running stand-in, its repos' source folders and commit shas."""

    server: HubServer
    url: str
    folders: dict[str, Path]
    commits: dict[str, str]


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub stand-in with: org/bert (two commits: main and branch dev), org/gpt2, org/evil (malicious
    pickle), org/big (sparse 1 GB safetensors), org/onnx (external data), org/private (private, token TOKEN),
    datasets/org/data."""
    root = tmp_path_factory.mktemp("hub")
    server = HubServer(root / "server", tokens=(TOKEN,))
    folders = {
        "bert": write_tiny_bert(root / "bert"),
        "bert2": write_tiny_bert(root / "bert2", seed=1),
        "gpt2": write_tiny_gpt2(root / "gpt2"),
        "evil": write_malicious_repo(root / "evil"),
        "big": write_big_safetensors_repo(root / "big"),
        "onnx": write_onnx_external_repo(root / "onnx"),
    }
    folders["private"] = root / "private"
    shutil.copytree(folders["bert"], folders["private"])
    folders["data"] = root / "data"
    (folders["data"] / "train").mkdir(parents=True)
    (folders["data"] / "README.md").write_text("# data\n")
    shutil.copy(folders["evil"] / "pytorch_model.bin", folders["data"] / "train" / "shard.pkl")
    commits = {
        "bert": server.add_repo("org/bert", folders["bert"]),
        "gpt2": server.add_repo("org/gpt2", folders["gpt2"]),
        "evil": server.add_repo("org/evil", folders["evil"]),
        "big": server.add_repo("org/big", folders["big"]),
        "onnx": server.add_repo("org/onnx", folders["onnx"]),
        "private": server.add_repo("org/private", folders["private"], private=True),
        "data": server.add_repo("org/data", folders["data"], repo_type="dataset"),
    }
    commits["bert_dev"] = server.add_repo("org/bert", folders["bert2"], revision="dev")
    url = server.start()
    try:
        yield Hub(server, url, folders, commits)
    finally:
        server.stop()
