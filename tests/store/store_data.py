"""Inventory objects for the store tests, and the writer process of the concurrency test.

A module of its own so that the spawned writer processes import only mlvet, not the test module's
test-only dependencies.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from mlvet.inventory.model import Asset, AssetFile, AssetMetadata, Changes, HubRef, InventoryRun, asset_id
from mlvet.model import Confidence, Finding, Location, Severity
from mlvet.store import Store

T0 = datetime(2026, 11, 29, 6, 0, 0, 123456, tzinfo=timezone.utc)
CEST = timezone(timedelta(hours=2))


def make_run(roots: tuple[str, ...] = ("/models",), minutes: int = 0, **kw: object) -> InventoryRun:
    start = T0 + timedelta(minutes=minutes)
    return InventoryRun(
        started_at=start,
        finished_at=start + timedelta(seconds=3, microseconds=7),
        roots=roots,
        tool_version="0.1.0",
        **kw,  # type: ignore[arg-type]
    )


def full_asset() -> Asset:
    """An asset with every field set, including strings databases dislike (lone surrogates, NUL)."""
    root = "/models/hub/models--org--llama/snapshots/abc123"
    odd = "/models/we\udcffird\x00name.bin"
    return Asset(
        id=asset_id("hf:model:org/llama@abc123"),
        kind="model",
        name="org/llama",
        path=root,
        format="safetensors",
        framework="transformers",
        files=(
            AssetFile(
                f"{root}/model.safetensors",
                "model.safetensors",
                1 << 40,
                "a" * 64,
                "safetensors",
                Severity.NONE,
                "scanned",
                "ok",
            ),
            AssetFile(
                f"{root}/pytorch_model.bin",
                "pytorch_model.bin",
                12345,
                "b" * 64,
                "pytorch-zip",
                Severity.CRITICAL,
                "scanned",
                "mismatch",
            ),
            AssetFile(odd, "we\udcffird\x00name.bin", 0, "c" * 64, None, Severity.LOW, None, None),
            AssetFile(f"{root}/config.json", "config.json", 10, "d" * 64, "json", Severity.NONE, "skipped", "unknown"),
        ),
        hub=HubRef("model", "org/llama", "abc123", ("main", "refs/pr/1")),
        metadata=AssetMetadata(
            architecture="LlamaForCausalLM",
            parameters=8_030_261_248,
            task="text-generation",
            license="Llama3",
            base_models=("meta-llama/Meta-Llama-3-8B",),
            datasets=("wikitext", "c4"),
            library="transformers",
            languages=("en", "de"),
            tags=("llama", "ünïcödé", "日本語"),
            card=True,
            card_sections=("model details", "uses", "bias, risks, and limitations"),
            remote_code=True,
            extra=(("quantization", "Q4_K_M"), ("dtype", "bfloat16")),
        ),
        findings=(
            Finding(
                rule_id="PKL101",
                severity=Severity.CRITICAL,
                message="calls os.system",
                location=Location(f"{root}/pytorch_model.bin", ("archive/data.pkl",), 1234, 17),
                evidence="os.system('id')\x00\udc80",
                confidence=Confidence.HIGH,
                cwe=502,
            ),
            Finding(
                rule_id="HF201",
                severity=Severity.MEDIUM,
                message="auto_map asks for remote code",
                location=Location(f"{root}/config.json"),
                confidence=Confidence.MEDIUM,
            ),
            Finding(
                "ARC301", Severity.LOW, "odd name", Location(odd, ("a", "b", "c"), 0, None), "", Confidence.LOW, None
            ),
        ),
        incomplete=True,
    )


def simple_asset(
    key: str,
    *,
    kind: str = "model",
    fmt: str = "pytorch-zip",
    path: str | None = None,
    severity: Severity | None = None,
    license: str | None = None,
    files: tuple[AssetFile, ...] | None = None,
    sha: str = "0" * 64,
) -> Asset:
    path = path or f"/models/{key}.pt"
    findings = ()
    if severity is not None:
        findings = (Finding("PKL101", severity, "x", Location(path)),)
    return Asset(
        id=asset_id(key),
        kind=kind,  # type: ignore[arg-type]
        name=key,
        path=path,
        format=fmt,
        framework="pytorch",
        files=files if files is not None else (AssetFile(path, os.path.basename(path), 10, sha, fmt),),
        metadata=AssetMetadata(license=license),
        findings=findings,
    )


WRITERS = 4
RUNS_PER_WRITER = 10
ASSETS_PER_RUN = 5
CACHE_ROWS = 500


def writer_process(url: str, writer: int, barrier: Any, timings: Any) -> None:
    """One `mlvet inventory` process: opens the (possibly new) database at the same moment as the others."""
    barrier.wait(timeout=300)
    start = time.time()
    store = Store(url)
    for r in range(RUNS_PER_WRITER):
        assets = [
            simple_asset(f"w{writer}-r{r}-a{k}", severity=Severity.HIGH if k == 0 else None)
            for k in range(ASSETS_PER_RUN - 1)
        ] + [simple_asset("shared", sha=f"{writer:064x}")]
        store.record_run(make_run((f"/w{writer}",), r, host=f"w{writer}"), assets, Changes(new=(assets[0].id,)))
        # Overlapping paths (shared by every writer) and private ones, upserted while others do the same.
        store.update_hash_cache(
            [(f"/shared/{i}", writer, r, i, f"{writer:064x}") for i in range(CACHE_ROWS)]
            + [(f"/w{writer}/{r}/{i}", i, r, i, "a" * 64) for i in range(CACHE_ROWS)]
        )
    store.close()
    timings.put((start, time.time()))
