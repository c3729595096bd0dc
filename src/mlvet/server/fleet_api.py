"""HTTP API of the organisation inventory: ``POST /api/v1/runs`` (push), ``POST /api/v1/boms`` (upload) and
the read endpoints (hosts, assets, runs, changes, BOMs) the dashboard and scripts use.

Pushes and uploads need the ``push`` scope, reads the ``read`` scope. Bodies are validated by pydantic
models with bounded sizes (every string and list has a maximum), so a malformed or hostile push is a 422
naming the field, never a half-stored run.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from mlvet.inventory.model import Asset, AssetFile, AssetMetadata, Changes, HubRef, InventoryRun
from mlvet.model import Confidence, Finding, Location, Severity
from mlvet.server import fleet_views
from mlvet.server.auth import Principal, require
from mlvet.server.config import Settings
from mlvet.server.fleet import IdempotencyConflict, IngestResult, Push, ingest
from mlvet.store.types import unescape_text
from mlvet.store.urls import StoreError

__all__ = ["PushIn", "fleet_router"]

SeverityLabel = Literal["none", "info", "low", "medium", "high", "critical"]
ConfidenceLabel = Literal["low", "medium", "high"]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
Text = Annotated[str, Field(max_length=16_384)]
Short = Annotated[str, Field(max_length=255)]
Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class FileIn(_In):
    """One file of a pushed asset."""

    path: Text
    rel: Text
    size: int = Field(ge=0)
    sha256: Hex64
    format: Short | None = None
    severity: SeverityLabel = "none"
    scan_status: Literal["scanned", "skipped", "error"] | None = None
    integrity: Literal["ok", "mismatch", "unknown"] | None = None


class LocationIn(_In):
    """Where a pushed finding sits."""

    path: Text
    members: list[Text] = Field(default_factory=list, max_length=64)
    offset: int | None = Field(default=None, ge=0)
    opcode_index: int | None = Field(default=None, ge=0)


class FindingIn(_In):
    """One scanner finding of a pushed asset."""

    rule_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
    severity: SeverityLabel
    confidence: ConfidenceLabel = "high"
    message: Annotated[str, Field(max_length=8192)]
    evidence: Annotated[str, Field(max_length=65_536)] = ""
    cwe: int | None = Field(default=None, ge=0, le=100_000)
    location: LocationIn


class HubIn(_In):
    """Hugging Face coordinates of a pushed asset."""

    repo_type: Annotated[str, Field(max_length=16)]
    repo_id: Text
    revision: Short | None = None
    refs: list[Short] = Field(default_factory=list, max_length=256)


class MetadataIn(_In):
    """What headers and cards said about a pushed asset."""

    architecture: Text | None = None
    parameters: int | None = Field(default=None, ge=0)
    task: Text | None = None
    license: Text | None = None
    base_models: list[Text] = Field(default_factory=list, max_length=256)
    datasets: list[Text] = Field(default_factory=list, max_length=256)
    library: Text | None = None
    languages: list[Text] = Field(default_factory=list, max_length=512)
    tags: list[Text] = Field(default_factory=list, max_length=1024)
    card: bool = False
    card_sections: list[Text] = Field(default_factory=list, max_length=512)
    remote_code: bool = False
    extra: dict[Short, Text] = Field(default_factory=dict, max_length=256)


class AssetIn(_In):
    """One pushed asset, as ``mlvet inventory -f json`` writes it."""

    id: Annotated[str, Field(pattern=r"^[0-9a-f]{16,64}$")]
    kind: Literal["model", "dataset"]
    name: Text
    path: Text
    format: Annotated[str, Field(max_length=64)]
    framework: Annotated[str, Field(max_length=64)] | None = None
    files: list[FileIn] = Field(max_length=200_000)
    hub: HubIn | None = None
    metadata: MetadataIn = Field(default_factory=MetadataIn)
    findings: list[FindingIn] = Field(default_factory=list, max_length=100_000)
    incomplete: bool = False


class RunIn(_In):
    """The pushed run's own facts."""

    started_at: AwareDatetime
    finished_at: AwareDatetime
    roots: list[Text] = Field(max_length=4096)
    tool_version: Annotated[str, Field(max_length=64)]
    files_seen: int = Field(default=0, ge=0)
    files_hashed: int = Field(default=0, ge=0)


