"""BOM routes: ``POST /api/v1/boms?project=NAME`` (upload, scope ``push``), ``GET /api/v1/boms`` (list),
``GET /api/v1/boms/{id}`` (download) and ``GET /api/v1/projects`` (scope ``read``).

The upload body is the CycloneDX JSON document itself (``Content-Type: application/json`` or
``application/vnd.cyclonedx+json``), read in chunks and refused with 413 as soon as it passes
``max_bom_bytes``: an oversized upload is never held in memory whole.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from mlvet.server import boms
from mlvet.server.auth import Principal, require
from mlvet.server.config import Settings
from mlvet.store import Store
from mlvet.store.urls import StoreError

__all__ = ["add_bom_routes"]

_PROJECT = r"^[^\x00-\x1f\x7f/\\]{1,255}$"
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, detail=f"the BOM is {declared} bytes, over the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, detail=f"the BOM is over the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise HTTPException(400, detail="the upload was cut off") from None
    return b"".join(chunks)


def add_bom_routes(router: APIRouter, settings: Settings, store: Store) -> None:
    """Add the BOM routes to the fleet router."""
    reader = Depends(require("read"))

    @router.post("/boms", status_code=201, responses={200: {"description": "the same BOM was stored before"},
                                                      413: {"description": "over max_bom_bytes"},
                                                      422: {"description": "not a valid CycloneDX 1.6 BOM"}})
    async def upload_bom(request: Request, project: Annotated[str, Query(pattern=_PROJECT)],
                         principal: Annotated[Principal, Depends(require("push"))]) -> JSONResponse:
        """Store a CycloneDX 1.6 JSON BOM for ``project`` after validating it (any tool's BOM)."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("application/json", "application/vnd.cyclonedx+json"):
            raise HTTPException(415, detail="send the BOM as application/json or application/vnd.cyclonedx+json")
        raw = await _read_limited(request, settings.max_bom_bytes)
        try:
            doc = await run_in_threadpool(boms.validate_upload, raw)
        except boms.BomRejected as exc:
            return JSONResponse({"detail": str(exc), "errors": exc.errors}, status_code=422)
        except ModuleNotFoundError as exc:
            raise HTTPException(501, detail=f"BOM validation needs the bom extra (pip install 'mlvet[bom]'): "
                                            f"{exc.name} is missing") from None
        try:
            stored = await run_in_threadpool(boms.store_bom, store, project, raw, doc, principal.token_id)
        except StoreError as exc:
            raise HTTPException(503, detail=f"the BOM could not be stored: {exc}") from None
        return JSONResponse(stored.to_dict(), status_code=201 if stored.created else 200)

    @router.get("/boms", dependencies=[reader])
    async def list_boms(project: Annotated[str | None, Query(pattern=_PROJECT)] = None,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        """Stored BOMs, newest first (metadata only)."""
        return await run_in_threadpool(lambda: boms.list_boms(store, project, limit))

    @router.get("/boms/{bom_id}", dependencies=[reader])
    async def download_bom(bom_id: int) -> Response:
        """The stored BOM document, as a download."""
        found = await run_in_threadpool(boms.bom_document, store, bom_id)
        if found is None:
            raise HTTPException(404, detail="no such BOM")
        project, doc = found
        name = _FILENAME_UNSAFE.sub("_", project)[:80] or "project"
        return Response(json.dumps(doc, indent=2).encode(), media_type="application/vnd.cyclonedx+json",
                        headers={"Content-Disposition": f'attachment; filename="{name}-{bom_id}.cdx.json"'})

    @router.get("/projects", dependencies=[reader])
    async def projects() -> list[dict[str, Any]]:
        """Projects with uploaded BOMs."""
        return await run_in_threadpool(boms.projects, store)
