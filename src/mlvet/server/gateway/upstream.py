"""The gateway's client of the upstream hub: API forwarding, file metadata, and verified fetches.

Why a client of its own rather than a transparent proxy: nothing the upstream says reaches a client
unexamined. API answers are forwarded with only the headers the clients read, pagination links are rewritten
to point at the gateway, and every Xet field is removed (a client that saw an ``X-Xet-Hash`` or a ``xetHash``
would download the bytes from the Xet CAS directly, around the gateway). File bytes are never streamed
through: :meth:`Upstream.fetch` writes them to a temporary file while hashing them, and the caller only
publishes that file when the digest is the one the upstream promised.

The client's own ``Authorization`` header is a gateway token, never forwarded; the gateway authenticates to the
upstream with its own token (``MLVET_GATEWAY_UPSTREAM_TOKEN``), and httpx drops it on a redirect to another
origin (a CDN), as the hub clients do.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import anyio
import httpx

from mlvet.server.gateway.paths import FileRef, upstream_resolve_path

__all__ = ["ApiAnswer", "DigestMismatch", "Upstream", "UpstreamError", "UpstreamFile"]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_GIT_OID = re.compile(r"[0-9a-f]{40}")
#: Headers of an upstream error that the hub clients interpret (typed errors, ``.no_exist`` caching).
_ERROR_HEADERS = ("x-error-code", "x-error-message", "x-repo-commit")
_API_HEADERS = ("content-type", "x-error-code", "x-error-message", "x-repo-commit", "x-total-count")
_MAX_API_BYTES = 64 << 20
_CHUNK = 1 << 20
_ZEROS = bytes(_CHUNK)


class UpstreamError(Exception):
    """The upstream refused or failed a request; ``status`` and ``headers`` are what the client should see."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class DigestMismatch(UpstreamError):
    """The bytes the upstream sent are not the object it announced (size or digest): never published."""


@dataclass(frozen=True)
class UpstreamFile:
    """What the upstream says about one file at one commit: identity, size and the content key if known."""

    commit: str
    etag: str
    size: int | None
    #: The hub's LFS sha256 (``X-Linked-Etag``) when the file is stored through LFS, else None.
    lfs_sha256: str | None

    @property
    def git_oid(self) -> str | None:
        """The git blob id of a non-LFS file (its ETag), which a fetch can verify."""
        return self.etag if self.lfs_sha256 is None and _GIT_OID.fullmatch(self.etag) else None

    @property
    def object_key(self) -> str:
        """A key naming the object before it is fetched: the LFS sha256, else the git blob id (or ETag)."""
        return f"sha256:{self.lfs_sha256}" if self.lfs_sha256 else f"etag:{self.etag}"


@dataclass(frozen=True)
class ApiAnswer:
    """A forwarded API response: status, the headers worth passing on, and the (scrubbed) body."""

    status: int
    headers: dict[str, str]
    body: bytes


def _normalize_etag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None


def _scrub_xet(value: Any) -> Any:
    """Remove every Xet field from a JSON document (the clients would otherwise download around us)."""
    if isinstance(value, dict):
        return {k: _scrub_xet(v) for k, v in value.items() if not k.lower().startswith("xet")}
    if isinstance(value, list):
        return [_scrub_xet(v) for v in value]
    return value


def _error_from(response: httpx.Response) -> UpstreamError:
    headers = {k: v for k in _ERROR_HEADERS if (v := response.headers.get(k)) is not None}
    message = response.headers.get("x-error-message") or f"upstream answered {response.status_code}"
    status = response.status_code if 400 <= response.status_code < 500 else 502
    return UpstreamError(status, message, headers)


