"""HTTP routes of the hub gateway: the part of the Hugging Face Hub API that the clients call.

What ``huggingface_hub`` 2.x, ``transformers`` and ``HfFileSystem`` call, and what the gateway answers:

* ``GET /api/{models,datasets,spaces}/{repo}[/revision/{rev}]``, ``GET …/tree/{rev}[/{path}]``,
  ``GET …/refs``, ``POST …/paths-info/{rev}``: forwarded to the upstream (Xet fields removed, pagination
  links pointed at the gateway).
* ``HEAD``/``GET /[datasets/|spaces/]{repo}/resolve/{rev}/{file}``: a branch or tag name answers
  ``307`` to the same file at the commit it names now (the client follows it on the same host, so what it
  downloads is pinned); at a commit, ``HEAD`` answers the metadata headers the clients read (``X-Repo-Commit``,
  ``ETag``, ``X-Linked-Etag``, ``X-Linked-Size``, ``Content-Length``), and ``GET`` fetches, verifies and scans
  the object before serving it from the cache (``Range`` supported), or refuses it with ``403`` and an
  ``X-Error-Message`` naming the file, the rule and the finding, which ``huggingface_hub`` puts in the
  exception it raises (``transformers`` wraps it in its ``OSError``).

``HEAD`` never refuses: a refusal there would reach the user as ``huggingface_hub``'s generic "cannot connect"
error without the finding, while the ``GET`` that follows carries it. ``HEAD`` sends no content, so nothing
unscanned leaves either way. Every ``GET`` decision (served or refused) is one row in ``gateway_decisions``.
Authentication: the client's ``HF_TOKEN`` is an mlvet token with scope ``gateway`` (``Authorization: Bearer``).
"""

from __future__ import annotations

import os
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from mlvet.model import Severity
from mlvet.server.auth import Principal, require
from mlvet.server.gateway.decisions import Decision, record_decision
from mlvet.server.gateway.paths import BadRequest, FileRef, parse_api, parse_resolve, pinned_url
from mlvet.server.gateway.paths import encode_api_path as _encode_api_path
from mlvet.server.gateway.service import Gateway, Obtained, display_path
from mlvet.server.gateway.upstream import UpstreamError, UpstreamFile
from mlvet.server.gateway.verdict import clean_text, refusal_message

__all__ = ["build_router", "error_response"]

#: ``X-Error-Code`` of a refusal: not one of the hub's codes, so the client raises its generic HTTP error
#: with the server's message rather than treating the file as missing (which a loader may skip silently).
REFUSED_CODE = "MlvetRefused"
_MAX_FORM = 1 << 20
#: Bytes per read/send when serving a cached object (Starlette's default of 64 KiB halves loopback throughput).
_SEND_CHUNK = 1 << 20


def error_response(status: int, message: str, code: str | None = None,
                   extra: dict[str, str] | None = None) -> JSONResponse:
    """An error the hub clients surface: ``X-Error-Message`` header and JSON ``{"error": …}`` body."""
    text = clean_text(message, 2000)
    headers = {"X-Error-Message": text, **(extra or {})}
    if code:
        headers["X-Error-Code"] = code
    return JSONResponse({"error": text}, status_code=status, headers=headers)


def _raw_path(request: Request) -> str:
    raw = request.scope.get("raw_path")
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw).decode("latin-1")
    return str(request.url.path)


def _file_headers(meta: UpstreamFile) -> dict[str, str]:
    headers = {"X-Repo-Commit": meta.commit, "ETag": f'"{meta.etag}"', "Accept-Ranges": "bytes"}
    if meta.lfs_sha256 is not None:
        headers["X-Linked-Etag"] = f'"{meta.lfs_sha256}"'
        if meta.size is not None:
            headers["X-Linked-Size"] = str(meta.size)
    return headers


