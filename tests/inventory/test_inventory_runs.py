"""Inventory runs recorded in a real database (SQLite and PostgreSQL): changes, reuse, the CLI contract."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from _inventory_tree import ASSETS, EVIL, EXPECTED, REV1, REV2, build_tree, gpt2_files, hf_cache_snapshot

from mlvet.cli import main
from mlvet.inventory import run_inventory
from mlvet.store import Store


def _ids(assets: list, root: Path) -> dict[str, str]:  # type: ignore[type-arg]
    return {os.path.relpath(a.path, root): a.id for a in assets}


def test_second_run_reports_exactly_the_changes(tmp_path: Path, db_url: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    root = build_tree(tmp_path / "tree")
    with Store(db_url) as store:
        run1, assets1, changes1, prev1 = run_inventory([str(root)], store)
        assert prev1 == [] and len(assets1) == len(EXPECTED)
        assert set(changes1.new) == {a.id for a in assets1} and not changes1.changed and not changes1.removed
        assert run1.id is not None and run1.files_hashed == sum(len(a.files) for a in assets1)

        # Unchanged tree: nothing re-hashed, nothing re-scanned, nothing reported.
        import mlvet.scanner

        calls: list[str] = []
        real = mlvet.scanner.scan_file
        monkeypatch.setattr(mlvet.scanner, "scan_file", lambda p, pol: calls.append(p) or real(p, pol))
        run2, assets2, changes2, _ = run_inventory([str(root)], store)
        assert run2.files_hashed == 0 and calls == []
        assert (changes2.new, changes2.changed, changes2.removed, changes2.worse) == ((), (), (), ())
        assert [a.content_hash for a in assets2] == [a.content_hash for a in assets1]
        assert [a.findings for a in assets2] == [a.findings for a in assets1]

        ids = _ids(assets1, root)
        # Modify: a checkpoint re-saved with other weights; a benign joblib replaced by a malicious pickle.
        shutil.copyfile(ASSETS / "benign" / "torch" / "state_dict_fp16.pth", root / "projects/vision/model.pt")
        (root / "projects/tabular/clf.joblib").write_bytes(EVIL)
        # Add: a new model file and a new revision of the cached repository.
        (root / "projects/new").mkdir()
        shutil.copyfile(ASSETS / "hf" / "tiny-gpt2" / "model.safetensors", root / "projects/new/extra.safetensors")
        hf_cache_snapshot(root / "hub", "acme/tiny-gpt2", "model", REV2, gpt2_files())
        # Delete: a dataset file and one file inside a folder asset.
        (root / "data/tables/reviews.csv").unlink()
        (root / "data/shards/train-00001-of-00002.parquet").unlink()
        calls.clear()
        run3, assets3, changes3, _ = run_inventory([str(root)], store)
        new_ids = _ids(assets3, root)
        assert set(changes3.new) == {new_ids["projects/new/extra.safetensors"],
                                     new_ids[f"hub/models--acme--tiny-gpt2/snapshots/{REV2}"]}
        assert set(changes3.changed) == {ids["projects/vision/model.pt"], ids["projects/tabular/clf.joblib"],
                                         ids["data/shards"]}
        assert set(changes3.removed) == {ids["data/tables/reviews.csv"]}
        assert set(changes3.worse) == {ids["projects/tabular/clf.joblib"]}
        # Only new or changed content was hashed: 2 changed files + 1 new file + the new snapshot's files
        # (same blobs, but new paths: their cached fingerprints are per path).
        assert run3.files_hashed == 3 + len(gpt2_files())
        assert len(set(calls)) == len(calls)  # each changed file scanned once

        # The database has all three runs, and the last run's assets round-trip.
        assert [r.id for r in store.runs()] == [run3.id, run2.id, run1.id]
        assert run3.id is not None
        stored = {a.id: a for a in store.assets_of_run(run3.id)}
        assert stored == {a.id: a for a in assets3}
        assert store.changes_of_run(run3.id) == changes3


def test_cli_inventory_json_contract_and_assets_filters(tmp_path: Path, db_url: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    root = build_tree(tmp_path / "tree")
    assert main(["inventory", str(root), "--db", db_url, "-f", "json", "--no-progress"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"run", "assets", "changes"}
    assert doc["run"]["id"] >= 1 and doc["run"]["roots"] == [str(root)]
    assert {(a["kind"], a["name"], a["format"], a["framework"], os.path.relpath(a["path"], root))
            for a in doc["assets"]} == EXPECTED
    for a in doc["assets"]:
        assert {"id", "kind", "name", "path", "format", "framework", "files", "verdict"} <= set(a)
        for f in a["files"]:
            assert len(f["sha256"]) == 64 and f["size"] >= 0 and f["path"].startswith(str(root))
    assert len(doc["changes"]["new"]) == len(EXPECTED)
    assert all({"id", "name", "path"} <= set(c) for c in doc["changes"]["new"])
    hf = next(a for a in doc["assets"] if a["name"] == "acme/tiny-gpt2")
    assert hf["hub"] == {"repo_type": "model", "repo_id": "acme/tiny-gpt2", "revision": REV1, "refs": ["main"]}

    (root / "projects/tabular/clf.joblib").write_bytes(EVIL)
    assert main(["inventory", str(root), "--db", db_url, "-f", "json", "--no-progress", "--fail-on-worse"]) == 1
    doc2 = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in doc2["changes"]["worse"]] == ["clf.joblib"]
    assert doc2["changes"]["worse"][0]["from"] == "clean" and doc2["changes"]["worse"][0]["to"] == "critical"
    assert doc2["changes"]["changed"][0]["files_modified"] == ["clf.joblib"]

    assert main(["assets", "--db", db_url, "--severity", "high", "-f", "json"]) == 0
    flagged = json.loads(capsys.readouterr().out)
    assert sorted(a["name"] for a in flagged) == ["clf.joblib", "model.pkl"]
    assert main(["assets", "--db", db_url, "--kind", "dataset", "--file-format", "parquet", "-f", "json"]) == 0
    assert sorted(a["name"] for a in json.loads(capsys.readouterr().out)) == ["acme/reviews", "shards"]
    assert main(["assets", "--db", db_url, "--path", "*/projects/llm/*", "-f", "json"]) == 0
    assert [a["name"] for a in json.loads(capsys.readouterr().out)] == ["tiny.gguf"]
    assert main(["assets", "--db", db_url]) == 0
    assert f"{len(EXPECTED)} assets" in capsys.readouterr().out
    assert main(["inventory", str(tmp_path / "missing"), "--db", db_url]) == 4


def test_hf_cache_runs_compare_with_each_other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    root = build_tree(tmp_path / "tree")
    monkeypatch.setenv("HF_HUB_CACHE", str(root / "hub"))
    db = f"sqlite:///{tmp_path / 'i.db'}"
    args = ["inventory", str(root / "docs"), "--hf-cache", "--db", db, "-f", "json", "--no-progress"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["run"]["roots"] == sorted([str(root / "docs"), str(root / "hub")])
    assert len(first["changes"]["new"]) == 2
    hf_cache_snapshot(root / "hub", "acme/tiny-gpt2", "model", REV2, gpt2_files())
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert [c["path"].rsplit("/", 1)[-1] for c in second["changes"]["new"]] == [REV2]
    assert second["changes"]["removed"] == [] and second["run"]["files_hashed"] == len(gpt2_files())
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "absent"))
    assert main(args) == 0
    assert "no Hugging Face cache at" in capsys.readouterr().err
