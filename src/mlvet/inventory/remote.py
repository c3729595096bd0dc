"""Remote sources in the inventory: one asset per ``hf://`` (or other remote) URL, scanned without downloading.

Why one asset per URL: a hub repository is what a user names and pins, like a cache snapshot. The asset's id
comes from the URL *as given* (``hf://org/name`` or ``hf://org/name@main``), so the next run over the same URL
is the same asset and a moved branch shows as ``changed``; its ``path`` and :class:`HubRef` carry the commit the
scan pinned, and its metadata extras carry the origin (``origin``, ``origin_revision``, ``bytes_read``), which
the database stores with the asset version and the BOM emits as properties.
"""

from __future__ import annotations

import contextlib
import dataclasses
import posixpath
import tempfile
from collections.abc import Sequence

from mlvet.inventory.model import Asset, AssetFile, AssetKind, AssetMetadata, HubRef, asset_id
from mlvet.model import FileResult, Finding, Status
from mlvet.policy import Policy

__all__ = ["remote_asset", "remote_assets"]

#: Scanner formats that say nothing about what the asset is (a README, a config): never its principal format.
_MINOR_FORMATS = frozenset({"other", "unknown", "text", "json", "huggingface-config", "yaml", "markdown"})


def _principal(files: Sequence[AssetFile]) -> str:
    candidates = [f for f in files if f.format and f.format not in _MINOR_FORMATS]
    if not candidates:
        return "other"
    return max(candidates, key=lambda f: f.size).format or "other"


def _framework(rels: set[str], fmt: str) -> str | None:
    if "config.json" in rels:
        return "transformers"
    return {"safetensors": "safetensors", "gguf": "llama.cpp", "onnx": "onnx", "pytorch-zip": "pytorch",
            "pickle": "pytorch", "keras": "keras", "hdf5": "keras"}.get(fmt)


def remote_asset(url: str, results: Sequence[FileResult], shadow_root: str | None = None) -> Asset:
    """The asset for the scan of one remote URL (``results`` from :func:`mlvet.remote.scan.scan_source`).

    With the scan's shadow folder, metadata (card, licence, architecture, parameters from weight headers) is
    read from it exactly as for a local folder: the shadow holds the small files whole and the headers the
    scan fetched.
    """
    origin = next((r.origin for r in results if r.origin is not None), None)
    findings: list[Finding] = [f for r in results for f in r.findings]
    incomplete = any(r.status is Status.ERROR for r in results)
    files = [AssetFile(path=r.path, rel=r.origin.path if r.origin else r.path, size=r.size or 0,
                       sha256=r.sha256 or "", format=r.format, severity=r.severity, scan_status=r.status.value)
             for r in results if r.origin is not None]
    fmt = _principal(files)
    if origin is None:  # the source could not be resolved: an incomplete asset named by the URL
        return Asset(id=asset_id(f"remote:{url}"), kind="model", name=url, path=url, format="other",
                     framework=None, files=(), findings=tuple(findings), incomplete=True)
    kind: AssetKind = "dataset" if origin.get("repo_type") == "dataset" else "model"
    pinned = f"{origin.kind}://{origin.locator}@{origin.revision}" if origin.kind == "hf" else url
    hub = None
    if origin.kind == "hf":
        asked = origin.get("requested_revision")
        hub = HubRef(origin.get("repo_type") or "model", origin.get("repo_id") or origin.locator, origin.revision,
                     (asked,) if asked and asked != origin.revision else ())
    extra = (("origin", pinned), ("origin_kind", origin.kind), ("origin_revision", origin.revision or ""),
             ("bytes_read", str(sum(r.bytes_read or 0 for r in results))))
    rels = {f.rel for f in files}
    meta = AssetMetadata(card=any(posixpath.basename(r).lower() == "readme.md" for r in rels))
    if shadow_root is not None:
        from mlvet.inventory.metadata import read_metadata

        with contextlib.suppress(Exception):  # an adversarial card must not take the inventory down
            meta = read_metadata(shadow_root, sorted(rels), fmt=fmt)
    meta = dataclasses.replace(meta, extra=(*meta.extra, *extra))
    return Asset(id=asset_id(f"remote:{url}"), kind=kind, name=origin.get("repo_id") or origin.locator,
                 path=pinned, format=fmt, framework=_framework(rels, fmt), files=tuple(files), hub=hub,
                 metadata=meta, findings=tuple(findings), incomplete=incomplete)


def remote_assets(urls: Sequence[str], policy: Policy, jobs: int = 1) -> list[Asset]:
    """Scan each remote URL and return its asset (an unresolvable URL is an incomplete asset, never clean)."""
    from mlvet.remote.base import open_source
    from mlvet.remote.scan import scan_source

    out = []
    for url in urls:
        src = open_source(url)
        try:
            with tempfile.TemporaryDirectory(prefix="mlvet-inventory-") as tmp:
                out.append(remote_asset(url, scan_source(src, policy, jobs=jobs, shadow_root=tmp), tmp))
        finally:
            src.close()
    return out