def build_router(gateway: Gateway) -> APIRouter:
    """The gateway's routes over one :class:`Gateway` (the server adds them with its other routers)."""
    router = APIRouter(tags=["gateway"])
    guard = Depends(require("gateway"))

    async def api(request: Request, principal: Principal = guard) -> Response:
        """Forward one hub API call (repo info, revision, tree, refs, paths-info) to the upstream."""
        try:
            repo, rest = parse_api(_raw_path(request))
            body: bytes | None = None
            if request.method == "POST":
                if rest[:1] != ["paths-info"]:
                    raise BadRequest("only paths-info accepts POST", 405)
                body = await _bounded_body(request)
            answer = await gateway.upstream.api(
                request.method, _encode_api_path(repo, rest), query=request.url.query, body=body,
                content_type=request.headers.get("content-type"), gateway_base=str(request.base_url))
        except BadRequest as exc:
            return error_response(exc.status, exc.message)
        except UpstreamError as exc:
            return error_response(exc.status, exc.message, extra=exc.headers)
        return Response(answer.body, status_code=answer.status, headers=answer.headers)

    for kind in ("models", "datasets", "spaces"):
        router.add_api_route(f"/api/{kind}/{{rest:path}}", api, methods=["GET", "POST"],
                             include_in_schema=kind == "models", name=f"gateway_api_{kind}",
                             summary="Hub API (repo info, revisions, tree, refs, paths-info), forwarded")

    async def resolve(request: Request, principal: Principal = guard) -> Response:
        """A file at a revision: 307 to its commit, metadata on HEAD, the scanned bytes or a refusal on GET."""
        try:
            ref = parse_resolve(_raw_path(request))
            meta = await gateway.file_meta(ref)
        except BadRequest as exc:
            return error_response(exc.status, exc.message)
        except UpstreamError as exc:
            return error_response(exc.status, exc.message, extra=exc.headers)
        headers = _file_headers(meta)
        if ref.revision != meta.commit:
            location = f"{pinned_url(ref, meta.commit)}?requested={quote(ref.revision, safe='')}"
            return Response(status_code=307, headers={**headers, "Location": location})
        if request.method == "HEAD":
            if meta.size is not None:
                headers["Content-Length"] = str(meta.size)
            return Response(status_code=200, headers=headers, media_type="application/octet-stream")
        try:
            obtained = await gateway.obtain(ref, meta)
        except UpstreamError as exc:
            return error_response(exc.status, f"{display_path(ref, meta.commit)}: {exc.message}",
                                  extra=exc.headers)
        requested = request.query_params.get("requested") or ref.revision
        decision = _decision(principal, ref, clean_text(requested, 255), meta, obtained)
        await run_in_threadpool(record_decision, request.app.state.store, decision)
        if not obtained.verdict.passed:
            return error_response(403, refusal_message(display_path(ref, meta.commit), obtained.verdict),
                                  REFUSED_CODE, {"X-Repo-Commit": meta.commit})
        try:
            stat_result = os.stat(obtained.blob)
        except OSError:  # the cache was pruned under us: never serve anything else, ask the client to retry
            return error_response(503, f"{display_path(ref, meta.commit)}: cached object vanished, retry")
        response = FileResponse(obtained.blob, headers=headers, media_type="application/octet-stream",
                                stat_result=stat_result)
        response.chunk_size = _SEND_CHUNK
        return response

    prefixes = ("/datasets/{a}/{b}", "/datasets/{a}", "/spaces/{a}/{b}", "/spaces/{a}", "/{a}/{b}", "/{a}")
    for i, prefix in enumerate(prefixes):
        router.add_api_route(f"{prefix}/resolve/{{rest:path}}", resolve, methods=["GET", "HEAD"],
                             include_in_schema=i == 4, name=f"gateway_resolve_{i}",
                             summary="A repository file through the scanning gateway")
    return router


async def _bounded_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > _MAX_FORM:
            raise BadRequest("request body too large", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _decision(principal: Principal, ref: FileRef, requested: str, meta: UpstreamFile,
              obtained: Obtained) -> Decision:
    v = obtained.verdict
    return Decision(who=principal.name, token_id=principal.token_id, repo_type=ref.repo.repo_type,
                    repo_id=ref.repo.repo_id, revision=requested, commit=meta.commit, path=ref.path,
                    sha256=obtained.sha256, size=obtained.size, verdict="served" if v.passed else "refused",
                    status=v.status, rule_ids=v.rule_ids, reason=v.reason, scanned=obtained.scanned)


def severity_from_env(value: str | None) -> Severity:
    """The refusal threshold from ``MLVET_GATEWAY_FAIL_ON`` (default ``high``, as ``mlvet scan``)."""
    return Severity.parse(value) if value else Severity.HIGH