class PushIn(_In):
    """``POST /api/v1/runs``: one machine's inventory run (see :mod:`mlvet.server.wire`)."""

    schema_version: Literal[1]
    idempotency_key: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{8,128}$")]
    host: Annotated[str, Field(min_length=1, max_length=255)]
    owner: Short | None = None
    client_run_id: Annotated[str, Field(max_length=64)] | None = None
    run: RunIn
    assets: list[AssetIn] = Field(max_length=50_000)

    @field_validator("host", "owner")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and _CONTROL.search(value):
            raise ValueError("control characters are not allowed")
        return value


def _asset(a: AssetIn) -> Asset:
    """The pushed asset as the inventory model, every string unescaped (see :func:`mlvet.server.wire._escaped`)."""
    u = unescape_text

    def opt(value: str | None) -> str | None:
        return None if value is None else u(value)

    def many(values: list[str]) -> tuple[str, ...]:
        return tuple(u(v) for v in values)

    m = a.metadata
    return Asset(
        id=a.id, kind=a.kind, name=u(a.name), path=u(a.path), format=u(a.format), framework=opt(a.framework),
        files=tuple(AssetFile(path=u(f.path), rel=u(f.rel), size=f.size, sha256=f.sha256, format=opt(f.format),
                              severity=Severity.parse(f.severity), scan_status=f.scan_status, integrity=f.integrity)
                    for f in a.files),
        hub=HubRef(u(a.hub.repo_type), u(a.hub.repo_id), opt(a.hub.revision), many(a.hub.refs)) if a.hub else None,
        metadata=AssetMetadata(architecture=opt(m.architecture), parameters=m.parameters, task=opt(m.task),
                               license=opt(m.license), base_models=many(m.base_models), datasets=many(m.datasets),
                               library=opt(m.library), languages=many(m.languages), tags=many(m.tags), card=m.card,
                               card_sections=many(m.card_sections), remote_code=m.remote_code,
                               extra=tuple(sorted((u(k), u(v)) for k, v in m.extra.items()))),
        findings=tuple(Finding(rule_id=f.rule_id, severity=Severity.parse(f.severity), message=u(f.message),
                               location=Location(u(f.location.path), many(f.location.members), f.location.offset,
                                                 f.location.opcode_index),
                               evidence=u(f.evidence), confidence=Confidence[f.confidence.upper()], cwe=f.cwe)
                       for f in a.findings),
        incomplete=a.incomplete,
    )


def _changes_dict(c: Changes) -> dict[str, list[str]]:
    return {"new": list(c.new), "changed": list(c.changed), "removed": list(c.removed), "worse": list(c.worse)}


def _result(r: IngestResult) -> dict[str, Any]:
    return {"run_id": r.run_id, "push_id": r.push_id, "created": r.created, "host": r.host,
            "previous_run_id": r.previous_run_id, "changes": _changes_dict(r.changes),
            "fleet_changes": _changes_dict(r.fleet_changes)}


def _not_found(what: str) -> HTTPException:
    return HTTPException(404, detail=f"no such {what}")


