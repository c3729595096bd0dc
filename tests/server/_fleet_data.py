"""Simulated machines for the fleet tests: each host has its own Hugging Face cache (written with
huggingface_hub's own cache helpers, see tests/inventory/_inventory_tree.py) and pushes with a separate
``mlvet inventory --push`` process under its own host name and local database."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inventory"))

from _inventory_tree import EVIL, REV1, hf_cache_snapshot

from mlvet.inventory.model import asset_id


def safetensors_bytes(value: float, count: int = 16) -> bytes:
    """A real safetensors file (written by the safetensors library) with one tensor filled with ``value``."""
    import numpy as np
    from safetensors.numpy import save

    return save({"weight": np.full((count,), value, dtype=np.float32)})


def hub_id(repo: str) -> str:
    """The asset id mlvet gives a cached model snapshot at REV1 (the same on every machine)."""
    return asset_id(f"hf:model:{repo}@{REV1}")


class Host:
    """One simulated machine: a hub cache folder, a local inventory database, a host name."""

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.dir = root / name
        self.hub = self.dir / "hub"
        self.hub.mkdir(parents=True)
        self.db = f"sqlite:///{self.dir / 'local.db'}"

    def put(self, repo: str, files: dict[str, bytes]) -> None:
        """(Re)write snapshot REV1 of ``repo`` with exactly ``files``."""
        self.drop(repo)
        hf_cache_snapshot(self.hub, repo, "model", REV1, files)

    def drop(self, repo: str) -> None:
        """Delete the repo from this host's cache."""
        shutil.rmtree(self.hub / ("models--" + repo.replace("/", "--")), ignore_errors=True)

    def push(self, url: str, token: str, *extra: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """``mlvet inventory <hub> --push url --host <name>`` in a separate process (token from MLVET_TOKEN)."""
        env = {**os.environ, "MLVET_TOKEN": token, "NO_COLOR": "1"}
        return subprocess.run([sys.executable, "-m", "mlvet", "inventory", str(self.hub), "--db", self.db,
                               "--push", url, "--host", self.name, "--owner", f"owner-{self.name}", "-j", "1",
                               "-f", "json", *extra],
                              capture_output=True, text=True, timeout=timeout, env=env, cwd=self.dir, check=False)


def model_files(value: float) -> dict[str, bytes]:
    """A tiny model snapshot: config and safetensors weights."""
    return {"config.json": b'{"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}',
            "model.safetensors": safetensors_bytes(value)}


def evil_files() -> dict[str, bytes]:
    """A snapshot whose pytorch_model.bin is a pickle calling os.system (critical finding)."""
    return {"config.json": b'{"model_type": "gpt2"}', "pytorch_model.bin": EVIL}


def ids(entries: list[dict[str, Any]]) -> set[str]:
    """Asset ids of a list of change entries ({"id": ...})."""
    return {e["id"] for e in entries}


__all__ = ["EVIL", "REV1", "Host", "evil_files", "hub_id", "ids", "model_files", "safetensors_bytes"]


def synthetic_payload(host: str, assets: int, files: int = 3, *, key: str | None = None, seed: int = 0,
                      evil_every: int = 0) -> dict[str, Any]:
    """A push document for ``assets`` assets of ``files`` files each (shared ids across hosts for the same
    ``seed``), built with the client's own payload builder from real model objects."""
    import hashlib
    from datetime import datetime, timezone

    from mlvet.inventory.model import Asset, AssetFile, InventoryRun
    from mlvet.model import Finding, Location, Severity
    from mlvet.server.wire import new_idempotency_key, push_payload

    out = []
    for i in range(assets):
        root = f"/srv/models/m{seed}-{i:05d}"
        fs = tuple(AssetFile(path=f"{root}/f{j}.safetensors", rel=f"f{j}.safetensors", size=1000 + j,
                             sha256=hashlib.sha256(f"{host}{seed}{i}{j}".encode()).hexdigest(), format="safetensors",
                             scan_status="scanned") for j in range(files))
        findings: tuple[Finding, ...] = ()
        if evil_every and i % evil_every == 0:
            findings = (Finding("PKL001", Severity.CRITICAL, "os.system call", Location(f"{root}/f0.safetensors"),
                                evidence="os.system"),)
        out.append(Asset(id=asset_id(f"path:{root}"), kind="model", name=f"m{seed}-{i}", path=root,
                         format="safetensors", framework="pytorch", files=fs, findings=findings))
    now = datetime.now(timezone.utc)
    run = InventoryRun(started_at=now, finished_at=now, roots=("/srv/models",), tool_version="test", host=host,
                       files_seen=assets * files, files_hashed=assets * files)
    return push_payload(run, out, host=host, owner="ops", idempotency_key=key or new_idempotency_key())
