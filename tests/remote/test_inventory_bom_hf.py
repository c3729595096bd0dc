"""``mlvet inventory`` and ``mlvet bom`` on ``hf://`` URLs: the asset is pinned to the commit in the inventory
database (path, hub revision, origin extras), a moved branch is a ``changed`` asset, and the CycloneDX BOM carries
the origin and the commit."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import Hub
from mlvet.store import Store


def _mlvet(hub_url: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING_FACE"))}
    env |= {"HF_ENDPOINT": hub_url, "HF_HOME": str(tmp_path / "hf-home"), "NO_COLOR": "1"}
    out = subprocess.run([sys.executable, "-m", "mlvet", *args], check=False, env=env, capture_output=True,
                         text=True, timeout=180)
    return out.returncode, out.stdout, out.stderr


def _inventory(hub: Hub, tmp_path: Path, db: str, *urls: str) -> dict[str, Any]:
    code, out, err = _mlvet(hub.url, tmp_path, "inventory", *urls, "--db", db, "-f", "json", "--no-progress")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_inventory_records_the_pinned_origin(hub: Hub, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'inv.db'}"
    doc = _inventory(hub, tmp_path, db, "hf://org/evil", "hf://org/bert@main")
    by_name = {a["name"]: a for a in doc["assets"]}
    evil, bert = by_name["org/evil"], by_name["org/bert"]
    assert evil["path"] == f"hf://org/evil@{hub.commits['evil']}"
    assert evil["hub"]["revision"] == hub.commits["evil"]
    assert evil["metadata"]["extra"]["origin"] == evil["path"]
    assert evil["severity"] == "critical" and any(f["rule_id"] == "PKL100" for f in evil["findings"])
    assert bert["verdict"] == "clean" and bert["hub"]["revision"] == hub.commits["bert"]
    for f in bert["files"]:
        assert f["path"] == f"hf://org/bert@{hub.commits['bert']}/{f['rel']}"
        assert f["sha256"] == hashlib.sha256((hub.folders["bert"] / f["rel"]).read_bytes()).hexdigest()
    assert sorted(doc["run"]["roots"]) == ["hf://org/bert@main", "hf://org/evil"]
    local = _inventory(hub, tmp_path, f"sqlite:///{tmp_path / 'local.db'}", str(hub.folders["bert"]))
    [local_bert] = local["assets"]
    meta = {k: v for k, v in bert["metadata"].items() if k != "extra"}
    assert meta == {k: v for k, v in local_bert["metadata"].items() if k != "extra"}
    assert meta["architecture"] == "BertModel" and meta["parameters"]  # from config.json and the weights header
    assert (bert["format"], bert["framework"], bert["size"]) == (local_bert["format"], local_bert["framework"],
                                                                 local_bert["size"])
    with Store(db, read_only=True) as store:
        _run, assets = store.latest_assets()
    stored = {a.name: a for a in assets}
    assert stored["org/evil"].path == evil["path"]
    assert stored["org/evil"].hub is not None and stored["org/evil"].hub.revision == hub.commits["evil"]
    assert dict(stored["org/evil"].metadata.extra)["origin_revision"] == hub.commits["evil"]
    assert {f.sha256 for f in stored["org/bert"].files} == {f["sha256"] for f in bert["files"]}


def test_a_moved_branch_is_a_changed_asset(hub: Hub, tmp_path: Path) -> None:
    folder = tmp_path / "moving"
    shutil.copytree(hub.folders["bert"], folder)
    first = hub.server.add_repo("org/moving", folder)
    db = f"sqlite:///{tmp_path / 'inv.db'}"
    doc = _inventory(hub, tmp_path, db, "hf://org/moving")
    assert [a["name"] for a in doc["changes"]["new"]] == ["org/moving"]
    (folder / "README.md").write_text("# moved\n")
    second = hub.server.add_repo("org/moving", folder)
    assert second != first
    doc = _inventory(hub, tmp_path, db, "hf://org/moving")
    [changed] = doc["changes"]["changed"]
    assert changed["path"] == f"hf://org/moving@{second}" and changed["files_modified"] == ["README.md"]


def test_bom_carries_origin_and_commit(hub: Hub, tmp_path: Path) -> None:
    code, out, err = _mlvet(hub.url, tmp_path, "bom", "hf://org/evil")
    assert code == 0, err
    bom = json.loads(out)
    [model] = [c for c in bom["components"] if c.get("purl", "").startswith("pkg:huggingface/org/evil@")]
    props = {p["name"]: p["value"] for p in model["properties"]}
    commit = hub.commits["evil"]
    assert props["mlvet:extra:origin"] == f"hf://org/evil@{commit}"
    assert props["mlvet:hf:revision"] == commit
    assert model["purl"].endswith(f"@{commit}")
    files = {c["name"]: c for c in model["components"]}
    data = (hub.folders["evil"] / "pytorch_model.bin").read_bytes()
    assert files["pytorch_model.bin"]["hashes"][0]["content"] == hashlib.sha256(data).hexdigest()
    assert any(v["id"] == "PKL100" or "PKL100" in json.dumps(v) for v in bom.get("vulnerabilities", []))