def fleet_router(settings: Settings, state: Any) -> APIRouter:
    """The organisation-inventory routes (push, BOM upload, reads) on ``state.store``."""
    router = APIRouter(prefix="/api/v1", tags=["fleet"])
    store = state.store
    reader = Depends(require("read"))

    @router.post("/runs", status_code=201, responses={200: {"description": "a repeat of an earlier push"},
                                                      409: {"description": "idempotency key reused"}})
    async def push_run(payload: PushIn, request: Request,
                       principal: Annotated[Principal, Depends(require("push"))]) -> JSONResponse:
        """Record one machine's inventory run (idempotent: a repeated key answers 200 with the same run)."""
        header = request.headers.get("idempotency-key")
        if header is not None and header != payload.idempotency_key:
            raise HTTPException(400, detail="the Idempotency-Key header and the body's idempotency_key differ")
        raw = await request.body()
        host, owner = unescape_text(payload.host), payload.owner and unescape_text(payload.owner)
        run = InventoryRun(started_at=payload.run.started_at, finished_at=payload.run.finished_at,
                           roots=tuple(unescape_text(r) for r in payload.run.roots),
                           tool_version=payload.run.tool_version, host=host,
                           files_seen=payload.run.files_seen, files_hashed=payload.run.files_hashed)
        push = Push(run=run, assets=[_asset(a) for a in payload.assets], host=host, owner=owner,
                    idempotency_key=payload.idempotency_key, client_run_id=payload.client_run_id,
                    payload_sha256=hashlib.sha256(raw).hexdigest(), token_id=principal.token_id)
        try:
            result = await run_in_threadpool(ingest, store, push)
        except IdempotencyConflict as exc:
            raise HTTPException(409, detail=str(exc)) from None
        except ValueError as exc:
            raise HTTPException(422, detail=str(exc)) from None
        except StoreError as exc:
            raise HTTPException(503, detail=f"the push could not be recorded: {exc}") from None
        return JSONResponse(_result(result), status_code=201 if result.created else 200)

    @router.get("/hosts", dependencies=[reader])
    async def hosts() -> list[dict[str, Any]]:
        """Every host that pushed: pushes, owner, last push, assets and worst verdict of its latest runs."""
        return await run_in_threadpool(fleet_views.hosts, store)

    @router.get("/assets", dependencies=[reader])
    async def assets(host: Annotated[str | None, Query(max_length=255)] = None,
                     kind: Literal["model", "dataset"] | None = None,
                     format: Annotated[str | None, Query(max_length=64)] = None,
                     min_severity: SeverityLabel | None = None,
                     q: Annotated[str | None, Query(max_length=255)] = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                     offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
        """The fleet's assets (each once, with the hosts holding it), filtered."""
        sev = Severity.parse(min_severity) if min_severity else None
        return await run_in_threadpool(lambda: fleet_views.fleet_assets(
            store, host=host, kind=kind, fmt=format, min_severity=sev, query=q, limit=limit, offset=offset))

    @router.get("/assets/{asset_id}", dependencies=[reader])
    async def asset(asset_id: Annotated[str, PathParam(pattern=r"^[0-9a-f]{16,64}$")]) -> dict[str, Any]:
        """One asset on every host that holds it (files, findings) and its push history."""
        found = await run_in_threadpool(fleet_views.asset_detail, store, asset_id)
        if found is None:
            raise _not_found("asset")
        return found

    @router.get("/runs", dependencies=[reader])
    async def runs(host: Annotated[str | None, Query(max_length=255)] = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 50,
                   offset: Annotated[int, Query(ge=0)] = 0) -> list[dict[str, Any]]:
        """Pushed runs, newest first, with change counts."""
        return await run_in_threadpool(lambda: fleet_views.pushes(store, host=host, limit=limit, offset=offset))

    @router.get("/runs/{run_id}", dependencies=[reader])
    async def run_detail(run_id: int) -> dict[str, Any]:
        """A pushed run with its assets and changes."""
        found = await run_in_threadpool(fleet_views.run_detail, store, run_id)
        if found is None:
            raise _not_found("pushed run")
        return found

    @router.get("/changes", dependencies=[reader])
    async def changes(host: Annotated[str | None, Query(max_length=255)] = None, since: datetime | None = None,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
        """What each push changed on its host and in the fleet, newest first."""
        return await run_in_threadpool(lambda: fleet_views.change_feed(store, host=host, since=since, limit=limit))

    from mlvet.server.boms_api import add_bom_routes

    add_bom_routes(router, settings, store)
    return router
