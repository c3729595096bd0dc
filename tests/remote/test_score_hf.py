"""``mlvet score hf://…``: the report card of a remote model matches the local card of the same files on every
check that does not depend on where the files sit, names the pinned commit, and costs headers for big weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import Hub

#: Checks whose answer depends on the files' location (cache blob names, how the revision was fetched).
LOCATION_CHECKS = {"integrity", "pinned_revision"}


def _score(hub_url: str, tmp_path: Path, target: str) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE"))}
    env |= {"HF_ENDPOINT": hub_url, "HF_HOME": str(tmp_path / "hf-home")}
    out = subprocess.run([sys.executable, "-m", "mlvet", "score", target, "-f", "json"], check=False, env=env,
                         capture_output=True, text=True, timeout=180)
    return out.returncode, json.loads(out.stdout) if out.stdout else {"stderr": out.stderr}


@pytest.mark.parametrize("name", ["evil", "bert"])
def test_remote_card_matches_the_local_card(hub: Hub, tmp_path: Path, name: str) -> None:
    code, remote = _score(hub.url, tmp_path, f"hf://org/{name}")
    local_code, local = _score(hub.url, tmp_path, str(hub.folders[name]))
    assert code == local_code == 0
    checks = {c["name"]: (c["score"], c["reason"]) for c in remote["checks"] if c["name"] not in LOCATION_CHECKS}
    local_checks = {c["name"]: (c["score"], c["reason"]) for c in local["checks"]
                    if c["name"] not in LOCATION_CHECKS}
    assert checks == local_checks
    assert remote["scan"] == local["scan"]
    assert remote["target"] == f"hf://org/{name}@{hub.commits[name]}"
    assert remote["hub"]["revision"] == hub.commits[name] and remote["hub"]["refs"] == ["main"]
    if name == "evil":
        assert {c["name"]: c["score"] for c in remote["checks"]}["code_execution"] == 0


def test_remote_card_of_a_big_model_costs_headers(hub: Hub, tmp_path: Path) -> None:
    hub.server.reset_counters()
    code, card = _score(hub.url, tmp_path, f"hf://org/big@{hub.commits['big']}")
    assert code == 0
    served = hub.server.bytes_served
    small = sum(p.stat().st_size for p in hub.folders["big"].iterdir() if p.name != "model.safetensors")
    assert served["org/big/model.safetensors"] < 1024 * 1024
    assert sum(v for k, v in served.items() if k.startswith("org/big/")) < 1024 * 1024 + small
    assert {c["name"]: c["score"] for c in card["checks"]}["pinned_revision"] == 10  # asked by commit


def test_unknown_repo_is_incomplete(hub: Hub, tmp_path: Path) -> None:
    code, out = _score(hub.url, tmp_path, "hf://org/does-not-exist")
    assert code == 2 and "does-not-exist" in out["stderr"]