class Upstream:
    """An async HTTP client bound to the upstream hub's base URL."""

    def __init__(self, base_url: str, *, timeout_s: float = 30.0, token: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": "mlvet-gateway"}
        token = token if token is not None else os.environ.get("MLVET_GATEWAY_UPSTREAM_TOKEN")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.AsyncClient(base_url=self.base_url, headers=headers, follow_redirects=False,
                                         timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
                                         limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
                                         transport=transport)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    # -- API -------------------------------------------------------------------------------------------
    async def api(self, method: str, path: str, *, query: str = "", body: bytes | None = None,
                  content_type: str | None = None, gateway_base: str) -> ApiAnswer:
        """Forward one hub API call; rewrite pagination links to ``gateway_base`` and drop Xet fields."""
        headers = {"Accept-Encoding": "identity"}
        if content_type:
            headers["Content-Type"] = content_type
        url = path + (f"?{query}" if query else "")
        try:
            async with self._client.stream(method, url, content=body, headers=headers) as response:
                chunks: list[bytes] = []
                total = 0
                async for chunk in response.aiter_raw():
                    total += len(chunk)
                    if total > _MAX_API_BYTES:
                        raise UpstreamError(502, "upstream API answer exceeds the gateway's size limit")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise UpstreamError(502, f"upstream unreachable: {type(exc).__name__}") from exc
        raw = b"".join(chunks)
        out = {k: v for k in _API_HEADERS if (v := response.headers.get(k)) is not None}
        link = response.headers.get("link")
        if link:
            out["link"] = _rewrite_link(link, gateway_base)
        if "json" in response.headers.get("content-type", "") and raw:
            try:
                raw = json.dumps(_scrub_xet(json.loads(raw))).encode()
            except ValueError:
                raise UpstreamError(502, "upstream API answer is not valid JSON") from None
        if response.status_code >= 500:
            raise UpstreamError(502, f"upstream answered {response.status_code}")
        return ApiAnswer(response.status_code, out, raw)

    # -- files -----------------------------------------------------------------------------------------
    async def file_meta(self, ref: FileRef) -> UpstreamFile:
        """HEAD the file on the upstream (no redirect followed) and read its commit, ETag, size and LFS key."""
        try:
            response = await self._client.head(upstream_resolve_path(ref), headers={"Accept-Encoding": "identity"})
        except httpx.HTTPError as exc:
            raise UpstreamError(502, f"upstream unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise _error_from(response)
        commit = response.headers.get("x-repo-commit")
        linked = _normalize_etag(response.headers.get("x-linked-etag"))
        etag = linked or _normalize_etag(response.headers.get("etag"))
        if not commit or not _GIT_OID.fullmatch(commit) or not etag:
            raise UpstreamError(502, "upstream file metadata lacks X-Repo-Commit or ETag")
        size_text = response.headers.get("x-linked-size") or (
            None if response.is_redirect else response.headers.get("content-length"))
        size = int(size_text) if size_text and size_text.isdigit() else None
        lfs = linked if linked and _SHA256.fullmatch(linked) else None
        return UpstreamFile(commit, etag, size, lfs)

    async def fetch(self, ref: FileRef, meta: UpstreamFile, out: IO[bytes], *, max_bytes: int) -> tuple[str, int]:
        """GET the file at ``meta.commit`` into ``out`` (sparse where the content is zeros); return (sha256, size).

        Raises :class:`DigestMismatch` when the size or digest differs from what the metadata announced (the
        LFS sha256, or the git blob id of a small file), :class:`UpstreamError` on any HTTP failure.
        """
        sha = hashlib.sha256()
        git = hashlib.sha1(usedforsecurity=False) if meta.git_oid and meta.size is not None else None
        if git is not None:
            git.update(b"blob %d\0" % meta.size)  # type: ignore[str-format]
        limit = meta.size if meta.size is not None else max_bytes
        total = 0
        url = upstream_resolve_path(ref, meta.commit)
        try:
            async with self._client.stream("GET", url, headers={"Accept-Encoding": "identity"},
                                           follow_redirects=True) as response:
                if response.status_code != 200:
                    raise _error_from(response) if response.status_code >= 400 else \
                        UpstreamError(502, f"upstream answered {response.status_code} to a file GET")
                # Hashing and writing chunk i (in a worker thread: hashlib and write release the GIL) overlap
                # with receiving chunk i+1; chunks are still processed strictly in order.
                pending: asyncio.Task[None] | None = None
                try:
                    async for chunk in response.aiter_raw(_CHUNK):
                        total += len(chunk)
                        if total > limit:
                            raise DigestMismatch(502, f"upstream sent more than the {limit} bytes announced")
                        if pending is not None:
                            await pending
                        pending = asyncio.ensure_future(anyio.to_thread.run_sync(_absorb, chunk, sha, git, out))
                    if pending is not None:
                        await pending
                finally:
                    if pending is not None and not pending.done():
                        pending.cancel()
                        with contextlib.suppress(BaseException):
                            await pending
        except httpx.HTTPError as exc:
            raise UpstreamError(502, f"upstream transfer failed: {type(exc).__name__}") from exc
        out.truncate(total)
        digest = sha.hexdigest()
        if meta.size is not None and total != meta.size:
            raise DigestMismatch(502, f"upstream sent {total} bytes, {meta.size} announced")
        if meta.lfs_sha256 is not None and digest != meta.lfs_sha256:
            raise DigestMismatch(502, "upstream content does not match its LFS sha256")
        if git is not None and git.hexdigest() != meta.git_oid:
            raise DigestMismatch(502, "upstream content does not match its git blob id")
        return digest, total


def _absorb(chunk: bytes, sha: Any, git: Any, out: IO[bytes]) -> None:
    """Hash one chunk and append it to ``out`` (a hole instead of a full chunk of zeros)."""
    sha.update(chunk)
    if git is not None:
        git.update(chunk)
    if len(chunk) == _CHUNK and chunk == _ZEROS:
        out.seek(len(chunk), os.SEEK_CUR)  # a hole: the cache copy of a sparse file stays sparse
    else:
        out.write(chunk)


def _rewrite_link(link: str, gateway_base: str) -> str:
    """Point every URL of a ``Link`` header at the gateway (path and query kept)."""

    def repl(m: re.Match[str]) -> str:
        parts = urlsplit(m.group(1))
        return "<" + urljoin(gateway_base.rstrip("/") + "/", parts.path.lstrip("/")) + \
            (f"?{parts.query}" if parts.query else "") + ">"

    return re.sub(r"<([^>]*)>", repl, link)
