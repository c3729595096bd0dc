"""Mapping between the inventory's frozen records (:mod:`mlvet.inventory.model`) and the database rows of
:mod:`mlvet.store.schema`, in both directions; hostile text is escaped on the way in (:mod:`mlvet.store.types`)."""

from __future__ import annotations

from typing import Any, cast

from mlvet.inventory.model import Asset, AssetFile, AssetKind, AssetMetadata, HubRef, InventoryRun
from mlvet.model import Confidence, Finding, Location, Severity
from mlvet.store.schema import (
    AssetVersionRow,
    FileRow,
    FindingRow,
    RunRow,
)


def _run(row: RunRow) -> InventoryRun:
    return InventoryRun(
        started_at=row.started_at,
        finished_at=row.finished_at,
        roots=tuple(row.roots),
        tool_version=row.tool_version,
        id=row.id,
        host=row.host,
        files_seen=row.files_seen,
        files_hashed=row.files_hashed,
    )


def _version_row(run_id: int, position: int, a: Asset) -> AssetVersionRow:
    m = a.metadata
    return AssetVersionRow(
        run_id=run_id,
        asset_id=a.id,
        position=position,
        kind=a.kind,
        name=a.name,
        path=a.path,
        format=a.format,
        framework=a.framework,
        content_hash=a.content_hash,
        size=a.size,
        severity=int(a.severity),
        verdict=a.verdict,
        incomplete=a.incomplete,
        hub_repo_type=a.hub.repo_type if a.hub else None,
        hub_repo_id=a.hub.repo_id if a.hub else None,
        hub_revision=a.hub.revision if a.hub else None,
        hub_refs=list(a.hub.refs) if a.hub else None,
        architecture=m.architecture,
        parameters=m.parameters,
        task=m.task,
        license=m.license,
        library=m.library,
        card=m.card,
        remote_code=m.remote_code,
        meta={
            "base_models": list(m.base_models),
            "datasets": list(m.datasets),
            "languages": list(m.languages),
            "tags": list(m.tags),
            "card_sections": list(m.card_sections),
            "extra": [list(pair) for pair in m.extra],
        },
        files=[
            FileRow(
                position=i,
                rel=f.rel,
                path=f.path,
                size=f.size,
                sha256=f.sha256,
                format=f.format,
                severity=int(f.severity),
                scan_status=f.scan_status,
                integrity=f.integrity,
            )
            for i, f in enumerate(a.files)
        ],
        findings=[
            FindingRow(
                position=i,
                rule_id=f.rule_id,
                severity=int(f.severity),
                confidence=int(f.confidence),
                message=f.message,
                evidence=f.evidence,
                path=f.location.path,
                members=list(f.location.members),
                offset=f.location.offset,
                opcode_index=f.location.opcode_index,
                cwe=f.cwe,
                fingerprint=f.fingerprint,
            )
            for i, f in enumerate(a.findings)
        ],
    )


def _strings(meta: dict[str, Any], key: str) -> tuple[str, ...]:
    return tuple(str(x) for x in meta.get(key) or ())


def _asset(v: AssetVersionRow) -> Asset:
    meta = v.meta or {}
    hub = None
    if v.hub_repo_type is not None and v.hub_repo_id is not None:
        hub = HubRef(
            repo_type=v.hub_repo_type, repo_id=v.hub_repo_id, revision=v.hub_revision, refs=tuple(v.hub_refs or ())
        )
    return Asset(
        id=v.asset_id,
        kind=cast(AssetKind, v.kind),
        name=v.name,
        path=v.path,
        format=v.format,
        framework=v.framework,
        files=tuple(
            AssetFile(
                path=f.path,
                rel=f.rel,
                size=f.size,
                sha256=f.sha256,
                format=f.format,
                severity=Severity(f.severity),
                scan_status=f.scan_status,
                integrity=f.integrity,
            )
            for f in v.files
        ),
        hub=hub,
        metadata=AssetMetadata(
            architecture=v.architecture,
            parameters=v.parameters,
            task=v.task,
            license=v.license,
            base_models=_strings(meta, "base_models"),
            datasets=_strings(meta, "datasets"),
            library=v.library,
            languages=_strings(meta, "languages"),
            tags=_strings(meta, "tags"),
            card=v.card,
            card_sections=_strings(meta, "card_sections"),
            remote_code=v.remote_code,
            extra=tuple((str(k), str(val)) for k, val in meta.get("extra") or ()),
        ),
        findings=tuple(
            Finding(
                rule_id=f.rule_id,
                severity=Severity(f.severity),
                message=f.message,
                location=Location(path=f.path, members=tuple(f.members), offset=f.offset, opcode_index=f.opcode_index),
                evidence=f.evidence,
                confidence=Confidence(f.confidence),
                cwe=f.cwe,
            )
            for f in v.findings
        ),
        incomplete=v.incomplete,
    )
