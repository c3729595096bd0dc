"""The gateway core in-process against the hub stand-in: one fetch and scan per object, digests verified."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from _gateway_support import Hub

from mlvet.policy import default_policy
from mlvet.server.gateway.paths import parse_resolve
from mlvet.server.gateway.service import Gateway, Obtained
from mlvet.server.gateway.upstream import DigestMismatch
from support.hubrepos import write_tiny_bert


async def _obtain_many(gw: Gateway, raw: str, n: int) -> list[Obtained]:
    ref = parse_resolve(raw)
    meta = await gw.file_meta(ref)
    try:
        return list(await asyncio.gather(*[gw.obtain(ref, meta) for _ in range(n)]))
    finally:
        await gw.aclose()


def test_concurrent_requests_fetch_and_scan_once(hub: Hub, tmp_path: Path) -> None:
    commit = hub.server.repos[("model", "org/bert")].branches["main"]
    gw = Gateway(hub.url, tmp_path / "cache", policy=default_policy())
    got = asyncio.run(_obtain_many(gw, f"/org/bert/resolve/{commit}/model.safetensors", 20))
    assert (gw.fetches, gw.scans) == (1, 1)
    assert sum(o.scanned for o in got) == 1 and all(o.verdict.passed for o in got)
    assert got[0].blob.read_bytes() == (hub.folders["bert"] / "model.safetensors").read_bytes()
    # A new process on the same cache reuses object and verdict: no fetch, no scan.
    again = Gateway(hub.url, tmp_path / "cache", policy=default_policy())
    assert not asyncio.run(_obtain_many(again, f"/org/bert/resolve/{commit}/model.safetensors", 1))[0].scanned
    assert (again.fetches, again.scans) == (0, 0)


def test_bytes_that_do_not_match_the_announced_digest_are_never_published(hub: Hub, tmp_path: Path) -> None:
    folder = write_tiny_bert(tmp_path / "src", seed=21)
    commit = hub.server.add_repo("org/tampered", folder)
    hub_file = hub.server.repos[("model", "org/tampered")].commits[commit].files["model.safetensors"]
    tampered = bytearray(hub_file.blob.read_bytes())
    tampered[-1] ^= 0xFF  # the upstream's storage now serves other bytes under the same LFS sha256
    shutil.copy(hub_file.blob, tmp_path / "orig")
    hub_file.blob.write_bytes(bytes(tampered))
    try:
        gw = Gateway(hub.url, tmp_path / "cache", policy=default_policy())
        with pytest.raises(DigestMismatch, match="LFS sha256"):
            asyncio.run(_obtain_many(gw, f"/org/tampered/resolve/{commit}/model.safetensors", 1))
        assert not list((tmp_path / "cache" / "gateway" / "objects").rglob("*"))
        assert not list((tmp_path / "cache" / "gateway" / "tmp").iterdir())
    finally:
        shutil.copy(tmp_path / "orig", hub_file.blob)
