"""OCI image layouts, docker save tarballs and Ollama stores: digests verified, layers scanned per image."""

from __future__ import annotations

import io
import random
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from _support import load_asset_module

import mlvet
from mlvet.model import FileResult, Severity, Status
from mlvet.policy import default_policy
from mlvet.scanner import scan_file, scan_stream

FIXTURES = Path(__file__).resolve().parents[1] / "assets" / "images"
make: Any = load_asset_module("make_images")


def folder(path: Path) -> list[FileResult]:
    return list(mlvet.scan([path]).results)


def worst(results: list[FileResult]) -> Severity:
    return max((f.severity for r in results for f in r.findings), default=Severity.NONE)


def rules(results: list[FileResult]) -> set[str]:
    return {f.rule_id for r in results for f in r.findings}


def test_fixtures_match_their_generator(tmp_path: Path) -> None:
    make.OUT = tmp_path / "images"
    make.main()
    made = sorted(p.relative_to(make.OUT) for p in make.OUT.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(FIXTURES) for p in FIXTURES.rglob("*") if p.is_file())
    assert made == committed
    for rel in made:
        assert (make.OUT / rel).read_bytes() == (FIXTURES / rel).read_bytes(), rel


@pytest.mark.parametrize("name", ["oci_benign", "ollama_benign", "docker_benign.tar", "docker_oci.tar"])
def test_benign_stores_are_clean_and_fully_scanned(name: str) -> None:
    results = folder(FIXTURES / name)
    assert all(r.status is Status.SCANNED for r in results), [(r.path, r.errors) for r in results]
    assert worst(results) < Severity.MEDIUM
    seen = {fmt for r in results for fmt in r.formats_seen}
    assert "safetensors" in seen or "gguf" in seen


def test_oci_layer_findings_name_the_image_and_layer() -> None:
    results = folder(FIXTURES / "oci_tampered")
    pkl = [f for r in results for f in r.findings if f.rule_id == "PKL100"]
    assert pkl and pkl[0].location.members[0].startswith("tiny-model:1.0 layer 0")
    assert pkl[0].location.members[-1] == "model/model.pkl"
    assert any(f.rule_id == "OTH093" and f.severity is Severity.HIGH for r in results for f in r.findings)


def test_docker_legacy_layer_is_checked_against_the_config_diff_id() -> None:
    result = scan_file(str(FIXTURES / "docker_tampered.tar"), default_policy())
    assert result.format == "docker-archive"
    assert {"OTH093", "PKL100"} <= {f.rule_id for f in result.findings}
    mismatch = next(f for f in result.findings if f.rule_id == "OTH093")
    assert "tiny-model:1.0 layer 0" in mismatch.message


def test_ollama_tampered_model_blob_and_missing_layer() -> None:
    results = folder(FIXTURES / "ollama_tampered")
    found = rules(results)
    assert {"OTH093", "OTH094", "GGF700"} <= found
    missing = next(r for r in results if r.path.endswith("adapter"))
    assert missing.status is Status.ERROR


def test_ollama_template_is_not_read_as_jinja() -> None:
    results = folder(FIXTURES / "ollama_benign")
    template = [r for r in results if "ollama-template" in r.formats_seen]
    assert len(template) == 1 and not template[0].findings and template[0].status is Status.SCANNED


def test_oci_index_with_a_missing_blob_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "oci"
    shutil.copytree(FIXTURES / "oci_benign", root)
    layer = max((root / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    layer.unlink()
    index = scan_file(str(root / "index.json"), default_policy())
    assert index.status is Status.ERROR and "OTH094" in {f.rule_id for f in index.findings}


def test_a_renamed_blob_outside_a_store_is_scanned_by_content() -> None:
    data = (FIXTURES / "oci_tampered" / "blobs" / "sha256").iterdir()
    blob = max(data, key=lambda p: p.stat().st_size).read_bytes()
    result = scan_stream(io.BytesIO(blob), len(blob), "layer.tar.gz", default_policy())
    assert result.format != "oci-blob" and "PKL100" in {f.rule_id for f in result.findings}


def test_malformed_manifests_never_pass_clean(tmp_path: Path) -> None:
    rng = random.Random(12)
    start = time.monotonic()
    for i in range(12):
        root = tmp_path / f"o{i}"
        shutil.copytree(FIXTURES / "ollama_benign", root)
        manifest = root / "manifests" / "registry.ollama.ai" / "library" / "tiny" / "latest"
        data = bytearray(manifest.read_bytes())
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.choice(b'{}[]":,0az')
        manifest.write_bytes(bytes(data))
        for r in folder(root):
            assert r.status in (Status.SCANNED, Status.ERROR, Status.SKIPPED)
    for i in range(12):
        tar = bytearray((FIXTURES / "docker_tampered.tar").read_bytes())
        cut = rng.randrange(600, len(tar))
        blob = bytes(tar[:cut])
        result = scan_stream(io.BytesIO(blob), len(blob), "image.tar", default_policy())
        # Truncated or not, the tampered layer is never reported clean.
        assert result.status is Status.ERROR or worst([result]) >= Severity.HIGH
    assert time.monotonic() - start < 60
