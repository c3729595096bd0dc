"""Results from a Hugging Face cache carry the repository and revision, and each blob is scanned once."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import mlvet
from mlvet.model import Severity
from mlvet.report import report_from_json, report_to_dict

REVISION = "0123456789abcdef0123456789abcdef01234567"
EVIL = b"\x80\x02cos\nsystem\n\x8c\x02id\x85R."


def _cache(root: Path) -> Path:
    repo = root / "models--acme--tiny-model"
    blobs, snap = repo / "blobs", repo / "snapshots" / REVISION
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION)
    for name, data in {"pytorch_model.bin": EVIL, "config.json": b'{"model_type": "gpt2"}'}.items():
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        os.symlink(os.path.relpath(blobs / digest, snap), snap / name)
    return repo


def test_cache_results_name_repo_revision_and_path(tmp_path: Path) -> None:
    _cache(tmp_path)
    report = mlvet.scan(tmp_path)
    by_name = {Path(r.path).name: r for r in report.results}
    # Each blob once, under its snapshot name (which says what the file is); refs/main is a text file.
    assert sorted(by_name) == ["config.json", "main", "pytorch_model.bin"], [r.path for r in report.results]
    assert by_name["main"].status.value == "skipped"
    model = by_name["pytorch_model.bin"]
    assert model.severity is Severity.CRITICAL
    assert model.hub is not None
    assert (model.hub.repo_type, model.hub.repo_id, model.hub.revision) == ("model", "acme/tiny-model", REVISION)
    assert model.hub.path_in_repo == "pytorch_model.bin"
    assert "main" in model.hub.refs
    # The origin survives the JSON round trip.
    data = json.loads(json.dumps(report_to_dict(report)))
    hub = next(r for r in data["results"] if r["path"].endswith("pytorch_model.bin"))["huggingface"]
    assert hub["repo_id"] == "acme/tiny-model" and hub["revision"] == REVISION
    assert report_from_json(data).results[0].hub is not None


def test_files_outside_a_cache_have_no_origin(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(EVIL)
    (result,) = mlvet.scan(tmp_path).results
    assert result.hub is None
